"""attendseg_ros: AttendSeg semantic segmentation for ROS 2.

The generated interfaces (``attendseg_ros.msg``) live beside this package in a colcon install. In a
pip/venv install (``make``), CMake generates them into ``<venv>/lib/attendseg_ros_interfaces/attendseg_ros``,
outside site-packages so that they cannot shadow this (editable) package; that folder is appended to
the package path here, so ``from attendseg_ros.msg import SegmentationInfo`` works in both.
"""

from __future__ import annotations

import sys
from pathlib import Path

__version__ = "0.1.0"

_VENV_INTERFACES = Path(sys.prefix) / "lib" / "attendseg_ros_interfaces" / __name__
if not (Path(__file__).parent / "msg").is_dir() and _VENV_INTERFACES.is_dir():
    __path__.append(str(_VENV_INTERFACES))
