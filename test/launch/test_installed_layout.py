"""The INSTALLED package as `ros2 launch` and `ros2 run` look it up (AMENT_PREFIX_PATH; see conftest.py).

`make venv` runs CMakeLists.txt's install rules into the venv, colcon runs the same ones into its
install space: share/attendseg_ros/{package.xml,launch,config,msg}, the ament index marker and one
launcher per console script in lib/attendseg_ros. A source file that differs from its installed copy
means a stale install (run `make venv` again).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest
from ament_index_python.packages import get_package_prefix, get_package_share_directory

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "attendseg_ros"


def console_scripts() -> dict[str, str]:
    """setup.py's console_scripts: name -> module:function (the one list of executables)."""
    for node in ast.walk(ast.parse((REPO / "setup.py").read_text())):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            lines = ast.literal_eval(node.value)["console_scripts"]
            return {name.strip(): target.strip() for name, target in (line.split("=") for line in lines)}
    raise AssertionError("setup.py declares no console_scripts")


@pytest.fixture(scope="module")
def share() -> Path:
    return Path(get_package_share_directory(PACKAGE))


@pytest.fixture(scope="module")
def prefix() -> Path:
    return Path(get_package_prefix(PACKAGE))


@pytest.mark.parametrize("folder", ["launch", "config"])
def test_launch_and_config_are_installed_as_real_folders_matching_the_source(share: Path, folder: str) -> None:
    installed = share / folder
    # ros2launch finds launch files with os.walk, which does not enter a symlinked folder
    assert installed.is_dir() and not installed.is_symlink(), f"{installed} missing or a symlink"
    sources = sorted(p for p in (REPO / folder).iterdir() if p.is_file())
    assert sources
    for source in sources:
        copy = installed / source.name
        assert copy.is_file(), f"{copy} is not installed: run `make venv` (or colcon build)"
        assert copy.read_bytes() == source.read_bytes(), f"{copy} is stale: run `make venv` (or colcon build)"


def test_manifest_index_marker_and_messages_are_installed(share: Path, prefix: Path) -> None:
    assert (share / "package.xml").read_bytes() == (REPO / "package.xml").read_bytes()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    for source in (REPO / "msg").glob("*.msg"):
        assert (share / "msg" / source.name).is_file(), source.name


def test_every_console_script_has_a_launcher_in_lib(prefix: Path) -> None:
    scripts = console_scripts()
    lib = prefix / "lib" / PACKAGE
    assert {p.name for p in lib.iterdir()} == set(scripts), f"{lib} does not hold exactly setup.py's console_scripts"
    for name, target in scripts.items():
        launcher = lib / name
        assert os.access(launcher, os.X_OK), f"{launcher} is not executable"
        module, function = target.split(":")
        assert f"from {module} import {function}" in launcher.read_text(), f"{launcher} is stale"


def test_ros2_pkg_and_ros2_run_find_the_executables(ros2_cli: str) -> None:
    listed = subprocess.run([ros2_cli, "pkg", "executables", PACKAGE], capture_output=True, text=True, timeout=60)
    assert set(listed.stdout.split("\n")) - {""} == {f"{PACKAGE} {name}" for name in console_scripts()}, listed
    run = subprocess.run([ros2_cli, "run", PACKAGE, "attendseg-play-bag", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.startswith("usage: attendseg-play-bag"), run


def _installed_launch_module(share: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), share / "launch" / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_installed_segment_launch_parses_camera_topics(ros2_cli: str, share: Path) -> None:
    parse = _installed_launch_module(share, "segment.launch.py").parse_camera_topics
    assert parse("") == []
    assert parse("[front/image_raw, /rear/image_raw]") == ["front/image_raw", "/rear/image_raw"]
    assert parse(" front/image_raw , rear/image_raw ") == ["front/image_raw", "rear/image_raw"]
    with pytest.raises(ValueError, match="camera_topics"):
        parse("[1, 2]")


def test_installed_dds_profile_is_a_valid_large_data_profile(share: Path) -> None:
    root = ET.parse(share / "config" / "fastdds_large_data.xml").getroot()
    ns = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    sizes = [int(e.text) for e in root.iterfind(".//p:transport_descriptor/p:segment_size", ns)]
    assert sizes == [32 * 1024 * 1024]
    assert {e.text for e in root.iterfind(".//p:transport_descriptor/p:type", ns)} == {"SHM", "UDPv4"}
    assert root.find(".//p:participant/p:rtps/p:useBuiltinTransports", ns).text == "false"
    assert root.find(".//p:participant", ns).get("is_default_profile") == "true"
