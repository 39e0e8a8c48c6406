"""wait_for_acknowledgement: what the bag player and the evaluation node do before their publishers go."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from attendseg_ros.ros.messages import wait_for_acknowledgement

RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)


class RecordingLogger:
    """Collects warnings (the rclpy logger writes to the console, which a test cannot read back)."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)


class NeverAcknowledged:
    """A publisher one of whose reliable subscribers never acknowledges (cannot be staged with DDS at will)."""

    def __init__(self) -> None:
        self.waited: list[float] = []

    def wait_for_all_acked(self, timeout: Duration) -> bool:
        self.waited.append(timeout.nanoseconds / 1e9)
        return False


@pytest.fixture
def node() -> Iterator[Node]:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("acknowledgement_test", context=context)
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_reliable_subscriber_acknowledges_without_a_warning(node: Node) -> None:
    publisher = node.create_publisher(String, "acknowledgement_test", RELIABLE)
    node.create_subscription(String, "acknowledgement_test", lambda _msg: None, RELIABLE)
    publisher.publish(String(data="final"))
    logger = RecordingLogger()
    assert wait_for_acknowledgement(publisher, 5.0, logger, "final report")
    assert logger.warnings == []


def test_a_missing_acknowledgement_is_a_warning_naming_what_was_sent() -> None:
    publisher, logger = NeverAcknowledged(), RecordingLogger()
    assert not wait_for_acknowledgement(publisher, 2.5, logger, "/camera/image_raw")
    assert publisher.waited == [2.5]
    assert logger.warnings == ["/camera/image_raw: not every subscriber acknowledged within 2.5 s"]
