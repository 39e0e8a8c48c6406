"""rosbag2 reading and writing with the pure-Python ``rosbags`` library (no rclpy).

Images are ``sensor_msgs/msg/Image``; ground truth is a mono8 Image of class ids (void = the
class table's void id). Frames are matched by header stamp, never by position in the bag.
Every failure to read a bag becomes a :class:`BagError` naming the bag and the reason.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer, WriterError
from rosbags.typesys import Stores, get_typestore

from ..runtime.image_conversion import (
    LABEL_ENCODINGS,
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    image_fields,
    image_to_labels,
    image_to_rgb,
)
from .pairing import StampPairer

LOGGER = logging.getLogger(__name__)

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
GT_TOPIC = "/camera/labels_gt"
# custom_data key of bags written by dataset_to_bag: the ground truth's class table (JSON)
CLASS_TABLE_KEY = "attendseg_ros.class_table"
IMAGE_TYPE = "sensor_msgs/msg/Image"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
STORAGES = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
IMAGE_ENCODINGS = SUPPORTED_ENCODINGS
WRITE_ENCODINGS = ("rgb8", "bgr8")

# What a camera driver offers (and `ros2 bag play` then offers): reliable, keep last 10, volatile.
# A reliable publisher matches both reliable and best-effort subscribers.
_NO_TIME = QosTime(0, 0)
RECORDED_QOS = Qos(
    history=QosHistory.KEEP_LAST,
    depth=10,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.VOLATILE,
    deadline=_NO_TIME,  # 0 = the RMW default (infinite)
    lifespan=_NO_TIME,
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=_NO_TIME,
    avoid_ros_namespace_conventions=False,
)

# Exceptions the rosbags readers let through for damaged files (truncated mcap chunks, broken sqlite).
_READ_ERRORS = (
    ReaderError, OSError, sqlite3.Error, EOFError, struct.error, ValueError, KeyError, IndexError, AssertionError
)


class BagError(ValueError):
    """A bag cannot be written or read, or its content is not what the evaluation needs."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The ROS 2 (kilted) typestore: sensor_msgs, std_msgs, builtin_interfaces."""
    return get_typestore(Stores.ROS2_KILTED)


