"""Unknown pixels from the confidence threshold."""

from __future__ import annotations

import numpy as np
import pytest

from attendseg_ros.interop import UNKNOWN_ID, confidence_cutoff, mark_unknown


def test_cutoff_is_the_first_confidence_at_or_above_the_threshold() -> None:
    assert confidence_cutoff(0.0) == 0
    assert confidence_cutoff(0.2) == 51  # 51 / 255 == 0.2 exactly: not below the threshold
    assert confidence_cutoff(0.5) == 128  # 127.5 -> 128
    assert confidence_cutoff(1.0) == 255
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="min_confidence"):
            confidence_cutoff(bad)


def test_pixels_below_the_threshold_become_unknown() -> None:
    labels = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    confidence = np.array([[50, 51, 255], [0, 200, 52]], np.uint8)
    marked = mark_unknown(labels, confidence, 0.2)
    assert np.array_equal(marked, [[UNKNOWN_ID, 1, 2], [UNKNOWN_ID, 4, 5]])
    assert np.array_equal(labels, [[0, 1, 2], [3, 4, 5]])  # input untouched
    assert marked.dtype == np.uint8


def test_zero_threshold_is_off_and_returns_the_labels_unchanged() -> None:
    labels = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert mark_unknown(labels, np.zeros_like(labels), 0.0) is labels


def test_misuse_raises() -> None:
    labels = np.zeros((2, 3), np.uint8)
    with pytest.raises(ValueError, match="differ in shape"):
        mark_unknown(labels, np.zeros((3, 2), np.uint8), 0.5)
    with pytest.raises(ValueError, match="uint8"):
        mark_unknown(labels, np.zeros((2, 3), np.float32), 0.5)
