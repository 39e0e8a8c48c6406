"""The AttendSeg network: blocks, the model, its variants and complexity measurement. No I/O, no ROS.

Names are imported on first use, so that ``attendseg_ros.model.config`` (plain data, read with
every model file) does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "VARIANTS": ".attendseg",
    "AttendSeg": ".attendseg",
    "create_model": ".attendseg",
    "AttendSegConfig": ".config",
    "Complexity": ".complexity",
    "measure": ".complexity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
