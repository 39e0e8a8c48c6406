"""The Cityscapes layout, mapped to its 19 benchmark classes (``config/cityscapes19.yaml``)::

    DIR/leftImg8bit/<split>/<city>/<frame>_leftImg8bit.png
    DIR/gtFine/<split>/<city>/<frame>_gtFine_labelIds.png       (or <frame>_gtFine_labelTrainIds.png)

``labelIds`` masks are mapped to the 19 classes (every other id is ignored); ``labelTrainIds``
masks must hold 0-18 or 255. A frame's sequence is its city.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import yaml

from ..resources import config_file
from .classes import ClassTable
from .dataset import DatasetError, Sample, Scan, SegmentationDataset, ordered_splits
from .folder import check_ids, read_index_mask
from .preprocessing import Normalization

TABLE = "cityscapes19"
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIXES = ("_gtFine_labelIds.png", "_gtFine_labelTrainIds.png")


def label_id_lut() -> np.ndarray:
    """uint8[256]: Cityscapes labelId -> class id of the 19-class table, every other id -> 255."""
    data = yaml.safe_load(config_file(f"{TABLE}.yaml").read_text(encoding="utf-8"))
    lut = np.full(256, int(data["void_id"]), np.uint8)
    for class_id, entry in enumerate(data["classes"]):
        lut[int(entry["id"])] = class_id
    return lut


class CityscapesDataset(SegmentationDataset):
    """A split of Cityscapes (fine annotations), 19 classes."""

    layout = "cityscapes"

    @classmethod
    def detect(cls, root: Path) -> bool:
        return (root / "leftImg8bit").is_dir() and (root / "gtFine").is_dir()

    @classmethod
    def splits(cls, root: Path) -> tuple[str, ...]:
        images = root / "leftImg8bit"
        return ordered_splits([p.name for p in images.iterdir() if p.is_dir()]) if images.is_dir() else ()

    def read_classes(self) -> tuple[ClassTable, Normalization | None]:
        from .classes import load_class_table

        return load_class_table(TABLE), None

    @cached_property
    def _lut(self) -> np.ndarray:
        return label_id_lut()

    def scan(self, split: str) -> Scan:
        images_dir, labels_dir = self.root / "leftImg8bit" / split, self.root / "gtFine" / split
        if not images_dir.is_dir():
            present = ", ".join(self.splits(self.root)) or "none"
            raise DatasetError(f"split {split!r} not found: {images_dir} does not exist (splits: {present})")
        images = {str(p.relative_to(images_dir))[: -len(IMAGE_SUFFIX)]: p
                  for p in sorted(images_dir.glob(f"*/*{IMAGE_SUFFIX}"))}
        labels: dict[str, Path] = {}
        for suffix in reversed(LABEL_SUFFIXES):  # labelIds wins over labelTrainIds when both exist
            if labels_dir.is_dir():
                labels.update({str(p.relative_to(labels_dir))[: -len(suffix)]: p
                               for p in sorted(labels_dir.glob(f"*/*{suffix}"))})
        return Scan(
            samples=[Sample(images[k], labels[k]) for k in images if k in labels],
            images_without_mask=[images[k] for k in images if k not in labels],
            masks_without_image=[labels[k] for k in labels if k not in images],
        )

    def read_labels(self, sample: Sample) -> np.ndarray:
        mask = read_index_mask(sample.label)
        if sample.label.name.endswith(LABEL_SUFFIXES[0]):
            return self._lut[mask]
        return check_ids(mask, self.classes, sample.label)

    def sequence_of(self, sample: Sample) -> str:
        return sample.image.parent.name
