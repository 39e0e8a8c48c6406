"""Evaluate the segmentation node on a labelled bag on a real ROS 2 install.

    ros2 launch attendseg_ros evaluate.launch.py bag:=camvid_val output_json:=val.json

Plays the bag (``ros2 bag play``, images and ground truth) after ``play_delay`` seconds, starts the
segmentation node through ``segment.launch.py`` on the bag's image topic (model and everything else
from ``params_file``) and the evaluation node on the node's labels and the bag's ground truth. The
evaluation ends ``idle_timeout`` seconds after the last frame (or after ``expected_frames``),
publishes its final ``EvaluationReport``, writes ``output_json``, and the launch shuts down. Bags
come from ``attendseg-camvid-to-bag``. ``ros2 bag play`` keeps the recorded rate (scaled by
``rate``): frames the node cannot keep up with count as missing, as on a vehicle; for accuracy
alone use ``attendseg-evaluate-bag``, which waits for every result.
"""

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    RegisterEventHandler,
    SetEnvironmentVariable,
    TimerAction,
)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from attendseg_ros.registry import BACKEND_CHOICES
from launch import LaunchDescription

PACKAGE = "attendseg_ros"

ARGUMENTS = (
    ("bag", None, "rosbag2 to play (from attendseg-camvid-to-bag: images, camera_info, ground truth)"),
    ("params_file", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "attendseg.yaml"]),
     "segmentation node parameters (model, backend, ...)"),
    ("backend", "", f"inference backend: {' | '.join(BACKEND_CHOICES)}; empty = the backend of params_file"),
    ("image_topic", "/camera/image_raw", "image topic in the bag"),
    ("labels_topic", "/camera/segmentation/labels", "the node's labels for image_topic"),
    ("ground_truth_topic", "/camera/labels_gt", "ground-truth topic in the bag"),
    ("classes", "camvid11", "class table of the ground truth (camvid11, camvid32 or a YAML path)"),
    ("rate", "1.0", "playback rate factor of ros2 bag play"),
    ("play_delay", "5.0", "seconds to wait before playing (model loading)"),
    ("expected_frames", "0", "end after this many frames; 0 = end on idle_timeout"),
    ("idle_timeout", "5.0", "end this many seconds after the last message"),
    ("output_json", "", "write the final report here"),
    ("large_data", "true", "use config/fastdds_large_data.xml for all processes (images over ~0.5 MB)"),
    ("log_level", "info", "log level of both nodes"),
)


def generate_launch_description() -> LaunchDescription:
    arg = {name: LaunchConfiguration(name) for name, _, _ in ARGUMENTS}
    declarations = [
        DeclareLaunchArgument(name, description=text)
        if default is None
        else DeclareLaunchArgument(name, default_value=default, description=text)
        for name, default, text in ARGUMENTS
    ]
    large_data = SetEnvironmentVariable(
        "FASTDDS_DEFAULT_PROFILES_FILE",
        PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "fastdds_large_data.xml"]),
        condition=IfCondition(arg["large_data"]),
    )
    segmentation = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(PACKAGE), "launch", "segment.launch.py"])),
        launch_arguments={
            "camera_topics": arg["image_topic"],
            "params_file": arg["params_file"],
            "backend": arg["backend"],
            "log_level": arg["log_level"],
        }.items(),
    )
    evaluation = Node(
        package=PACKAGE,
        executable="attendseg-evaluate",
        name="attendseg_evaluate",
        output="screen",
        parameters=[
            {
                "labels_topic": arg["labels_topic"],
                "ground_truth_topic": arg["ground_truth_topic"],
                "classes": arg["classes"],
                "expected_frames": ParameterValue(arg["expected_frames"], value_type=int),
                "idle_timeout": ParameterValue(arg["idle_timeout"], value_type=float),
                "output_json": ParameterValue(arg["output_json"], value_type=str),
                "shutdown_on_final": True,
            }
        ],
        arguments=["--ros-args", "--log-level", arg["log_level"]],
    )
    play = ExecuteProcess(
        cmd=[
            "ros2", "bag", "play", arg["bag"],
            "--rate", arg["rate"],
            "--topics", arg["image_topic"], arg["ground_truth_topic"],
        ],
        output="screen",
    )
    delayed_play = TimerAction(period=arg["play_delay"], actions=[play])
    end = RegisterEventHandler(
        OnProcessExit(target_action=evaluation, on_exit=[EmitEvent(event=Shutdown(reason="evaluation finished"))])
    )
    return LaunchDescription([*declarations, large_data, segmentation, evaluation, delayed_play, end])
