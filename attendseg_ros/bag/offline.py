"""Offline bag evaluation: read the bag, run a segmentation engine in-process, score (no ROS graph)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm import tqdm

from .io import GT_TOPIC, IMAGE_TOPIC, LabelledFrames
from .scoring import Scorer


class _Segmentation(Protocol):
    labels: np.ndarray


class FrameSegmenter(Protocol):
    """What offline evaluation needs of an engine (attendseg_ros.engines.Segmenter fits)."""

    def segment(self, frames: list[np.ndarray], resolution: str = "model") -> list[_Segmentation]: ...


@dataclass
class Sample:
    """A frame kept for the report's overlays."""

    stamp_ns: int
    rgb: np.ndarray
    ground_truth: np.ndarray
    prediction: np.ndarray


@dataclass
class BagEvaluation:
    """Result of evaluating one bag: the JSON report, its confusion matrix and a few samples."""

    report: dict[str, object]
    confusion: np.ndarray
    samples: list[Sample] = field(default_factory=list)
    engine: dict[str, str] = field(default_factory=dict)  # backend and precision that ran, where known


def sample_indices(count: int, keep: int) -> set[int]:
    """``keep`` frame indices spread evenly over ``count`` frames."""
    if keep <= 0 or count <= 0:
        return set()
    return {int(i) for i in np.linspace(0, count - 1, min(keep, count)).round()}


def evaluate_bag_offline(
    path: str | Path,
    segmenter: FrameSegmenter,
    num_classes: int,
    image_topic: str = IMAGE_TOPIC,
    gt_topic: str = GT_TOPIC,
    keep_samples: int = 0,
    progress: bool | None = None,
) -> BagEvaluation:
    """Segment every image of the bag that has ground truth, one frame at a time.

    Latency is the engine time per frame (``segment`` at the input resolution, after one warm-up
    call); ``fps`` is frames per second of the whole loop (bag reading and decoding included).
    """
    frames = LabelledFrames(path, image_topic, gt_topic)
    scorer = Scorer(num_classes)
    keep = sample_indices(len(frames), keep_samples)
    samples: list[Sample] = []
    disable = None if progress is None else not progress
    bar = tqdm(frames, total=len(frames), desc="offline", unit="frame", disable=disable)
    for index, frame in enumerate(bar):
        assert frame.image is not None
        if index == 0:  # the first call initialises the backend (threads, memory): keep it out of the timing
            segmenter.segment([frame.image], resolution="input")
            scorer.start()
        begin = time.perf_counter()
        prediction = segmenter.segment([frame.image], resolution="input")[0].labels
        latency_ms = (time.perf_counter() - begin) * 1e3
        scorer.add(frame.labels, prediction, latency_ms)
        if index in keep:
            samples.append(Sample(frame.stamp_ns, frame.image, frame.labels, prediction))
    scorer.add_missing(frames.frames_missing)
    scorer.add_duplicates(frames.duplicates)
    return BagEvaluation({**scorer.report(), **frames.stamp_order}, scorer.confusion.copy(), samples)
