"""The one image decoder and encoder: sensor_msgs/Image and CompressedImage <-> numpy arrays, without ROS.

Readers are duck-typed (``encoding``, ``height``, ``width``, ``step``, ``data``; ``format`` and
``data`` for compressed images), so rclpy messages, rosbags messages and anything alike decode
with the same functions. Inputs of any supported encoding become contiguous uint8 RGB
``(H, W, 3)``; label images become uint8 ``(H, W)``. Writers produce :class:`ImageFields` that
ROS (:mod:`attendseg_ros.ros.messages`) and rosbags messages are filled from.

Every problem raises :class:`ImageConversionError` naming the reason: an unsupported encoding,
an empty image, data whose length disagrees with ``step * height``, a compressed image whose
PNG/JPEG structure is broken, or one larger than ``max_pixels``. Compressed headers are checked
here before OpenCV sees the data: the declared size is known before any pixel is decoded, and
broken files never reach libpng, which would print to stderr behind the caller's back.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


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
COMPRESSED_FORMATS = ("jpeg", "png")
# What arrays can be written as (channels per encoding); the data is taken in the encoding's order.
WRITE_CHANNELS = {"mono8": 1, "8UC1": 1, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4, C8 and CC are not frames.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def quiet_opencv() -> None:
    """Stop OpenCV's own log (e.g. ``imread_(...): can't open/read file``) from writing to stderr.

    The callers check every OpenCV result and raise errors that name the cause, so OpenCV's
    messages would only repeat them, unthrottled, outside the node's logger.
    """
    logging_module = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_module is not None and hasattr(logging_module, "setLogLevel"):  # OpenCV 4.5+ / 5
        logging_module.setLogLevel(logging_module.LOG_LEVEL_SILENT)
    elif hasattr(cv2, "setLogLevel"):  # older OpenCV 4 builds
        cv2.setLogLevel(0)


def check_size(width: int, height: int, max_pixels: int | None) -> None:
    """Raise when ``width x height`` is empty or above ``max_pixels`` (``None``: no limit)."""
    if width <= 0 or height <= 0:
        raise ImageConversionError(f"zero-sized image ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageConversionError(
            f"image of {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels} pixels "
            "(parameter max_image_pixels)"
        )


def _pixels(msg: Any, channels: int, max_pixels: int | None = None) -> np.ndarray:
    """Zero-copy ``(H, W, C)`` view of ``msg.data`` honouring ``step`` (row padding)."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    check_size(width, height, max_pixels)
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


