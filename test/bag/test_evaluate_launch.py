"""launch/evaluate.launch.py checked structurally (launch/launch_ros cannot be installed here)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from attendseg_ros.ros import evaluation_node

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "evaluate.launch.py"
TREE = ast.parse(LAUNCH.read_text())


def _console_scripts() -> set[str]:
    setup = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(setup):
        if isinstance(node, ast.keyword) and node.arg == "entry_points":
            scripts = ast.literal_eval(node.value)["console_scripts"]
            return {line.split("=")[0].strip() for line in scripts}
    raise AssertionError("setup.py declares no entry_points")


def _calls(name: str) -> list[ast.Call]:
    return [n for n in ast.walk(TREE) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == name]


def _keyword(call: ast.Call, name: str) -> ast.expr:
    return next(k.value for k in call.keywords if k.arg == name)


def _declared() -> dict[str, object]:
    assignments = [n for n in TREE.body if isinstance(n, ast.Assign)]
    assignment = next(n for n in assignments if getattr(n.targets[0], "id", "") == "ARGUMENTS")
    return {item.elts[0].value: item.elts[1] for item in assignment.value.elts}  # type: ignore[attr-defined]


def _nodes() -> dict[str, ast.Call]:
    return {ast.literal_eval(_keyword(call, "executable")): call for call in _calls("Node")}


def test_executables_are_console_scripts_of_this_package() -> None:
    nodes = _nodes()
    assert set(nodes) == {"attendseg-evaluate"}
    assert set(nodes) <= _console_scripts()
    for call in nodes.values():
        assert isinstance(_keyword(call, "package"), ast.Name)  # PACKAGE
    assert 'PACKAGE = "attendseg_ros"' in LAUNCH.read_text()


def test_includes_segment_launch_with_its_declared_arguments() -> None:
    (include,) = _calls("IncludeLaunchDescription")
    assert "'launch', 'segment.launch.py'" in ast.unparse(include)
    segment = ast.parse((REPO / "launch" / "segment.launch.py").read_text())
    declared = {
        c.args[0].value
        for c in ast.walk(segment)
        if isinstance(c, ast.Call) and getattr(c.func, "id", None) == "DeclareLaunchArgument"
    }
    passed = _keyword(include, "launch_arguments").func.value  # type: ignore[attr-defined]
    keys = {ast.literal_eval(k) for k in passed.keys}
    assert keys and keys <= declared, f"segment.launch.py does not declare {keys - declared}"
    assert 'glob("launch/*.launch.py")' in (REPO / "setup.py").read_text()  # both are installed


def test_every_used_argument_is_declared_and_the_bag_is_required() -> None:
    declared = _declared()
    used = {
        n.slice.value
        for n in ast.walk(TREE)
        if isinstance(n, ast.Subscript) and getattr(n.value, "id", "") == "arg" and isinstance(n.slice, ast.Constant)
    }
    assert used <= set(declared), f"undeclared launch arguments: {used - set(declared)}"
    assert {"bag", "params_file", "backend", "rate", "output_json"} <= used
    assert isinstance(declared["bag"], ast.Constant) and declared["bag"].value is None


def test_evaluation_parameters_exist_on_the_node() -> None:
    dicts = [d for d in ast.walk(_keyword(_nodes()["attendseg-evaluate"], "parameters")) if isinstance(d, ast.Dict)]
    keys = {ast.literal_eval(k) for d in dicts for k in d.keys}
    names = {s.name for s in evaluation_node.SPECS}
    assert {"labels_topic", "ground_truth_topic", "output_json"} <= keys <= names, keys - names


@pytest.mark.parametrize("name", ["attendseg.yaml", "fastdds_large_data.xml"])
def test_referenced_config_files_exist_and_are_installed(name: str) -> None:
    assert f'"{name}"' in LAUNCH.read_text()
    assert (REPO / "config" / name).is_file()
    setup = (REPO / "setup.py").read_text()
    assert f'glob("config/*{Path(name).suffix}")' in setup


def test_plays_the_bag_then_ends_with_the_evaluation() -> None:
    (play,) = _calls("ExecuteProcess")
    command = _keyword(play, "cmd")
    words = [e.value for e in command.elts if isinstance(e, ast.Constant)]  # type: ignore[attr-defined]
    assert words[:3] == ["ros2", "bag", "play"] and "--rate" in words and "--topics" in words
    (timer,) = _calls("TimerAction")
    assert ast.unparse(_keyword(timer, "actions")) == "[play]"
    (on_exit,) = _calls("OnProcessExit")
    assert ast.unparse(_keyword(on_exit, "target_action")) == "evaluation"
    assert "Shutdown" in ast.unparse(_keyword(on_exit, "on_exit"))
    (function,) = [n for n in TREE.body if isinstance(n, ast.FunctionDef)]
    assert function.name == "generate_launch_description"
