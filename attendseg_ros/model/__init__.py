"""The AttendSeg network: blocks, the model, its variants and complexity measurement. No I/O, no ROS."""

from .attendseg import VARIANTS, AttendSeg, AttendSegConfig, create_model
from .complexity import Complexity, measure

__all__ = ["VARIANTS", "AttendSeg", "AttendSegConfig", "Complexity", "create_model", "measure"]
