"""Drivable-area mask from a label image: pure numpy/OpenCV, no ROS.

The mask marks pixels of the drivable classes, cleaned the way a navigation stack expects:
specks (drivable regions smaller than ``min_region_fraction`` of the image) are removed, by
default only the regions touching the bottom row of the image (the side the vehicle stands on)
are kept, and holes (enclosed non-drivable regions up to ``max_hole_fraction``) are filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

DRIVABLE = 255


@dataclass(frozen=True)
class DrivableConfig:
    """Which classes count as drivable and how the mask is cleaned (areas as fractions of the image)."""

    class_ids: tuple[int, ...]
    min_region_fraction: float = 0.001
    max_hole_fraction: float = 0.001
    connected_to_bottom: bool = True

    def __post_init__(self) -> None:
        for name in ("min_region_fraction", "max_hole_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        bad = [i for i in self.class_ids if not 0 <= i <= 255]
        if bad:
            raise ValueError(f"class ids must be within [0, 255], got {bad}")


def class_mask(labels: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the pixels whose label is one of ``class_ids``."""
    return _class_lut_mask(labels, class_ids).view(bool)


def _class_lut_mask(labels: np.ndarray, class_ids: Sequence[int]) -> np.ndarray:
    """uint8 0/1 mask through an OpenCV lookup table (several times faster than numpy indexing)."""
    lut = np.zeros(256, np.uint8)
    lut[list(class_ids)] = 1
    return cv2.LUT(np.ascontiguousarray(labels), lut)


def _components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """8-connected components of a 0/1 uint8 mask: (count incl. background 0, id per pixel).

    Without OpenCV's statistics, which cost several times the labelling itself; the few
    statistics needed (areas, which components touch an edge) are cheaper in numpy.
    """
    count, ids = cv2.connectedComponents(np.ascontiguousarray(mask), connectivity=8, ltype=cv2.CV_32S)
    return count, ids


def _select(mask: np.ndarray, min_area: int, bottom_only: bool) -> np.ndarray:
    """Keep the components with at least ``min_area`` pixels (and touching the bottom row if asked)."""
    if min_area <= 1 and not bottom_only:
        return np.ascontiguousarray(mask)
    count, ids = _components(mask)
    keep = np.ones(count, bool)
    if min_area > 1:
        keep &= np.bincount(ids.ravel(), minlength=count) >= min_area
    if bottom_only:
        touching = np.zeros(count, bool)
        touching[ids[-1]] = True
        keep &= touching
    keep[0] = False  # background
    if keep[1:].all():
        return np.ascontiguousarray(mask)
    return np.take(keep.view(np.uint8), ids)


def _fill_holes(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Fill non-drivable regions that touch no edge of ``mask`` and have at most ``max_area`` pixels."""
    count, ids = _components(1 - mask)
    on_edge = np.zeros(count, bool)
    for edge in (ids[0], ids[-1], ids[:, 0], ids[:, -1]):
        on_edge[edge] = True
    fill = ~on_edge
    fill[0] = False  # the drivable pixels themselves (background of the inverted mask)
    if not fill.any():
        return mask
    fill &= np.bincount(ids.ravel(), minlength=count) <= max_area
    if not fill.any():
        return mask
    return mask | np.take(fill.view(np.uint8), ids)


def drivable_mask(labels: np.ndarray, config: DrivableConfig) -> np.ndarray:
    """uint8 ``(H, W)`` mask: 255 where drivable after cleaning, 0 elsewhere.

    Steps: pixels of ``class_ids``; drop regions smaller than ``min_region_fraction`` of the image
    and, with ``connected_to_bottom``, regions not touching the bottom row; then fill enclosed
    non-drivable holes up to ``max_hole_fraction``. Regions are 8-connected.
    """
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a uint8 (H, W) array, got {labels.dtype} {labels.shape}")
    mask = _class_lut_mask(labels, config.class_ids) if config.class_ids else np.zeros_like(labels)
    out = np.zeros_like(labels)
    # Work inside the bounding box of the drivable pixels (everything outside it is not drivable):
    # a hole touching the box's edge connects to the outside, so it is not enclosed, exactly as in
    # the whole image, and the connected-component passes get cheaper.
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or (config.connected_to_bottom and y + h < labels.shape[0]):
        return out
    area = labels.shape[0] * labels.shape[1]
    roi = _select(mask[y : y + h, x : x + w], round(config.min_region_fraction * area), config.connected_to_bottom)
    x2, y2, w2, h2 = cv2.boundingRect(roi)
    if w2 == 0:
        return out
    roi = roi[y2 : y2 + h2, x2 : x2 + w2]
    max_hole = round(config.max_hole_fraction * area)
    if max_hole > 0 and not roi.all():
        roi = _fill_holes(np.ascontiguousarray(roi), max_hole)
    out[y + y2 : y + y2 + h2, x + x2 : x + x2 + w2] = roi * np.uint8(DRIVABLE)
    return out
