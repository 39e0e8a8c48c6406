"""launch/segment.launch.py checked structurally (launch/launch_ros cannot be installed here).

Its executable must be a console script of setup.py, its arguments the documented ones, the files it
refers to must exist and be installed, and its topic parsing must work.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "segment.launch.py"
ARGUMENTS = {"camera_topics", "params_file", "namespace", "backend", "use_sim_time", "log_level"}


def tree() -> ast.Module:
    return ast.parse(LAUNCH.read_text(), filename=str(LAUNCH))


def constants() -> dict[str, str]:
    return {
        node.targets[0].id: node.value.value
        for node in tree().body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.targets[0], ast.Name)
    }


def calls(name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree()) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def test_declares_the_documented_arguments() -> None:
    declared = {c.args[0].value for c in calls("DeclareLaunchArgument")}
    assert declared >= ARGUMENTS
    for call in calls("DeclareLaunchArgument"):
        keywords = {k.arg for k in call.keywords}
        assert {"default_value", "description"} <= keywords, call.args[0].value
    used = set(re.findall(r'arg\("([a-z_]+)"\)', LAUNCH.read_text()))
    assert used <= declared and used >= ARGUMENTS


def test_starts_an_installed_console_script_of_this_package() -> None:
    (node,) = calls("LifecycleNode")
    keywords = {k.arg: k.value for k in node.keywords}
    assert {"package", "executable", "name", "namespace", "parameters"} <= set(keywords)
    names = constants()
    assert names[keywords["package"].id] == "attendseg_ros"
    executable = names[keywords["executable"].id]
    setup = (REPO / "setup.py").read_text()
    match = re.search(rf'"{re.escape(executable)} = ([\w.]+):(\w+)"', setup)
    assert match, f"{executable} is not a console script in setup.py"
    module, function = match.groups()
    assert (REPO / (module.replace(".", "/") + ".py")).is_file()
    assert f"def {function}(" in (REPO / (module.replace(".", "/") + ".py")).read_text()
    # The node name must be the one config/attendseg.yaml is keyed by.
    assert f"/**/{names['NODE_NAME']}:" in (REPO / "config" / "attendseg.yaml").read_text()


def test_referenced_files_exist_and_are_installed() -> None:
    text = LAUNCH.read_text()
    referenced = re.findall(r'"config", "([\w.]+)"', text)
    assert set(referenced) == {"attendseg.yaml", "fastdds_large_data.xml"}
    setup = (REPO / "setup.py").read_text()
    cmake = (REPO / "CMakeLists.txt").read_text()
    for name in referenced:
        assert (REPO / "config" / name).is_file()
    assert 'glob("config/*.yaml") + glob("config/*.xml")' in setup
    assert 'glob("launch/*.launch.py")' in setup
    assert "install(DIRECTORY config" in cmake and "install(DIRECTORY launch" in cmake


def test_parse_camera_topics() -> None:
    (function,) = [n for n in tree().body if isinstance(n, ast.FunctionDef) and n.name == "parse_camera_topics"]
    import yaml

    namespace: dict = {"yaml": yaml}
    exec(compile(ast.Module(body=[function], type_ignores=[]), str(LAUNCH), "exec"), namespace)
    parse = namespace["parse_camera_topics"]
    assert parse("") == []
    assert parse("[/a/image_raw, /b/image_raw]") == ["/a/image_raw", "/b/image_raw"]
    assert parse(" /a/image_raw , /b/image_raw ") == ["/a/image_raw", "/b/image_raw"]
    with pytest.raises(ValueError, match="camera_topics"):
        parse("[1, 2]")


def test_dds_profile_is_a_valid_fastdds_profile() -> None:
    import xml.etree.ElementTree as ET

    root = ET.parse(REPO / "config" / "fastdds_large_data.xml").getroot()
    ns = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    sizes = [int(e.text) for e in root.iterfind(".//p:transport_descriptor/p:segment_size", ns)]
    assert sizes == [32 * 1024 * 1024]
    types = {e.text for e in root.iterfind(".//p:transport_descriptor/p:type", ns)}
    assert types == {"SHM", "UDPv4"}
    assert root.find(".//p:participant/p:rtps/p:useBuiltinTransports", ns).text == "false"
    assert root.find(".//p:participant", ns).get("is_default_profile") == "true"
