"""Segmentation metrics as pure functions over one confusion matrix.

Shapes: ``confusion`` is ``(C, C)`` int64 with rows = ground truth, columns = prediction, or
``(C, C + 1)`` when predictions may hold the unknown id (pixels the model declined to classify,
``attendseg_ros.interop.UNKNOWN_ID``): the extra last column counts them, so such a pixel is a
miss for its ground-truth class and a false positive for none. Pixels whose ground truth is
``>= C`` (void) are ignored.
Classes absent from the ground truth *and* never predicted have an undefined IoU (NaN) and
are left out of the means, the SegNet-benchmark convention.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(
    labels: np.ndarray, predictions: np.ndarray, num_classes: int, unknown_id: int | None = None
) -> np.ndarray:
    """Accumulable ``(C, C)`` confusion matrix of integer arrays of equal shape.

    Ground-truth ids ``>= num_classes`` (void) are ignored. With ``unknown_id``, predictions equal
    to it are counted in an extra last column (shape ``(C, C + 1)``); any other prediction
    ``>= num_classes`` is a ``ValueError`` (a model never predicts void).
    """
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if unknown_id is not None and 0 <= unknown_id < num_classes:
        raise ValueError(f"unknown_id {unknown_id} collides with a class id in [0, {num_classes})")
    labels = labels.reshape(-1).astype(np.int64)
    predictions = predictions.reshape(-1).astype(np.int64)
    invalid = (predictions < 0) | (predictions >= num_classes)
    if unknown_id is not None:
        unknown = predictions == unknown_id
        invalid &= ~unknown
    if invalid.any():
        allowed = "" if unknown_id is None else f" or the unknown id {unknown_id}"
        raise ValueError(f"predictions must be class ids in [0, {num_classes}){allowed}, got {predictions[invalid][0]}")
    columns = num_classes
    if unknown_id is not None:
        columns = num_classes + 1
        predictions = np.where(unknown, num_classes, predictions)
    valid = (labels >= 0) & (labels < num_classes)
    counts = np.bincount(labels[valid] * columns + predictions[valid], minlength=num_classes * columns)
    return counts.reshape(num_classes, columns)


def _check(confusion: np.ndarray) -> np.ndarray:
    """The matrix as float64: ``(C, C)``, or ``(C, C + 1)`` with the unknown-prediction column last."""
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or confusion.shape[1] not in (confusion.shape[0], confusion.shape[0] + 1):
        raise ValueError(
            f"confusion matrix must be square (C, C) or (C, C + 1) with an unknown column, got shape {confusion.shape}"
        )
    return confusion.astype(np.float64)


def pixel_accuracy(confusion: np.ndarray) -> float:
    """Correct pixels / labelled pixels (global accuracy)."""
    cm = _check(confusion)
    total = cm.sum()
    return float(np.trace(cm[:, : cm.shape[0]]) / total) if total else float("nan")


def class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Per-class recall; NaN for classes absent from the ground truth."""
    cm = _check(confusion)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def class_iou(confusion: np.ndarray) -> np.ndarray:
    """Per-class intersection over union; NaN when the class is neither present nor predicted."""
    cm = _check(confusion)
    union = cm[:, : cm.shape[0]].sum(axis=0) + cm.sum(axis=1) - np.diag(cm)
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