def ns_to_stamp(ns: int) -> tuple[int, int]:
    return int(ns) // 1_000_000_000, int(ns) % 1_000_000_000


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` (rosbags or rclpy) -> integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _header(stamp_ns: int, frame_id: str) -> Any:
    types = typestore().types
    sec, nanosec = ns_to_stamp(stamp_ns)
    stamp = types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
    return types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)


def image_message(array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str) -> Any:
    """A rosbags ``sensor_msgs/Image`` of ``array``: (H, W, 3) RGB for rgb8/bgr8, (H, W) for mono8."""
    array = np.asarray(array)
    if encoding not in WRITE_ENCODINGS + LABEL_ENCODINGS:
        raise ValueError(f"cannot write encoding {encoding!r}; choose one of {WRITE_ENCODINGS + LABEL_ENCODINGS}")
    if encoding == "bgr8" and array.ndim == 3:
        array = array[..., ::-1]
    try:
        fields = image_fields(array, encoding)
    except ImageConversionError as exc:
        raise ValueError(str(exc)) from exc
    return typestore().types[IMAGE_TYPE](
        header=_header(stamp_ns, frame_id),
        height=fields.height,
        width=fields.width,
        encoding=fields.encoding,
        is_bigendian=fields.is_bigendian,
        step=fields.step,
        data=np.frombuffer(fields.data, np.uint8),
    )


def camera_info_message(height: int, width: int, stamp_ns: int, frame_id: str, hfov_deg: float = 60.0) -> Any:
    """A plausible pinhole ``CameraInfo`` (no distortion, square pixels, centred principal point)."""
    types = typestore().types
    focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    k = np.array([focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0])
    p = np.array([focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    return types[CAMERA_INFO_TYPE](
        header=_header(stamp_ns, frame_id),
        height=height,
        width=width,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=k,
        r=np.eye(3).reshape(-1),
        p=p,
        binning_x=0,
        binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )


def decode_image(msg: Any, where: str = "image") -> np.ndarray:
    """Image message -> (H, W, 3) uint8 RGB (the node's conversion); ``ValueError`` naming the reason."""
    try:
        return image_to_rgb(msg)
    except ImageConversionError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def decode_labels(msg: Any, where: str = "labels") -> np.ndarray:
    """mono8/8UC1 label image -> (H, W) uint8 class ids; ``ValueError`` for any other encoding."""
    try:
        return image_to_labels(msg)
    except ImageConversionError as exc:
        raise ValueError(f"{where}: {exc}") from exc


class BagWriter:
    """Write a new rosbag2 (metadata version 9) with images, camera info and label images.

    The bag is written into a temporary folder beside ``path`` and moved to ``path`` only when
    writing succeeded: a failed conversion leaves nothing behind and an existing bag untouched.
    An existing ``path`` is refused unless ``force``; even then only a previous bag (a folder with
    ``metadata.yaml``) or an empty folder is replaced, never a plain file or another folder.
    """

    def __init__(self, path: str | Path, storage: str = "mcap", force: bool = False) -> None:
        self.path = Path(path)
        if storage not in STORAGES:
            raise BagError(self.path, f"unknown storage {storage!r}; choose one of {sorted(STORAGES)}")
        self._check_target(force)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.storage = storage
        self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent))
        self._writer = Writer(self._staging / "bag", version=9, storage_plugin=STORAGES[storage])
        self._connections: dict[str, Any] = {}

    def _check_target(self, force: bool) -> None:
        if not self.path.exists() and not self.path.is_symlink():
            return
        if not force:
            raise BagError(self.path, "exists already; pass --force (force=True) to overwrite it")
        if not self.path.is_dir() or self.path.is_symlink():
            raise BagError(self.path, "exists and is not a folder (a rosbag2 is a folder); not replacing it")
        if any(self.path.iterdir()) and not (self.path / "metadata.yaml").is_file():
            raise BagError(self.path, "exists and is not a rosbag2 folder (no metadata.yaml); not replacing it")

    def __enter__(self) -> BagWriter:
        try:
            self._writer.open()
        except WriterError as exc:
            shutil.rmtree(self._staging, ignore_errors=True)
            raise BagError(self.path, str(exc)) from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is not None:
            try:
                self._writer.abort()
            finally:
                shutil.rmtree(self._staging, ignore_errors=True)
            return
        try:
            self._writer.close()
            self._swap_in(self._staging / "bag")
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)

    def _swap_in(self, written: Path) -> None:
        """Move the finished bag to ``path``; a previous bag there is removed only after that worked."""
        old = None
        if self.path.exists():
            old = self._staging / "previous"
            os.replace(self.path, old)
        try:
            os.replace(written, self.path)
        except OSError:
            if old is not None:
                os.replace(old, self.path)
            raise

    def set_custom_data(self, key: str, value: str) -> None:
        self._writer.set_custom_data(key, value)

    def add_topic(self, topic: str, msgtype: str, qos: Qos = RECORDED_QOS) -> None:
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=typestore(), offered_qos_profiles=[qos]
        )

    def write(self, topic: str, msg: Any, log_time_ns: int) -> None:
        connection = self._connections[topic]
        self._writer.write(connection, int(log_time_ns), typestore().serialize_cdr(msg, connection.msgtype))


@dataclass(frozen=True)
class TopicSummary:
    msgtype: str | None
    count: int


@dataclass
class BagFrame:
    """One image with its ground truth. ``raw_image`` is the CDR of the recorded Image message."""

    stamp_ns: int
    log_time_ns: int
    raw_image: bytes
    labels: np.ndarray  # (H, W) uint8 class ids
    image: np.ndarray | None = None  # (H, W, 3) RGB when decoded


def _open_reader(path: Path) -> Reader:
    if not path.exists():
        raise BagError(path, "does not exist")
    try:
        reader = Reader(path)
        reader.open()
    except _READ_ERRORS as exc:
        raise BagError(path, f"not a readable rosbag2 ({type(exc).__name__}: {exc})") from exc
    return reader


def bag_custom_data(path: str | Path) -> dict[str, str]:
    """The ``custom_data`` of a bag's metadata (``{}`` when it has none)."""
    path = Path(path)
    reader = _open_reader(path)
    try:
        source = getattr(reader, "storage", reader)  # rosbags' Reader delegates to a directory or file reader
        custom = getattr(getattr(source, "metadata", None), "custom", None) or {}
        return {str(k): str(v) for k, v in custom.items()}
    finally:
        reader.close()


def bag_topics(path: str | Path) -> dict[str, TopicSummary]:
    """Topics of a bag with their message type and count (from its metadata)."""
    path = Path(path)
    reader = _open_reader(path)
    try:
        return {name: TopicSummary(info.msgtype, int(info.msgcount)) for name, info in reader.topics.items()}
    finally:
        reader.close()


def _check_topic(path: Path, topics: dict[str, Any], topic: str, role: str) -> None:
    if topic not in topics:
        available = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(topics.items())) or "none"
        raise BagError(path, f"has no {role} topic {topic!r}; topics in the bag: {available}")
    if topics[topic].msgtype != IMAGE_TYPE:
        raise BagError(path, f"{role} topic {topic!r} has type {topics[topic].msgtype}, expected {IMAGE_TYPE}")


class LabelledFrames:
    """Iterate the frames of a bag that have both an image and ground truth, in recording order.

    Pairing is by header stamp with at most ``max_pending`` unmatched messages held per topic.
    After iteration, ``missing_images`` (ground truth without an image), ``missing_labels``
    (images without ground truth), ``duplicates`` (messages repeating the stamp of an earlier one
    on their topic: never paired, never scored) and ``frames`` (pairs yielded) describe that pass;
    ``frames_missing`` is the sum of the first two. Each message is deserialised once. Damaged data
    raises :class:`BagError`.
    """

    def __init__(
        self,
        path: str | Path,
        image_topic: str = IMAGE_TOPIC,
        gt_topic: str = GT_TOPIC,
        decode: bool = True,
        max_pending: int = 100,
    ) -> None:
        self.path = Path(path)
        self.image_topic = image_topic
        self.gt_topic = gt_topic
        self.decode = decode
        self.max_pending = max_pending
        reader = _open_reader(self.path)
        try:
            topics = reader.topics
            _check_topic(self.path, topics, image_topic, "image")
            _check_topic(self.path, topics, gt_topic, "ground-truth")
            self.expected_images = int(topics[image_topic].msgcount)
            self.expected_labels = int(topics[gt_topic].msgcount)
        finally:
            reader.close()
        self.frames = 0
        self.missing_images = 0
        self.missing_labels = 0
        self.duplicates = 0
        self.stamp_order = {"stamps_out_of_order": 0, "clock_resets": 0}  # both topics (see bag.pairing)

    @property
    def frames_missing(self) -> int:
        return self.missing_images + self.missing_labels

    def __len__(self) -> int:
        """Upper bound of the frames yielded (the fewer of the two topics' message counts)."""
        return min(self.expected_images, self.expected_labels)

    def __iter__(self) -> Iterator[BagFrame]:
        """One pass over the bag; the counters describe the latest pass (a second pass starts them again)."""
        self.frames = self.missing_images = self.missing_labels = self.duplicates = 0
        self.stamp_order = dict.fromkeys(self.stamp_order, 0)
        store = typestore()
        pairer: StampPairer[tuple[int, bytes, Any], np.ndarray] = StampPairer(max_pending=self.max_pending)
        reader = _open_reader(self.path)
        where = ""
        try:
            connections = [c for c in reader.connections if c.topic in (self.image_topic, self.gt_topic)]
            for connection, log_time, raw in reader.messages(connections=connections):
                where = f"{connection.topic} message at log time {log_time}"
                msg = store.deserialize_cdr(raw, connection.msgtype)  # the only deserialisation of each message
                stamp = stamp_to_ns(msg.header.stamp)
                if connection.topic == self.image_topic:
                    if str(msg.encoding) not in IMAGE_ENCODINGS:
                        raise BagError(
                            self.path,
                            f"{where}: unsupported image encoding {msg.encoding!r}; expected one of {IMAGE_ENCODINGS}",
                        )
                    pair = pairer.add_left(stamp, (log_time, bytes(raw), msg if self.decode else None))
                else:
                    try:
                        labels = decode_labels(msg, where)
                    except ValueError as exc:
                        raise BagError(self.path, str(exc)) from exc
                    pair = pairer.add_right(stamp, labels)
                self.duplicates = pairer.duplicates
                if pair is not None:
                    yield self._frame(*pair)
        except BagError:
            raise
        except _READ_ERRORS as exc:
            detail = f" ({where})" if where else ""
            raise BagError(self.path, f"unreadable or damaged{detail}: {type(exc).__name__}: {exc}") from exc
        finally:
            reader.close()
        pairer.flush()
        self.missing_images = pairer.missing_left
        self.missing_labels = pairer.missing_right
        self.duplicates = pairer.duplicates
        self.stamp_order = {"stamps_out_of_order": pairer.stamps_out_of_order, "clock_resets": pairer.clock_resets}
        if pairer.missing:
            LOGGER.warning(
                "%s: %d ground-truth frames without an image, %d images without ground truth",
                self.path, pairer.missing_left, pairer.missing_right,
            )
        if pairer.duplicates:
            LOGGER.warning("%s: %d messages repeat the stamp of an earlier one on their topic; not scored",
                           self.path, pairer.duplicates)

    def _frame(self, stamp: int, image: tuple[int, bytes, Any], labels: np.ndarray) -> BagFrame:
        log_time, raw, msg = image
        self.frames += 1
        frame = BagFrame(stamp, log_time, raw, labels)
        if self.decode:
            where = f"{self.image_topic} at stamp {stamp}"
            try:
                frame.image = decode_image(msg, where)
            except ValueError as exc:
                raise BagError(self.path, str(exc)) from exc
            if frame.image.shape[:2] != labels.shape:
                raise BagError(
                    self.path,
                    f"{where}: image is {frame.image.shape[1]}x{frame.image.shape[0]} but its ground truth "
                    f"is {labels.shape[1]}x{labels.shape[0]}",
                )
        return frame


@dataclass(frozen=True)
class RecordedTopic:
    """A topic of a bag as recorded: message type, count and the QoS its publisher offered."""

    name: str
    msgtype: str
    count: int
    qos: Qos  # the first offered profile; RECORDED_QOS when the bag recorded none


class RecordedMessages:
    """The raw (CDR) messages of some or all topics of a bag, in recording order, for playing it back.

    ``topics`` holds a :class:`RecordedTopic` per selected topic; iterating yields
    ``(topic, log_time_ns, cdr_bytes)``. A topic that is not in the bag, or damaged data, raises
    :class:`BagError` naming the bag and the reason.
    """

    def __init__(self, path: str | Path, topics: list[str] | tuple[str, ...] | None = None) -> None:
        self.path = Path(path)
        reader = _open_reader(self.path)
        try:
            recorded = reader.topics
            missing = [t for t in topics or () if t not in recorded]
            if missing:
                available = ", ".join(f"{t} ({i.msgtype})" for t, i in sorted(recorded.items())) or "none"
                raise BagError(self.path, f"has no topic {', '.join(missing)}; topics in the bag: {available}")
            self.topics: dict[str, RecordedTopic] = {}
            for connection in reader.connections:
                if (topics and connection.topic not in topics) or connection.topic in self.topics:
                    continue
                offered = getattr(connection.ext, "offered_qos_profiles", None) or [RECORDED_QOS]
                info = recorded[connection.topic]
                self.topics[connection.topic] = RecordedTopic(
                    connection.topic, str(info.msgtype), int(info.msgcount), offered[0]
                )
        finally:
            reader.close()

    def __len__(self) -> int:
        return sum(topic.count for topic in self.topics.values())

    def __iter__(self) -> Iterator[tuple[str, int, bytes]]:
        reader = _open_reader(self.path)
        where = ""
        try:
            connections = [c for c in reader.connections if c.topic in self.topics]
            for connection, log_time, raw in reader.messages(connections=connections):
                where = f" ({connection.topic} message at log time {log_time})"
                yield connection.topic, int(log_time), bytes(raw)
        except _READ_ERRORS as exc:
            raise BagError(self.path, f"unreadable or damaged{where}: {type(exc).__name__}: {exc}") from exc
        finally:
            reader.close()
