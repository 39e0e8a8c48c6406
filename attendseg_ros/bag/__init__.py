"""Labelled rosbag2 data: CamVid conversion, reading with stamp pairing, offline and closed-loop evaluation.

Everything here uses the pure-Python ``rosbags`` library and no rclpy; the closed-loop runner that
drives the real segmentation node lives in :mod:`attendseg_ros.ros.bag_runner`.
"""

from .io import (
    CAMERA_INFO_TOPIC,
    GT_TOPIC,
    IMAGE_TOPIC,
    BagError,
    BagFrame,
    BagWriter,
    LabelledFrames,
    bag_topics,
    decode_image,
    decode_labels,
)
from .pairing import StampPairer
from .scoring import REPORT_KEYS, Scorer, StreamEvaluator

__all__ = [
    "CAMERA_INFO_TOPIC",
    "GT_TOPIC",
    "IMAGE_TOPIC",
    "REPORT_KEYS",
    "BagError",
    "BagFrame",
    "BagWriter",
    "LabelledFrames",
    "Scorer",
    "StampPairer",
    "StreamEvaluator",
    "bag_topics",
    "decode_image",
    "decode_labels",
]
