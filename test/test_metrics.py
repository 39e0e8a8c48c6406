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
        pixel_accuracy(np.zeros((2, 4)))


def test_unknown_predictions_count_against_their_class_only() -> None:
    # ground truth:  0 0 1 1 / 2 3(void)   predictions: 0 U 1 U / U U   (U = unknown id 255)
    labels = np.array([[0, 0, 1, 1], [2, 2, 3, 3]])
    predictions = np.array([[0, 255, 1, 255], [255, 2, 255, 0]])
    cm = confusion_matrix(labels, predictions, 3, unknown_id=255)
    expected = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 0, 1, 1]])  # last column: unknown
    assert np.array_equal(cm, expected)
    # every class lost one of its two pixels to "unknown", and no class gained a false positive
    assert class_accuracy(cm) == pytest.approx([0.5, 0.5, 0.5])
    assert class_iou(cm) == pytest.approx([0.5, 0.5, 0.5])
    assert pixel_accuracy(cm) == pytest.approx(3 / 6)
    # no class gained a false positive: the class columns hold only the correct pixels
    assert np.array_equal(cm[:, :3].sum(axis=0), [1, 1, 1])


def test_unknown_column_accumulates_and_matches_the_square_matrix_without_unknowns() -> None:
    rng = np.random.default_rng(1)
    labels, predictions = rng.integers(0, 5, (3, 8, 8)), rng.integers(0, 4, (3, 8, 8))
    with_column = sum(confusion_matrix(t, p, 4, unknown_id=255) for t, p in zip(labels, predictions, strict=True))
    assert with_column.shape == (4, 5) and not with_column[:, 4].any()
    square = confusion_matrix(labels, predictions, 4)
    assert summarize(with_column) == summarize(square)


def test_unknown_id_misuse_raises() -> None:
    labels = np.zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match="collides"):
        confusion_matrix(labels, labels, 3, unknown_id=2)
    # another out-of-range prediction is still an error, and is not counted as unknown
    with pytest.raises(ValueError, match=r"or the unknown id 255, got 3"):
        confusion_matrix(labels, np.array([[255, 3], [0, 0]]), 3, unknown_id=255)
    with pytest.raises(ValueError, match="class ids in"):
        confusion_matrix(labels, np.full((2, 2), 255), 3)  # without unknown_id, 255 is still rejected
    with pytest.raises(ValueError, match=r"\(C, C \+ 1\)"):
        class_iou(np.zeros((3, 5)))
