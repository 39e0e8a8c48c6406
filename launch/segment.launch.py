"""Launch the attendseg_ros segmentation node (a lifecycle node that configures and activates itself).

    ros2 launch attendseg_ros segment.launch.py camera_topics:="[front/image_raw, rear/image_raw]"
    ros2 launch attendseg_ros segment.launch.py namespace:=robot1 class_map:=navigation min_confidence:=0.5
    ros2 launch attendseg_ros segment.launch.py --show-args     # every argument with its description

``namespace`` puts the node and its relative topics there: with ``namespace:=robot1`` the default
``camera/image_raw`` is ``/robot1/camera/image_raw`` and the outputs are in
``/robot1/camera/segmentation/``, so several robots share a domain. Absolute topic names stay as they are.
The node's parameters come from ``params_file`` (default: the installed config/attendseg.yaml); the
arguments named after node parameters (:data:`NODE_PARAMETERS`) override it, and left empty keep
its value. Other parameters go in ``params_file``. An argument this file does not declare is an
error when it is started with ``ros2 launch`` (a misspelt ``class_mapp:=...`` used to be ignored).
The node process gets the large-image Fast DDS profile (config/fastdds_large_data.xml) unless
FASTDDS_DEFAULT_PROFILES_FILE is already set or ``dds_profile`` says otherwise.
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

from attendseg_ros.ros.launch_arguments import check_command_line, parameter_value, parse_list
from attendseg_ros.ros.parameters import SPEC_BY_NAME
from launch import LaunchContext, LaunchDescription

PACKAGE = "attendseg_ros"
EXECUTABLE = "attendseg-segment"
NODE_NAME = "attendseg_segmentation"
LAUNCH_FILE = "segment.launch.py"
# Node parameters that are launch arguments too (empty = the value in params_file).
NODE_PARAMETERS = ("camera_topics", "model", "backend", "precision", "device", "threads", "class_map",
                   "min_confidence", "input_timeout", "use_compressed", "autostart")


def parse_camera_topics(text: str) -> list[str]:
    """``"[/a/image_raw, /b/image_raw]"`` (YAML list) or ``"/a/image_raw,/b/image_raw"`` -> list of topics."""
    return parse_list(text, "camera_topics", "topic names")


def _arguments(share: str) -> list[DeclareLaunchArgument]:
    default_profile = os.environ.get(
        "FASTDDS_DEFAULT_PROFILES_FILE", os.path.join(share, "config", "fastdds_large_data.xml")
    )
    node_parameters = []
    for name in NODE_PARAMETERS:
        spec = SPEC_BY_NAME[name]
        node_parameters.append(DeclareLaunchArgument(
            name, default_value="", description=f"{spec.description} (Left empty: the value in params_file.)",
            **({"choices": list(dict.fromkeys(["", *spec.choices]))} if spec.choices else {}),
        ))
    return [
        DeclareLaunchArgument("namespace", default_value="",
                              description="Namespace of the node and of its relative topics, e.g. robot1"),
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "attendseg.yaml"),
                              description="Node parameters (YAML); the arguments below override it"),
        *node_parameters,
        DeclareLaunchArgument("use_sim_time", default_value="false", choices=["true", "false"],
                              description="Use /clock (bag replay, simulation)"),
        DeclareLaunchArgument("log_level", default_value="info",
                              choices=["debug", "info", "warn", "error", "fatal"], description="Node log level"),
        DeclareLaunchArgument("dds_profile", default_value=default_profile,
                              description="Fast DDS XML profile for the node process (large images); empty = none"),
    ]


def _segmentation_node(context: LaunchContext, declared: list[str]) -> list:
    check_command_line(LAUNCH_FILE, declared, context.argv)

    def arg(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    overrides: dict = {"use_sim_time": arg("use_sim_time") == "true"}
    for name in NODE_PARAMETERS:
        if arg(name):
            value = parameter_value(name, arg(name))
            if value != []:
                overrides[name] = value
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
    arguments = _arguments(get_package_share_directory(PACKAGE))
    declared = [argument.name for argument in arguments]
    return LaunchDescription([*arguments, OpaqueFunction(function=_segmentation_node, args=[declared])])
