"""How the package hangs together: dependencies run one way, the ONNX Runtime path needs no torch."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "attendseg_ros"
ROS_MODULES = ("rclpy", "sensor_msgs", "std_msgs", "diagnostic_msgs", "rcl_interfaces", "lifecycle_msgs",
               "builtin_interfaces", "attendseg_ros.msg")


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (lazy imports included)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        package += ".__init__"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}
    return names


def _modules(under: str = "") -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


def _part(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_ros_and_the_commands_touch_ros(path: Path) -> None:
    if _part(path) in ("ros", "cli"):
        return
    ros = sorted(n for n in _imports(path) if n.split(".")[0] in ROS_MODULES or n.startswith("attendseg_ros.msg"))
    assert not ros, f"{path.name} imports ROS: {ros}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_below_the_commands_imports_them_and_bag_never_imports_ros(path: Path) -> None:
    imported = _imports(path)
    if _part(path) != "cli":
        assert not [n for n in imported if n.startswith("attendseg_ros.cli")], path.name
    if _part(path) not in ("ros", "cli"):
        assert not [n for n in imported if n.startswith("attendseg_ros.ros")], f"{path.name} imports attendseg_ros.ros"


# The wings, lowest first: a module imports its own wing and lower ones only, never a higher one.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__init__", "_lazy", "registry", "resources", "metrics"),  # the root: tables and pure functions
    ("model", "data"),  # the network; datasets, class tables and the one preprocessing function
    ("interop",),  # conventions of navigation stacks (class maps, unknown pixels, LabelInfo, intrinsics)
    ("modelfiles",),  # model files and their conversion (sidecar, checkpoint, export, file checks)
    ("engines",),  # one Segmenter interface, one module per backend
    ("runtime",),  # the per-frame work (no torch, no ROS)
    ("training",),  # training, offline evaluation and its report
    ("bag",),  # rosbag2 tools: CamVid to bag, scoring a bag
    ("ros",),  # nodes
    ("cli",),  # commands
)
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def test_every_module_belongs_to_a_wing() -> None:
    assert {_part(path) for path in _modules()} <= set(RANK), "a new top-level module or folder needs a wing in LAYERS"
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.stem not in LAYERS[0])
    assert not loose, f"modules loose at the package root: {loose}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_dependencies_run_down_the_wings(path: Path) -> None:
    part = _part(path)
    upward = sorted(
        name for name in _imports(path)
        if name.startswith("attendseg_ros.") and (other := name.split(".")[1]) in RANK
        and other != part and RANK[other] >= RANK[part]
    )
    assert not upward, f"{path.relative_to(PACKAGE)} ({part}) imports a wing at its level or above: {upward}"


TORCH_FREE = """
import sys
sys.modules["torch"] = None  # any import of torch now fails
import numpy as np
from attendseg_ros.engines import create_segmenter
from attendseg_ros.runtime.pipeline import OUTPUTS, FramePipeline, FrameSettings
import attendseg_ros.ros.segmentation_node  # the node module too
segmenter = create_segmenter("onnxruntime")  # the embedded INT8 model
result = FramePipeline(segmenter).run([np.zeros((120, 160, 3), np.uint8)], [list(OUTPUTS)], FrameSettings())
print(sorted(result.outputs[0]), result.outputs[0]["labels"].shape)
print("ran:", segmenter.backend, "measured:", sorted(segmenter.selection.timings_ms) if segmenter.selection else [])
"""


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "auto"])
def test_the_onnx_paths_run_without_torch(backend: str) -> None:
    """An edge install running the INT8 model should not need torch (it pulled it in through the sidecar)."""
    if backend != "onnxruntime" and importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed")
    script = TORCH_FREE.replace('create_segmenter("onnxruntime")', f"create_segmenter({backend!r})")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(120, 160)" in result.stdout
    if backend == "auto":  # both engines loaded and measured, none left out for lack of torch
        assert "measured: ['onnxruntime', 'openvino']" in result.stdout, result.stdout
    else:
        assert f"ran: {backend} measured: []" in result.stdout, result.stdout
