"""Datasets (one reader per layout behind one interface), class tables and the one preprocessing function.

Names are imported on first use: class tables and preprocessing need no torch, the training
augmentation does, and an edge install running the ONNX Runtime engine has none.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "LAYOUTS": ".dataset",
    "Augmentation": ".transforms",
    "CamVid": ".camvid",
    "ClassTable": ".classes",
    "DatasetError": ".errors",
    "Normalization": ".preprocessing",
    "SegmentationDataset": ".dataset",
    "dataset_splits": ".dataset",
    "detect_layout": ".dataset",
    "load_class_table": ".classes",
    "load_classes_yaml": ".classes",
    "open_dataset": ".dataset",
    "pack_segnet": ".camvid",
    "preprocess": ".preprocessing",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
