"""Colour overlay of class labels on a frame: one implementation for the node, eval plots and reports."""

from __future__ import annotations

import cv2
import numpy as np


def overlay(rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend ``palette[labels]`` over ``rgb``: ``(1 - alpha) * rgb + alpha * colour``, uint8 RGB.

    The result has the labels' size (``rgb`` is resized with area interpolation when it differs,
    e.g. for model-resolution outputs). ``palette`` is ``(K, 3)`` uint8, e.g.
    ``ClassTable.palette()`` (256 entries); a label id without a colour is a ``ValueError``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    palette = np.asarray(palette, np.uint8).reshape(-1, 3)
    if labels.size and int(labels.max()) >= len(palette):
        raise ValueError(f"label id {int(labels.max())} has no palette colour ({len(palette)} colours)")
    height, width = labels.shape
    if rgb.shape[:2] != (height, width):
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    table = np.zeros((256, 1, 3), np.uint8)
    table[: len(palette), 0] = palette[:256]
    # OpenCV's lookup of a user colour map: one pass over the labels, several times faster than
    # numpy's palette[labels] (and than merging three copies of the labels for cv2.LUT).
    colours = cv2.applyColorMap(np.ascontiguousarray(labels, np.uint8), table)
    if alpha == 0.0:
        return np.ascontiguousarray(rgb)
    if alpha == 1.0:
        return colours
    return cv2.addWeighted(np.ascontiguousarray(rgb, np.uint8), 1.0 - alpha, colours, alpha, 0.0)
