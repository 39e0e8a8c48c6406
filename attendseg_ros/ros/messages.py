"""ROS messages of arrays and of the pipeline's outputs (decoding, without ROS: runtime.image_conversion)."""

from __future__ import annotations

from typing import Any

import numpy as np
from rclpy.duration import Duration
from rclpy.impl.rcutils_logger import RcutilsLogger
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from ..interop.rle import RunLengthLabels
from ..runtime.image_conversion import image_fields
from ..runtime.pipeline import Output
from .interop import camera_info_message, compressed_image_message

MESSAGE_TYPES: dict[str, type] = {"image": Image, "compressed": CompressedImage, "camera_info": CameraInfo,
                                  "rle": Image}


def array_to_image(array: np.ndarray, header: Header, encoding: str | None = None) -> Image:
    """An Image of a uint8 ``(H, W)`` (mono8) or ``(H, W, C)`` array whose channels are in ``encoding``'s order."""
    fields = image_fields(array, encoding)
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = fields.height, fields.width, fields.encoding
    msg.is_bigendian, msg.step = fields.is_bigendian, fields.step
    msg.data = fields.data
    return msg


def run_length_image(value: RunLengthLabels, header: Header) -> Image:
    """An Image carrying run-length encoded labels as Autoware's fusion reads them: the mask's height and
    width, mono8 and step = width (as its YOLOX node fills them), ``data`` = the runs."""
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = value.height, value.width, "mono8"
    msg.is_bigendian, msg.step = 0, value.width
    msg.data = value.data
    return msg


def wait_for_acknowledgement(publisher: Publisher, timeout: float, logger: RcutilsLogger, what: str) -> bool:
    """Wait up to ``timeout`` s until every reliable subscriber has acknowledged what ``publisher`` sent.

    Call before a publisher goes (or the process exits) so that a lost copy is re-sent; False, with a
    warning naming ``what``, when some subscriber had not acknowledged in time.
    """
    if publisher.wait_for_all_acked(Duration(seconds=timeout)):
        return True
    logger.warning(f"{what}: not every subscriber acknowledged within {timeout:g} s")
    return False


def stamp_ns(msg: Any) -> int:
    """The header stamp of ``msg`` in integer nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def message_type(output: Output) -> type:
    """The ROS message type an output is published as."""
    return MESSAGE_TYPES[output.kind]


def output_message(output: Output, value: Any, header: Header, camera_info: CameraInfo | None = None) -> Any:
    """The message of one built output, with ``header``; None for a value of None (a camera_info without
    a paired CameraInfo). ``camera_info`` is the camera's own message (distortion) for that output."""
    if value is None:
        return None
    if output.kind == "image":
        return array_to_image(value, header, output.encoding)
    if output.kind == "compressed":
        return compressed_image_message(value, header)
    if output.kind == "rle":
        return run_length_image(value, header)
    return camera_info_message(value, header, camera_info)
