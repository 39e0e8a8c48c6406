"""launch/nav2_lifecycle_example.launch.py: the node under Nav2's lifecycle manager, where that is installed.

nav2_lifecycle_manager is not installed here, so the launch is run for real only to show that it stops
at once, naming the missing package. With the package registered in an ament prefix of this test,
the description is checked: segment.launch.py with the Nav2 example parameters (autostart false, bond)
and the manager's ``lifecycle_manager`` with the same file. Not run against a real manager here.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
import yaml

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "nav2_lifecycle_example.launch.py"
CONFIG = Path(__file__).resolve().parents[2] / "config"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nav2_lifecycle_example", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.fixture
def with_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ament prefix that registers nav2_lifecycle_manager, first on AMENT_PREFIX_PATH."""
    (tmp_path / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (tmp_path / "share" / "ament_index" / "resource_index" / "packages" / "nav2_lifecycle_manager").touch()
    (tmp_path / "share" / "nav2_lifecycle_manager").mkdir()
    monkeypatch.setenv("AMENT_PREFIX_PATH", os.pathsep.join([str(tmp_path), os.environ.get("AMENT_PREFIX_PATH", "")]))
    return tmp_path


def test_without_nav2_lifecycle_manager_the_launch_stops_and_names_it(tmp_path: Path) -> None:
    module = _load()
    if module.manager_missing() is None:
        pytest.skip("nav2_lifecycle_manager is installed here")
    ros2 = Path(os.sys.executable).parent / "ros2"
    if not ros2.is_file():
        pytest.skip("no ros2 command beside this Python (ROS 2 tooling not installed)")
    env = {**os.environ, "ROS_LOG_DIR": str(tmp_path)}
    result = subprocess.run([str(ros2), "launch", str(LAUNCH_FILE)], env=env, capture_output=True, text=True,
                            timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "nav2_lifecycle_manager is not installed" in output and "segment.launch.py" in output, output
    with pytest.raises(RuntimeError, match="ros-\\$ROS_DISTRO-nav2-lifecycle-manager"):
        module.generate_launch_description()


def test_with_nav2_lifecycle_manager_it_starts_the_node_and_the_manager_with_one_file(with_manager: Path) -> None:
    from ament_index_python.packages import get_package_share_directory
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
    from launch_ros.actions import Node

    from launch import LaunchContext

    module = _load()
    assert module.manager_missing() is None
    description = module.generate_launch_description()
    arguments = {e.name: e for e in description.entities if isinstance(e, DeclareLaunchArgument)}
    share = Path(get_package_share_directory("attendseg_ros"))
    params = arguments["params_file"].default_value[0].text
    assert params == str(share / "config" / "nav2_camvid11.yaml")
    include = next(e for e in description.entities if isinstance(e, IncludeLaunchDescription))
    source = include.launch_description_source
    source.get_launch_description(LaunchContext())  # loads the installed segment.launch.py
    assert source.location == str(share / "launch" / "segment.launch.py")
    assert {name for name, _ in include.launch_arguments} == {"params_file", "namespace"}
    manager = next(e for e in description.entities if isinstance(e, Node))
    assert (manager.node_package, manager.node_executable) == ("nav2_lifecycle_manager", "lifecycle_manager")
    # the file it hands both: the node waits for the manager and bonds with it; the manager drives it
    example = yaml.safe_load((CONFIG / "nav2_camvid11.yaml").read_text())
    node = example["/**/attendseg_segmentation"]["ros__parameters"]
    manager_parameters = example[f"/**/{module.MANAGER_NAME}"]["ros__parameters"]
    assert node["autostart"] is False and node["bond_timeout"] == manager_parameters["bond_timeout"] > 0
    assert manager_parameters["node_names"] == ["attendseg_segmentation"] and manager_parameters["autostart"]
