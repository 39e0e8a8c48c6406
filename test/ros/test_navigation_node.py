"""The segmentation node feeding a navigation stack, over real DDS from an outside process.

One node process (module-scoped) runs as a managed node (``autostart: false``), as under Nav2's
lifecycle manager, with two cameras: ``/nav`` has a camera_info, ``/nav_bare`` has none. The
tests subscribe like Nav2's semantic segmentation layer (LabelInfo late, with the layer's QoS),
like a CameraSubscriber (labels + camera_info by stamp) and like image_transport (``*/compressed``),
change min_confidence and the class map, and form and break the bond with a peer acting as the
lifecycle manager. A short-lived node shows what happens without vision_msgs and bondpy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from support import Peer, bgr_image, camera_frame, labels_array, latest, stamp_header, status_at

from attendseg_ros.data import load_class_table
from attendseg_ros.interop import UNKNOWN_ID, CameraGeometry, load_class_map, project, scale_geometry
from attendseg_ros.ros.interop import label_info_type
from attendseg_ros.ros.process import LATCHED, Client, NodeProcess
from attendseg_ros.runtime.drivable import DrivableConfig, drivable_mask

NODE = "attendseg_navigation"
CAM, BARE = "/nav/image_raw", "/nav_bare/image_raw"
OUT, OUT_BARE = "/nav/segmentation", "/nav_bare/segmentation"
CLASSES = load_class_table("camvid11")
# What Nav2's semantic segmentation layer subscribes to label_info with (semantic_segmentation_layer.cpp).
LAYER_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
START_TIMEOUT = 60.0
TIMEOUT = 30.0
FORM_TIMEOUT = 20.0
FRAME = camera_frame(120, 160, seed=3)


def _info_type() -> type:
    from attendseg_ros.msg import SegmentationInfo

    return SegmentationInfo


@pytest.fixture(scope="module")
def node_process(random_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess({
        "model": str(random_model["onnx_fp32"]), "camera_topics": [CAM, BARE], "autostart": False,
        "diagnostics_period": 0.3, "diagnostics_window": 2.0, "error_throttle_sec": 0.5, "input_timeout": 0.0,
        "backend_options": ["spin=false"],
    }, name=NODE, log_path=tmp_path_factory.mktemp("navigation") / "node.log")
    yield process
    assert process.stop() == 0, process.log_text()


@pytest.fixture(scope="module")
def client(node_process: NodeProcess) -> Iterator[Client]:
    client = Client("attendseg_navigation_test", watch=node_process)
    try:
        for transition in ("configure", "activate"):  # what a lifecycle manager does
            assert client.change_state(transition, node=NODE, timeout=START_TIMEOUT), node_process.tail()
        _wait_for_readers(client)
        yield client
    finally:
        client.close()


def _wait_for_readers(client: Client) -> None:
    for topic in (CAM, BARE):
        client.spin_until(lambda t=topic: client.publisher(t).get_subscription_count() > 0, TIMEOUT,
                          f"a reader of {topic}")


def _set(client: Client, **values: Any) -> None:
    results = client.set_parameters(*(Parameter(k, value=v) for k, v in values.items()), node=NODE)
    assert all(r.successful for r in results), [r.reason for r in results]


def _stamped(messages: list, sec: int) -> Any:
    return next((m for m in messages if m.header.stamp.sec == sec), None)


def _segment(client: Client, sec: int, topics: dict[str, tuple[type, str]], camera: str = CAM,
             frame: np.ndarray = FRAME) -> dict[str, Any]:
    """Publish ``frame`` stamped ``sec`` on ``camera``; the message of each output topic for it."""
    received = {name: client.collect(msg_type, topic) for name, (msg_type, topic) in topics.items()}
    for _, topic in topics.values():
        client.spin_until(lambda t=topic: client.node.count_publishers(t) > 0, TIMEOUT, f"a publisher of {topic}")
    client.publish_until(camera, bgr_image(stamp_header(sec, 0, "nav_optical"), frame),
                         lambda: all(_stamped(r, sec) for r in received.values()), TIMEOUT, f"the outputs of {sec}")
    return {name: _stamped(r, sec) for name, r in received.items()}


def _label_info(client: Client, where: Callable[[Any], bool] = lambda m: True) -> Any:
    """The newest label_info on a new (late) subscription with the layer's QoS that satisfies ``where``."""
    late = client.collect(label_info_type(), f"{OUT}/label_info", LAYER_QOS)
    return client.spin_until(lambda: next((m for m in reversed(late) if where(m)), None), TIMEOUT, "label_info")


