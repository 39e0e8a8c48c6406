"""Interoperability with navigation stacks, without ROS: class maps, unknown pixels, LabelInfo
content, camera intrinsics for the outputs, image_transport-style compression.

Each module is a pure function (or a small thread-safe cache) over numpy arrays and plain
dataclasses; :mod:`attendseg_ros.ros.interop` turns the results into ROS messages and
:mod:`attendseg_ros.ros.bond` forms the Nav2 lifecycle-manager bond. docs/navigation.md has the
design and the research behind it.
"""

from .camera_info import CameraGeometry, CameraInfoPairer, Roi, image_geometry, project, scale_geometry
from .class_map import (
    ClassMap,
    ClassMapError,
    TargetClass,
    class_map_path,
    identity_class_map,
    load_class_map,
    parse_class_map,
)
from .compression import EncodedImage, encode_jpeg, encode_png
from .label_info import LabelInfoContent, label_info_content, label_info_for
from .unknown import UNKNOWN_ID, UNKNOWN_NAME, confidence_cutoff, mark_unknown

__all__ = [
    "UNKNOWN_ID",
    "UNKNOWN_NAME",
    "CameraGeometry",
    "CameraInfoPairer",
    "ClassMap",
    "ClassMapError",
    "EncodedImage",
    "LabelInfoContent",
    "Roi",
    "TargetClass",
    "class_map_path",
    "confidence_cutoff",
    "encode_jpeg",
    "encode_png",
    "identity_class_map",
    "image_geometry",
    "label_info_content",
    "label_info_for",
    "load_class_map",
    "mark_unknown",
    "parse_class_map",
    "project",
    "scale_geometry",
]
