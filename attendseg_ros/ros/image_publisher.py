"""``attendseg-publish-images``: publish the images of a folder as a camera would, to try the node without one.

Every PNG, JPEG or BMP file in ``DIR`` (not its subfolders), in name order, is published as a
``sensor_msgs/Image`` (rgb8) on ``--topic`` at ``--rate`` frames per second, stamped with the time
of publishing, with sensor-data QoS (best effort). It stops after one pass, after ``--count``
frames, or, with ``--loop``, on Ctrl-C. CamVid's ``val/`` folder is such a folder:

    attendseg-publish-images ../shared/camvid/val --topic /camera/image_raw --rate 10 --loop

A file that cannot be read is skipped with a warning; a folder without one readable image is an
error (exit status 1 and one line naming the folder). The large-image Fast DDS profile
(config/fastdds_large_data.xml) is used unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from itertools import cycle, islice
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ..data.camvid import DatasetError, read_rgb
from .messages import array_to_image, wait_for_acknowledgement
from .process import dds_profile

NODE_NAME = "attendseg_publish_images"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
TOPIC = "/camera/image_raw"


class ImageFolderError(ValueError):
    """The folder cannot be published; the text names it and the reason."""


def image_files(folder: str | Path) -> list[Path]:
    """The image files of ``folder`` in name order; :class:`ImageFolderError` when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageFolderError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageFolderError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


# A camera publishes best effort; reliable delivers every frame to a subscriber that asks for it.
RELIABILITY = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}


def vars_of(profile: QoSProfile) -> dict[str, object]:
    """The settings of ``profile`` as keyword arguments of :class:`QoSProfile`."""
    return {name: getattr(profile, name) for name in ("history", "depth", "reliability", "durability")}


class ImagePublisher(Node):
    """Publishes the frames of an image folder on one topic at a fixed rate."""

    def __init__(self, files: list[Path], topic: str = TOPIC, rate: float = 10.0, frame_id: str = "camera",
                 reliability: str = "best_effort", **kwargs: object) -> None:
        super().__init__(NODE_NAME, **kwargs)
        if not rate > 0:
            raise ValueError(f"--rate must be > 0 frames per second, got {rate:g}")
        self.files = files
        self.rate = rate
        self.frame_id = frame_id
        qos = QoSProfile(**{**vars_of(qos_profile_sensor_data), "reliability": RELIABILITY[reliability]})
        self.publisher = self.create_publisher(Image, topic, qos)
        self.skipped = 0

    def frames(self, loop: bool) -> Iterator[tuple[Path, np.ndarray]]:
        """``(file, rgb)`` of each readable file, once or forever; unreadable files are skipped with a warning."""
        readable = 0
        for index, path in enumerate(cycle(self.files) if loop else self.files):
            try:
                rgb = read_rgb(path)
            except DatasetError as exc:
                self.skipped += 1
                self.get_logger().warning(f"skipping {path}: {exc}")
                if index + 1 >= len(self.files) and readable == 0:
                    raise ImageFolderError(f"{path.parent}: none of its {len(self.files)} image files can be read") \
                        from exc
                continue
            readable += 1
            yield path, rgb

    def wait_for_subscribers(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a subscriber of the topic; whether one came."""
        deadline = time.monotonic() + timeout
        while self.publisher.get_subscription_count() == 0:
            if time.monotonic() > deadline or not rclpy.ok(context=self.context):
                return False
            time.sleep(0.05)
        time.sleep(0.5)  # let the subscriber's side finish matching: best effort drops what comes before
        return True

    def publish_frames(self, loop: bool = False, count: int | None = None) -> int:
        """Publish at :attr:`rate` (one pass, or forever with ``loop``; at most ``count``); the number published."""
        period = 1.0 / self.rate
        due = time.monotonic()
        published = 0
        for _, rgb in islice(self.frames(loop), count):
            while (wait := due - time.monotonic()) > 0:
                time.sleep(min(wait, 0.1))
            if not rclpy.ok(context=self.context):
                break
            header = Header(frame_id=self.frame_id)
            header.stamp = self.get_clock().now().to_msg()
            self.publisher.publish(array_to_image(rgb, header, "rgb8"))
            published += 1
            due = max(due + period, time.monotonic() - period)  # no burst after a slow read
        return published


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="attendseg-publish-images", description=__doc__.split("\n\n")[0].strip("`"))
    p.add_argument("folder", metavar="DIR", help="folder of .png/.jpg/.jpeg/.bmp images, published in name order")
    p.add_argument("--topic", default=TOPIC, help=f"image topic (default {TOPIC})")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="frames per second (default 10)")
    p.add_argument("--loop", action="store_true", help="start again after the last image, until Ctrl-C")
    p.add_argument("--count", type=int, default=None, metavar="N", help="stop after N frames")
    p.add_argument("--frame-id", default="camera", help="header frame_id (default camera)")
    p.add_argument("--reliability", choices=sorted(RELIABILITY), default="best_effort",
                   help="QoS reliability (default best_effort, as cameras publish)")
    p.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="SECONDS",
                   help="first wait up to this long for a subscriber (0 = start at once)")
    options = p.parse_args(argv)
    if not options.rate > 0:
        p.error(f"--rate must be > 0 frames per second, got {options.rate:g}")
    if options.count is not None and options.count < 1:
        p.error(f"--count must be >= 1, got {options.count}")
    return options


def main(args: list[str] | None = None) -> int:
    """Publish the folder (see the module docstring); exit status 0, or 1 with the reason on stderr."""
    argv = sys.argv if args is None else args
    options = parse_args(remove_ros_args(argv)[1:])
    try:
        files = image_files(options.folder)
    except ImageFolderError as exc:
        print(f"attendseg-publish-images: error: {exc}", file=sys.stderr)
        return 1
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", dds_profile())  # read once, at the first participant
    rclpy.init(args=argv)
    node: ImagePublisher | None = None
    try:
        node = ImagePublisher(files, options.topic, options.rate, options.frame_id, options.reliability)
        if options.wait_for_subscribers > 0 and not node.wait_for_subscribers(options.wait_for_subscribers):
            print(f"attendseg-publish-images: error: no subscriber on {options.topic} within "
                  f"{options.wait_for_subscribers:g} s", file=sys.stderr)
            return 1
        published = node.publish_frames(options.loop, options.count)
        if options.reliability == "reliable":  # the last frames reach every subscriber before the process goes
            wait_for_acknowledgement(node.publisher, 5.0, node.get_logger(), "the last frames")
        # printed, not logged: after Ctrl-C the ROS context (and with it /rosout) is already gone
        print(f"attendseg-publish-images: published {published} frames from {options.folder} on {options.topic}"
              + (f" ({node.skipped} unreadable files skipped)" if node.skipped else ""), flush=True)
        return 0
    except ImageFolderError as exc:
        print(f"attendseg-publish-images: error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0  # Ctrl-C is how a looping camera stops
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