def _latched_info(client: Client, where: Callable[[Any], bool]) -> Any:
    """The newest SegmentationInfo on a new subscription that satisfies ``where``."""
    late = client.collect(_info_type(), f"{OUT}/info", LATCHED)
    return client.spin_until(lambda: next((m for m in reversed(late) if where(m)), None), TIMEOUT, "info")


def test_label_info_reaches_a_late_subscriber_and_names_every_label(client: Client) -> None:
    labels = labels_array(_segment(client, 100, {"labels": (Image, f"{OUT}/labels")})["labels"])
    info = _label_info(client)  # published at configure, long before this subscription
    names = {c.class_id: c.class_name for c in info.class_map}
    assert list(names.items()) == list(enumerate(CLASSES.names))
    assert info.threshold == 0.0 and UNKNOWN_ID not in names  # min_confidence off: no unknown pixels
    assert set(np.unique(labels).tolist()) <= set(names)
    try:  # switched off, the latched message is withdrawn: no stale class table for a late subscriber
        _set(client, publish_label_info=False)
        client.spin_until(lambda: client.node.count_publishers(f"{OUT}/label_info") == 0, TIMEOUT, "no publisher")
    finally:
        _set(client, publish_label_info=True)
    assert [c.class_name for c in _label_info(client).class_map] == list(CLASSES.names)


def test_min_confidence_turns_low_confidence_pixels_into_unknown(client: Client) -> None:
    topics = {"labels": (Image, f"{OUT}/labels"), "confidence": (Image, f"{OUT}/confidence")}
    before = _segment(client, 200, topics)
    labels, confidence = labels_array(before["labels"]), labels_array(before["confidence"])
    levels = np.unique(confidence)
    assert len(levels) > 1, levels
    threshold = float(levels[-1]) / 255  # every pixel below the most confident level becomes unknown
    try:
        _set(client, min_confidence=threshold)
        info = _label_info(client, lambda m: m.threshold == pytest.approx(threshold))
        assert (info.class_map[-1].class_id, info.class_map[-1].class_name) == (UNKNOWN_ID, "unknown")
        after = _segment(client, 201, topics)
    finally:
        _set(client, min_confidence=0.0)
    marked = labels_array(after["labels"])
    unknown = confidence < round(threshold * 255)
    assert 0 < unknown.sum() < unknown.size
    np.testing.assert_array_equal(marked, np.where(unknown, np.uint8(UNKNOWN_ID), labels))
    np.testing.assert_array_equal(labels_array(after["confidence"]), confidence)  # confidence is not changed


def _camera_info(sec: int, focal: float) -> CameraInfo:
    info = CameraInfo(width=160, height=120, distortion_model="plumb_bob")
    info.header = stamp_header(sec, 0, "nav_optical")
    info.d = [0.1, -0.05, 0.001, 0.002, 0.0]
    info.k = [focal, 0.0, 79.5, 0.0, focal, 59.5, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [focal, 0.0, 79.5, 0.0, 0.0, focal, 59.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_camera_info_has_the_labels_stamp_and_scaled_intrinsics_at_model_resolution(client: Client) -> None:
    infos = client.publisher("/nav/camera_info", CameraInfo)
    client.spin_until(lambda: infos.get_subscription_count() > 0, TIMEOUT, "the node's camera_info subscription")
    # Pairing is by stamp: the frame at 300 s must get the info of 300 s, not the newer one of 301 s.
    infos.publish(_camera_info(300, 100.0))
    infos.publish(_camera_info(301, 150.0))
    client.spin(0.3)
    try:
        _set(client, output_resolution="model")
        out = _segment(client, 300, {"labels": (Image, f"{OUT}/labels"),
                                     "camera_info": (CameraInfo, f"{OUT}/camera_info")})
    finally:
        _set(client, output_resolution="input")
    labels, info = out["labels"], out["camera_info"]
    assert info.header == labels.header and info.header.frame_id == "nav_optical"
    assert (info.width, info.height) == (labels.width, labels.height) == (128, 96)  # the model's resolution
    original = _camera_info(300, 100.0)
    expected = scale_geometry(CameraGeometry(160, 120, original.k, original.p), 128, 96)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), expected.k)
    np.testing.assert_allclose(np.reshape(info.p, (3, 4)), expected.p)
    # a point on the optical axis lands on the centre of the 128x96 labels, a point off it where it should
    assert project(np.asarray(info.p), np.array([0.0, 0.0, 2.0])) == pytest.approx([63.5, 47.5])
    assert project(np.asarray(info.p), np.array([0.5, -0.25, 2.0])) == pytest.approx([63.5 + 20.0, 47.5 - 10.0])
    assert info.distortion_model == "plumb_bob" and list(info.d) == pytest.approx(list(original.d))


