"""Image <-> numpy conversion per encoding against known pixels (no rclpy.init needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from support import compressed_image, huge_png

from attendseg_ros.ros.messages import array_to_image
from attendseg_ros.runtime.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    compressed_size,
    compressed_to_rgb,
    encode_compressed,
    image_to_array,
    image_to_labels,
    image_to_rgb,
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


def test_array_to_image_keeps_the_channel_order_it_is_told() -> None:
    msg = array_to_image(RGB[:, :, ::-1], Header(), encoding="bgr8")
    assert msg.encoding == "bgr8"
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)
    with pytest.raises(ImageConversionError, match="3-channel array as 'mono8'"):
        array_to_image(RGB, Header(), encoding="mono8")


def test_labels_and_arrays_read_back_exactly_and_name_a_wrong_encoding() -> None:
    labels = RGB[:, :, 2]
    np.testing.assert_array_equal(image_to_labels(make_image(labels, "mono8", pad=3)), labels)
    np.testing.assert_array_equal(image_to_array(make_image(RGB, "rgb8", pad=2), "rgb8"), RGB)
    with pytest.raises(ImageConversionError, match="expected a rgb8 image, got encoding 'bgr8'"):
        image_to_array(make_image(RGB, "bgr8"), "rgb8")
    with pytest.raises(ImageConversionError, match="label images must be one of"):
        image_to_labels(make_image(RGB, "rgb8"))


def test_compressed_png_is_lossless_and_jpeg_close() -> None:
    np.testing.assert_array_equal(compressed_to_rgb(compressed_image(RGB, Header(), "png")), RGB)
    smooth = np.full((16, 16, 3), (120, 60, 200), np.uint8)
    jpeg = compressed_image(smooth, Header(), "jpeg", quality=95)
    np.testing.assert_allclose(compressed_to_rgb(jpeg).astype(int), smooth.astype(int), atol=4)


def test_corrupt_compressed_is_rejected() -> None:
    msg = CompressedImage(format="jpeg")
    msg.data = b"not a jpeg at all"
    with pytest.raises(ImageConversionError, match="neither PNG nor JPEG"):
        compressed_to_rgb(msg)
    with pytest.raises(ImageConversionError, match="empty"):
        compressed_to_rgb(CompressedImage(format="png"))
    with pytest.raises(ImageConversionError, match="format"):
        compressed_to_rgb(CompressedImage(format="tiff", data=b"xx"))
    with pytest.raises(ImageConversionError, match="compressedDepth"):
        compressed_to_rgb(CompressedImage(format="16UC1; compressedDepth png", data=b"xx"))


def test_declared_size_is_checked_before_decoding() -> None:
    data = huge_png(10000, 10000)  # 100 MP (300 MB decoded as RGB) in ~100 KB
    assert len(data) < 200_000 and compressed_size(data) == ("png", 10000, 10000)
    msg = CompressedImage(format="png")
    msg.data = data
    with pytest.raises(ImageConversionError, match=r"10000x10000 = 100000000 pixels exceeds .* 4000000 pixels"):
        compressed_to_rgb(msg, max_pixels=4_000_000)
    with pytest.raises(ImageConversionError, match="exceeds"):
        image_to_rgb(make_image(np.zeros((30, 40, 3), np.uint8), "rgb8"), max_pixels=1000)
    assert image_to_rgb(make_image(np.zeros((25, 40, 3), np.uint8), "rgb8"), max_pixels=1000).shape == (25, 40, 3)


@pytest.mark.parametrize("fmt", ["png", "jpeg"])
def test_broken_compressed_headers_are_named(fmt: str) -> None:
    data = encode_compressed(RGB, fmt)
    magic = 8 if fmt == "png" else 2
    for broken, reason in [(data[: len(data) // 2], "truncated"), (data[:20], "truncated"),
                           (data[:magic] + b"\x00" * 40, "malformed")]:
        with pytest.raises(ImageConversionError, match=reason):
            compressed_size(broken)
    if fmt == "png":
        flipped = bytearray(data)
        flipped[40] ^= 0xFF
        with pytest.raises(ImageConversionError, match=r"CRC mismatch|invalid chunk type"):
            compressed_size(bytes(flipped))


BROKEN_IMAGES = """
import numpy as np
from sensor_msgs.msg import CompressedImage
from attendseg_ros.runtime.image_conversion import (
    ImageConversionError, compressed_to_rgb, encode_compressed, quiet_opencv)
quiet_opencv()
png = encode_compressed(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), "png")
flipped = bytearray(png); flipped[40] ^= 0xFF
broken = (b"\\x89PNG\\r\\n\\x1a\\n" + bytes(30), png[: len(png) // 2], bytes(flipped), b"\\xff\\xd8\\xff" + bytes(30))
for data in broken:
    try:
        compressed_to_rgb(CompressedImage(format="png", data=data))
    except ImageConversionError as exc:
        print("rejected:", exc)
"""


def test_broken_compressed_images_print_nothing_to_stderr() -> None:
    """OpenCV/libpng wrote 'libpng error: ...' or 'IHDR chunk shall be first' to stderr once per bad frame."""
    result = subprocess.run([sys.executable, "-c", BROKEN_IMAGES], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("rejected:") == 4
    assert result.stderr == ""
