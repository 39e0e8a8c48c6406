"""CamVid readers, class tables and the one preprocessing function."""

from .camvid import CamVid, DatasetError, detect_layout
from .classes import ClassTable, load_class_table
from .transforms import Augmentation, Normalization, preprocess

__all__ = [
    "Augmentation",
    "CamVid",
    "ClassTable",
    "DatasetError",
    "Normalization",
    "detect_layout",
    "load_class_table",
    "preprocess",
]
