"""The package as ROS 2 and pip see it: package.xml, entry points, generated messages, data files.

What CMakeLists.txt installs for `ros2 launch`/`ros2 run` is checked in test/launch/test_installed_layout.py.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import math
import os
import re
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "attendseg_ros"

# "name = module:function", the one form CMakeLists.txt turns into `ros2 run` launchers (same regex).
CMAKE_ENTRY_POINT = re.compile(r'^[ \t]*"([A-Za-z0-9_-]+)[ \t]*=[ \t]*([A-Za-z0-9_.]+):([A-Za-z0-9_]+)",?[ \t]*$')


def _setup_call() -> ast.Call:
    tree = ast.parse((REPO / "setup.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "setup"]
    assert len(calls) == 1, "setup.py must call setup() exactly once"
    return calls[0]


def _setup_keyword(name: str) -> ast.expr:
    for keyword in _setup_call().keywords:
        if keyword.arg == name:
            return keyword.value
    raise AssertionError(f"setup.py: setup() has no {name}=")


def _console_scripts() -> dict[str, str]:
    entry_points = ast.literal_eval(_setup_keyword("entry_points"))
    scripts = {}
    for line in entry_points["console_scripts"]:
        name, _, target = (part.strip() for part in line.partition("="))
        assert name not in scripts, f"duplicate console script {name}"
        scripts[name] = target
    return scripts


CONSOLE_SCRIPTS = _console_scripts()


# --- package.xml -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest():
    from catkin_pkg.package import parse_package

    return parse_package(str(REPO / "package.xml"))


def test_package_xml_is_format_3_ament_cmake(manifest) -> None:
    manifest.validate()
    assert manifest.name == PACKAGE
    assert manifest.package_format == 3
    assert manifest.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [group.name for group in manifest.member_of_groups]


def test_package_xml_declares_dependencies(manifest) -> None:
    manifest.evaluate_conditions(os.environ)
    build = {d.name for d in manifest.buildtool_depends + manifest.build_depends}
    run = {d.name for d in manifest.exec_depends}
    test = {d.name for d in manifest.test_depends}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators", "std_msgs"} <= build
    assert {
        "rclpy",
        "rcl_interfaces",
        "std_msgs",
        "sensor_msgs",
        "diagnostic_msgs",
        "launch",
        "launch_ros",
        "rosidl_default_runtime",
        "python3-numpy",
        "python3-opencv",
        "python3-torch",
        "python3-onnxruntime-pip",
    } <= run
    assert "python3-pytest" in test


def test_versions_agree(manifest) -> None:
    import attendseg_ros

    setup_version = ast.literal_eval(_setup_keyword("version"))
    assert manifest.version == setup_version == attendseg_ros.__version__


# --- console scripts ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONSOLE_SCRIPTS))
def test_console_script_resolves(name: str) -> None:
    target = CONSOLE_SCRIPTS[name]
    assert re.fullmatch(r"attendseg-[a-z0-9-]+", name), f"{name}: scripts are named attendseg-<verb>"
    match = re.fullmatch(r"(attendseg_ros(?:\.[a-z_][a-z0-9_]*)+):([a-z_][a-z0-9_]*)", target)
    assert match, f"{name} = {target}: expected attendseg_ros.<module>:<function>"
    module = importlib.import_module(match[1])
    function = getattr(module, match[2], None)
    assert callable(function), f"{name}: {match[1]} has no callable {match[2]}"


def test_every_console_script_gets_a_ros2_run_launcher() -> None:
    lines = (REPO / "setup.py").read_text().splitlines()
    found = {m[1]: f"{m[2]}:{m[3]}" for m in map(CMAKE_ENTRY_POINT.match, lines) if m}
    assert found == CONSOLE_SCRIPTS, "CMakeLists.txt parses setup.py's console_scripts: keep one per line"


def test_installed_entry_points_are_current() -> None:
    # pip-installed metadata only: a source tree's attendseg_ros.egg-info and colcon's have no INSTALLER
    dists = [d for d in importlib.metadata.distributions(name=PACKAGE) if d.read_text("INSTALLER")]
    if not dists:
        pytest.skip("attendseg_ros is not pip-installed here (source tree or colcon)")
    dist = dists[0]
    installed = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert installed == CONSOLE_SCRIPTS, "stale install: run `make` (or pip install -e .) again"
    scripts_dir = Path(sysconfig.get_path("scripts"))
    for name in CONSOLE_SCRIPTS:
        assert (scripts_dir / name).is_file(), f"{name} missing in {scripts_dir}"


# --- generated messages ------------------------------------------------------------------------

SEGMENTATION_INFO_FIELDS = {
    "header": "std_msgs/Header",
    "model_name": "string",
    "backend": "string",
    "precision": "string",
    "input_height": "uint32",
    "input_width": "uint32",
    "class_names": "sequence<string>",
    "palette": "sequence<uint8>",
    "void_id": "uint8",
    "drivable_class_ids": "sequence<uint8>",
    "input_state": "uint8",
    "input_status": "string",
}
EVALUATION_REPORT_FIELDS = {
    "header": "std_msgs/Header",
    "final": "boolean",
    "frames": "uint32",
    "frames_missing": "uint32",
    "frames_duplicate": "uint32",
    "stamps_out_of_order": "uint32",
    "clock_resets": "uint32",
    "pixel_accuracy": "double",
    "mean_class_accuracy": "double",
    "miou": "double",
    "class_names": "sequence<string>",
    "class_iou": "sequence<double>",
    "latency_ms_p50": "double",
    "latency_ms_p99": "double",
    "fps": "double",
}


def test_messages_have_the_expected_fields() -> None:
    from attendseg_ros.msg import EvaluationReport, SegmentationInfo

    assert SegmentationInfo.get_fields_and_field_types() == SEGMENTATION_INFO_FIELDS
    assert EvaluationReport.get_fields_and_field_types() == EVALUATION_REPORT_FIELDS


def test_messages_coexist_with_the_python_package() -> None:
    """The generated attendseg_ros.msg and the hand-written subpackages import side by side."""
    import attendseg_ros
    import attendseg_ros.msg
    import attendseg_ros.resources

    assert Path(attendseg_ros.resources.__file__).parent == Path(attendseg_ros.__file__).parent
    assert any(Path(p) == Path(attendseg_ros.msg.__file__).parents[1] for p in attendseg_ros.__path__)


def test_message_serialization_round_trip() -> None:
    from rclpy.serialization import deserialize_message, serialize_message

    from attendseg_ros.msg import EvaluationReport

    report = EvaluationReport(frames=3, miou=0.5, fps=math.nan, class_names=["Sky", "Road"], class_iou=[0.25, 0.75])
    report.header.frame_id = "camera"
    back = deserialize_message(serialize_message(report), EvaluationReport)
    assert (back.frames, back.miou, back.header.frame_id) == (3, 0.5, "camera")
    assert list(back.class_names) == ["Sky", "Road"]
    assert list(back.class_iou) == [0.25, 0.75]
    assert math.isnan(back.fps)


PUBLISHER = """
import sys
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from attendseg_ros.msg import SegmentationInfo