def test_without_camera_info_the_frames_are_counted_and_warned_about(client: Client, node_process: NodeProcess) -> None:
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    outputs = client.collect(CameraInfo, f"{OUT_BARE}/camera_info")  # someone wants it: the node tries to pair
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_BARE}/camera_info") > 0, TIMEOUT, "publisher")
    _segment(client, 350, {"labels": (Image, f"{OUT_BARE}/labels")}, camera=BARE)
    status = client.spin_until(lambda: status_at(diagnostics, BARE, DiagnosticStatus.WARN), TIMEOUT, "a WARN")
    assert "frames without camera_info" in status.message, status.message
    assert int(latest(diagnostics, BARE, "camera_info_missing")) >= 1
    assert "no CameraInfo received on /nav_bare/camera_info" in latest(diagnostics, BARE, "last_camera_info_problem")
    assert not _stamped(outputs, 350)  # the labels went out, the camera_info could not
    assert "no /nav_bare/segmentation/camera_info for this frame" in node_process.log_text()


def _decoded(msg: CompressedImage) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)


def test_compressed_outputs_decode_to_the_raw_outputs(client: Client) -> None:
    names = ("labels", "confidence", "drivable_mask")
    topics = {**{n: (Image, f"{OUT}/{n}") for n in names},
              **{f"{n}/compressed": (CompressedImage, f"{OUT}/{n}/compressed") for n in (*names, "overlay")}}
    out = _segment(client, 400, topics)
    for name in names:
        compressed = out[f"{name}/compressed"]
        assert compressed.format == "mono8; png compressed " and compressed.header == out[name].header
        np.testing.assert_array_equal(_decoded(compressed), labels_array(out[name]))  # lossless
    overlay = out["overlay/compressed"]
    assert overlay.format == "rgb8; jpeg compressed bgr8" and _decoded(overlay).shape == (120, 160, 3)
    try:
        _set(client, publish_compressed=False)
        off = client.collect(CompressedImage, f"{OUT}/labels/compressed")
        _segment(client, 401, {"labels": (Image, f"{OUT}/labels")})
        client.spin(0.3)  # a compressed copy would come with the labels
        assert not _stamped(off, 401)
    finally:
        _set(client, publish_compressed=True)


def _reconfigure(client: Client, node_process: NodeProcess, class_map: str) -> None:
    for transition in ("deactivate", "cleanup"):
        assert client.change_state(transition, node=NODE), node_process.tail()
    _set(client, class_map=class_map)
    for transition in ("configure", "activate"):
        assert client.change_state(transition, node=NODE), node_process.tail()
    _wait_for_readers(client)


def test_class_map_changes_labels_label_info_and_drivable_mask_together(client: Client,
                                                                         node_process: NodeProcess) -> None:
    (refused,) = client.set_parameters(Parameter("class_map", value="navigation"), node=NODE)
    assert not refused.successful and "unconfigured" in refused.reason  # not while the model is loaded
    topics = {"labels": (Image, f"{OUT}/labels"), "drivable_mask": (Image, f"{OUT}/drivable_mask")}
    model_labels = labels_array(_segment(client, 500, topics)["labels"])
    navigation = load_class_map("navigation", CLASSES)
    table = navigation.table()
    try:
        _reconfigure(client, node_process, "navigation")
        out = _segment(client, 501, topics)
        label_info = _label_info(client, lambda m: m.class_map[0].class_name == "road")
        info = _latched_info(client, lambda m: m.class_names[0] == "road")
    finally:
        _reconfigure(client, node_process, "")
    labels = labels_array(out["labels"])
    np.testing.assert_array_equal(labels, navigation.apply(model_labels))
    assert not np.array_equal(labels, model_labels)
    assert [(c.class_id, c.class_name) for c in label_info.class_map] == list(navigation.names_by_id().items())
    assert set(np.unique(labels).tolist()) <= {c.class_id for c in label_info.class_map}
    assert list(info.class_names) == list(table.names) and list(info.drivable_class_ids) == [0]  # road
    road = DrivableConfig(tuple(table.ids(["road"])))  # the map's drivable class, default cleaning
    np.testing.assert_array_equal(labels_array(out["drivable_mask"]), drivable_mask(labels, road))
    # back to the model's classes, drivable_classes with them (configure had filled them in)
    restored = _latched_info(client, lambda m: m.class_names[0] == "Sky")
    assert list(restored.class_names) == list(CLASSES.names)
    assert list(restored.drivable_class_ids) == [CLASSES.names.index("Road")]


