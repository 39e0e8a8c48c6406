"""Evaluate a predictor over a dataset split (any layout): one confusion matrix, the shared metrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from ..data.dataset import SegmentationDataset
from ..metrics import confusion_matrix, summarize

# uint8 RGB frames (N, H, W, 3) -> class ids (N, H, W) at the frames' resolution
Predictor = Callable[[np.ndarray], np.ndarray]


def evaluate(
    predict: Predictor, dataset: SegmentationDataset, batch_size: int = 4, progress: bool | None = None
) -> tuple[np.ndarray, dict[str, object]]:
    """Accumulate the confusion matrix of ``predict`` over ``dataset``; returns it and the report.

    Scored in the dataset's class table: ground truth equal to its ignore index is not counted.
    """
    num_classes = dataset.classes.num_classes
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with tqdm(
        total=len(dataset),
        desc=f"eval {dataset.split}",
        unit="frame",
        disable=None if progress is None else not progress,
    ) as bar:
        for frames, labels in dataset.batches(batch_size):
            predictions = predict(frames)
            if predictions.shape != labels.shape:
                raise ValueError(f"predictor returned {predictions.shape}, expected {labels.shape}")
            confusion += confusion_matrix(labels, predictions, num_classes)
            bar.update(len(frames))
    return confusion, summarize(confusion, frames=len(dataset))
