"""Camera intrinsics for the outputs: scaled to the output resolution and paired by stamp (no ROS).

``sensor_msgs/CameraInfo`` gives K (3x3) and P (3x4) for the full-resolution sensor; ``binning``
and ``roi`` say how the published image was cut and binned from it. The outputs of this node are
either the received image's size or the model's (``output_resolution: model``), resampled with
OpenCV's ``resize`` over the whole frame. :func:`scale_geometry` gives the intrinsics of exactly
that output image, with binning and ROI folded in (and reset to "full frame, no binning"), so a
3D point projects through the new P onto the output pixel that holds it.

Convention: pixel centres at integer coordinates (OpenCV, image_geometry). Resizing by ``s``
maps ``u -> (u + 0.5) * s - 0.5``, which is what ``cv2.resize`` samples; image_proc's resize
node multiplies ``cx`` by ``s`` instead, half a pixel times ``|1 - s|`` away from it.
An uncalibrated CameraInfo (K all zero) stays uncalibrated: only its size changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Roi:
    """Region of the full-resolution sensor image the camera sent; all zero = the full image."""

    x_offset: int = 0
    y_offset: int = 0
    width: int = 0
    height: int = 0

    @property
    def full(self) -> bool:
        return self.width == 0 or self.height == 0


@dataclass(frozen=True)
class CameraGeometry:
    """The parts of a CameraInfo that depend on the image size (D and R do not)."""

    width: int
    height: int
    k: np.ndarray  # (3, 3)
    p: np.ndarray  # (3, 4)
    binning_x: int = 0
    binning_y: int = 0
    roi: Roi = Roi()

    def __post_init__(self) -> None:
        for name, shape in (("k", (3, 3)), ("p", (3, 4))):
            matrix = np.asarray(getattr(self, name), np.float64)
            if matrix.size != shape[0] * shape[1]:
                raise ValueError(f"{name} must have {shape[0]}x{shape[1]} elements, got shape {matrix.shape}")
            object.__setattr__(self, name, matrix.reshape(shape))
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if self.binning_x < 0 or self.binning_y < 0:
            raise ValueError(f"binning must be >= 0, got {self.binning_x}x{self.binning_y}")
        roi = self.roi
        if not roi.full and (roi.x_offset + roi.width > self.width or roi.y_offset + roi.height > self.height):
            raise ValueError(
                f"roi {roi.width}x{roi.height} at ({roi.x_offset}, {roi.y_offset}) exceeds the "
                f"{self.width}x{self.height} sensor"
            )

    @property
    def calibrated(self) -> bool:
        """False for the all-zero K that CameraInfo uses for an uncalibrated camera."""
        return bool(self.k[2, 2] != 0.0)

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the images this geometry describes, after ROI and binning."""
        width, height = (self.width, self.height) if self.roi.full else (self.roi.width, self.roi.height)
        return width // max(self.binning_x, 1), height // max(self.binning_y, 1)


def _resample(scale_x: float, scale_y: float, shift_x: float = 0.0, shift_y: float = 0.0) -> np.ndarray:
    """Pixel-coordinate map ``u -> (u + 0.5 - shift) * scale - 0.5`` (centre convention) as a 3x3 matrix."""
    return np.array(
        [
            [scale_x, 0.0, (0.5 - shift_x) * scale_x - 0.5],
            [0.0, scale_y, (0.5 - shift_y) * scale_y - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )


def image_geometry(geometry: CameraGeometry) -> CameraGeometry:
    """Fold ROI and binning into K and P: the geometry of the received image itself (binning 0, full ROI)."""
    roi, bx, by = geometry.roi, max(geometry.binning_x, 1), max(geometry.binning_y, 1)
    width, height = geometry.image_size()
    if roi.full and bx == 1 and by == 1:
        return geometry
    affine = _resample(1.0 / bx, 1.0 / by, roi.x_offset, roi.y_offset)
    return _transformed(geometry, affine, width, height)


def scale_geometry(geometry: CameraGeometry, width: int, height: int) -> CameraGeometry:
    """The geometry of the received image resized (whole frame, OpenCV ``resize``) to ``width`` x ``height``."""
    if width <= 0 or height <= 0:
        raise ValueError(f"output size must be positive, got {width}x{height}")
    received = image_geometry(geometry)
    if (received.width, received.height) == (width, height):
        return received
    affine = _resample(width / received.width, height / received.height)
    return _transformed(received, affine, width, height)


def _transformed(geometry: CameraGeometry, affine: np.ndarray, width: int, height: int) -> CameraGeometry:
    if not geometry.calibrated:
        return replace(geometry, width=width, height=height, binning_x=0, binning_y=0, roi=Roi())
    return CameraGeometry(width, height, affine @ geometry.k, affine @ geometry.p)


def project(p: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Pixel coordinates ``(u, v)`` of the 3D ``point`` (camera optical frame) through projection ``p``."""
    homogeneous = np.asarray(p, np.float64).reshape(3, 4) @ np.append(np.asarray(point, np.float64), 1.0)
    return homogeneous[:2] / homogeneous[2]


class CameraInfoPairer(Generic[T]):
    """Pair output frames with the camera's CameraInfo by header stamp (thread-safe).

    :meth:`pair` returns the info with exactly the frame's stamp when one was received (what
    drivers publishing image and info together give), otherwise the newest info received
    (calibrations rarely change; the caller may count such frames), or None before any arrived.
    Keeps the newest ``capacity`` infos.
    """

    def __init__(self, capacity: int = 32) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self._capacity = capacity
        self._infos: OrderedDict[int, T] = OrderedDict()
        self._latest: T | None = None
        self._lock = threading.Lock()

    def add(self, stamp_ns: int, info: T) -> None:
        with self._lock:
            self._infos[stamp_ns] = info
            self._infos.move_to_end(stamp_ns)
            self._latest = info
            while len(self._infos) > self._capacity:
                self._infos.popitem(last=False)

    def pair(self, stamp_ns: int) -> tuple[T, bool] | None:
        """``(info, exact)`` for a frame stamped ``stamp_ns``; None when no info has arrived yet."""
        with self._lock:
            if stamp_ns in self._infos:
                return self._infos[stamp_ns], True
            if self._latest is None:
                return None
            return self._latest, False
