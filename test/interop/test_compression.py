"""image_transport-compatible compression: lossless PNG for ids and masks, JPEG for the overlay."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support import camera_frame

from attendseg_ros.interop import UNKNOWN_ID, encode_jpeg, encode_png
from attendseg_ros.runtime.image_conversion import compressed_to_rgb


def _labels() -> np.ndarray:
    rng = np.random.default_rng(0)
    labels = np.kron(rng.integers(0, 11, (12, 16)), np.ones((30, 30), np.int64)).astype(np.uint8)  # 360x480
    labels[:5, :7] = UNKNOWN_ID
    return labels


def test_png_labels_decode_to_the_same_ids() -> None:
    labels = _labels()
    encoded = encode_png(labels)
    assert encoded.format == "mono8; png compressed "  # what compressed_image_transport writes for mono8
    decoded = cv2.imdecode(np.frombuffer(encoded.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and np.array_equal(decoded, labels)
    assert len(encoded.data) < labels.size / 10  # label images compress well


def test_png_rgb_is_stored_bgr_and_lossless() -> None:
    rgb = camera_frame(48, 64)[:, :, ::-1].copy()
    encoded = encode_png(rgb, level=9)
    assert encoded.format == "rgb8; png compressed bgr8"
    bgr = cv2.imdecode(np.frombuffer(encoded.data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(bgr[:, :, ::-1], rgb)


def test_jpeg_overlay_format_and_colour_order() -> None:
    rgb = np.zeros((64, 96, 3), np.uint8)
    rgb[:, :48] = (230, 20, 20)  # red left half
    rgb[:, 48:] = (20, 20, 230)  # blue right half
    encoded = encode_jpeg(rgb, quality=90)
    assert encoded.format == "rgb8; jpeg compressed bgr8"
    # the project's own decoder (image_transport's rule: "compressed bgr" -> swap back to RGB)
    class Msg:  # duck-typed like the rosbag reader's messages
        format, data = encoded.format, encoded.data

    decoded = compressed_to_rgb(Msg())
    # lossy (and chroma-subsampled at the border), but red stays red and blue stays blue
    assert np.abs(decoded[:, :40].astype(int) - rgb[:, :40]).max() < 12
    assert np.abs(decoded[:, 56:].astype(int) - rgb[:, 56:]).max() < 12
    assert encode_jpeg(rgb[:, :, 0]).format == "mono8; jpeg compressed mono8"


def test_jpeg_would_corrupt_class_ids_which_is_why_labels_use_png() -> None:
    labels = _labels()
    decoded = cv2.imdecode(np.frombuffer(encode_jpeg(labels, 95).data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert not np.array_equal(decoded, labels)


def test_invalid_input_raises() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"mono8 \(H, W\) or rgb8 \(H, W, 3\)"):
        encode_png(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="png level"):
        encode_png(np.zeros((4, 4), np.uint8), level=10)
    with pytest.raises(ValueError, match="jpeg quality"):
        encode_jpeg(np.zeros((4, 4), np.uint8), quality=0)
