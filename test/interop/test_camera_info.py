"""Camera intrinsics scaled to the output resolution, checked against hand-computed projections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from attendseg_ros.interop import CameraGeometry, CameraInfoPairer, Roi, image_geometry, project, scale_geometry

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 240.0], [0.0, 0.0, 1.0]])
P = np.array([[500.0, 0.0, 320.0, 0.0], [0.0, 500.0, 240.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
CAMERA = CameraGeometry(640, 480, K, P)
POINT = np.array([1.0, -0.5, 4.0])  # metres, camera optical frame


def test_model_resolution_by_hand() -> None:
    # 640x480 -> 384x288 (scale 0.6): fx' = 300, cx' = (320 + 0.5) * 0.6 - 0.5 = 191.8, cy' = 143.8
    scaled = scale_geometry(CAMERA, 384, 288)
    assert (scaled.width, scaled.height) == (384, 288)
    assert scaled.k == pytest.approx(np.array([[300.0, 0.0, 191.8], [0.0, 300.0, 143.8], [0.0, 0.0, 1.0]]))
    assert scaled.p[:, :3] == pytest.approx(scaled.k) and scaled.p[:, 3] == pytest.approx([0.0, 0.0, 0.0])
    # The point is at (445, 177.5) in the camera image and at (266.8, 106.3) in the output:
    assert project(P, POINT) == pytest.approx([445.0, 177.5])
    assert project(scaled.p, POINT) == pytest.approx([266.8, 106.3])
    # ... the same position relative to the image (pixel centres at integers: (u + 0.5) / width).
    assert (project(scaled.p, POINT) + 0.5) / [384, 288] == pytest.approx((project(P, POINT) + 0.5) / [640, 480])


def test_anisotropic_scale_and_stereo_baseline() -> None:
    p = P.copy()
    p[0, 3] = -50.0  # right camera of a stereo pair: Tx = -fx * baseline (0.1 m)
    scaled = scale_geometry(CameraGeometry(640, 480, K, p), 320, 320)  # x 0.5, y 2/3
    assert scaled.p[0, 3] == pytest.approx(-25.0)
    before, after = project(p, POINT), project(scaled.p, POINT)
    assert (after + 0.5) / [320, 320] == pytest.approx((before + 0.5) / [640, 480])


def test_scaling_matches_what_opencv_resize_samples() -> None:
    # A horizontal ramp holding each pixel's own x coordinate, resized bilinearly like the labels and
    # confidence: an output pixel u' holds the camera-image coordinate it was sampled from.
    ramp = np.tile(np.arange(640, dtype=np.float32), (480, 1))
    resized = cv2.resize(ramp, (384, 288), interpolation=cv2.INTER_LINEAR)
    scaled = scale_geometry(CAMERA, 384, 288)
    u_out = np.arange(8, 376)  # away from the clamped borders
    # The scaled intrinsics map camera x to output x; invert that for each output pixel.
    u_camera = (u_out - (scaled.k[0, 2] - scaled.k[0, 0] / K[0, 0] * K[0, 2])) * K[0, 0] / scaled.k[0, 0]
    assert resized[100, u_out] == pytest.approx(u_camera, abs=1e-3)


def test_binning_and_roi_are_folded_in_and_reset() -> None:
    full_k = np.array([[1000.0, 0.0, 640.0], [0.0, 1000.0, 480.0], [0.0, 0.0, 1.0]])
    full_p = np.hstack([full_k, np.zeros((3, 1))])
    sensor = CameraGeometry(1280, 960, full_k, full_p, binning_x=2, binning_y=2,
                            roi=Roi(x_offset=100, y_offset=60, width=1000, height=800))
    assert sensor.image_size() == (500, 400)
    received = image_geometry(sensor)
    assert (received.width, received.height, received.binning_x, received.roi) == (500, 400, 0, Roi())
    # full pixel x -> binned pixel (x - 100 + 0.5) / 2 - 0.5: cx = (640 - 100 + 0.5) / 2 - 0.5 = 269.75
    assert received.k == pytest.approx(np.array([[500.0, 0.0, 269.75], [0.0, 500.0, 209.75], [0.0, 0.0, 1.0]]))
    u_full = project(full_p, POINT)
    assert project(received.p, POINT) == pytest.approx((u_full - [100, 60] + 0.5) / 2 - 0.5)
    # ... and then scaled to an output of 250x200
    out = scale_geometry(sensor, 250, 200)
    assert (out.width, out.height, out.binning_x, out.binning_y, out.roi) == (250, 200, 0, 0, Roi())
    assert (project(out.p, POINT) + 0.5) / [250, 200] == pytest.approx((project(received.p, POINT) + 0.5) / [500, 400])


def test_same_size_is_unchanged_and_uncalibrated_stays_uncalibrated() -> None:
    same = scale_geometry(CAMERA, 640, 480)
    assert same.k == pytest.approx(K) and same.p == pytest.approx(P)
    uncalibrated = CameraGeometry(640, 480, np.zeros((3, 3)), np.zeros((3, 4)), binning_x=2, binning_y=2)
    out = scale_geometry(uncalibrated, 160, 120)
    assert not out.calibrated and not out.k.any() and not out.p.any()
    assert (out.width, out.height, out.binning_x) == (160, 120, 0)


def test_invalid_geometry_raises() -> None:
    with pytest.raises(ValueError, match="positive"):
        CameraGeometry(0, 480, K, P)
    with pytest.raises(ValueError, match=r"roi 700x100 at \(0, 0\) exceeds the 640x480 sensor"):
        CameraGeometry(640, 480, K, P, roi=Roi(0, 0, 700, 100))
    with pytest.raises(ValueError, match=r"k must have 3x3 elements, got shape \(8,\)"):
        CameraGeometry(640, 480, np.zeros(8), P)
    with pytest.raises(ValueError, match="output size must be positive"):
        scale_geometry(CAMERA, 0, 10)


def test_pairer_prefers_the_exact_stamp_then_the_newest() -> None:
    pairer: CameraInfoPairer[str] = CameraInfoPairer(capacity=2)
    assert pairer.pair(5) is None  # nothing received yet
    pairer.add(10, "info10")
    pairer.add(20, "info20")
    assert pairer.pair(10) == ("info10", True)
    assert pairer.pair(15) == ("info20", False)  # no info with that stamp: the newest, flagged
    pairer.add(30, "info30")  # capacity 2: the info of stamp 10 is dropped
    assert pairer.pair(10) == ("info30", False)
    assert pairer.pair(20) == ("info20", True)
    with pytest.raises(ValueError, match="capacity"):
        CameraInfoPairer(0)
