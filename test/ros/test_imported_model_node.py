"""The segmentation node runs an imported model (attendseg-import-model) and publishes its class table.

The node process is real (DDS, its own process); the model is a foreign network of another
architecture with a sidewalk robot's 7 classes from a folder-layout classes.yaml.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from foreign_models import SIDEWALK, SIDEWALK_COLORS, StridedConvNet, classes_yaml, export
from sensor_msgs.msg import Image
from support import bgr_image, labels_array, stamp_header

from attendseg_ros.data.camvid import CamVid
from attendseg_ros.modelfiles.import_onnx import import_onnx
from attendseg_ros.ros.interop import LABEL_INFO_QOS, label_info_type
from attendseg_ros.ros.process import LATCHED, NODE_NAME, Client, NodeProcess, node_command, node_env
from attendseg_ros.runtime.drivable import DrivableConfig, drivable_mask
from attendseg_ros.runtime.visualize import overlay

CAMERA, OUT = "/cam_i/image_raw", "/cam_i/segmentation"
SIZE = (96, 128)
START_TIMEOUT, TIMEOUT = 60.0, 30.0


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The foreign model imported twice: with `drivable: [sidewalk]` and with no drivable class."""
    folder = tmp_path_factory.mktemp("imported_node")
    torch.manual_seed(3)
    source = export(StridedConvNet(len(SIDEWALK)), folder / "strided.onnx", torch.zeros(1, 3, *SIZE),
                    dynamic_size=True)
    with_drivable = classes_yaml(folder / "robot" / "classes.yaml")
    without = classes_yaml(folder / "plain" / "classes.yaml", drivable=())
    return {
        "drivable": import_onnx(source, with_drivable, folder / "models", SIZE, name="sidewalk").path,
        "plain": import_onnx(source, without, folder / "models", SIZE, name="plain").path,
    }


@pytest.fixture(scope="module")
def node(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess({"model": str(models["drivable"]), "camera_topics": [CAMERA], "threads": 1,
                           "backend_options": ["spin=false"]},
                          name=f"{NODE_NAME}_imported", log_path=tmp_path_factory.mktemp("node") / "node.log")
    yield process
    assert process.stop() == 0, process.log_text()


@pytest.fixture(scope="module")
def client(node: NodeProcess) -> Iterator[Client]:
    with Client("attendseg_test_imported", watch=node) as client:
        yield client


def _info_type() -> type:
    from attendseg_ros.msg import SegmentationInfo

    return SegmentationInfo


def test_info_and_label_info_carry_the_imported_class_table(client: Client) -> None:
    info = client.collect(_info_type(), f"{OUT}/info", LATCHED)
    label_info = client.collect(label_info_type(), f"{OUT}/label_info", LABEL_INFO_QOS)
    message = client.spin_until(lambda: info, START_TIMEOUT, "the node's info message")[-1]
    assert list(message.class_names) == list(SIDEWALK)
    assert bytes(message.palette) == np.asarray(SIDEWALK_COLORS, np.uint8).tobytes()
    assert list(message.drivable_class_ids) == [SIDEWALK.index("sidewalk")]
    assert (message.model_name, message.backend, message.precision) == ("sidewalk", "onnxruntime", "fp32")
    assert (message.input_height, message.input_width) == SIZE
    labels = client.spin_until(lambda: label_info, TIMEOUT, "the latched label_info")[-1]
    assert [(c.class_id, c.class_name) for c in labels.class_map] == list(enumerate(SIDEWALK))


def test_outputs_use_the_models_classes_colours_and_drivable_classes(client: Client, camvid_dir: Path) -> None:
    rgb = CamVid(camvid_dir, "val")[20][0]
    outputs = {name: client.collect(Image, f"{OUT}/{name}") for name in ("labels", "drivable_mask", "overlay")}
    for name in outputs:
        client.spin_until(lambda n=name: client.node.count_publishers(f"{OUT}/{n}") > 0, TIMEOUT, f"{OUT}/{name}")
    client.spin_until(lambda: client.publisher(CAMERA).get_subscription_count() > 0, TIMEOUT, "the node's reader")
    header = stamp_header(4242, 0, "cam_i")

    def frame_of(name: str) -> Image | None:
        return next((m for m in outputs[name] if m.header.stamp.sec == 4242), None)

    client.publish_until(CAMERA, bgr_image(header, np.ascontiguousarray(rgb[:, :, ::-1])),
                         lambda: all(frame_of(n) for n in outputs), TIMEOUT, "every output of the frame")
    labels = labels_array(frame_of("labels"))
    assert labels.shape == rgb.shape[:2] and set(np.unique(labels)) <= set(range(len(SIDEWALK)))
    sidewalk = DrivableConfig((SIDEWALK.index("sidewalk"),))  # the node's default cleaning
    np.testing.assert_array_equal(labels_array(frame_of("drivable_mask")), drivable_mask(labels, sidewalk))
    painted = frame_of("overlay")
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(SIDEWALK)] = SIDEWALK_COLORS
    image = np.frombuffer(painted.data, np.uint8).reshape(painted.height, painted.width, 3)
    np.testing.assert_array_equal(image, overlay(rgb, labels, palette, 0.5))


def test_a_model_without_drivable_classes_is_said_once_at_configure(models: dict[str, Path], tmp_path: Path) -> None:
    with NodeProcess({"model": str(models["plain"]), "camera_topics": ["/cam_p/image_raw"], "threads": 1},
                     name=f"{NODE_NAME}_plain", log_path=tmp_path / "node.log") as node, \
            Client("attendseg_test_plain", watch=node) as client:
        info = client.collect(_info_type(), "/cam_p/segmentation/info", LATCHED)
        assert list(client.spin_until(lambda: info, START_TIMEOUT, "the node's info")[-1].drivable_class_ids) == []
        log = node.log_text()
    assert log.count("no drivable classes: the class table 'plain' names none") == 1, log


@pytest.mark.parametrize(
    ("class_map", "expected"),
    [
        ("{classes: [{name: ground, from: [Road, sidewalk]}]}",
         ["invalid class_map", "unknown source classes ['Road']", "the model's classes are ['sky', 'structure'"]),
        ("navigation", ["invalid class_map", "written for class table 'camvid11', but the model's is 'robot'"]),
    ],
)
def test_a_class_map_naming_other_classes_is_refused_with_the_names(class_map: str, expected: list[str],
                                                                    models: dict[str, Path]) -> None:
    parameters = {"model": str(models["drivable"]), "class_map": class_map, "camera_topics": ["/cam_m/image_raw"]}
    result = subprocess.run(node_command(parameters), env=node_env(), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for text in expected:
        assert text in output, output
