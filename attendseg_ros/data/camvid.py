"""CamVid readers: the SegNet 11-class layout and the original 32-class colour-coded layout.

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

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .classes import ClassTable, load_class_table

LAYOUTS = ("segnet11", "camvid32")
IMAGE_SUFFIXES = (".png", ".webp", ".jpg")


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or does not match its partner."""


def detect_layout(root: Path) -> str:
    if (root / "label_colors.txt").is_file():
        return "camvid32"
    if any((root / f"{split}annot").is_dir() for split in ("train", "val", "test")):
        return "segnet11"
    raise DatasetError(
        f"{root} is neither a SegNet CamVid folder (trainannot/...) nor a 32-class one (label_colors.txt)"
    )


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


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


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


@dataclass(frozen=True)
class Sample:
    image: Path
    label: Path


class CamVid:
    """One split of CamVid: ``len()``, ``[i] -> (rgb uint8 HxWx3, labels uint8 HxW)``, ``.classes``."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        layout: str | None = None,
        sequences: tuple[str, ...] | None = None,
        exclude_sequences: tuple[str, ...] = (),
    ) -> None:
        """``sequences`` keeps only frames of those drives; ``exclude_sequences`` leaves drives out."""
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"dataset folder {self.root} does not exist")
        self.layout = layout or detect_layout(self.root)
        if self.layout not in LAYOUTS:
            raise DatasetError(f"unknown layout {self.layout!r}; choose one of {LAYOUTS}")
        self.split = split
        if self.layout == "segnet11":
            self.classes = load_class_table("camvid11")
            self.samples = self._segnet_samples()
        else:
            self.classes = read_label_colors(self.root / "label_colors.txt")
            self.samples = self._camvid32_samples()
        if sequences is not None:
            self.samples = [s for s in self.samples if sequence_of(s.image) in sequences]
        self.samples = [s for s in self.samples if sequence_of(s.image) not in exclude_sequences]
        if not self.samples:
            selection = f" of sequences {list(sequences)}" if sequences is not None else ""
            raise DatasetError(f"no {split} frames{selection} found in {self.root}")

    def _segnet_samples(self) -> list[Sample]:
        images, labels = self.root / self.split, self.root / f"{self.split}annot"
        listing = self.root / f"{self.split}.txt"
        if listing.is_file():
            names = [Path(line.split()[0]).name for line in listing.read_text().splitlines() if line.strip()]
        elif images.is_dir():
            names = sorted(p.name for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            raise DatasetError(f"split {self.split!r} not found in {self.root} (no {images} and no {listing})")
        return [Sample(images / n, labels / f"{Path(n).stem}.png") for n in names]

    def _camvid32_samples(self) -> list[Sample]:
        images, labels = self.root / self.split, self.root / f"{self.split}_labels"
        if not images.is_dir():
            raise DatasetError(f"split {self.split!r} not found: {images} does not exist")
        return [Sample(p, labels / f"{p.stem}_L.png") for p in sorted(images.glob("*.png"))]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        sample = self.samples[index]
        return self.load(sample)

    def load(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        image = read_rgb(sample.image)
        if self.layout == "segnet11":
            labels = cv2.imread(str(sample.label), cv2.IMREAD_UNCHANGED)
            if labels is None:
                raise DatasetError(f"cannot read label {sample.label} (partner of {sample.image})")
            if labels.ndim != 2:
                raise DatasetError(f"label {sample.label} must be single-channel class ids, got shape {labels.shape}")
            labels = labels.astype(np.uint8)
            labels[labels > self.classes.void_id] = self.classes.void_id
        else:
            labels = encode_color_labels(read_rgb(sample.label), self.classes)
        if labels.shape != image.shape[:2]:
            raise DatasetError(
                f"label {sample.label} is {labels.shape[1]}x{labels.shape[0]} but image {sample.image} "
                f"is {image.shape[1]}x{image.shape[0]}"
            )
        return image, labels

    def load_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Every frame and label of the split stacked: ``(N, H, W, 3)`` and ``(N, H, W)`` uint8."""
        pairs = [self[i] for i in range(len(self))]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


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
        dataset = CamVid(root, split, layout="segnet11")
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