def test_the_bond_forms_with_a_lifecycle_manager_and_breaks_both_ways(client: Client,
                                                                       node_process: NodeProcess) -> None:
    """As under nav2_lifecycle_manager: the manager's bond (id = node name) forms after activate; the
    node's deactivate breaks it for the manager, and a break by the manager is noticed by the node."""
    assert client.change_state("deactivate", node=NODE)
    formed = f"bond '{NODE}' with the lifecycle manager formed"
    for cycle in (1, 2):
        peer = Peer(NODE)
        try:
            peer.wait_for("ready", FORM_TIMEOUT)
            assert client.change_state("activate", node=NODE)
            peer.wait_for("formed", FORM_TIMEOUT)  # the manager aborts bring-up without this
            client.spin_until(lambda c=cycle: node_process.log_text().count(formed) == c, FORM_TIMEOUT,
                              "the node's side of the bond")
            if cycle == 1:
                assert client.change_state("deactivate", node=NODE)
                peer.wait_for("broken", 5.0)  # the manager learns at once, without waiting for heartbeats
            else:
                peer.send("break")  # the manager breaks the bond (it is shutting down or resetting)
                client.spin_until(lambda: f"bond '{NODE}' with the lifecycle manager broken" in node_process.log_text(),
                                  TIMEOUT, "the node to notice the broken bond")
        finally:
            peer.close()
    assert client.get_state(node=NODE) == "active"
    _wait_for_readers(client)


WITHOUT_OPTIONAL_PACKAGES = ("import sys; sys.modules['vision_msgs'] = None; sys.modules['bondpy'] = None; "
                             "from attendseg_ros.ros.segmentation_node import main; sys.exit(main())")


def test_without_vision_msgs_and_bondpy_the_node_runs_and_says_so_once(random_model: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    name, camera, prefix = "attendseg_bare", "/bare/image_raw", "/bare/segmentation"
    command = [sys.executable, "-c", WITHOUT_OPTIONAL_PACKAGES, "--ros-args", "-r", f"__node:={name}",
               "-p", "autostart:=false", "-p", f"camera_topics:=[{camera}]",
               "-p", f"model:={random_model['onnx_fp32']}"]
    with NodeProcess(command=command, log_path=tmp_path / "node.log") as node, \
            Client("attendseg_test_bare", watch=node) as bare:
        for transition in ("configure", "activate", "deactivate", "cleanup", "configure", "activate"):
            assert bare.change_state(transition, node=name, timeout=START_TIMEOUT), node.tail()
        labels = bare.collect(Image, f"{prefix}/labels")
        info = bare.collect(_info_type(), f"{prefix}/info", LATCHED)
        bare.spin_until(lambda: bare.publisher(camera).get_subscription_count() > 0, TIMEOUT, "the node's reader")
        bare.publish_until(camera, bgr_image(stamp_header(600, 0, "bare")), lambda: _stamped(labels, 600) and info,
                           TIMEOUT, "labels and info without the optional packages")
        assert list(info[-1].class_names) == list(CLASSES.names)  # info still carries the class table
        assert bare.node.count_publishers(f"{prefix}/label_info") == 0
        log = node.log_text()
    assert log.count("not publishing <ns>/segmentation/label_info: vision_msgs is not installed") == 1, log
    assert log.count("no bond with a Nav2 lifecycle manager: bondpy is not installed") == 1, log
    assert "run the manager with bond_timeout: 0.0" in log  # on each activate that cannot form it
