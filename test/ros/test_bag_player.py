"""attendseg-play-bag: the package's rosbag2 player (rosbags + rclpy), as installed for `ros2 run`.

It publishes every recorded message byte for byte, in order, at the recorded pace scaled by --rate,
then exits 0; unreadable input ends it with status 1 and one line naming the reason.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from ament_index_python.packages import get_package_prefix
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image

from attendseg_ros.bag.convert import dataset_to_bag
from attendseg_ros.bag.io import CAMERA_INFO_TOPIC, GT_TOPIC, IMAGE_TOPIC, LabelledFrames

FRAMES = 4
RECORDED_SPAN = (FRAMES - 1) * 0.5  # seconds between the first and the last frame: written at 2 Hz


def player() -> str:
    return str(Path(get_package_prefix("attendseg_ros")) / "lib" / "attendseg_ros" / "attendseg-play-bag")


@pytest.fixture(scope="module")
def bag(camvid_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("player") / "val4"
    return Path(dataset_to_bag(camvid_dir, "val", out, rate=2.0, limit=FRAMES)["bag"])


@pytest.fixture
def listener() -> Iterator[tuple[SingleThreadedExecutor, dict[str, list[tuple[float, bytes]]]]]:
    """Raw subscriptions on the bag's three topics; each received message with its arrival time."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bag_player_listener", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received: dict[str, list[tuple[float, bytes]]] = {}
    qos = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
    for topic, msg_type in ((IMAGE_TOPIC, Image), (CAMERA_INFO_TOPIC, CameraInfo), (GT_TOPIC, Image)):
        messages: list[tuple[float, bytes]] = []
        received[topic] = messages
        node.create_subscription(msg_type, topic, lambda raw, m=messages: m.append((time.monotonic(), raw)), qos,
                                 raw=True)
    try:
        yield executor, received
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_plays_every_message_byte_for_byte_at_the_recorded_pace(bag: Path, listener: tuple) -> None:
    executor, received = listener
    process = subprocess.Popen([player(), str(bag), "--rate", "1.0", "--wait-for-subscribers", "60"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90.0
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the player did not end within 90 s:\n{process.communicate()[0]}")
        executor.spin_once(timeout_sec=0.05)
    settle = time.monotonic() + 5.0  # it waited for the acknowledgements: anything left is in flight
    while sum(map(len, received.values())) < 3 * FRAMES and time.monotonic() < settle:
        executor.spin_once(timeout_sec=0.05)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert f"played {3 * FRAMES} messages" in output
    frames = list(LabelledFrames(bag, decode=False))
    assert [raw for _, raw in received[IMAGE_TOPIC]] == [frame.raw_image for frame in frames]
    truth = [deserialize_message(raw, Image) for _, raw in received[GT_TOPIC]]
    for msg, frame in zip(truth, frames, strict=True):
        assert np.array_equal(np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width), frame.labels)
    assert len(received[CAMERA_INFO_TOPIC]) == FRAMES
    arrivals = [t for t, _ in received[IMAGE_TOPIC]]
    span = arrivals[-1] - arrivals[0]
    assert RECORDED_SPAN - 0.2 <= span <= RECORDED_SPAN + 2.0, f"{span:.2f} s for a {RECORDED_SPAN} s recording"


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["{missing}"], "{missing}: does not exist"),
        (["{bag}", "--topics", "/nope"], "has no topic /nope; topics in the bag: /camera/camera_info"),
        (["{bag}", "--rate", "0"], "rate must be > 0, got 0.0"),
        (["{bag}", "--topics", "/camera/camera_info", "--wait-for-subscribers", "1"],
         "no subscriber on /camera/camera_info within 1 s"),
    ],
    ids=["missing-bag", "unknown-topic", "zero-rate", "no-subscriber"],
)
def test_bad_input_exits_1_with_one_line(bag: Path, tmp_path: Path, arguments: list[str], reason: str) -> None:
    names = {"bag": str(bag), "missing": str(tmp_path / "missing")}
    result = subprocess.run([player(), *(a.format(**names) for a in arguments)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attendseg-play-bag: error: "), result.stderr
    assert reason.format(**names) in lines[0]
