"""Drivable-area mask from a label image: pure numpy/OpenCV, no ROS.

The mask marks pixels of the drivable classes, cleaned the way a navigation stack expects:
specks (drivable regions smaller than ``min_region_fraction`` of the image) are removed, by
default only the regions touching the bottom row of the image (the side the vehicle stands on)
are kept, and holes (enclosed non-drivable regions up to ``max_hole_fraction``) are filled.

For labels that are nearest-neighbour upsampled to the output (the node's model-resolution labels
and camera-resolution outputs), ``drivable_mask(labels, config, size)`` does the work at the labels'
resolution, each pixel counting for the output pixels it becomes, and upsamples only the result:
the same mask as on the upsampled labels, at a third of the cost for 288x384 -> 480x640.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

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


def _at_least(ids: np.ndarray, count: int, threshold: int, repeats: Upsampling | None) -> np.ndarray:
    """Per component id, whether it has at least ``threshold`` pixels (output pixels, with ``repeats``).

    With ``repeats`` the plain pixel counts bound the output areas from both sides; the exact areas
    (dearer) are counted only when a component lies between the bounds.
    """
    pixels = np.bincount(ids.ravel(), minlength=count)
    if repeats is None:
        return pixels >= threshold
    surely = pixels * repeats.counts[0] >= threshold
    if np.any(~surely & (pixels * repeats.counts[-1] >= threshold)):
        return repeats.areas(ids, count) >= threshold
    return surely


def _select(mask: np.ndarray, min_area: int, bottom_only: bool, repeats: Upsampling | None = None) -> np.ndarray:
    """Keep the components with at least ``min_area`` pixels (and touching the bottom row if asked)."""
    if min_area <= 1 and not bottom_only:
        return np.ascontiguousarray(mask)
    count, ids = _components(mask)
    keep = np.ones(count, bool)
    if min_area > 1:
        keep &= _at_least(ids, count, min_area, repeats)
    if bottom_only:
        touching = np.zeros(count, bool)
        touching[ids[-1]] = True
        keep &= touching
    keep[0] = False  # background
    if keep[1:].all():
        return np.ascontiguousarray(mask)
    return np.take(keep.view(np.uint8), ids)


def _fill_holes(mask: np.ndarray, max_area: int, repeats: Upsampling | None = None) -> np.ndarray:
    """Fill non-drivable regions that touch no edge of ``mask`` and have at most ``max_area`` pixels."""
    count, ids = _components(1 - mask)
    on_edge = np.zeros(count, bool)
    for edge in (ids[0], ids[-1], ids[:, 0], ids[:, -1]):
        on_edge[edge] = True
    fill = ~on_edge
    fill[0] = False  # the drivable pixels themselves (background of the inverted mask)
    if not fill.any():
        return mask
    fill &= ~_at_least(ids, count, max_area + 1, repeats)
    if not fill.any():
        return mask
    return mask | np.take(fill.view(np.uint8), ids)


@dataclass(frozen=True)
class Upsampling:
    """How a nearest-neighbour resize repeats each pixel: ``counts[codes[i, j]]`` output pixels for pixel (i, j).

    The few distinct counts are coded so that areas are integer bincounts (a weighted bincount costs 7x).
    """

    codes: np.ndarray  # (h, w) uint8, index into counts
    counts: np.ndarray  # (n,) int64, output pixels per code, ascending

    def pixels(self) -> np.ndarray:
        """``(h, w)``: how many output pixels each pixel becomes."""
        return self.counts[self.codes]

    def crop(self, y: int, x: int, height: int, width: int) -> Upsampling:
        return Upsampling(self.codes[y : y + height, x : x + width], self.counts)

    def areas(self, ids: np.ndarray, count: int) -> np.ndarray:
        """Output pixels of each of the ``count`` ids in ``ids`` (an int32 array shaped like ``codes``)."""
        kinds = len(self.counts)
        keys = ids.astype(np.intp) * kinds
        keys += self.codes
        return np.bincount(keys.ravel(), minlength=count * kinds).reshape(count, kinds) @ self.counts


@lru_cache(maxsize=8)
def upsampling(shape: tuple[int, int], size: tuple[int, int]) -> Upsampling | None:
    """The :class:`Upsampling` of a nearest-neighbour resize from ``shape`` to ``size`` (both ``(height, width)``).

    ``None`` unless ``size`` is at least ``shape`` in both axes (then every pixel appears in the output,
    as a block of whole rows and columns, and regions keep their connectivity). The row and column
    counts come from OpenCV's own nearest-neighbour mapping, so they match ``cv2.resize`` exactly.
    """
    (height, width), (out_height, out_width) = shape, size
    if out_height < height or out_width < width or max(shape) > 65535:
        return None
    rows = cv2.resize(np.arange(height, dtype=np.uint16)[:, None], (1, out_height), interpolation=cv2.INTER_NEAREST)
    cols = cv2.resize(np.arange(width, dtype=np.uint16)[None, :], (out_width, 1), interpolation=cv2.INTER_NEAREST)
    pixels = np.outer(np.bincount(rows.ravel(), minlength=height), np.bincount(cols.ravel(), minlength=width))
    counts, codes = np.unique(pixels, return_inverse=True)
    if len(counts) > 255:  # not expected for a resize; keep the codes uint8
        return None
    codes = codes.reshape(shape).astype(np.uint8)
    codes.setflags(write=False)
    return Upsampling(codes, counts.astype(np.int64))


def drivable_mask(labels: np.ndarray, config: DrivableConfig, size: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 ``(H, W)`` mask: 255 where drivable after cleaning, 0 elsewhere.

    Steps: pixels of ``class_ids``; drop regions smaller than ``min_region_fraction`` of the image
    and, with ``connected_to_bottom``, regions not touching the bottom row; then fill enclosed
    non-drivable holes up to ``max_hole_fraction``. Regions are 8-connected.

    ``size = (H, W)``: the mask of ``labels`` resized to ``size`` nearest-neighbour (as
    :func:`attendseg_ros.engines.base.resize_labels` does), computed at the labels' resolution when
    ``size`` upsamples (identical result, cheaper), on the resized labels otherwise.
    """
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"labels must be a uint8 (H, W) array, got {labels.dtype} {labels.shape}")
    if size is None or tuple(size) == labels.shape:
        return _mask(labels, config, labels.size, None)
    size = (int(size[0]), int(size[1]))
    repeats = upsampling(labels.shape, size)
    if repeats is None:  # downsampling drops pixels: work on the resized labels
        return _mask(cv2.resize(labels, size[::-1], interpolation=cv2.INTER_NEAREST), config, size[0] * size[1], None)
    mask = _mask(labels, config, size[0] * size[1], repeats)
    return cv2.resize(mask, size[::-1], interpolation=cv2.INTER_NEAREST)


