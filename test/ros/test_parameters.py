"""Parameter declarations, validation and config/attendseg.yaml against each other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
import yaml
from rclpy.context import Context

from attendseg_ros import registry
from attendseg_ros.pipeline import OUTPUTS
from attendseg_ros.resources import config_file
from attendseg_ros.ros import parameters
from attendseg_ros.ros.segmentation_node import SegmentationNode
from attendseg_ros.topics import output_prefix, output_topic

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


def test_every_output_has_a_publish_parameter() -> None:
    for name, output in OUTPUTS.items():
        spec = parameters.SPEC_BY_NAME[f"publish_{name}"]
        assert spec.default is True and not spec.read_only and output.encoding in spec.description


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


def test_backend_options_must_be_yaml_scalars() -> None:
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


def test_readme_documents_every_parameter_and_output() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for spec in parameters.SPECS:
        assert f"`{spec.name}`" in readme, spec.name
    for name in OUTPUTS:
        assert f"| `{name}` |" in readme, name
