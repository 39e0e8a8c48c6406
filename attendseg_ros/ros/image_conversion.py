"""The one place that converts between sensor_msgs/Image (or CompressedImage) and numpy arrays.

Readers are duck-typed (``encoding``, ``height``, ``width``, ``step``, ``data``), so the rosbag
reader decodes the messages it deserialises with the same functions.

Inputs of any supported encoding become contiguous uint8 RGB ``(H, W, 3)``; outputs are built
from uint8 arrays with ``msg.data = arr.tobytes()`` (a list or ``arr.ravel()`` costs ~50 ms per
640x480 frame). Unsupported encodings, empty images and data whose length disagrees with
``step * height`` raise :class:`ImageConversionError` naming the reason; nothing here needs rclpy
to be initialised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # the readers need no ROS packages (the offline bag reader uses them)
    from sensor_msgs.msg import CompressedImage, Image
    from std_msgs.msg import Header


class ImageConversionError(ValueError):
    """A message cannot be converted; the text names the reason (encoding, size, data length)."""


# encoding -> (channels, OpenCV conversion to RGB or None when the data already is RGB).
# 8UC1/8UC3/8UC4 follow cv_bridge: treated as mono8 / bgr8 / bgra8.
_CONVERSIONS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "8UC3": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "8UC4": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "8UC1": (1, cv2.COLOR_GRAY2RGB),
    # Packed 4:2:2, two bytes per pixel. ROS "yuv422" is UYVY byte order; "yuv422_yuy2" is YUYV.
    "yuv422": (2, cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": (2, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": (2, cv2.COLOR_YUV2RGB_YUY2),
    # Bayer mosaics named by their top-left 2x2 block, as in sensor_msgs/image_encodings.
    "bayer_rggb8": (1, cv2.COLOR_BayerRGGB2RGB),
    "bayer_bggr8": (1, cv2.COLOR_BayerBGGR2RGB),
    "bayer_gbrg8": (1, cv2.COLOR_BayerGBRG2RGB),
    "bayer_grbg8": (1, cv2.COLOR_BayerGRBG2RGB),
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_CONVERSIONS)
LABEL_ENCODINGS = ("mono8", "8UC1")  # class-id images (ground truth, the node's labels)
COMPRESSED_FORMATS = ("jpeg", "jpg", "png")


def _pixels(msg: Image, channels: int) -> np.ndarray:
    """Zero-copy ``(H, W, C)`` view of ``msg.data`` honouring ``step`` (row padding)."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"zero-sized image ({width}x{height})")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width x bytes per pixel = {width} x {channels} = {row_bytes}"
        )
    size = len(msg.data)
    if size != step * height:
        raise ImageConversionError(f"data length {size} != step x height = {step} x {height} = {step * height}")
    rows = np.frombuffer(msg.data, np.uint8).reshape(height, step)
    # 8-bit encodings have no byte order, so is_bigendian needs no swap for any supported encoding.
    return rows[:, :row_bytes].reshape(height, width, channels)


def image_to_rgb(msg: Image) -> np.ndarray:
    """Convert an Image of any supported encoding to a contiguous uint8 RGB ``(H, W, 3)`` array."""
    encoding = msg.encoding
    if encoding not in _CONVERSIONS:
        raise ImageConversionError(
            f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    channels, code = _CONVERSIONS[encoding]
    pixels = _pixels(msg, channels)
    if channels == 2 and pixels.shape[1] % 2:
        raise ImageConversionError(f"{encoding} needs an even width, got {pixels.shape[1]}")
    if encoding.startswith("bayer_") and (pixels.shape[0] < 2 or pixels.shape[1] < 2):
        raise ImageConversionError(f"{encoding} needs at least 2x2 pixels, got {pixels.shape[1]}x{pixels.shape[0]}")
    if code is None:
        return np.ascontiguousarray(pixels)
    if channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def image_to_labels(msg: Image) -> np.ndarray:
    """A mono8/8UC1 class-id image (ground truth, labels) as a contiguous uint8 ``(H, W)`` array."""
    if msg.encoding not in LABEL_ENCODINGS:
        raise ImageConversionError(f"label images must be one of {LABEL_ENCODINGS}, got encoding {msg.encoding!r}")
    return np.ascontiguousarray(_pixels(msg, 1)[:, :, 0])


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """Decode a jpeg/png CompressedImage (``format`` as image_transport writes it) to uint8 RGB."""
    fmt = msg.format.lower()
    if fmt and not any(name in fmt for name in COMPRESSED_FORMATS):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r} (supported: jpeg, png)")
    if len(msg.data) == 0:
        raise ImageConversionError("empty compressed image")
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageConversionError(f"cannot decode compressed image ({len(msg.data)} bytes, format {msg.format!r})")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


_OUTPUT_ENCODINGS = {1: "mono8", 3: "rgb8"}


def array_to_image(array: np.ndarray, header: Header, encoding: str | None = None) -> Image:
    """Build an Image from a uint8 ``(H, W)`` (mono8) or ``(H, W, 3)`` (rgb8 unless ``encoding``) array."""
    if array.dtype != np.uint8:
        raise ImageConversionError(f"output arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        channels = 1
    elif array.ndim == 3 and array.shape[2] in (1, 3, 4):
        channels = array.shape[2]
    else:
        raise ImageConversionError(f"cannot publish an array of shape {array.shape} as an image")
    if encoding is None:
        if channels not in _OUTPUT_ENCODINGS:
            raise ImageConversionError(f"no default encoding for {channels} channels; pass encoding=")
        encoding = _OUTPUT_ENCODINGS[channels]
    from sensor_msgs.msg import Image

    msg = Image()
    msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * channels
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def rgb_to_compressed(rgb: np.ndarray, header: Header, fmt: str = "jpeg", quality: int = 90) -> CompressedImage:
    """Encode uint8 RGB as a jpeg or png CompressedImage (for players and tests of compressed input)."""
    ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}.get(fmt)
    if ext is None:
        raise ImageConversionError(f"unsupported compressed format {fmt!r} (supported: jpeg, png)")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageConversionError(f"cannot encode a {rgb.shape} array as {fmt}")
    from sensor_msgs.msg import CompressedImage

    msg = CompressedImage()
    msg.header = header
    msg.format = "jpeg" if ext == ".jpg" else "png"
    msg.data = buffer.tobytes()
    return msg
