"""Dataset split (any layout) -> rosbag2: camera images, camera info and mono8 ground truth with shared stamps."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from tqdm import tqdm

from ..data.dataset import open_dataset
from .io import (
    CAMERA_INFO_TOPIC,
    CAMERA_INFO_TYPE,
    CLASS_TABLE_KEY,
    GT_TOPIC,
    IMAGE_TOPIC,
    IMAGE_TYPE,
    WRITE_ENCODINGS,
    BagWriter,
    camera_info_message,
    image_message,
)

LOGGER = logging.getLogger(__name__)

DEFAULT_START_NS = 1_700_000_000 * 1_000_000_000  # fixed, so converted bags are reproducible


def dataset_to_bag(
    data: str | Path,
    split: str,
    out: str | Path,
    storage: str = "mcap",
    rate: float = 10.0,
    encoding: str = "rgb8",
    frame_id: str = "camera",
    limit: int | None = None,
    force: bool = False,
    start_ns: int = DEFAULT_START_NS,
    image_topic: str = IMAGE_TOPIC,
    camera_info_topic: str = CAMERA_INFO_TOPIC,
    gt_topic: str = GT_TOPIC,
    progress: bool | None = None,
    layout: str | None = None,
) -> dict[str, object]:
    """Write frames of a dataset split (``layout`` detected when ``None``) to a new bag at ``out``.

    Frame ``i`` has header stamp (and bag time) ``start_ns + i / rate`` on all three topics.
    Ground truth is mono8 class ids with the dataset's ignore index for unlabelled pixels; the class
    table is stored in the bag's metadata (``custom_data``), so scoring checks it against the model's.
    Returns a summary dict.
    """
    if rate <= 0:
        raise ValueError(f"rate must be positive (Hz), got {rate}")
    if encoding not in WRITE_ENCODINGS:
        raise ValueError(f"encoding must be one of {WRITE_ENCODINGS}, got {encoding!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    dataset = open_dataset(data, split, layout)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    period_ns = round(1e9 / rate)
    sizes: set[tuple[int, int]] = set()
    with BagWriter(out, storage=storage, force=force) as bag:
        bag.add_topic(image_topic, IMAGE_TYPE)
        bag.add_topic(camera_info_topic, CAMERA_INFO_TYPE)
        bag.add_topic(gt_topic, IMAGE_TYPE)
        bag.set_custom_data("attendseg_ros.classes", dataset.classes.name)
        bag.set_custom_data("attendseg_ros.void_id", str(dataset.classes.void_id))
        bag.set_custom_data(CLASS_TABLE_KEY, json.dumps(dataset.classes.to_dict()))
        bag.set_custom_data("attendseg_ros.source", f"{dataset.layout} {split} of {Path(data).name}")
        bar = tqdm(range(count), desc=f"{split} -> {Path(out).name}", unit="frame",
                   disable=None if progress is None else not progress)
        for index in bar:
            rgb, labels = dataset[index]
            stamp = start_ns + index * period_ns
            height, width = labels.shape
            sizes.add((height, width))
            bag.write(image_topic, image_message(rgb, encoding, stamp, frame_id), stamp)
            bag.write(camera_info_topic, camera_info_message(height, width, stamp, frame_id), stamp)
            bag.write(gt_topic, image_message(labels, "mono8", stamp, frame_id), stamp)
    LOGGER.info("wrote %d %s frames of %s to %s", count, split, data, out)
    return {
        "bag": str(out),
        "storage": storage,
        "split": split,
        "layout": dataset.layout,
        "frames": count,
        "classes": dataset.classes.name,
        "void_id": dataset.classes.void_id,
        "sizes": sorted([list(s) for s in sizes]),
        "rate_hz": rate,
        "encoding": encoding,
        "topics": {image_topic: IMAGE_TYPE, camera_info_topic: CAMERA_INFO_TYPE, gt_topic: IMAGE_TYPE},
    }


