"""Closed-loop bag evaluation: the real segmentation node in its own process, frames over DDS.

The runner publishes the bag's recorded image messages (byte for byte) on the image topic,
receives ``<ns>/segmentation/labels`` from the node, pairs each with the bag's ground truth by
header stamp and scores it with the shared metrics. Latency is end to end: publish -> labels
received. ``rate="max"`` waits for each result before the next frame (nothing is dropped);
``rate="recorded"`` keeps the bag's timing and counts frames the node skips as missing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image
from tqdm import tqdm

from ..bag.io import GT_TOPIC, IMAGE_TOPIC, BagError, LabelledFrames, decode_image, typestore
from ..bag.offline import BagEvaluation, Sample, sample_indices
from ..bag.pairing import StampPairer
from ..bag.scoring import Scorer
from ..resources import config_file

LOGGER = logging.getLogger(__name__)

NODE_MODULE = "attendseg_ros.ros.segmentation_node"
WARMUP_STAMP_NS = 1  # never a recorded stamp: the warm-up frame's result is recognised and discarded


class NodeProcessError(RuntimeError):
    """The segmentation node process exited or never served a frame; the text ends with its log."""


def labels_topic_for(image_topic: str) -> str:
    """``<ns>/image_raw`` -> ``<ns>/segmentation/labels`` (the node's topic contract)."""
    namespace = image_topic.rsplit("/", 1)[0]
    return f"{namespace}/segmentation/labels"


def _parameter_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_parameter_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'" if value else "''"
    return str(value)


def node_command(params_file: str | Path | None, overrides: dict[str, object], image_topic: str) -> list[str]:
    """``python -m attendseg_ros.ros.segmentation_node --ros-args ...`` serving ``image_topic``."""
    command = [sys.executable, "-m", NODE_MODULE, "--ros-args"]
    if params_file is not None:
        command += ["--params-file", str(params_file)]
    for key, value in {"camera_topics": [image_topic], **overrides}.items():
        command += ["-p", f"{key}:={_parameter_value(value)}"]
    return command


class _NodeProcess:
    """The segmentation node as a child process with its output in a log file."""

    def __init__(self, command: list[str]) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="attendseg_segment_", suffix=".log", delete=False)  # noqa: SIM115
        LOGGER.info("starting the segmentation node: %s (log %s)", " ".join(command), self.log.name)
        env = os.environ.copy()
        # the node imports the same attendseg_ros as this process, installed or a source checkout
        source = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def tail(self, lines: int = 15) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise NodeProcessError(f"the segmentation node exited with code {code}; its log ends:\n{self.tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                LOGGER.warning("the segmentation node did not stop on SIGINT; killing it")
                self.process.kill()
                self.process.wait(timeout)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


class _Player:
    """Publisher of images and subscriber of labels in one node with its own context."""

    def __init__(self, image_topic: str, labels_topic: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("attendseg_bag_player", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = self.node.create_publisher(Image, image_topic, qos)
        results_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.received: list[tuple[int, float, np.ndarray]] = []
        self.labels_topic = labels_topic
        self.node.create_subscription(Image, labels_topic, self._on_labels, results_qos)

    def _on_labels(self, msg: Image) -> None:
        received = time.perf_counter()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        if msg.encoding not in ("mono8", "8UC1") or len(msg.data) != msg.step * msg.height:
            LOGGER.error("labels at stamp %d: %s with %d bytes is not mono8 labels", stamp, msg.encoding, len(msg.data))
            return
        rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, : msg.width]
        self.received.append((stamp, received, rows.copy()))

    def spin(self, seconds: float) -> None:
        self.executor.spin_once(timeout_sec=max(0.0, seconds))

    def matched(self) -> bool:
        return self.publisher.get_subscription_count() > 0 and self.node.count_publishers(self.labels_topic) > 0

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _use_large_data_profile() -> None:
    """Point Fast DDS at config/fastdds_large_data.xml (unless set): images over ~0.5 MB need it.

    Set for this process and the node's; it takes effect in this process only if no DDS participant
    exists yet (Fast DDS reads its profiles once).
    """
    if "FASTDDS_DEFAULT_PROFILES_FILE" in os.environ:
        return
    try:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(config_file("fastdds_large_data.xml"))
    except FileNotFoundError:
        LOGGER.warning("config/fastdds_large_data.xml not found: images over ~0.5 MB may be lost")


def _warm_up(player: _Player, node: _NodeProcess, first_raw: bytes, timeout: float) -> None:
    """Wait for the node to match, then send the first frame (fake stamp) until a result returns."""
    deadline = time.monotonic() + timeout
    message = deserialize_message(first_raw, Image)
    message.header.stamp.sec, message.header.stamp.nanosec = 0, WARMUP_STAMP_NS
    next_send = 0.0
    while time.monotonic() < deadline:
        node.check_alive()
        if player.matched() and time.monotonic() >= next_send:
            player.publisher.publish(message)
            next_send = time.monotonic() + 1.0
        player.spin(0.05)
        if any(stamp == WARMUP_STAMP_NS for stamp, _, _ in player.received):
            player.received.clear()
            return
    raise NodeProcessError(
        f"the segmentation node served no frame within {timeout:.0f} s "
        f"(subscribers on the image topic: {player.publisher.get_subscription_count()}, "
        f"publishers of {player.labels_topic}: {player.node.count_publishers(player.labels_topic)}); "
        f"its log ends:\n{node.tail()}"
    )


def run_closed_loop(
    bag: str | Path,
    num_classes: int,
    params_file: str | Path | None = None,
    overrides: dict[str, object] | None = None,
    rate: str = "max",
    image_topic: str = IMAGE_TOPIC,
    gt_topic: str = GT_TOPIC,
    keep_samples: int = 0,
    frame_timeout: float = 10.0,
    startup_timeout: float = 120.0,
    progress: bool | None = None,
) -> BagEvaluation:
    """Evaluate the segmentation node on ``bag`` through ROS; see the module docstring."""
    if rate not in ("max", "recorded"):
        raise ValueError(f"rate must be 'max' or 'recorded', got {rate!r}")
    frames = LabelledFrames(bag, image_topic, gt_topic, decode=False)
    first = next(iter(LabelledFrames(bag, image_topic, gt_topic, decode=False)), None)
    if first is None:
        raise BagError(bag, f"no image on {image_topic} has ground truth on {gt_topic}")
    labels_topic = labels_topic_for(image_topic)
    keep = sample_indices(len(frames), keep_samples)
    scorer = Scorer(num_classes)
    # left: ground truth waiting for its prediction; right: a prediction for a stamp not (yet) sent
    pairer: StampPairer[tuple[np.ndarray, float], tuple[np.ndarray, float]] = StampPairer(
        max_pending=1000, timeout=frame_timeout
    )
    sent: dict[int, tuple[int, bytes]] = {}  # stamp -> (frame index, raw image) for samples
    samples: list[Sample] = []
    _use_large_data_profile()
    node = _NodeProcess(node_command(params_file, dict(overrides or {}), image_topic))
    player: _Player | None = None
    try:
        player = _Player(image_topic, labels_topic)
        _warm_up(player, node, first.raw_image, startup_timeout)
        LOGGER.info("node serving %s -> %s; playing %s at %s rate", image_topic, labels_topic, bag, rate)

        def collect() -> None:
            assert player is not None
            for stamp, received, labels in player.received:
                if stamp == WARMUP_STAMP_NS:  # a late answer to a repeated warm-up frame
                    continue
                pair = pairer.add_right(stamp, (labels, received))
                if pair is not None:
                    _score(pair)
            player.received.clear()
            pairer.expire()

        def _score(pair: tuple[int, tuple[np.ndarray, float], tuple[np.ndarray, float]]) -> None:
            stamp, (truth, published), (prediction, received) = pair
            try:
                scorer.add(truth, prediction, (received - published) * 1e3)
            except ValueError as exc:
                raise BagError(bag, f"labels for stamp {stamp}: {exc}") from exc
            index, raw = sent.pop(stamp, (-1, b""))
            if index in keep:
                rgb = decode_image(typestore().deserialize_cdr(raw, "sensor_msgs/msg/Image"))
                samples.append(Sample(stamp, rgb, truth, prediction))

        scorer.start()
        t0 = time.perf_counter()
        disable = None if progress is None else not progress
        for index, frame in enumerate(tqdm(frames, total=len(frames), desc=rate, unit="frame", disable=disable)):
            message = deserialize_message(frame.raw_image, Image)
            if rate == "recorded":
                due = t0 + (frame.log_time_ns - first.log_time_ns) / 1e9
                while (wait := due - time.perf_counter()) > 0:
                    player.spin(min(wait, 0.05))
                    collect()
            node.check_alive()
            if index in keep:
                sent[frame.stamp_ns] = (index, frame.raw_image)
            published = time.perf_counter()
            player.publisher.publish(message)
            pair = pairer.add_left(frame.stamp_ns, (frame.labels, published))
            if pair is not None:  # the result came before we recorded the send (not expected)
                _score(pair)
            if rate == "max":
                done = scorer.frames + pairer.missing
                deadline = time.monotonic() + frame_timeout
                while scorer.frames + pairer.missing == done and time.monotonic() < deadline:
                    player.spin(0.05)
                    collect()
                    node.check_alive()
            else:
                player.spin(0.0)
                collect()
        deadline = time.monotonic() + frame_timeout
        while pairer.pending and time.monotonic() < deadline:
            player.spin(0.05)
            collect()
        pairer.flush()
    finally:
        if player is not None:
            player.close()
        node.stop()
    scorer.add_missing(frames.frames_missing + pairer.missing_right)
    if pairer.missing_left:
        LOGGER.warning("%d label frames had stamps that were never published", pairer.missing_left)
    return BagEvaluation(scorer.report(), scorer.confusion.copy(), samples)
