"""The dataset interface: one reader per layout, registered by name; nothing else knows a layout.

A reader (:class:`SegmentationDataset` subclass) says whether a folder is in its layout
(``detect``), which splits it has (``splits``), its class table and normalisation
(``read_classes``), which image goes with which mask (``scan``) and how a mask becomes class ids
(``read_labels``; ignored pixels get ``classes.void_id``). Everything else (training, evaluation,
INT8 calibration, bags, ``attendseg-dataset check``) goes through :func:`open_dataset`.

Adding a layout is one :class:`LayoutSpec` entry in :data:`LAYOUTS` plus its module.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .classes import ClassTable
from .errors import DatasetError
from .preprocessing import Normalization

__all__ = [
    "LAYOUTS", "DatasetError", "LayoutSpec", "Sample", "Scan", "SegmentationDataset", "dataset_splits",
    "detect_layout", "layout_reader", "open_dataset", "ordered_splits", "read_rgb",
]


@dataclass(frozen=True)
class Sample:
    """One labelled frame: the image file and its mask file."""

    image: Path
    label: Path


@dataclass
class Scan:
    """What a split's folders hold: paired frames, and files that have no partner."""

    samples: list[Sample] = field(default_factory=list)
    images_without_mask: list[Path] = field(default_factory=list)
    masks_without_image: list[Path] = field(default_factory=list)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as uint8 RGB ``(H, W, 3)``; :class:`DatasetError` naming the file when unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path} (missing, truncated or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _listing(paths: list[Path], limit: int = 5) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


class SegmentationDataset:
    """One split of a labelled dataset: ``len()``, ``[i] -> (rgb uint8 HxWx3, labels uint8 HxW)``.

    ``classes`` is the class table (ignored pixels are ``classes.void_id``), ``normalization`` the
    dataset's own mean/std or ``None`` (then the model's). An image without a mask, an empty split or
    a malformed class table raise :class:`DatasetError` here; unreadable files, masks of another size
    and ids outside the table raise it when the frame is loaded. ``allow_unpaired=True`` keeps the
    unpaired files in ``unpaired`` instead (for ``attendseg-dataset check``). ``sequences`` keeps only
    the frames of those sequences (drives, cities), ``exclude_sequences`` leaves some out.
    """

    layout = ""  # the registry name
    train_splits: tuple[str, ...] = ("train",)  # what training uses unless told otherwise

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        sequences: tuple[str, ...] | None = None,
        exclude_sequences: tuple[str, ...] = (),
        allow_unpaired: bool = False,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist")
        self.split = split
        self.classes, self.normalization = self.read_classes()
        self.unpaired = self.scan(split)
        if self.unpaired.images_without_mask and not allow_unpaired:
            missing = self.unpaired.images_without_mask
            raise DatasetError(
                f"{len(missing)} {split} image(s) in {self.root} have no mask: {_listing(missing)} "
                "(attendseg-dataset check lists every problem)"
            )
        samples = self.unpaired.samples
        if sequences is not None:
            samples = [s for s in samples if self.sequence_of(s) in sequences]
        self.samples = [s for s in samples if self.sequence_of(s) not in exclude_sequences]
        if not self.samples:
            selection = f" of sequences {list(sequences)}" if sequences is not None else ""
            raise DatasetError(f"no labelled {split} frames{selection} found in {self.root} ({self.layout} layout)")

    # -- what each layout provides --------------------------------------------------------------

    @classmethod
    def detect(cls, root: Path) -> bool:
        """Whether ``root`` is in this layout."""
        raise NotImplementedError

    @classmethod
    def splits(cls, root: Path) -> tuple[str, ...]:
        """The splits present under ``root``, ``train`` first."""
        raise NotImplementedError

    def read_classes(self) -> tuple[ClassTable, Normalization | None]:
        raise NotImplementedError

    def scan(self, split: str) -> Scan:
        raise NotImplementedError

    def read_labels(self, sample: Sample) -> np.ndarray:
        """The mask of ``sample`` as uint8 class ids, ignored pixels ``classes.void_id``."""
        raise NotImplementedError

    def sequence_of(self, sample: Sample) -> str:
        """The sequence (drive, city) a frame belongs to: its name before the first ``_`` by default."""
        return sample.image.name.split("_", 1)[0]

    # -- shared --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        return self.load(self.samples[index])

    def load(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb, labels)`` of one frame; :class:`DatasetError` naming the file on any problem."""
        image = read_rgb(sample.image)
        labels = self.read_labels(sample)
        if labels.shape != image.shape[:2]:
            raise DatasetError(
                f"mask {sample.label} is {labels.shape[1]}x{labels.shape[0]} but image {sample.image} "
                f"is {image.shape[1]}x{image.shape[0]}"
            )
        return image, labels

    def load_all(self, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every frame and mask stacked: ``(N, H, W, 3)`` and ``(N, H, W)`` uint8.

        ``size = (h, w)`` resizes each frame (bilinear) and mask (nearest) to it as it is read; without
        it the frames must all have one size (:class:`DatasetError` naming the first that differs).
        """
        images: np.ndarray | None = None
        labels: np.ndarray | None = None
        for index, sample in enumerate(self.samples):
            image, label = self.load(sample)
            if size is not None and image.shape[:2] != tuple(size):
                image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                label = cv2.resize(label, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
            if images is None or labels is None:
                images = np.empty((len(self.samples), *image.shape), np.uint8)
                labels = np.empty((len(self.samples), *label.shape), np.uint8)
            elif image.shape != images.shape[1:]:
                raise DatasetError(
                    f"{sample.image} is {image.shape[1]}x{image.shape[0]} but {self.samples[0].image} is "
                    f"{images.shape[2]}x{images.shape[1]}: frames of several sizes need a common size"
                )
            images[index], labels[index] = image, label
        assert images is not None and labels is not None  # a dataset is never empty
        return images, labels

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Consecutive frames in batches of up to ``batch_size``, a batch never mixing frame sizes."""
        frames: list[np.ndarray] = []
        masks: list[np.ndarray] = []
        for sample in self.samples:
            image, label = self.load(sample)
            if frames and (len(frames) == batch_size or image.shape != frames[0].shape):
                yield np.stack(frames), np.stack(masks)
                frames, masks = [], []
            frames.append(image)
            masks.append(label)
        if frames:
            yield np.stack(frames), np.stack(masks)


# -- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayoutSpec:
    """One dataset layout: its reader class in ``attendseg_ros.data.<module>``."""

    name: str
    module: str
    reader: str
    summary: str


LAYOUTS: dict[str, LayoutSpec] = {
    spec.name: spec
    for spec in (
        LayoutSpec(
            "folder", "folder", "FolderDataset",
            "DIR/classes.yaml, DIR/images/<split>/<stem>.{jpg,jpeg,png,webp}, DIR/masks/<split>/<stem>.png",
        ),
        LayoutSpec(
            "cityscapes", "cityscapes", "CityscapesDataset",
            "DIR/leftImg8bit/<split>/<city>/*_leftImg8bit.png, DIR/gtFine/<split>/<city>/*_gtFine_labelIds.png",
        ),
        LayoutSpec(
            "camvid", "camvid", "CamVid",
            "SegNet 11-class (train/ trainannot/ ...) or original 32-class (label_colors.txt, *_L.png)",
        ),
    )
}
LAYOUT_NAMES: tuple[str, ...] = tuple(LAYOUTS)


def layout_reader(name: str) -> type[SegmentationDataset]:
    """The reader class of layout ``name``; :class:`DatasetError` listing the layouts for an unknown one."""
    if name not in LAYOUTS:
        raise DatasetError(f"unknown dataset layout {name!r}; choose one of {', '.join(LAYOUT_NAMES)}")
    spec = LAYOUTS[name]
    return getattr(importlib.import_module(f".{spec.module}", __package__), spec.reader)


def detect_layout(root: str | Path) -> str:
    """The layout of the dataset folder ``root`` (the first registered reader that recognises it)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    for name in LAYOUT_NAMES:
        if layout_reader(name).detect(root):
            return name
    raise DatasetError(
        f"{root} is in no known dataset layout; expected one of:\n"
        + "\n".join(f"  {spec.name}: {spec.summary}" for spec in LAYOUTS.values())
        + "\n(colour-coded masks: attendseg-dataset convert writes the folder layout)"
    )


def open_dataset(
    root: str | Path,
    split: str = "train",
    layout: str | None = None,
    sequences: tuple[str, ...] | None = None,
    exclude_sequences: tuple[str, ...] = (),
    allow_unpaired: bool = False,
) -> SegmentationDataset:
    """One split of the dataset at ``root`` in ``layout`` (detected when ``None``)."""
    reader = layout_reader(layout or detect_layout(root))
    return reader(root, split, sequences=sequences, exclude_sequences=exclude_sequences, allow_unpaired=allow_unpaired)


def dataset_splits(root: str | Path, layout: str | None = None) -> tuple[str, ...]:
    """The splits of the dataset at ``root`` (``train`` first)."""
    return layout_reader(layout or detect_layout(root)).splits(Path(root))


def ordered_splits(names: list[str]) -> tuple[str, ...]:
    """``train``, ``val``, ``test`` first in that order, then the rest sorted."""
    known = [n for n in ("train", "val", "test") if n in names]
    return (*known, *sorted(n for n in names if n not in known))