def _mask(labels: np.ndarray, config: DrivableConfig, area: int, repeats: Upsampling | None) -> np.ndarray:
    """The mask at the labels' resolution; ``area`` and ``repeats`` count output pixels (see drivable_mask)."""
    mask = _class_lut_mask(labels, config.class_ids) if config.class_ids else np.zeros_like(labels)
    out = np.zeros_like(labels)
    # Work inside the bounding box of the drivable pixels (everything outside it is not drivable):
    # a hole touching the box's edge connects to the outside, so it is not enclosed, exactly as in
    # the whole image, and the connected-component passes get cheaper.
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or (config.connected_to_bottom and y + h < labels.shape[0]):
        return out
    box = None if repeats is None else repeats.crop(y, x, h, w)
    roi = _select(mask[y : y + h, x : x + w], round(config.min_region_fraction * area), config.connected_to_bottom,
                  box)
    x2, y2, w2, h2 = cv2.boundingRect(roi)
    if w2 == 0:
        return out
    roi = roi[y2 : y2 + h2, x2 : x2 + w2]
    max_hole = round(config.max_hole_fraction * area)
    if max_hole > 0 and not roi.all():
        box = None if box is None else box.crop(y2, x2, h2, w2)
        roi = _fill_holes(np.ascontiguousarray(roi), max_hole, box)
    out[y + y2 : y + y2 + h2, x + x2 : x + x2 + w2] = roi * np.uint8(DRIVABLE)
    return out
