"""Parameter declarations, validation and config/attendseg.yaml against each other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.context import Context
from rclpy.parameter import Parameter

from attendseg_ros import registry
from attendseg_ros.data import load_class_table
from attendseg_ros.interop.compression import JPEG_QUALITY, PNG_LEVEL
from attendseg_ros.resources import config_file
from attendseg_ros.ros import parameters
from attendseg_ros.ros.segmentation_node import SegmentationNode
from attendseg_ros.runtime.pipeline import OUTPUTS
from attendseg_ros.runtime.topics import camera_info_topic, output_prefix, output_topic

YAML_KEY = "/**/attendseg_segmentation"


def shipped_yaml() -> dict:
    return yaml.safe_load(config_file("attendseg.yaml").read_text())[YAML_KEY]["ros__parameters"]


def test_yaml_lists_every_parameter_with_the_node_default() -> None:
    values = shipped_yaml()
    unset = {s.name for s in parameters.SPECS if s.default is None}
    assert set(values) == {s.name for s in parameters.SPECS} - unset
    for spec in parameters.SPECS:
        if spec.name in values:
            assert values[spec.name] == spec.default, spec.name
    text = config_file("attendseg.yaml").read_text()
    assert all(f"# {name}:" in text for name in unset)


def test_descriptors_document_and_constrain() -> None:
    for spec in parameters.SPECS:
        descriptor = spec.descriptor()
        assert descriptor.description, spec.name
    assert parameters.SPEC_BY_NAME["model"].descriptor().read_only
    assert parameters.SPEC_BY_NAME["backend"].descriptor().read_only
    assert parameters.SPEC_BY_NAME["camera_topics"].descriptor().read_only
    assert not parameters.SPEC_BY_NAME["drivable_classes"].descriptor().read_only
    alpha = parameters.SPEC_BY_NAME["overlay_alpha"].descriptor().floating_point_range[0]
    assert (alpha.from_value, alpha.to_value) == (0.0, 1.0)
    assert parameters.SPEC_BY_NAME["max_batch"].descriptor().integer_range[0].from_value == 1


def test_validate_names_the_problem() -> None:
    assert parameters.validate("overlay_alpha", 0.3) is None
    assert "one of" in parameters.validate("backend", "tflite")
    assert "duplicates" in parameters.validate("camera_topics", ["/a/image_raw", "/a/image_raw"])
    assert "one of" in parameters.validate("output_resolution", "huge")
    assert "non-empty" in parameters.validate("camera_topics", [])
    reason = parameters.validate("drivable_classes", ["Road", "Lava"], ("Sky", "Road"))
    assert "Lava" in reason and "Sky" in reason
    assert parameters.validate("drivable_classes", ["Road"], ("Sky", "Road")) is None
    assert parameters.validate("drivable_classes", ["Anything"], None) is None  # model not loaded yet
    assert "key=value" in parameters.validate("backend_options", ["spin"])
    assert parameters.backend_options(("spin=false", "optimization = all", "inter_op_threads=2")) == {
        "spin": False, "optimization": "all", "inter_op_threads": 2}
    assert parameters.backend_options(None) == {}


def test_output_prefix() -> None:
    assert output_prefix("/camera/image_raw") == "/camera/segmentation"
    assert output_prefix("/cars/front/image_rect_color") == "/cars/front/segmentation"
    assert output_prefix("/image_raw") == "/segmentation"
    assert output_prefix("image_raw") == "segmentation"
    assert output_prefix("front/image_raw") == "front/segmentation"
    assert output_topic("/camera/image_raw", "labels") == "/camera/segmentation/labels"
    assert camera_info_topic("/camera/image_raw") == "/camera/camera_info"
    assert camera_info_topic("front/image_raw") == "front/camera_info"
    assert camera_info_topic("image_raw") == "camera_info" and camera_info_topic("/image_raw") == "/camera_info"


def test_every_output_has_a_publish_parameter() -> None:
    for name, output in OUTPUTS.items():
        spec = parameters.SPEC_BY_NAME[output.parameter]
        assert spec.default is True and not spec.read_only
        assert f"<ns>/segmentation/{name} ({output.encoding}:" in spec.description
    compressed = [name for name, output in OUTPUTS.items() if output.kind == "compressed"]
    assert compressed == ["labels/compressed", "confidence/compressed", "drivable_mask/compressed",
                          "overlay/compressed"]
    assert {OUTPUTS[name].parameter for name in compressed} == {"publish_compressed"}
    assert OUTPUTS["camera_info"].parameter == "publish_camera_info"


@pytest.fixture
def declared() -> Iterator:
    """A plain node with every parameter declared from SPECS (rclpy enforces the descriptors)."""
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("parameters_test", context=context)
    parameters.declare(node)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_navigation_defaults_and_ranges_are_enforced(declared) -> None:
    assert declared.get_parameter("min_confidence").value == 0.0
    assert declared.get_parameter("compressed_png_level").value == PNG_LEVEL
    assert declared.get_parameter("compressed_jpeg_quality").value == JPEG_QUALITY
    assert declared.get_parameter("bond_timeout").value == 4.0
    assert declared.set_parameters([Parameter("min_confidence", value=0.4)])[0].successful
    for name, value in (("min_confidence", 1.5), ("compressed_png_level", 10), ("compressed_jpeg_quality", 0)):
        assert not declared.set_parameters([Parameter(name, value=value)])[0].successful, name
    result = declared.set_parameters([Parameter("bond_timeout", value=1.0)])[0]
    assert not result.successful and "read-only" in result.reason
    live = parameters.read_live(declared)
    assert live.min_confidence == 0.4 and live.class_map == "" and live.publish_label_info
    assert set(live.publish) == set(OUTPUTS)
    off = live.updated([Parameter("publish_compressed", value=False), Parameter("min_confidence", value=0.2)])
    assert off.publish == {name for name, o in OUTPUTS.items() if o.kind != "compressed"}
    assert off.min_confidence == 0.2


def test_class_map_validation_names_the_problem() -> None:
    camvid = load_class_table("camvid11")
    assert parameters.class_map_problem("navigation", camvid) is None
    assert parameters.class_map_problem("", camvid) is None
    assert "no class map named 'nav'" in parameters.class_map_problem("nav", camvid)
    reason = parameters.class_map_problem("{classes: [{name: road, from: [Rd]}]}", camvid)
    assert reason is not None and "unknown source classes ['Rd']" in reason
    assert "No such file" in parameters.class_map_problem("/nonexistent/map.yaml", camvid)


def test_bond_only_for_a_managed_node() -> None:
    assert parameters.wants_bond(autostart=False, bond_timeout=4.0)
    assert not parameters.wants_bond(autostart=True, bond_timeout=4.0)
    assert not parameters.wants_bond(autostart=False, bond_timeout=0.0)
    assert parameters.validate("bond_timeout", 0.0) is None and parameters.validate("bond_timeout", 4.0) is None
    assert "heartbeat period" in parameters.validate("bond_timeout", 0.05)


def test_choices_come_from_the_registry() -> None:
    assert parameters.SPEC_BY_NAME["backend"].choices == registry.BACKEND_CHOICES
    assert "auto" in registry.BACKEND_CHOICES and parameters.SPEC_BY_NAME["backend"].default == "onnxruntime"
    assert set(parameters.SPEC_BY_NAME["precision"].choices) == {"", *registry.PRECISIONS}


def test_devices_are_the_engines_devices() -> None:
    """The node refused cuda:1 although the engines take it."""
    for device in ("cpu", "cuda", "cuda:0", "cuda:1", "", "GPU", "GPU.1", "NPU"):  # OpenVINO's names too
        assert parameters.validate("device", device) is None, device
    for device in ("gpu", "cuda:", "cuda:x", "cpu:0", "CUDA"):
        assert "cpu, cuda or cuda:N" in parameters.validate("device", device), device


@pytest.mark.parametrize(
    ("topics", "named"),
    [
        (["/cam0/9bad/image_raw"], ["'/cam0/9bad/image_raw'", "must not start with a number"]),
        (["/cam/image_raw", "/cam/image_rect"], ["'/cam/image_raw'", "'/cam/image_rect'", "/cam/segmentation/*"]),
        (["/a/image_raw", "/b/x y"], ["'/b/x y'"]),
        (["image_raw", "/image_raw"], ["'image_raw'", "'/image_raw'", "/segmentation/*"]),
        (["/a//image_raw"], ["'/a//image_raw'", "repeated"]),
        (["camera/image_raw", "/camera/image_raw"], ["duplicates", "'camera/image_raw'", "'/camera/image_raw'"]),
    ],
)
def test_camera_topics_are_refused_naming_the_topics(topics: list[str], named: list[str]) -> None:
    reason = parameters.camera_topics_problem(topics)
    assert reason is not None
    for text in named:
        assert text in reason, reason


def test_good_camera_topics_pass_in_any_namespace() -> None:
    topics = ["/front/image_raw", "/rear/image_raw", "side/image_raw", "~/image_raw"]
    assert parameters.camera_topics_problem(topics, "seg", "/robot1") is None
    assert parameters.validate("camera_topics", ["/front/image_raw"]) is None


def test_relative_camera_topics_are_expanded_in_the_node_namespace() -> None:
    """camera/image_raw is /robot1/camera/image_raw in /robot1: no clash with /camera/image_raw there."""
    assert parameters.camera_topics_problem(["camera/image_raw", "/camera/image_raw"], "seg", "/robot1") is None
    reason = parameters.camera_topics_problem(["camera/image_raw", "/robot1/camera/image_raw"], "seg", "/robot1")
    assert reason is not None and "duplicates" in reason
    assert parameters.validate("camera_topics", list(parameters.SPEC_BY_NAME["camera_topics"].default)) is None


def test_backend_options_must_be_yaml_scalars() -> None:
    assert parameters.validate("backend_options", [parameters.DEFAULT]) is None
    assert "not a YAML scalar" in parameters.validate("backend_options", ["spin=[unclosed"])
    assert parameters.validate("backend_options", ["spin=false", "optimization=all"]) is None


@pytest.fixture
def context() -> Iterator[Context]:
    context = Context()
    yield context
    rclpy.try_shutdown(context=context)


def test_params_file_applies_to_the_node_in_any_namespace(context: Context, tmp_path: Path) -> None:
    values = shipped_yaml()
    values.update(max_batch=7, camera_topics=["/front/image_raw", "/rear/image_raw"], overlay_alpha=0.25)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({YAML_KEY: {"ros__parameters": values}}))
    rclpy.init(args=["--ros-args", "--params-file", str(params_file)], context=context)
    node = SegmentationNode(namespace="/robot1", context=context)
    try:
        assert node.static.max_batch == 7
        assert node.static.camera_topics == ("/front/image_raw", "/rear/image_raw")
        assert node.live.overlay_alpha == 0.25
        assert node.live.drivable_classes is None  # unset until a model supplies its default
    finally:
        node.destroy_node()


def test_every_parameter_has_a_value_and_an_empty_list_is_refused(context: Context, tmp_path: Path) -> None:
    """rclpy answers nothing for a request naming an unset parameter (an empty `ros2 param dump`)."""
    rclpy.init(context=context)
    node = SegmentationNode(context=context)
    try:
        values = node.get_parameters([spec.name for spec in parameters.SPECS])
        assert all(p.type_ != rclpy.Parameter.Type.NOT_SET for p in values)
        assert node.get_parameter("backend_options").value == [parameters.DEFAULT]
        assert node.static.backend_options is None and node.live.drivable_classes is None  # [default] reads as None
        assert node.static.camera_topics == ("camera/image_raw",)  # relative: in the node's namespace
    finally:
        node.destroy_node()
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({YAML_KEY: {"ros__parameters": {"backend_options": []}}}))
    other = Context()
    rclpy.init(args=["--ros-args", "--params-file", str(params_file)], context=other)
    try:
        with pytest.raises(ValueError, match=r"backend_options was given without a value: .*\[default\]"):
            SegmentationNode(context=other)
    finally:
        rclpy.try_shutdown(context=other)


def test_readme_documents_every_parameter_and_output() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for spec in parameters.SPECS:
        assert f"`{spec.name}`" in readme, spec.name
    for name in (*OUTPUTS, "label_info"):
        assert f"| `{name}` |" in readme, name
