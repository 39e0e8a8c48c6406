"""Evaluate the segmentation node on a labelled bag through ROS 2 topics.

    ros2 launch attendseg_ros evaluate.launch.py bag:=camvid_val output_json:=val.json
    ros2 launch attendseg_ros evaluate.launch.py bag:=camvid_val player:=package rate:=0.5

Starts the segmentation node through ``segment.launch.py`` on the bag's image topic (model and
everything else from ``params_file``) and the evaluation node on the node's labels and the bag's
ground truth, then plays the bag (images and ground truth) after ``play_delay`` seconds with the
chosen ``player``: ``ros2bag`` (``ros2 bag play``) or ``package`` (``attendseg-play-bag``, this
package's rosbags-based player, which also waits until the node and the evaluation have subscribed).
The default is ``ros2bag`` where ``ros2 bag`` is installed, else ``package`` (the PyPI wheels have
no rosbag2). Bags come from ``attendseg-dataset-to-bag``. An argument this file does not declare is an
error (``--show-args`` lists them).

The evaluation ends ``idle_timeout`` seconds after the last frame (or after ``expected_frames``),
publishes its final ``EvaluationReport``, writes ``output_json``, and the launch shuts down. If a
process the evaluation depends on dies first (the player with an error, the segmentation node, the
evaluation node itself), the launch ends at once with an error naming it and exit status 1. Players
keep the recorded rate (scaled by ``rate``): frames the node cannot keep up with count as missing,
as on a vehicle; for accuracy alone use ``attendseg-evaluate-bag``, which waits for every result.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
    SetEnvironmentVariable,
    TimerAction,
)
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.events.process import ProcessExited
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from attendseg_ros.registry import BACKEND_CHOICES
from attendseg_ros.ros.launch_arguments import check_command_line
from launch import Action, LaunchContext, LaunchDescription

PACKAGE = "attendseg_ros"
LAUNCH_FILE = "evaluate.launch.py"
PLAYERS = ("ros2bag", "package")

try:  # Iron and newer
    from launch.substitutions import EqualsSubstitution

    def _player_is(name: str) -> IfCondition:
        return IfCondition(EqualsSubstitution(LaunchConfiguration("player"), name))
except ImportError:  # Humble
    from launch.conditions import LaunchConfigurationEquals

    def _player_is(name: str) -> LaunchConfigurationEquals:
        return LaunchConfigurationEquals("player", name)


class DependencyExitError(RuntimeError):
    """A process the evaluation depends on ended before the evaluation finished."""


def ros2_bag_available() -> bool:
    """Whether ``ros2 bag`` (rosbag2's ros2cli verb) is installed."""
    return any(ep.name == "bag" for ep in entry_points(group="ros2cli.command"))


def _arguments() -> tuple[tuple[str, object, str], ...]:
    default_player = "ros2bag" if ros2_bag_available() else "package"
    return (
        ("bag", None, "rosbag2 to play (from attendseg-dataset-to-bag: images, camera_info, ground truth)"),
        ("params_file", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "attendseg.yaml"]),
         "segmentation node parameters (model, backend, ...)"),
        ("backend", "", f"inference backend: {' | '.join(BACKEND_CHOICES)}; empty = the backend of params_file"),
        ("image_topic", "/camera/image_raw", "image topic in the bag"),
        ("labels_topic", "/camera/segmentation/labels", "the node's labels for image_topic"),
        ("ground_truth_topic", "/camera/labels_gt", "ground-truth topic in the bag"),
        ("classes", "camvid11", "class table of the ground truth (camvid11, camvid32 or a YAML path)"),
        ("player", default_player, "ros2bag: `ros2 bag play`; package: attendseg-play-bag (rosbags + rclpy); "
         f"default here: {default_player} ({'ros2 bag is' if default_player == 'ros2bag' else 'no ros2 bag'} "
         "installed)"),
        ("rate", "1.0", "playback rate factor"),
        ("play_delay", "5.0", "seconds to wait before playing (model loading)"),
        ("subscriber_timeout", "120.0", "package player: wait up to this long for the node and the evaluation "
         "to subscribe before playing"),
        ("expected_frames", "0", "end after this many frames; 0 = end on idle_timeout"),
        ("idle_timeout", "5.0", "end this many seconds after the last message"),
        ("output_json", "", "write the final report here"),
        ("large_data", "true", "use config/fastdds_large_data.xml for all processes (images over ~0.5 MB)"),
        ("log_level", "info", "log level of the nodes"),
    )


def _on_exit(evaluation: Action, players: tuple[Action, ...]) -> Callable[[ProcessExited, LaunchContext], list]:
    """What a process exit means: the evaluation's success ends the launch, any early death fails it."""

    def on_exit(event: ProcessExited, context: LaunchContext) -> list:
        if context.is_shutdown:  # processes stopping because the launch ends
            return []
        code = event.returncode
        if event.action is evaluation:
            if code == 0:
                return [EmitEvent(event=Shutdown(reason="evaluation finished"))]
            raise DependencyExitError(f"the evaluation node ({event.process_name}) failed with exit code {code}; "
                                 "see its output above")
        if code == 0 and any(event.action is player for player in players):
            return []  # the whole bag was played; the evaluation ends on expected_frames or idle_timeout
        # Raising makes `ros2 launch` log it as an error, shut everything down and exit with status 1.
        raise DependencyExitError(f"{event.process_name} exited with code {code} before the evaluation finished; "
                             "see its output above")

    return on_exit


def generate_launch_description() -> LaunchDescription:
    arguments = _arguments()
    arg = {name: LaunchConfiguration(name) for name, _, _ in arguments}
    declarations = [
        DeclareLaunchArgument(name, description=text, **({} if default is None else {"default_value": default}),
                              **({"choices": list(PLAYERS)} if name == "player" else {}))
        for name, default, text in arguments
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
    ros2_bag_play = ExecuteProcess(
        cmd=[
            "ros2", "bag", "play", arg["bag"],
            "--rate", arg["rate"],
            "--topics", arg["image_topic"], arg["ground_truth_topic"],
        ],
        name="ros2_bag_play",
        output="screen",
        condition=_player_is("ros2bag"),
    )
    package_player = Node(
        package=PACKAGE,
        executable="attendseg-play-bag",
        exec_name="attendseg_play_bag",
        output="screen",
        arguments=[
            arg["bag"],
            "--rate", arg["rate"],
            "--topics", arg["image_topic"], arg["ground_truth_topic"],
            "--wait-for-subscribers", arg["subscriber_timeout"],
            "--ros-args", "--log-level", arg["log_level"],
        ],
        condition=_player_is("package"),
    )
    players = (ros2_bag_play, package_player)
    delayed_play = TimerAction(period=arg["play_delay"], actions=list(players))
    ending = RegisterEventHandler(OnProcessExit(on_exit=_on_exit(evaluation, players)))
    names = [name for name, _, _ in arguments]
    check = OpaqueFunction(function=lambda context: check_command_line(LAUNCH_FILE, names, context.argv) or [])
    return LaunchDescription([*declarations, check, large_data, ending, segmentation, evaluation, delayed_play])
