"""The CamVid layout (registered as ``camvid``), in both forms: SegNet 11-class and original 32-class.

SegNet layout (``../shared/camvid``)::

    DIR/{train,val,test}/*.png          RGB frames, 360x480 (or .webp/.jpg: see pack_segnet)
    DIR/{train,val,test}annot/*.png     label ids, 11 = void, named as the frame with .png
    DIR/{train,val,test}.txt            optional lists "<image> <label>" (SegNet's absolute paths)

32-class layout::

    DIR/label_colors.txt                "R G B Name" per line
    DIR/{train,val,test}/*.png          RGB frames
    DIR/{train,val,test}_labels/*_L.png colour-coded labels
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .classes import ClassTable, load_class_table
from .dataset import DatasetError, Sample, Scan, SegmentationDataset, ordered_splits, read_rgb
from .folder import check_ids, read_index_mask
from .preprocessing import Normalization

__all__ = ["VARIANTS", "CamVid", "DatasetError", "Sample", "pack_segnet", "read_rgb", "sequence_of"]

VARIANTS = ("segnet11", "camvid32")
IMAGE_SUFFIXES = (".png", ".webp", ".jpg")


def detect_variant(root: Path) -> str | None:
    """``camvid32``, ``segnet11`` or ``None`` when ``root`` is not a CamVid folder."""
    if (root / "label_colors.txt").is_file():
        return "camvid32"
    if any((root / f"{split}annot").is_dir() for split in ("train", "val", "test")):
        return "segnet11"
    return None


def read_label_colors(path: Path) -> ClassTable:
    """Class table from a CamVid ``label_colors.txt``; the ``Void`` entry becomes the void id."""
    names: list[str] = []
    colors: list[tuple[int, int, int]] = []
    void_color = (0, 0, 0)
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 4:
            raise DatasetError(f"{path}:{line_no}: expected 'R G B Name', got {line!r}")
        color = (int(parts[0]), int(parts[1]), int(parts[2]))
        name = " ".join(parts[3:])
        if name.lower() == "void":
            void_color = color
            continue
        names.append(name)
        colors.append(color)
    base = load_class_table("camvid32")
    drivable = tuple(n for n in base.drivable if n in names)
    return ClassTable("camvid32", tuple(names), tuple(colors), len(names), void_color, drivable)


def encode_color_labels(rgb: np.ndarray, table: ClassTable) -> np.ndarray:
    """Colour-coded label image -> class ids; unknown colours become void."""
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    labels = np.full(rgb.shape[:2], table.void_id, np.uint8)
    for class_id, (r, g, b) in enumerate(table.colors):
        labels[key == ((r << 16) | (g << 8) | b)] = class_id
    return labels


def sequence_of(image: Path) -> str:
    """The drive a CamVid frame belongs to: its name before the first ``_`` (``0006R0_f02340.png`` -> ``0006R0``)."""
    return Path(image).name.split("_", 1)[0]


class CamVid(SegmentationDataset):
    """One split of CamVid, SegNet 11-class or original 32-class (``variant``, detected when ``None``).

    A frame's sequence is its drive (``0006R0``); ``sequences`` keeps only frames of those drives,
    ``exclude_sequences`` leaves drives out.
    """

    layout = "camvid"
    train_splits = ("train", "val")  # as the published CamVid figures (docs/training.md)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        variant: str | None = None,
        sequences: tuple[str, ...] | None = None,
        exclude_sequences: tuple[str, ...] = (),
        allow_unpaired: bool = False,
    ) -> None:
        root = Path(root)
        self.variant = variant or detect_variant(root) if root.is_dir() else variant
        if root.is_dir() and self.variant not in VARIANTS:
            raise DatasetError(
                f"{root} is neither a SegNet CamVid folder (trainannot/...) nor a 32-class one (label_colors.txt)"
                if variant is None else f"unknown CamVid variant {variant!r}; choose one of {VARIANTS}"
            )
        super().__init__(root, split, sequences, exclude_sequences, allow_unpaired)

    @classmethod
    def detect(cls, root: Path) -> bool:
        return detect_variant(root) is not None

    @classmethod
    def splits(cls, root: Path) -> tuple[str, ...]:
        variant = detect_variant(root)
        label_dir = "{}annot" if variant == "segnet11" else "{}_labels"
        found = [s for s in ("train", "val", "test")
                 if (root / s).is_dir() or (root / label_dir.format(s)).is_dir() or (root / f"{s}.txt").is_file()]
        return ordered_splits(found)

    def read_classes(self) -> tuple[ClassTable, Normalization | None]:
        if self.variant == "segnet11":
            return load_class_table("camvid11"), None
        return read_label_colors(self.root / "label_colors.txt"), None

    def scan(self, split: str) -> Scan:
        if self.variant == "segnet11":
            images, labels = self.root / split, self.root / f"{split}annot"
            listing = self.root / f"{split}.txt"
            if listing.is_file():
                names = [Path(line.split()[0]).name for line in listing.read_text().splitlines() if line.strip()]
            elif images.is_dir():
                names = sorted(p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            else:
                raise DatasetError(f"split {split!r} not found in {self.root} (no {images} and no {listing})")
            pairs = [(images / n, labels / f"{Path(n).stem}.png") for n in names]
            mask_glob = "*.png"
        else:
            images, labels = self.root / split, self.root / f"{split}_labels"
            if not images.is_dir():
                raise DatasetError(f"split {split!r} not found: {images} does not exist")
            pairs = [(p, labels / f"{p.stem}_L.png") for p in sorted(images.glob("*.png"))]
            mask_glob = "*_L.png"
        paired = {label for _, label in pairs}
        return Scan(
            samples=[Sample(i, m) for i, m in pairs if m.is_file()],
            images_without_mask=[i for i, m in pairs if not m.is_file()],
            masks_without_image=sorted(p for p in labels.glob(mask_glob) if p not in paired) if labels.is_dir() else [],
        )

    def read_labels(self, sample: Sample) -> np.ndarray:
        if self.variant == "segnet11":
            return check_ids(read_index_mask(sample.label), self.classes, sample.label)
        return encode_color_labels(read_rgb(sample.label), self.classes)


def pack_segnet(
    root: str | Path, out: str | Path, splits: tuple[str, ...] = ("train", "val"), quality: int = 95
) -> dict[str, float]:
    """Copy SegNet-layout splits with the frames as WebP (lossy, ``quality``) and the labels untouched.

    For moving CamVid where space or bandwidth is short (the PNG frames of train+val are 119 MB, WebP 95
    about 28 MB at ~42 dB PSNR). :class:`CamVid` reads the copy as it is.
    Returns the frame count, bytes written and the mean PSNR of the frames in dB.
    """
    out = Path(out)
    count, written, psnr_sum = 0, 0, 0.0
    for split in splits:
        dataset = CamVid(root, split, variant="segnet11")
        (out / split).mkdir(parents=True, exist_ok=True)
        (out / f"{split}annot").mkdir(exist_ok=True)
        for sample in dataset.samples:
            image, _ = dataset.load(sample)
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            ok, encoded = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
            if not ok:
                raise DatasetError(f"cannot encode {sample.image} as WebP")
            target = out / split / f"{sample.image.stem}.webp"
            target.write_bytes(encoded.tobytes())
            label_bytes = sample.label.read_bytes()
            (out / f"{split}annot" / sample.label.name).write_bytes(label_bytes)
            error = np.mean((cv2.imdecode(encoded, cv2.IMREAD_COLOR).astype(np.float64) - bgr) ** 2)
            psnr_sum += 10 * np.log10(255.0**2 / max(error, 1e-10))
            written += encoded.size + len(label_bytes)
            count += 1
    return {"frames": count, "bytes": written, "psnr_db": psnr_sum / max(count, 1)}
