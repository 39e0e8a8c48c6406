"""The folder layout: index masks beside images, the class table in ``classes.yaml``::

    DIR/classes.yaml                                 see :func:`attendseg_ros.data.classes.load_classes_yaml`
    DIR/images/<split>/<stem>.{jpg,jpeg,png,webp}
    DIR/masks/<split>/<stem>.png                     single-channel uint8 class ids; ignore_index not scored

Splits are the folders under ``images/`` (``train`` required by training; ``val`` and ``test`` optional).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .classes import ClassTable, load_classes_yaml
from .dataset import DatasetError, Sample, Scan, SegmentationDataset, ordered_splits
from .preprocessing import Normalization

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MASK_SUFFIX = ".png"


def read_index_mask(path: Path) -> np.ndarray:
    """A single-channel 8-bit mask as uint8 ids; :class:`DatasetError` naming the file otherwise."""
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise DatasetError(f"cannot read mask {path} (missing, truncated or not an image)")
    if mask.ndim != 2:
        raise DatasetError(
            f"mask {path} has {mask.shape[2]} channels; masks are single-channel class ids "
            "(colour-coded masks: convert them with attendseg-dataset convert)"
        )
    if mask.dtype != np.uint8:
        raise DatasetError(f"mask {path} is {mask.dtype}; masks are 8-bit class ids")
    return mask


def check_ids(mask: np.ndarray, classes: ClassTable, path: Path) -> np.ndarray:
    """``mask`` unchanged when every id is a class or the ignore index; else :class:`DatasetError`."""
    counts = np.bincount(mask.ravel(), minlength=256)
    counts[: classes.num_classes] = 0
    counts[classes.void_id] = 0
    bad = np.flatnonzero(counts)
    if bad.size:
        listed = ", ".join(f"{i} ({counts[i]} px)" for i in bad[:8])
        raise DatasetError(
            f"mask {path} holds ids outside the class table: {listed}; valid: 0-{classes.num_classes - 1} "
            f"and the ignore index {classes.void_id}"
        )
    return mask


class FolderDataset(SegmentationDataset):
    """A split of a folder-layout dataset (see the module docstring)."""

    layout = "folder"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "classes.yaml").is_file() or ((root / "images").is_dir() and (root / "masks").is_dir())

    @classmethod
    def splits(cls, root: Path) -> tuple[str, ...]:
        images = root / "images"
        return ordered_splits([p.name for p in images.iterdir() if p.is_dir()]) if images.is_dir() else ()

    def read_classes(self) -> tuple[ClassTable, Normalization | None]:
        return load_classes_yaml(self.root / "classes.yaml")

    def scan(self, split: str) -> Scan:
        images_dir, masks_dir = self.root / "images" / split, self.root / "masks" / split
        if not images_dir.is_dir():
            present = ", ".join(self.splits(self.root)) or "none"
            raise DatasetError(f"split {split!r} not found: {images_dir} does not exist (splits: {present})")
        images: dict[str, Path] = {}
        for path in sorted(images_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
                continue
            if path.stem in images:
                raise DatasetError(f"two images share the stem {path.stem!r}: {images[path.stem]} and {path}")
            images[path.stem] = path
        masks = {}
        if masks_dir.is_dir():
            masks = {p.stem: p for p in sorted(masks_dir.iterdir()) if p.suffix.lower() == MASK_SUFFIX}
        return Scan(
            samples=[Sample(images[s], masks[s]) for s in images if s in masks],
            images_without_mask=[images[s] for s in images if s not in masks],
            masks_without_image=[masks[s] for s in masks if s not in images],
        )

    def read_labels(self, sample: Sample) -> np.ndarray:
        return check_ids(read_index_mask(sample.label), self.classes, sample.label)
