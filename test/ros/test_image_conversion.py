"""Image <-> numpy conversion per encoding against known pixels (no rclpy.init needed)."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from attendseg_ros.ros.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    array_to_image,
    compressed_to_rgb,
    image_to_rgb,
    rgb_to_compressed,
)

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: int = 0) -> Image:
    """An Image built by hand from raw pixel bytes (rows padded by ``pad`` bytes of garbage)."""
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    padded = np.concatenate([rows, np.full((height, pad), 77, np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=bigendian, step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 3])
@pytest.mark.parametrize("bigendian", [0, 1])
def test_rgb8_exact_with_step_padding(pad: int, bigendian: int) -> None:
    out = image_to_rgb(make_image(RGB, "rgb8", pad, bigendian))
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize("encoding", ["bgr8", "8UC3"])
def test_bgr_is_swapped(encoding: str) -> None:
    np.testing.assert_array_equal(image_to_rgb(make_image(RGB[:, :, ::-1], encoding, pad=2)), RGB)


@pytest.mark.parametrize(("encoding", "order"), [("rgba8", [0, 1, 2]), ("bgra8", [2, 1, 0]), ("8UC4", [2, 1, 0])])
def test_four_channels_drop_alpha(encoding: str, order: list[int]) -> None:
    alpha = RNG.integers(0, 256, (*RGB.shape[:2], 1), dtype=np.uint8)
    pixels = np.concatenate([RGB[:, :, order], alpha], axis=2)
    np.testing.assert_array_equal(image_to_rgb(make_image(pixels, encoding, pad=4)), RGB)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono_is_replicated(encoding: str) -> None:
    gray = RGB[:, :, 0]
    out = image_to_rgb(make_image(gray, encoding, pad=1))
    np.testing.assert_array_equal(out, np.repeat(gray[:, :, None], 3, axis=2))


def _yuv_to_rgb(y: float, u: float, v: float) -> np.ndarray:
    """BT.601 limited range (Y in 16..235), what OpenCV's YUV2RGB_{UYVY,YUY2} (and cv_bridge) implement."""
    luma = 1.164 * (y - 16)
    r = luma + 1.596 * (v - 128)
    g = luma - 0.391 * (u - 128) - 0.813 * (v - 128)
    b = luma + 2.018 * (u - 128)
    return np.clip(np.round([r, g, b]), 0, 255)


@pytest.mark.parametrize(("encoding", "layout"), [("yuv422", "UYVY"), ("uyvy", "UYVY"),
                                                  ("yuv422_yuy2", "YUYV"), ("yuyv", "YUYV")])
def test_yuv422_byte_orders(encoding: str, layout: str) -> None:
    y0, y1, u, v = 60, 200, 100, 180
    macro = {"UYVY": [u, y0, v, y1], "YUYV": [y0, u, y1, v]}[layout]
    pixels = np.tile(np.array(macro, np.uint8), (3, 2)).reshape(3, 4, 2)  # 3 rows x 4 pixels
    out = image_to_rgb(make_image(pixels, encoding, pad=2)).astype(int)
    assert out.shape == (3, 4, 3)
    for column, luma in zip(range(4), [y0, y1, y0, y1], strict=True):
        np.testing.assert_allclose(out[:, column], np.tile(_yuv_to_rgb(luma, u, v), (3, 1)), atol=2)
    assert out[0, 0, 0] > out[0, 0, 1]  # V > 128: red above green


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_recover_uniform_colour(pattern: str) -> None:
    colour = {"r": 200, "g": 100, "b": 30}
    block = np.array([[colour[pattern[0]], colour[pattern[1]]], [colour[pattern[2]], colour[pattern[3]]]], np.uint8)
    mosaic = np.tile(block, (4, 5))  # 8x10
    out = image_to_rgb(make_image(mosaic, f"bayer_{pattern}8", pad=6))
    assert out.shape == (8, 10, 3)
    np.testing.assert_allclose(out[2:-2, 2:-2].astype(int), np.broadcast_to([200, 100, 30], (4, 6, 3)), atol=1)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "mono16", "rgb16", "bayer_rggb16", "", "jpeg"])
def test_unsupported_encodings_are_named(encoding: str) -> None:
    msg = make_image(np.zeros((2, 2, 2), np.uint8), encoding)
    with pytest.raises(ImageConversionError, match="unsupported encoding"):
        image_to_rgb(msg)


def test_every_listed_encoding_converts() -> None:
    for encoding in SUPPORTED_ENCODINGS:
        channels = {"rgba8": 4, "bgra8": 4, "8UC4": 4, "rgb8": 3, "bgr8": 3, "8UC3": 3}.get(encoding, 1)
        if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv"):
            channels = 2
        out = image_to_rgb(make_image(np.zeros((4, 6, channels), np.uint8), encoding))
        assert out.shape == (4, 6, 3) and out.dtype == np.uint8


def test_zero_size_is_rejected() -> None:
    with pytest.raises(ImageConversionError, match="zero-sized"):
        image_to_rgb(Image(height=0, width=0, encoding="rgb8", step=0))


def test_wrong_data_length_is_rejected() -> None:
    msg = make_image(RGB, "rgb8")
    msg.data = msg.data[:-1]
    with pytest.raises(ImageConversionError, match="data length"):
        image_to_rgb(msg)


def test_step_too_small_is_rejected() -> None:
    msg = make_image(RGB, "rgb8")
    msg.step = 6 * 3 - 1
    with pytest.raises(ImageConversionError, match="step"):
        image_to_rgb(msg)


def test_odd_width_yuv_is_rejected() -> None:
    with pytest.raises(ImageConversionError, match="even width"):
        image_to_rgb(make_image(np.zeros((2, 3, 2), np.uint8), "yuv422"))


def test_array_to_image_round_trip() -> None:
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    msg = array_to_image(RGB, header)
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("rgb8", 5, 6, 18)
    assert msg.header.frame_id == "cam" and msg.header.stamp.nanosec == 34
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    mono = array_to_image(RGB[:, :, 1], header)
    assert (mono.encoding, mono.step) == ("mono8", 6)
    np.testing.assert_array_equal(np.frombuffer(mono.data, np.uint8).reshape(5, 6), RGB[:, :, 1])


def test_array_to_image_rejects_non_uint8() -> None:
    with pytest.raises(ImageConversionError, match="uint8"):
        array_to_image(np.zeros((2, 2), np.float32), Header())


def test_compressed_png_is_lossless_and_jpeg_close() -> None:
    np.testing.assert_array_equal(compressed_to_rgb(rgb_to_compressed(RGB, Header(), "png")), RGB)
    smooth = np.full((16, 16, 3), (120, 60, 200), np.uint8)
    jpeg = rgb_to_compressed(smooth, Header(), "jpeg", quality=95)
    assert jpeg.format == "jpeg"
    np.testing.assert_allclose(compressed_to_rgb(jpeg).astype(int), smooth.astype(int), atol=4)


def test_corrupt_compressed_is_rejected() -> None:
    msg = CompressedImage(format="jpeg")
    msg.data = b"not a jpeg at all"
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_rgb(msg)
    with pytest.raises(ImageConversionError, match="empty"):
        compressed_to_rgb(CompressedImage(format="png"))
    with pytest.raises(ImageConversionError, match="format"):
        compressed_to_rgb(CompressedImage(format="tiff", data=b"xx"))
