"""The segmentation node under Nav2's lifecycle manager, as a Nav2 server runs: ``autostart: false`` and a bond.

    ros2 launch attendseg_ros nav2_lifecycle_example.launch.py
    ros2 launch attendseg_ros nav2_lifecycle_example.launch.py \
        params_file:=$(ros2 pkg prefix attendseg_ros)/share/attendseg_ros/config/nav2_navigation.yaml

Starts segment.launch.py with ``params_file`` (default: the installed config/nav2_camvid11.yaml, whose
node section sets ``autostart: false`` and ``bond_timeout: 4.0``) and nav2_lifecycle_manager's
``lifecycle_manager`` named ``lifecycle_manager_perception`` with the same file (``node_names``,
``autostart: true``, ``bond_timeout``): the manager configures and activates the node, and the node
forms the bond the manager expects on activate. Both run in ``namespace``.

Needs nav2_lifecycle_manager (``ros-$ROS_DISTRO-nav2-lifecycle-manager``) and, for the bond, bondpy;
without nav2_lifecycle_manager the launch stops at once and says so.
"""

from __future__ import annotations

import os

from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = "attendseg_ros"
MANAGER_PACKAGE = "nav2_lifecycle_manager"
MANAGER_NAME = "lifecycle_manager_perception"


def manager_missing() -> str | None:
    """Why nav2_lifecycle_manager cannot be started here, or None when it is installed."""
    try:
        get_package_share_directory(MANAGER_PACKAGE)
    except PackageNotFoundError:
        return (f"{MANAGER_PACKAGE} is not installed, and this example runs the node under it. Install it "
                f"(apt install ros-$ROS_DISTRO-nav2-lifecycle-manager, or build navigation2), or run the node "
                f"on its own: ros2 launch {PACKAGE} segment.launch.py")
    return None


def generate_launch_description() -> LaunchDescription:
    reason = manager_missing()
    if reason is not None:
        raise RuntimeError(reason)
    share = get_package_share_directory(PACKAGE)
    params_file = LaunchConfiguration("params_file")
    namespace = LaunchConfiguration("namespace")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=os.path.join(share, "config", "nav2_camvid11.yaml"),
                              description="Parameters of the node (autostart: false) and of the lifecycle manager"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and the manager"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "segment.launch.py")),
            launch_arguments={"params_file": params_file, "namespace": namespace}.items(),
        ),
        Node(package=MANAGER_PACKAGE, executable="lifecycle_manager", name=MANAGER_NAME, namespace=namespace,
             parameters=[params_file], output="screen"),
    ])
