"""LabelInfo, CameraInfo and CompressedImage messages from the interop content (real vision_msgs from the kit)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CameraInfo
from support import stamp_header

from attendseg_ros.data import load_class_table
from attendseg_ros.interop import (
    UNKNOWN_ID,
    encode_png,
    label_info_for,
    load_class_map,
    mark_unknown,
    project,
)
from attendseg_ros.ros.interop import (
    LABEL_INFO_QOS,
    compressed_image_message,
    label_info_message,
    label_info_type,
    scaled_camera_info,
    unavailable_outputs,
)
from attendseg_ros.ros.process import Client, node_env

CAMVID = load_class_table("camvid11")
# What Nav2's semantic segmentation layer subscribes with (semantic_segmentation_layer.cpp).
LAYER_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def test_label_info_message_round_trips_with_names_ids_and_threshold() -> None:
    content = label_info_for(load_class_map("navigation", CAMVID), 0.35)
    msg = label_info_message(content, stamp_header(3, 4, "camera_optical"))
    back = deserialize_message(serialize_message(msg), label_info_type())
    pairs = [(c.class_id, c.class_name) for c in back.class_map]
    assert pairs == [*enumerate(["road", "sidewalk", "obstacle", "vehicle", "person", "vegetation", "sky"]),
                     (UNKNOWN_ID, "unknown")]
    assert back.threshold == pytest.approx(0.35) and back.header.frame_id == "camera_optical"


def test_label_info_reaches_a_late_subscriber_and_names_the_published_ids() -> None:
    # Publisher with LABEL_INFO_QOS; the subscriber appears afterwards with the layer's QoS and must
    # still get it (transient local), and every id in the labels must be named by it.
    class_map = load_class_map("navigation", CAMVID)
    labels = np.array([[3, 3, 8], [9, 0, 5]], np.uint8)  # Road Road Car / Pedestrian Sky Tree
    confidence = np.array([[255, 10, 255], [255, 255, 255]], np.uint8)
    published = class_map.apply(mark_unknown(labels, confidence, 0.2))
    publisher_side, subscriber_side = Client("label_info_publisher"), Client("label_info_late_subscriber")
    try:
        topic = "/cam/segmentation/label_info"
        publisher = publisher_side.node.create_publisher(label_info_type(), topic, LABEL_INFO_QOS)
        publisher.publish(label_info_message(label_info_for(class_map, 0.2)))
        received = subscriber_side.collect(label_info_type(), topic, LAYER_QOS)
        subscriber_side.spin_until(lambda: received, 20.0, "the latched LabelInfo")
        names = {c.class_id: c.class_name for c in received[0].class_map}
        assert [names[i] for i in published.ravel()] == ["road", "unknown", "vehicle", "person", "sky", "vegetation"]
    finally:
        subscriber_side.close()
        publisher_side.close()


def test_scaled_camera_info_keeps_distortion_and_takes_the_output_header() -> None:
    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob", binning_x=1, binning_y=1)
    info.header = stamp_header(1, 2, "camera_color_optical_frame")
    info.d = [0.1, -0.05, 0.001, 0.002, 0.0]
    info.k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [500.0, 0.0, 320.0, 0.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    output_header = stamp_header(7, 8, "camera_color_optical_frame")
    out = scaled_camera_info(info, 384, 288, output_header)
    assert (out.width, out.height, out.binning_x, out.binning_y) == (384, 288, 0, 0)
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (7, 8)
    assert out.distortion_model == "plumb_bob" and list(out.d) == pytest.approx(list(info.d))
    assert list(out.r) == list(info.r)
    point = np.array([1.0, -0.5, 4.0])
    assert project(np.asarray(out.p), point) == pytest.approx([266.8, 106.3])  # test_camera_info's hand values
    back = deserialize_message(serialize_message(out), CameraInfo)
    assert list(back.k) == pytest.approx(list(out.k))


def test_compressed_message_decodes_to_the_labels() -> None:
    labels = np.random.default_rng(0).integers(0, 11, (48, 64), dtype=np.uint8)
    msg = compressed_image_message(encode_png(labels), stamp_header(5, 6, "cam"))
    assert msg.format == "mono8; png compressed " and msg.header.stamp.sec == 5
    decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded, labels)


def test_everything_is_available_with_the_kit() -> None:
    assert unavailable_outputs() == []


def test_without_vision_msgs_and_bondpy_the_node_can_say_what_it_cannot_publish() -> None:
    # A fresh interpreter in which the two optional packages cannot be imported.
    script = textwrap.dedent(
        """
        import sys
        sys.modules["vision_msgs"] = None
        sys.modules["bondpy"] = None
        import rclpy
        from attendseg_ros.interop import LabelInfoContent
        from attendseg_ros.ros.bond import ManagerBond
        from attendseg_ros.ros.interop import OptionalPackageError, label_info_message, unavailable_outputs
        for line in unavailable_outputs():
            print("UNAVAILABLE", line)
        try:
            label_info_message(LabelInfoContent(((0, "road"),), 0.0))
        except OptionalPackageError as exc:
            print("RAISED", exc)
        rclpy.init()
        node = rclpy.create_node("no_bondpy")
        print("STARTED", ManagerBond(node).start())
        node.destroy_node()
        rclpy.shutdown()
        """
    )
    result = subprocess.run([sys.executable, "-c", script], env=node_env(), capture_output=True, text=True, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    unavailable = [line for line in out.splitlines() if line.startswith("UNAVAILABLE")]
    assert len(unavailable) == 2
    assert "label_info" in unavailable[0] and "vision_msgs is not installed" in unavailable[0]
    assert "bond_timeout to 0.0" in unavailable[1] and "bondpy is not installed" in unavailable[1]
    assert "RAISED vision_msgs is not installed" in out
    assert "STARTED False" in out and "run the manager with bond_timeout: 0.0" in out
