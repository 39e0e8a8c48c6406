"""labels_rle over real DDS: subscribed like Autoware's segmentation_pointcloud_fusion, decoded as it decodes.

The node runs as its own process with the ``autoware`` class map. The fusion node subscribes to its
mask topic (``input/rois{i}``) best effort, depth 1; its ``perception_utils::runLengthDecoder`` reads
``(uint8 value, int32 run)`` pairs into a mask of the message's height x width (the decoder here is
written from that source, test/autoware_rle.py). Each decoded mask must equal the ``labels``
message of the same stamp.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from autoware_rle import decode_pairs
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from support import bgr_image, camera_frame, labels_array, stamp_header

from attendseg_ros.ros.process import Client, NodeProcess

NODE = "attendseg_rle"
CAM, OUT = "/rle_cam/image_raw", "/rle_cam/segmentation"
FUSION_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)  # rclcpp::QoS{1}.best_effort()
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    process = NodeProcess({"camera_topics": [CAM], "class_map": "autoware", "min_confidence": 0.5, "threads": 1,
                           "backend_options": ["spin=false"]},
                          name=NODE, log_path=tmp_path_factory.mktemp("rle") / "node.log")
    client = Client("attendseg_rle_test", watch=process)
    try:
        client.spin_until(lambda: client.publisher(CAM).get_subscription_count() > 0, 60.0, "the node's reader")
        yield client
    finally:
        client.close()
        assert process.stop() == 0, process.log_text()


def test_labels_rle_decodes_to_the_labels_of_the_same_stamp(client: Client) -> None:
    labels = client.collect(Image, f"{OUT}/labels")
    encoded = client.collect(Image, f"{OUT}/labels_rle", FUSION_QOS)
    for topic in (f"{OUT}/labels", f"{OUT}/labels_rle"):
        client.spin_until(lambda t=topic: client.node.count_publishers(t) > 0, TIMEOUT, f"a publisher of {topic}")
    frames = {sec: camera_frame(360, 480, seed=sec) for sec in (500, 501, 502)}
    for sec, frame in frames.items():
        def arrived(s: int = sec) -> bool:
            return any(m.header.stamp.sec == s for m in labels) and any(m.header.stamp.sec == s for m in encoded)

        client.publish_until(CAM, bgr_image(stamp_header(sec, 0, "rle_optical"), frame), arrived, TIMEOUT,
                             f"labels and labels_rle of {sec}")
    for sec in frames:
        plain = next(m for m in labels if m.header.stamp.sec == sec)
        rle = next(m for m in encoded if m.header.stamp.sec == sec)
        assert rle.header == plain.header and rle.header.frame_id == "rle_optical"
        assert (rle.height, rle.width, rle.encoding, rle.step) == (360, 480, "mono8", 480)
        expected = labels_array(plain)
        assert len(rle.data) % 5 == 0 and len(rle.data) < expected.size  # runs, not pixels
        np.testing.assert_array_equal(decode_pairs(bytes(rle.data), rle.height, rle.width), expected)
    ids = set(np.unique(expected).tolist())
    assert ids <= {1, 2, 3, 5, 6, 7, 8, 9, 10, 14, 15, 255}, ids  # Autoware's ids (the autoware map) and unknown

