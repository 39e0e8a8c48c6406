"""Interoperability with navigation stacks, without ROS: class maps, unknown pixels, LabelInfo
content, camera intrinsics for the outputs, image_transport-style compression.

Each module is a pure function (or a small thread-safe cache) over numpy arrays and plain
dataclasses; :mod:`attendseg_ros.ros.interop` turns the results into ROS messages and
:mod:`attendseg_ros.ros.bond` forms the Nav2 lifecycle-manager bond. docs/navigation.md has the
design and the research behind it.
"""

from .unknown import UNKNOWN_ID, UNKNOWN_NAME, confidence_cutoff, mark_unknown

__all__ = [
    "UNKNOWN_ID",
    "UNKNOWN_NAME",
    "confidence_cutoff",
    "mark_unknown",
]
