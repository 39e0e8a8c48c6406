"""attendseg-publish-images as its own process, received over DDS like the segmentation node receives a camera."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from attendseg_ros.data.camvid import read_rgb
from attendseg_ros.ros.process import Client, node_env
from attendseg_ros.runtime.image_conversion import image_to_rgb

TIMEOUT = 30.0


def _publisher(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "attendseg_ros.ros.image_publisher", *args], env=node_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def folder(tmp_path: Path, camvid_dir: Path) -> Path:
    """Two CamVid val frames and a file that is not an image."""
    images = tmp_path / "images"
    images.mkdir()
    first, second = sorted((camvid_dir / "val").glob("*.png"))[:2]
    shutil.copy(first, images / "a.png")
    shutil.copy(second, images / "b.png")
    (images / "notes.txt").write_text("not an image")
    return images


def _receive(topic: str, count: int, *args: str) -> tuple[list[Image], subprocess.CompletedProcess]:
    with Client("publish_images_test") as client:
        # reliable on both sides: every frame arrives even when discovery is slow on a loaded machine
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        received = client.collect(Image, topic, qos)
        process = _publisher(*args, "--topic", topic, "--reliability", "reliable", "--wait-for-subscribers",
                             str(TIMEOUT))
        try:
            client.spin_until(lambda: len(received) >= count or process.poll() is not None, TIMEOUT, "the frames")
            out, err = process.communicate(timeout=TIMEOUT)
            client.spin(0.3)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return received, subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_one_pass_publishes_every_image_in_name_order(folder: Path) -> None:
    received, done = _receive("/publish_once/image_raw", 2, str(folder), "--rate", "20", "--frame-id", "cam0")
    assert done.returncode == 0, done.stderr
    assert len(received) == 2
    assert f"published 2 frames from {folder} on /publish_once/image_raw" in done.stdout
    for msg, name in zip(received, ("a.png", "b.png"), strict=True):
        assert (msg.encoding, msg.header.frame_id) == ("rgb8", "cam0")
        np.testing.assert_array_equal(image_to_rgb(msg), read_rgb(folder / name))
    assert received[0].header.stamp.sec > 0  # stamped with the time of publishing


def test_loop_goes_round_until_count(folder: Path) -> None:
    received, done = _receive("/publish_loop/image_raw", 5, str(folder), "--rate", "50", "--loop", "--count", "5")
    assert done.returncode == 0, done.stderr
    first, second = read_rgb(folder / "a.png"), read_rgb(folder / "b.png")
    expected = [first, second, first, second, first]
    assert len(received) == 5
    for msg, rgb in zip(received, expected, strict=True):
        np.testing.assert_array_equal(image_to_rgb(msg), rgb)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing", "missing: not a folder"),
    (lambda d: d, "no image files (.png, .jpg, .jpeg, .bmp)"),
])
def test_a_folder_without_images_is_an_error_naming_it(tmp_path: Path, make: Callable[[Path], Path],
                                                       message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "attendseg_ros.ros.image_publisher", str(make(tmp_path))],
                          env=node_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    assert done.stderr.startswith("attendseg-publish-images: error: ") and message in done.stderr, done.stderr


def test_unreadable_files_are_skipped_and_an_all_unreadable_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    done = subprocess.run([sys.executable, "-m", "attendseg_ros.ros.image_publisher", str(tmp_path)],
                          env=node_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1
    assert "none of its 1 image files can be read" in done.stderr and "skipping" in done.stderr, done.stderr


def test_bad_arguments_name_the_argument() -> None:
    for args, message in ((["--rate", "0"], "--rate must be > 0"), (["--count", "0"], "--count must be >= 1")):
        done = subprocess.run([sys.executable, "-m", "attendseg_ros.ros.image_publisher", ".", *args],
                              env=node_env(), capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 2 and message in done.stderr, done.stderr
