"""Launch the attendseg_ros segmentation node (a lifecycle node that configures and activates itself).

    ros2 launch attendseg_ros segment.launch.py camera_topics:="[front/image_raw, rear/image_raw]"
    ros2 launch attendseg_ros segment.launch.py namespace:=robot1 backend:=tensorrt log_level:=debug

``namespace`` puts the node and its relative topics there: with ``namespace:=robot1`` the default
``camera/image_raw`` is ``/robot1/camera/image_raw`` and the outputs are in
``/robot1/camera/segmentation/``, so several robots share a domain. Absolute topic names stay as they are.
Arguments left empty keep the value in ``params_file`` (default: the installed config/attendseg.yaml).
The node process gets the large-image Fast DDS profile (config/fastdds_large_data.xml) unless
FASTDDS_DEFAULT_PROFILES_FILE is already set or ``dds_profile`` says otherwise.
"""

from __future__ import annotations

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

from attendseg_ros.registry import BACKEND_CHOICES
from launch import LaunchContext, LaunchDescription

PACKAGE = "attendseg_ros"
EXECUTABLE = "attendseg-segment"
NODE_NAME = "attendseg_segmentation"


def parse_camera_topics(text: str) -> list[str]:
    """``"[/a/image_raw, /b/image_raw]"`` (YAML list) or ``"/a/image_raw,/b/image_raw"`` -> list of topics."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        value = yaml.safe_load(text)
        if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
            raise ValueError(f"camera_topics must be a list of topic names, got {text!r}")
        return value
    return [topic.strip() for topic in text.split(",") if topic.strip()]


def _segmentation_node(context: LaunchContext) -> list:
    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    overrides: dict = {"use_sim_time": arg("use_sim_time").lower() in ("true", "1", "yes")}
    topics = parse_camera_topics(arg("camera_topics"))
    if topics:
        overrides["camera_topics"] = topics
    if arg("backend"):
        overrides["backend"] = arg("backend")
    if arg("model"):
        overrides["model"] = os.path.abspath(os.path.expanduser(arg("model")))
    env = {}
    if arg("dds_profile"):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = arg("dds_profile")
    node = LifecycleNode(
        package=PACKAGE,
        executable=EXECUTABLE,
        name=NODE_NAME,
        namespace=arg("namespace"),
        parameters=[arg("params_file"), overrides],
        arguments=["--ros-args", "--log-level", arg("log_level")],
        additional_env=env,
        output="screen",
        emulate_tty=True,
    )
    return [node]


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory(PACKAGE)
    default_profile = os.environ.get(
        "FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(share, "config", "fastdds_large_data.xml")
    )
    return LaunchDescription([
        DeclareLaunchArgument("camera_topics", default_value="",
                              description="Input image topics, e.g. '[front/image_raw, rear/image_raw]' (relative "
                                          "names are in the namespace); empty = camera_topics of params_file"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "attendseg.yaml"),
                              description="Node parameters (YAML)"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the node and of its relative topics, e.g. robot1"),
        DeclareLaunchArgument("backend", default_value="", choices=["", *BACKEND_CHOICES],
                              description="Inference backend; empty = backend of params_file"),
        DeclareLaunchArgument("model", default_value="",
                              description="Model file (.onnx, or .safetensors with its .json sidecar); empty = "
                                          "model of params_file (default: the embedded model)"),
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock (bag replay, simulation)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              choices=["debug", "info", "warn", "error", "fatal"], description="Node log level"),
        DeclareLaunchArgument("dds_profile", default_value=default_profile,
                              description="Fast DDS XML profile for the node process (large images); empty = none"),
        OpaqueFunction(function=_segmentation_node),
    ])
