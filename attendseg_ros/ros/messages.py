"""ROS message building for arrays (the decoding side, without ROS, is attendseg_ros.image_conversion)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ..image_conversion import image_fields


def array_to_image(array: np.ndarray, header: Header, encoding: str | None = None) -> Image:
    """An Image of a uint8 ``(H, W)`` (mono8) or ``(H, W, C)`` array whose channels are in ``encoding``'s order."""
    fields = image_fields(array, encoding)
    msg = Image()
    msg.header = header
    msg.height, msg.width, msg.encoding = fields.height, fields.width, fields.encoding
    msg.is_bigendian, msg.step = fields.is_bigendian, fields.step
    msg.data = fields.data
    return msg


def stamp_ns(msg: Any) -> int:
    """The header stamp of ``msg`` in integer nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
