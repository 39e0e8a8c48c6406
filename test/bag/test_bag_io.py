"""rosbag2 writing and reading (rosbags, no rclpy): CamVid conversion round trip and bad bags."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from attendseg_ros.bag.convert import DEFAULT_START_NS, dataset_to_bag
from attendseg_ros.bag.io import (
    CAMERA_INFO_TOPIC,
    GT_TOPIC,
    IMAGE_TOPIC,
    IMAGE_TYPE,
    BagError,
    BagWriter,
    LabelledFrames,
    bag_topics,
    camera_info_message,
    image_message,
    typestore,
)
from attendseg_ros.data.camvid import CamVid, DatasetError

FRAMES = 3


@pytest.mark.parametrize(("storage", "encoding"), [("mcap", "rgb8"), ("sqlite3", "bgr8")])
def test_camvid_round_trip(camvid_dir: Path, tmp_path: Path, storage: str, encoding: str) -> None:
    out = tmp_path / "bag"
    summary = dataset_to_bag(camvid_dir, "val", out, storage=storage, rate=5.0, encoding=encoding, limit=FRAMES)
    assert summary["frames"] == FRAMES and summary["void_id"] == 11
    topics = bag_topics(out)
    assert {t: (s.msgtype, s.count) for t, s in topics.items()} == {
        IMAGE_TOPIC: (IMAGE_TYPE, FRAMES),
        CAMERA_INFO_TOPIC: ("sensor_msgs/msg/CameraInfo", FRAMES),
        GT_TOPIC: (IMAGE_TYPE, FRAMES),
    }
    metadata = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["version"] == 9 and metadata["storage_identifier"] == storage
    for entry in metadata["topics_with_message_count"]:
        (qos,) = entry["topic_metadata"]["offered_qos_profiles"]
        assert (qos["reliability"], qos["history"], qos["durability"]) == ("reliable", "keep_last", "volatile")

    dataset = CamVid(camvid_dir, "val")
    frames = LabelledFrames(out)
    read = list(frames)
    assert len(read) == FRAMES and frames.frames_missing == 0
    for index, frame in enumerate(read):
        rgb, labels = dataset[index]
        assert frame.stamp_ns == frame.log_time_ns == DEFAULT_START_NS + index * 200_000_000
        np.testing.assert_array_equal(frame.image, rgb)
        np.testing.assert_array_equal(frame.labels, labels)
        message = typestore().deserialize_cdr(frame.raw_image, IMAGE_TYPE)
        assert (message.encoding, message.header.frame_id) == (encoding, "camera")


def test_camera_info_is_a_pinhole_of_the_frame_size(camvid_dir: Path, tmp_path: Path) -> None:
    from rosbags.rosbag2 import Reader

    dataset_to_bag(camvid_dir, "val", tmp_path / "bag", limit=1)
    with Reader(tmp_path / "bag") as reader:
        (connection,) = [c for c in reader.connections if c.topic == CAMERA_INFO_TOPIC]
        (_, _, raw), *_ = reader.messages([connection])
        info = typestore().deserialize_cdr(raw, connection.msgtype)
    assert (info.height, info.width, info.distortion_model) == (360, 480, "plumb_bob")
    fx, _, cx, _, fy, cy, *_ = info.k
    assert fx == fy > 0 and cx == pytest.approx(239.5) and cy == pytest.approx(179.5)
    assert info.header.stamp.sec == DEFAULT_START_NS // 1_000_000_000


def test_refuses_to_overwrite_unless_forced(camvid_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bag"
    dataset_to_bag(camvid_dir, "val", out, limit=1)
    with pytest.raises(BagError, match=r"exists already.*--force"):
        dataset_to_bag(camvid_dir, "val", out, limit=2)
    assert dataset_to_bag(camvid_dir, "val", out, limit=2, force=True)["frames"] == 2
    assert bag_topics(out)[IMAGE_TOPIC].count == 2
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(BagError, match="not a rosbag2 folder"):
        dataset_to_bag(camvid_dir, "val", precious, limit=1, force=True)
    assert (precious / "notes.txt").is_file()


def test_force_never_deletes_a_plain_file(camvid_dir: Path, tmp_path: Path) -> None:
    """--force with a plain file as --out deleted it (and returned 0)."""
    plain = tmp_path / "thesis.pdf"
    plain.write_bytes(b"irreplaceable")
    with pytest.raises(BagError, match="not a folder"):
        dataset_to_bag(camvid_dir, "val", plain, limit=1, force=True)
    assert plain.read_bytes() == b"irreplaceable"


def test_a_failed_conversion_keeps_the_old_bag(camvid_dir: Path, tmp_path: Path) -> None:
    """The old bag was deleted before a conversion that then failed; now the new bag replaces it only when complete."""
    out = tmp_path / "bag"
    dataset_to_bag(camvid_dir, "val", out, limit=2)
    before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
    broken = tmp_path / "broken"
    for split in ("val", "valannot"):
        (broken / split).mkdir(parents=True)
    names = sorted(p.name for p in (camvid_dir / "val").glob("*.png"))[:3]
    for name in names:
        (broken / "val" / name).write_bytes((camvid_dir / "val" / name).read_bytes())
        (broken / "valannot" / name).write_bytes((camvid_dir / "valannot" / name).read_bytes())
    (broken / "val" / names[2]).write_bytes(b"not a png")  # the third frame fails mid-conversion
    with pytest.raises(DatasetError, match=names[2]):
        dataset_to_bag(broken, "val", out, force=True)
    assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial bag left behind
    assert dataset_to_bag(camvid_dir, "val", out, limit=1, force=True)["frames"] == 1
    assert bag_topics(out)[IMAGE_TOPIC].count == 1


def _write(path: Path, frames: list[dict], storage: str = "mcap") -> Path:
    """A bag from dicts with 'stamp' and optional 'image' (RGB) / 'labels' arrays (+ encodings)."""
    with BagWriter(path, storage=storage) as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, IMAGE_TYPE)
        for frame in frames:
            if "image" in frame:
                message = image_message(frame["image"], frame.get("encoding", "rgb8"), frame["stamp"], "camera")
                bag.write(IMAGE_TOPIC, message, frame["stamp"])
            if "labels" in frame:
                message = image_message(frame["labels"], "mono8", frame["stamp"], "camera")
                message.encoding = frame.get("label_encoding", "mono8")
                bag.write(GT_TOPIC, message, frame["stamp"])
    return path


RGB = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
LABELS = np.array([[0, 1, 11], [2, 3, 4]], np.uint8)


def test_frames_without_a_partner_are_counted(tmp_path: Path) -> None:
    frames = [{"stamp": s, "image": RGB, "labels": LABELS} for s in (10, 20, 30, 40)]
    del frames[1]["labels"]  # an image without ground truth
    del frames[2]["image"]  # ground truth without an image
    reader = LabelledFrames(_write(tmp_path / "bag", frames))
    assert [f.stamp_ns for f in reader] == [10, 40]
    assert (reader.frames, reader.missing_labels, reader.missing_images, reader.frames_missing) == (2, 1, 1, 2)


def test_duplicate_stamps_are_counted_not_lost(tmp_path: Path) -> None:
    """A second image with an already-seen stamp vanished from the evaluation uncounted."""
    frames = [{"stamp": 10, "image": RGB, "labels": LABELS}, {"stamp": 10, "image": RGB},
              {"stamp": 20, "image": RGB, "labels": LABELS}]
    reader = LabelledFrames(_write(tmp_path / "bag", frames))
    assert [f.stamp_ns for f in reader] == [10, 20]
    assert (reader.frames, reader.duplicates, reader.frames_missing) == (2, 1, 0)


def test_iterating_twice_counts_once(tmp_path: Path) -> None:
    frames = [{"stamp": s, "image": RGB, "labels": LABELS} for s in (10, 20)] + [{"stamp": 30, "image": RGB}]
    reader = LabelledFrames(_write(tmp_path / "bag", frames))
    first = [f.stamp_ns for f in reader]
    counts = (reader.frames, reader.missing_labels, reader.frames_missing)
    assert [f.stamp_ns for f in reader] == first == [10, 20]
    assert (reader.frames, reader.missing_labels, reader.frames_missing) == counts == (2, 1, 1)


def test_each_message_is_deserialised_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Images were deserialised twice (encoding check, then decoding); counted through the real typestore."""
    bag = _write(tmp_path / "bag", [{"stamp": s, "image": RGB, "labels": LABELS} for s in (1, 2, 3)])
    store = typestore()
    calls: list[str] = []
    real = store.deserialize_cdr

    def counting(raw: bytes, msgtype: str) -> object:
        calls.append(msgtype)
        return real(raw, msgtype)

    monkeypatch.setattr(store, "deserialize_cdr", counting)
    frames = list(LabelledFrames(bag))
    assert len(frames) == 3 and all(f.image is not None for f in frames)
    assert calls.count(IMAGE_TYPE) == 6  # 3 images + 3 label images, once each


