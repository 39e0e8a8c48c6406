"""Colour overlay of a label image on its camera frame (for RViz); pure numpy/OpenCV, no ROS."""

from __future__ import annotations

import cv2
import numpy as np


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float) -> np.ndarray:
    """Blend ``palette[labels]`` (a ``(256, 3)`` uint8 lookup) over ``rgb`` with weight ``alpha``.

    ``rgb`` is resized (area interpolation) to the labels' size when they differ.
    """
    height, width = labels.shape
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    # Per-channel OpenCV lookup: several times faster than numpy's palette[labels].
    colours = cv2.LUT(cv2.merge([labels, labels, labels]), np.ascontiguousarray(palette, np.uint8).reshape(256, 1, 3))
    if alpha <= 0.0:
        return np.ascontiguousarray(rgb)
    if alpha >= 1.0:
        return colours
    return cv2.addWeighted(rgb, 1.0 - alpha, colours, alpha, 0.0)
