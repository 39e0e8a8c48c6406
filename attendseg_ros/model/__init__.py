"""The AttendSeg network: blocks, the model, its variants and complexity measurement. No I/O, no ROS.

Names are imported on first use, so that ``attendseg_ros.model.config`` (plain data, read with
every model file) does not pull in torch.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "VARIANTS": ".attendseg",
    "AttendSeg": ".attendseg",
    "create_model": ".attendseg",
    "AttendSegConfig": ".config",
    "Complexity": ".complexity",
    "measure": ".complexity",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
