"""Segmentation metrics as pure functions over one confusion matrix.

Shapes: ``confusion`` is ``(C, C)`` int64 with rows = ground truth, columns = prediction.
Pixels whose ground truth is ``>= C`` (void) are ignored.
Classes absent from the ground truth *and* never predicted have an undefined IoU (NaN) and
are left out of the means, the SegNet-benchmark convention.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """Accumulable ``(C, C)`` confusion matrix of integer arrays of equal shape.

    Ground-truth ids ``>= num_classes`` (void) are ignored; a prediction ``>= num_classes`` is a
    ``ValueError`` (a model never predicts void).
    """
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    labels = labels.reshape(-1).astype(np.int64)
    predictions = predictions.reshape(-1).astype(np.int64)
    if predictions.size and (predictions.max() >= num_classes or predictions.min() < 0):
        raise ValueError(f"predictions must be class ids in [0, {num_classes}), got max {predictions.max()}")
    valid = (labels >= 0) & (labels < num_classes)
    counts = np.bincount(labels[valid] * num_classes + predictions[valid], minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _check(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion matrix must be square (C, C), got shape {confusion.shape}")
    return confusion.astype(np.float64)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Correct pixels / labelled pixels (global accuracy)."""
    cm = _check(confusion)
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Per-class recall; NaN for classes absent from the ground truth."""
    cm = _check(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class intersection over union; NaN when the class is neither present nor predicted."""
    cm = _check(confusion)
    union = cm.sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / union


def summarize(confusion: np.ndarray, frames: int | None = None) -> dict[str, object]:
    """The standard SegNet-split report: fractions in [0, 1]; ``class_iou`` has None for NaN."""
    ious = class_iou(confusion)
    accuracies = class_accuracy(confusion)
    report: dict[str, object] = {
        "pixel_accuracy": pixel_accuracy(confusion),
        "mean_class_accuracy": float(np.nanmean(accuracies)) if np.isfinite(accuracies).any() else float("nan"),
        "miou": float(np.nanmean(ious)) if np.isfinite(ious).any() else float("nan"),
        "class_iou": [None if np.isnan(v) else float(v) for v in ious],
    }
    if frames is not None:
        report["frames"] = int(frames)
    return report