rclpy.init()
node = rclpy.create_node("test_package_publisher")
qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
publisher = node.create_publisher(SegmentationInfo, sys.argv[1], qos)
publisher.publish(SegmentationInfo(model_name="attendseg_camvid11", class_names=["Sky", "Road"],
                                   palette=[128, 128, 128, 128, 64, 128], void_id=11, drivable_class_ids=[1]))
print("published", flush=True)
sys.stdin.read()  # stay alive (latched sample) until the test closes stdin
node.destroy_node()
rclpy.try_shutdown()
"""


def test_segmentation_info_between_processes() -> None:
    """A SegmentationInfo published by another process arrives intact (typesupport + DDS work)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile

    from attendseg_ros.msg import SegmentationInfo

    topic = f"test_package_info_{os.getpid()}"
    publisher = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, topic], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("test_package_subscriber", context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        received: list[SegmentationInfo] = []
        qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(SegmentationInfo, topic, received.append, qos)
        deadline = time.monotonic() + 30.0
        while not received and time.monotonic() < deadline and publisher.poll() is None:
            executor.spin_once(timeout_sec=0.1)
        assert publisher.poll() is None, f"publisher exited with {publisher.returncode}"
        assert received, "no SegmentationInfo within 30 s"
        info = received[0]
        assert info.model_name == "attendseg_camvid11"
        assert list(info.class_names) == ["Sky", "Road"]
        assert list(info.palette) == [128, 128, 128, 128, 64, 128]
        assert (info.void_id, list(info.drivable_class_ids)) == (11, [1])
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        try:
            publisher.communicate(input="", timeout=30)
        except subprocess.TimeoutExpired:
            publisher.kill()
            publisher.communicate()


# --- installed data files ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["camvid11", "camvid32"])
def test_config_class_tables_parse(name: str) -> None:
    table = yaml.safe_load((REPO / "config" / f"{name}.yaml").read_text())
    assert table["name"] == name
    assert all(set(entry) == {"name", "color"} and len(entry["color"]) == 3 for entry in table["classes"])


def test_every_config_file_parses() -> None:
    yamls = sorted((REPO / "config").glob("*.yaml"))
    assert yamls
    for path in yamls:
        assert isinstance(yaml.safe_load(path.read_text()), dict), f"{path.name}: not a YAML mapping"
    for path in sorted((REPO / "config").glob("*.xml")):
        ElementTree.parse(path)  # raises on malformed XML (e.g. a Fast DDS profile)


def test_launch_files_exist_and_compile() -> None:
    files = sorted((REPO / "launch").glob("*.launch.py"))
    assert files, "launch/ has no *.launch.py (CMakeLists.txt installs them)"
    for path in files:
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "generate_launch_description" in functions, f"{path.name}: no generate_launch_description()"


def test_msg_files_are_all_generated() -> None:
    import attendseg_ros.msg

    for path in (REPO / "msg").glob("*.msg"):
        assert hasattr(attendseg_ros.msg, path.stem), f"msg/{path.name} is not generated: run `make`"