def test_pairs_by_stamp_not_by_order(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, IMAGE_TYPE)
        for stamp in (1, 2):  # ground truth recorded late, out of order
            bag.write(IMAGE_TOPIC, image_message(RGB * stamp, "rgb8", stamp, "c"), stamp)
        bag.write(GT_TOPIC, image_message(LABELS + 1, "mono8", 2, "c"), 3)
        bag.write(GT_TOPIC, image_message(LABELS, "mono8", 1, "c"), 4)
    read = {f.stamp_ns: f for f in LabelledFrames(tmp_path / "bag")}
    np.testing.assert_array_equal(read[2].image, RGB * 2)
    np.testing.assert_array_equal(read[2].labels, LABELS + 1)
    np.testing.assert_array_equal(read[1].labels, LABELS)


def test_missing_topic_names_what_is_there(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.write(IMAGE_TOPIC, image_message(RGB, "rgb8", 1, "c"), 1)
    with pytest.raises(BagError, match=f"no ground-truth topic '{GT_TOPIC}'.*{IMAGE_TOPIC}") as info:
        LabelledFrames(tmp_path / "bag")
    assert info.value.path == tmp_path / "bag"


def test_wrong_topic_type(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, "sensor_msgs/msg/CameraInfo")
        bag.write(GT_TOPIC, camera_info_message(2, 3, 1, "c"), 1)
    with pytest.raises(BagError, match="has type sensor_msgs/msg/CameraInfo"):
        LabelledFrames(tmp_path / "bag")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ({"image": RGB, "labels": LABELS, "label_encoding": "16UC1"}, "label images must be one of"),
        ({"image": RGB, "labels": LABELS[:, :2]}, "image is 3x2 but its ground truth is 2x2"),
    ],
)
def test_bad_frames_raise_naming_the_problem(tmp_path: Path, frame: dict, message: str) -> None:
    bag = _write(tmp_path / "bag", [{"stamp": 5, **frame}])
    with pytest.raises(BagError, match=message):
        list(LabelledFrames(bag))


