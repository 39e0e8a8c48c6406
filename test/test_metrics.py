"""Metrics against hand-computed confusion matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attendseg_ros.metrics import class_accuracy, class_iou, confusion_matrix, pixel_accuracy, summarize


def test_confusion_matrix_counts_and_ignores_void() -> None:
    labels = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])  # 3 = void for C = 3
    predictions = np.array([[0, 1, 1, 1], [2, 0, 2, 0]])
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert np.array_equal(confusion_matrix(labels, predictions, 3), expected)


def test_metrics_of_a_hand_computed_matrix() -> None:
    cm = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert pixel_accuracy(cm) == pytest.approx(4 / 6)
    assert class_accuracy(cm) == pytest.approx([1 / 2, 2 / 2, 1 / 2])
    # IoU = TP / (row + col - TP): class 0: 1/(2+2-1), class 1: 2/(2+3-2), class 2: 1/(2+1-1)
    assert class_iou(cm) == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    report = summarize(cm, frames=2)
    assert report["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert report["mean_class_accuracy"] == pytest.approx(2 / 3)
    assert report["frames"] == 2


def test_class_absent_from_the_split() -> None:
    # class 2 never in ground truth, never predicted: undefined, left out of the means
    cm = np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]])
    report = summarize(cm)
    assert report["class_iou"][2] is None
    assert report["miou"] == pytest.approx((3 / 4 + 4 / 5) / 2)
    assert report["mean_class_accuracy"] == pytest.approx((3 / 4 + 1) / 2)
    # class 2 absent but predicted once: IoU 0 (a false positive), accuracy undefined
    cm = np.array([[3, 0, 1], [0, 4, 0], [0, 0, 0]])
    assert class_iou(cm)[2] == 0.0
    assert math.isnan(class_accuracy(cm)[2])


def test_accumulation_equals_one_big_matrix() -> None:
    rng = np.random.default_rng(0)
    labels, predictions = rng.integers(0, 5, (4, 8, 8)), rng.integers(0, 4, (4, 8, 8))
    parts = sum(confusion_matrix(lab, pred, 4) for lab, pred in zip(labels, predictions, strict=False))
    assert np.array_equal(parts, confusion_matrix(labels, predictions, 4))
    assert parts.sum() == (labels < 4).sum()


def test_misuse_raises() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match="class ids in"):
        confusion_matrix(np.zeros((2, 2)), np.full((2, 2), 5), 3)
    with pytest.raises(ValueError, match="square"):
        pixel_accuracy(np.zeros((2, 3)))
