"""Overlay colours against the palette (pure numpy/OpenCV)."""

from __future__ import annotations

import numpy as np

from attendseg_ros.data import load_class_table
from attendseg_ros.runtime.visualize import overlay

PALETTE = load_class_table("camvid11").palette()


def test_alpha_one_is_the_palette_and_zero_the_image() -> None:
    labels = np.array([[0, 3], [8, 11]], np.uint8)
    rgb = np.full((2, 2, 3), 200, np.uint8)
    np.testing.assert_array_equal(overlay(rgb, labels, PALETTE, 1.0), PALETTE[labels])
    np.testing.assert_array_equal(overlay(rgb, labels, PALETTE, 0.0), rgb)


def test_half_blend_and_resize_to_the_labels() -> None:
    labels = np.full((4, 6), 3, np.uint8)  # Road (128, 64, 128)
    rgb = np.zeros((8, 12, 3), np.uint8)
    out = overlay(rgb, labels, PALETTE, 0.5)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out.astype(int), np.broadcast_to([64, 32, 64], out.shape), atol=1)