def test_unsupported_image_encoding(tmp_path: Path) -> None:
    with BagWriter(tmp_path / "bag") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, IMAGE_TYPE)
        depth = image_message(LABELS, "mono8", 1, "c")
        depth.encoding = "32FC1"
        bag.write(IMAGE_TOPIC, depth, 1)
    with pytest.raises(BagError, match="unsupported image encoding '32FC1'"):
        list(LabelledFrames(tmp_path / "bag"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag_is_a_bag_error(tmp_path: Path, storage: str) -> None:
    bag = _write(tmp_path / "bag", [{"stamp": s, "image": RGB, "labels": LABELS} for s in range(1, 20)], storage)
    (data,) = [p for p in bag.iterdir() if p.name != "metadata.yaml"]
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(BagError, match=re.escape(str(bag))):
        list(LabelledFrames(bag))


def test_not_a_bag(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="does not exist"):
        LabelledFrames(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match="not a readable rosbag2"):
        LabelledFrames(tmp_path / "empty")


def test_camvid32_layout_void_is_the_tables_void(tmp_path: Path) -> None:
    import cv2

    root = tmp_path / "camvid32"
    (root / "val").mkdir(parents=True)
    (root / "val_labels").mkdir()
    (root / "label_colors.txt").write_text("64 128 64 Animal\n128 128 128 Sky\n0 0 0 Void\n128 64 128 Road\n")
    colours = np.zeros((4, 5, 3), np.uint8)  # RGB colour-coded labels
    colours[0] = (128, 128, 128)
    colours[1] = (128, 64, 128)
    colours[2] = (10, 20, 30)  # unknown colour -> void
    colours[3] = (64, 128, 64)
    cv2.imwrite(str(root / "val" / "f1.png"), np.full((4, 5, 3), 7, np.uint8))
    cv2.imwrite(str(root / "val_labels" / "f1_L.png"), cv2.cvtColor(colours, cv2.COLOR_RGB2BGR))
    summary = dataset_to_bag(root, "val", tmp_path / "bag")
    assert (summary["layout"], summary["void_id"], summary["frames"]) == ("camvid", 3, 1)
    (frame,) = LabelledFrames(tmp_path / "bag")
    np.testing.assert_array_equal(frame.labels[:, 0], [1, 2, 3, 0])
