"""CamVid readers, class tables and the one preprocessing function.

Names are imported on first use: class tables and preprocessing need no torch, the training
augmentation does, and an edge install running the ONNX Runtime engine has none.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Augmentation": ".transforms",
    "CamVid": ".camvid",
    "ClassTable": ".classes",
    "DatasetError": ".camvid",
    "Normalization": ".preprocessing",
    "detect_layout": ".camvid",
    "load_class_table": ".classes",
    "preprocess": ".preprocessing",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