def image_to_rgb(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Convert an Image of any supported encoding to a contiguous uint8 RGB ``(H, W, 3)`` array."""
    encoding = msg.encoding
    if encoding not in _CONVERSIONS:
        raise ImageConversionError(
            f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})"
        )
    channels, code = _CONVERSIONS[encoding]
    pixels = _pixels(msg, channels, max_pixels)
    if channels == 2 and pixels.shape[1] % 2:
        raise ImageConversionError(f"{encoding} needs an even width, got {pixels.shape[1]}")
    if encoding.startswith("bayer_") and (pixels.shape[0] < 2 or pixels.shape[1] < 2):
        raise ImageConversionError(f"{encoding} needs at least 2x2 pixels, got {pixels.shape[1]}x{pixels.shape[0]}")
    if code is None:
        return np.ascontiguousarray(pixels)
    if channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def image_to_labels(msg: Any) -> np.ndarray:
    """A mono8/8UC1 class-id image (ground truth, labels) as a contiguous uint8 ``(H, W)`` copy."""
    if msg.encoding not in LABEL_ENCODINGS:
        raise ImageConversionError(f"label images must be one of {LABEL_ENCODINGS}, got encoding {msg.encoding!r}")
    return np.array(_pixels(msg, 1)[:, :, 0], order="C", copy=True)


def image_to_array(msg: Any, encoding: str) -> np.ndarray:
    """The pixels of an Image that must have ``encoding`` (one of :data:`WRITE_CHANNELS`), as a copy.

    ``(H, W)`` for one channel, ``(H, W, C)`` otherwise; e.g. the node's rgb8 overlay.
    """
    if encoding not in WRITE_CHANNELS:
        raise ImageConversionError(f"cannot read encoding {encoding!r} as an array; use image_to_rgb")
    if msg.encoding != encoding:
        raise ImageConversionError(f"expected a {encoding} image, got encoding {msg.encoding!r}")
    channels = WRITE_CHANNELS[encoding]
    pixels = _pixels(msg, channels)
    return np.array(pixels[:, :, 0] if channels == 1 else pixels, order="C", copy=True)


def _png_size(data: memoryview) -> tuple[int, int]:
    """(width, height) of a PNG after checking its chunk structure and CRCs (nothing is decoded)."""
    if len(data) < 33:
        raise ImageConversionError(f"truncated PNG ({len(data)} bytes)")
    length, kind = struct.unpack(">I4s", data[8:16])
    if kind != b"IHDR" or length != 13:
        raise ImageConversionError(f"malformed PNG: the first chunk is {bytes(kind)!r}, not a 13-byte IHDR")
    width, height = struct.unpack(">II", data[16:24])
    position, size = 8, len(data)
    while position + 12 <= size:
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if not kind.isalpha():
            raise ImageConversionError(f"malformed PNG: invalid chunk type {bytes(kind)!r} at byte {position}")
        end = position + 12 + length
        if end > size:
            raise ImageConversionError(
                f"truncated PNG: chunk {kind.decode()} at byte {position} needs {length} bytes, "
                f"{size - position - 12} left"
            )
        (stored,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[position + 4 : end - 4]) != stored:
            raise ImageConversionError(f"corrupt PNG: CRC mismatch in chunk {kind.decode()} at byte {position}")
        if kind == b"IEND":
            return width, height
        position = end
    raise ImageConversionError("truncated PNG: no IEND chunk")


def _jpeg_size(data: memoryview) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header, after checking the segments before it."""
    position, size = 2, len(data)
    while position + 4 <= size:
        if data[position] != 0xFF:
            raise ImageConversionError(f"malformed JPEG: no marker at byte {position}")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > size:
            raise ImageConversionError(f"truncated JPEG: segment 0x{marker:02X} at byte {position}")
        if marker in _JPEG_SOF:
            if length < 7:
                raise ImageConversionError(f"malformed JPEG: frame header of {length} bytes")
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            if bytes(data[position:]).rfind(b"\xff\xd9") < 0:
                raise ImageConversionError("truncated JPEG: no end-of-image marker")
            return width, height
        if marker in (0xDA, 0xD9):
            raise ImageConversionError("malformed JPEG: image data before any frame header")
        position += 2 + length
    raise ImageConversionError("truncated JPEG: no frame header")


def compressed_size(data: Any) -> tuple[str, int, int]:
    """``(format, width, height)`` declared by PNG or JPEG ``data``, checked without decoding it."""
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data.cast("B")
    if bytes(view[:8]) == _PNG_SIGNATURE:
        return ("png", *_png_size(view))
    if bytes(view[:2]) == _JPEG_SOI:
        return ("jpeg", *_jpeg_size(view))
    head = bytes(view[:8]).hex(" ") or "nothing"
    raise ImageConversionError(f"neither PNG nor JPEG data (starts with {head})")


def compressed_to_rgb(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Decode a jpeg/png CompressedImage (``format`` as image_transport writes it) to uint8 RGB.

    The declared size is checked against ``max_pixels`` before anything is decoded.
    """
    fmt = str(msg.format).lower()
    if "compresseddepth" in fmt:
        raise ImageConversionError(f"compressedDepth images are not supported (format {msg.format!r})")
    if fmt and not any(name in fmt for name in (*COMPRESSED_FORMATS, "jpg")):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r} (supported: jpeg, png)")
    if len(msg.data) == 0:
        raise ImageConversionError("empty compressed image")
    kind, width, height = compressed_size(msg.data)
    check_size(width, height, max_pixels)
    bgr = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageConversionError(f"cannot decode the {kind} image ({len(msg.data)} bytes, {width}x{height})")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_compressed(rgb: np.ndarray, fmt: str = "jpeg", quality: int = 90) -> bytes:
    """Encode uint8 RGB as jpeg or png bytes (the data of a CompressedImage)."""
    ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}.get(fmt)
    if ext is None:
        raise ImageConversionError(f"unsupported compressed format {fmt!r} (supported: jpeg, png)")
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageConversionError(f"cannot encode a {rgb.shape} array as {fmt}")
    return buffer.tobytes()


@dataclass(frozen=True)
class ImageFields:
    """The fields of a sensor_msgs/Image holding an array (``data`` as bytes)."""

    height: int
    width: int
    encoding: str
    step: int
    data: bytes
    is_bigendian: int = 0


_DEFAULT_ENCODINGS = {1: "mono8", 3: "rgb8"}


def image_fields(array: np.ndarray, encoding: str | None = None) -> ImageFields:
    """Image fields for a uint8 ``(H, W)`` or ``(H, W, C)`` array, its channels already in ``encoding``'s order.

    ``encoding`` defaults to mono8 for one channel and rgb8 for three. ``data`` is filled with
    ``tobytes()`` (a list or ``arr.ravel()`` would cost ~50 ms per 640x480 frame in rclpy).
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ImageConversionError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        channels = 1
    elif array.ndim == 3 and array.shape[2] in (1, 3, 4):
        channels = array.shape[2]
    else:
        raise ImageConversionError(f"cannot write an array of shape {array.shape} as an image")
    if encoding is None:
        if channels not in _DEFAULT_ENCODINGS:
            raise ImageConversionError(f"no default encoding for {channels} channels; pass encoding=")
        encoding = _DEFAULT_ENCODINGS[channels]
    if WRITE_CHANNELS.get(encoding) != channels:
        raise ImageConversionError(
            f"cannot write a {channels}-channel array as {encoding!r} (writable: "
            + ", ".join(f"{e} ({c} channels)" for e, c in WRITE_CHANNELS.items())
            + ")"
        )
    height, width = int(array.shape[0]), int(array.shape[1])
    return ImageFields(height, width, encoding, width * channels, np.ascontiguousarray(array).tobytes())
