"""Compressed outputs as image_transport's ``compressed`` transport writes them (no ROS).

image_transport publishes ``<topic>/compressed`` (``sensor_msgs/CompressedImage``) next to each
raw ``<topic>``; ``format`` is ``"<raw encoding>; <codec> compressed <stored order>"`` and its
subscriber decodes by the part before ``;`` (and swaps BGR back to RGB when the stored order is
``bgr``). The strings here are byte-for-byte those of compressed_image_transport (ROS 2):

- mono8 as PNG: ``"mono8; png compressed "`` (nothing stored after ``compressed``: mono stays mono)
- rgb8 as PNG: ``"rgb8; png compressed bgr8"``
- rgb8 as JPEG: ``"rgb8; jpeg compressed bgr8"``; mono8 as JPEG: ``"mono8; jpeg compressed mono8"``

Class ids, confidence and masks use PNG (lossless: JPEG would invent ids at class borders);
the overlay, a picture for people, uses JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# zlib level 0-9 (image_transport's default is 3). The fastest level costs little size on label
# images: a 640x480 CamVid label image is 8.3 KB at level 1, 7.7 KB at 3.
PNG_LEVEL = 1
JPEG_QUALITY = 90


@dataclass(frozen=True)
class EncodedImage:
    """The ``format`` and ``data`` of one CompressedImage."""

    format: str
    data: bytes


def _encoding(image: np.ndarray) -> str:
    if image.dtype != np.uint8:
        raise ValueError(f"compressed outputs must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return "mono8"
    if image.ndim == 3 and image.shape[2] == 3:
        return "rgb8"
    raise ValueError(f"compressed outputs are mono8 (H, W) or rgb8 (H, W, 3) arrays, got shape {image.shape}")


def _encode(extension: str, image: np.ndarray, params: list[int]) -> bytes:
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(extension, np.ascontiguousarray(image), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} array as {extension}")
    return buffer.tobytes()


def encode_png(image: np.ndarray, level: int = PNG_LEVEL) -> EncodedImage:
    """Lossless PNG of a mono8 (class ids, confidence, masks) or rgb8 array."""
    encoding = _encoding(image)
    if not 0 <= level <= 9:
        raise ValueError(f"png level must be within [0, 9], got {level}")
    stored = "" if encoding == "mono8" else "bgr8"
    data = _encode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level])
    return EncodedImage(f"{encoding}; png compressed {stored}", data)


def encode_jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> EncodedImage:
    """JPEG of an rgb8 (the overlay) or mono8 array; lossy, never for class ids."""
    encoding = _encoding(image)
    if not 1 <= quality <= 100:
        raise ValueError(f"jpeg quality must be within [1, 100], got {quality}")
    stored = "mono8" if encoding == "mono8" else "bgr8"
    return EncodedImage(
        f"{encoding}; jpeg compressed {stored}", _encode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    )
