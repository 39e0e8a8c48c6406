"""Evaluate a predictor over a CamVid split: one confusion matrix, the shared metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from tqdm import tqdm

from ..data.camvid import CamVid
from ..metrics import confusion_matrix, summarize

# uint8 RGB frames (N, H, W, 3) -> class ids (N, H, W) at the frames' resolution
Predictor = Callable[[np.ndarray], np.ndarray]


def batches(dataset: CamVid, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for start in range(0, len(dataset), batch_size):
        pairs = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        yield np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def evaluate(
    predict: Predictor, dataset: CamVid, batch_size: int = 4, progress: bool | None = None
) -> tuple[np.ndarray, dict[str, object]]:
    """Accumulate the confusion matrix of ``predict`` over ``dataset``; returns it and the report."""
    num_classes = dataset.classes.num_classes
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with tqdm(
        total=len(dataset),
        desc=f"eval {dataset.split}",
        unit="frame",
        disable=None if progress is None else not progress,
    ) as bar:
        for frames, labels in batches(dataset, batch_size):
            predictions = predict(frames)
            if predictions.shape != labels.shape:
                raise ValueError(f"predictor returned {predictions.shape}, expected {labels.shape}")
            confusion += confusion_matrix(labels, predictions, num_classes)
            bar.update(len(frames))
    return confusion, summarize(confusion, frames=len(dataset))
