"""Closed-loop bag evaluation: the real segmentation node in its own process, frames over DDS.

The runner publishes the bag's recorded image messages (their CDR bytes, unchanged) on the image
topic, receives ``<ns>/segmentation/labels`` from the node, pairs each with the bag's ground
truth by header stamp and scores it with the shared metrics. Latency is end to end: publish ->
labels received. ``rate="max"`` waits for each result before the next frame (nothing is
dropped); ``rate="recorded"`` keeps the bag's timing and counts frames the node skips as missing.
The node process is started and driven with :mod:`attendseg_ros.ros.process`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image
from tqdm import tqdm

from ..bag.io import GT_TOPIC, IMAGE_TOPIC, BagError, LabelledFrames, decode_image, typestore
from ..bag.offline import BagEvaluation, Sample, sample_indices
from ..bag.pairing import StampPairer
from ..bag.scoring import Scorer
from ..runtime.image_conversion import ImageConversionError, image_to_labels
from ..runtime.topics import output_topic
from .messages import stamp_ns
from .process import LATCHED, Client, NodeProcess, NodeProcessError, dds_profile, node_env

LOGGER = logging.getLogger(__name__)

WARMUP_STAMP_NS = 1  # never a recorded stamp: the warm-up frame's result is recognised and discarded
__all__ = ["NodeProcessError", "run_closed_loop"]


class _Player:
    """Publisher of the bag's images and subscriber of the node's labels."""

    def __init__(self, client: Client, image_topic: str, labels_topic: str) -> None:
        self.client = client
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.publisher = client.publisher(image_topic, Image, qos)
        results_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.received: list[tuple[int, float, np.ndarray]] = []
        self.invalid = 0
        self.labels_topic = labels_topic
        client.subscribe(Image, labels_topic, self._on_labels, results_qos)

    def _on_labels(self, msg: Image) -> None:
        received = time.perf_counter()
        try:
            labels = image_to_labels(msg)
        except ImageConversionError as exc:
            self.invalid += 1
            LOGGER.error("labels at stamp %d rejected: %s", stamp_ns(msg), exc)
            return
        self.received.append((stamp_ns(msg), received, labels))

    def spin(self, seconds: float) -> None:
        self.client.executor.spin_once(timeout_sec=max(0.0, seconds))

    def matched(self) -> bool:
        return self.publisher.get_subscription_count() > 0 and self.client.node.count_publishers(self.labels_topic) > 0


def _use_large_data_profile() -> None:
    """Point Fast DDS at config/fastdds_large_data.xml (unless set): images over ~0.5 MB need it.

    Set for this process and the node's; it takes effect in this process only if no DDS participant
    exists yet (Fast DDS reads its profiles once).
    """
    if "FASTDDS_DEFAULT_PROFILES_FILE" in os.environ:
        return
    try:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = dds_profile()
    except FileNotFoundError:
        LOGGER.warning("config/fastdds_large_data.xml not found: images over ~0.5 MB may be lost")


def _warm_up(player: _Player, node: NodeProcess, first_raw: bytes, timeout: float) -> None:
    """Wait for the node to match, then send the first frame (fake stamp) until a result returns."""
    deadline = time.monotonic() + timeout
    message = deserialize_message(first_raw, Image)
    message.header.stamp.sec, message.header.stamp.nanosec = 0, WARMUP_STAMP_NS
    raw = serialize_message(message)
    next_send = 0.0
    while time.monotonic() < deadline:
        node.check_alive()
        if player.matched() and time.monotonic() >= next_send:
            player.publisher.publish(raw)
            next_send = time.monotonic() + 1.0
        player.spin(0.05)
        if any(stamp == WARMUP_STAMP_NS for stamp, _, _ in player.received):
            player.received.clear()
            return
    raise NodeProcessError(
        f"the segmentation node served no frame within {timeout:.0f} s "
        f"(subscribers on the image topic: {player.publisher.get_subscription_count()}, "
        f"publishers of {player.labels_topic}: {player.client.node.count_publishers(player.labels_topic)}); "
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
    labels_topic = output_topic(image_topic, "labels")
    keep = sample_indices(len(frames), keep_samples)
    scorer = Scorer(num_classes)
    # left: ground truth waiting for its prediction; right: a prediction for a stamp not (yet) sent
    pairer: StampPairer[tuple[np.ndarray, float], tuple[np.ndarray, float]] = StampPairer(
        max_pending=1000, timeout=frame_timeout
    )
    sent: dict[int, tuple[int, bytes]] = {}  # stamp -> (frame index, raw image) for samples
    samples: list[Sample] = []
    _use_large_data_profile()
    parameters = {"camera_topics": [image_topic], **(overrides or {})}
    node = NodeProcess(parameters, params_file=params_file, env=node_env())
    LOGGER.info("started the segmentation node: %s (log %s)", " ".join(node.command), node.log_path)
    client: Client | None = None
    infos: list = []
    iterator = iter(tqdm(frames, total=len(frames), desc=rate, unit="frame",
                         disable=None if progress is None else not progress))
    try:
        first = next(iterator, None)
        if first is None:
            raise BagError(bag, f"no image on {image_topic} has ground truth on {gt_topic}")
        client = Client("attendseg_bag_player", watch=node)
        from ..msg import SegmentationInfo

        infos = client.collect(SegmentationInfo, output_topic(image_topic, "info"), LATCHED)  # what ran
        player = _Player(client, image_topic, labels_topic)
        _warm_up(player, node, first.raw_image, startup_timeout)
        LOGGER.info("node serving %s -> %s; playing %s at %s rate", image_topic, labels_topic, bag, rate)

        def collect() -> None:
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
        index = 0
        frame = first
        while frame is not None:
            if rate == "recorded":
                due = t0 + (frame.log_time_ns - first.log_time_ns) / 1e9
                while (wait := due - time.perf_counter()) > 0:
                    player.spin(min(wait, 0.05))
                    collect()
            node.check_alive()
            if index in keep:
                sent[frame.stamp_ns] = (index, frame.raw_image)
            published = time.perf_counter()
            player.publisher.publish(frame.raw_image)  # the recorded CDR bytes, never deserialised here
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
            frame = next(iterator, None)
            index += 1
        deadline = time.monotonic() + frame_timeout
        while pairer.pending and time.monotonic() < deadline:
            player.spin(0.05)
            collect()
        pairer.flush()
    finally:
        if client is not None:
            client.close()
        node.stop()
    scorer.add_missing(frames.frames_missing + pairer.missing_right)
    scorer.add_duplicates(frames.duplicates)
    if pairer.missing_left:
        LOGGER.warning("%d label frames had stamps that were never published", pairer.missing_left)
    engine = {"backend": infos[-1].backend, "precision": infos[-1].precision} if infos else {}
    stamp_order = {key: frames.stamp_order[key] + getattr(pairer, key) for key in frames.stamp_order}
    return BagEvaluation({**scorer.report(), **stamp_order}, scorer.confusion.copy(), samples, engine)
