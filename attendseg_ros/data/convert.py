"""Colour-coded masks (a CVAT or Pascal VOC ``SegmentationClass`` export) -> the folder layout.

Source (what CVAT's "Segmentation mask" and VOC exports hold)::

    SRC/JPEGImages/<stem>.{jpg,jpeg,png,webp}
    SRC/SegmentationClass/<stem>.png           colour per class (RGB or palette PNG)
    SRC/ImageSets/Segmentation/<split>.txt     optional stems per split (CVAT's "default" becomes train)
    SRC/labelmap.txt                           CVAT's colour table "name:r,g,b:parts:actions"

The colour table is ``labelmap.txt`` or a ``classes.yaml`` (the folder layout's own). Every mask
colour must be in it, be named by ``ignore`` (table entries sent to the ignore index) or be listed
in ``ignore_colors``; any other colour is an error naming the file (or, with
``unknown_colors="ignore"``, the ignore index). Output: ``OUT/classes.yaml``,
``OUT/images/<split>/`` (the image files copied byte for byte) and ``OUT/masks/<split>/<stem>.png``.
The target is written beside OUT and moved there when complete; the source is only read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from .classes import load_classes_yaml
from .dataset import DatasetError, read_rgb
from .folder import IMAGE_SUFFIXES

IMAGES_DIR, MASKS_DIR, LISTS_DIR = "JPEGImages", "SegmentationClass", Path("ImageSets") / "Segmentation"


def read_labelmap(path: Path) -> list[tuple[str, tuple[int, int, int]]]:
    """CVAT's ``labelmap.txt``: ``name:r,g,b:parts:actions`` per line, ``#`` comments."""
    entries = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(":")
        try:
            rgb = tuple(int(v) for v in fields[1].split(","))
        except (IndexError, ValueError):
            rgb = ()
        if len(fields) < 2 or len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb) or not fields[0].strip():
            raise DatasetError(f"{path}:{line_no}: expected 'name:r,g,b:parts:actions', got {line!r}")
        entries.append((fields[0].strip(), rgb))  # type: ignore[arg-type]
    if not entries:
        raise DatasetError(f"{path}: no class in the colour table")
    return entries


def color_table(path: Path) -> list[tuple[str, tuple[int, int, int]]]:
    """(name, colour) per class from a CVAT ``labelmap.txt`` or a ``classes.yaml``."""
    if not path.is_file():
        raise DatasetError(f"{path}: colour table not found (labelmap.txt or classes.yaml)")
    if path.suffix in (".yaml", ".yml"):
        table, _ = load_classes_yaml(path)
        return list(zip(table.names, table.colors, strict=True))
    return read_labelmap(path)


def _key(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]


def _splits(source: Path, stems: list[str], val_every: int) -> dict[str, list[str]]:
    lists = source / LISTS_DIR
    splits: dict[str, list[str]] = {}
    if lists.is_dir():
        for listing in sorted(lists.glob("*.txt")):
            name = "train" if listing.stem == "default" else listing.stem
            if name == "trainval":
                continue  # the union of train and val
            entries = [line.split()[0] for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
            splits.setdefault(name, []).extend(entries)
    if not splits:
        splits = {"train": list(stems)}
    if val_every and "val" not in splits:
        train = splits.get("train", [])
        splits["val"] = train[val_every - 1 :: val_every]
        splits["train"] = [s for i, s in enumerate(train) if (i + 1) % val_every]
    return splits


def convert_color_masks(
    source: str | Path,
    out: str | Path,
    colors: str | Path | None = None,
    ignore: tuple[str, ...] = (),
    ignore_colors: tuple[tuple[int, int, int], ...] = (),
    unknown_colors: str = "error",
    ignore_index: int = 255,
    val_every: int = 0,
    name: str | None = None,
) -> dict[str, Any]:
    """Convert the export at ``source`` into a folder-layout dataset at ``out`` (see the module docstring).

    ``val_every``: without a val list, every N-th train frame goes to val (0: none). Returns a summary.
    """
    source, out = Path(source), Path(out)
    if unknown_colors not in ("error", "ignore"):
        raise ValueError(f"unknown_colors must be error or ignore, got {unknown_colors!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} already exists and is not empty; choose a new folder")
    images_dir, masks_dir = source / IMAGES_DIR, source / MASKS_DIR
    for folder in (images_dir, masks_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder} not found: expected a VOC/CVAT export with {IMAGES_DIR}/ and {MASKS_DIR}/")
    table_path = Path(colors) if colors is not None else source / "labelmap.txt"
    entries = color_table(table_path)
    unknown_names = [n for n in ignore if n not in [e[0] for e in entries]]
    if unknown_names:
        raise DatasetError(f"--ignore names {unknown_names} are not in {table_path}: {[e[0] for e in entries]}")
    classes = [(n, c) for n, c in entries if n not in ignore]
    if not classes or len(classes) > 255 or ignore_index < len(classes):
        raise DatasetError(f"{table_path}: {len(classes)} classes do not fit ids below the ignore index {ignore_index}")
    lut_keys = {(r << 16) | (g << 8) | b: i for i, (_, (r, g, b)) in enumerate(classes)}
    for _, (r, g, b) in [e for e in entries if e[0] in ignore]:
        lut_keys.setdefault((r << 16) | (g << 8) | b, ignore_index)
    for r, g, b in ignore_colors:
        lut_keys.setdefault((r << 16) | (g << 8) | b, ignore_index)

    images = {p.stem: p for p in sorted(images_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    masks = {p.stem: p for p in sorted(masks_dir.glob("*.png"))}
    missing = [str(images[s]) for s in images if s not in masks]
    if missing:
        raise DatasetError(f"{len(missing)} image(s) have no mask in {masks_dir}: {', '.join(missing[:5])}")
    splits = _splits(source, sorted(s for s in images if s in masks), val_every)
    for split, stems in splits.items():
        absent = [s for s in stems if s not in images or s not in masks]
        if absent:
            raise DatasetError(f"{split} list names frames without an image or a mask: {', '.join(absent[:5])}")

    staging = out.with_name(f".{out.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        counts: dict[str, int] = {}
        for split, stems in splits.items():
            (staging / "images" / split).mkdir(parents=True)
            (staging / "masks" / split).mkdir(parents=True)
            for stem in stems:
                mask = _convert_mask(masks[stem], images[stem], lut_keys, unknown_colors, ignore_index)
                shutil.copyfile(images[stem], staging / "images" / split / images[stem].name)
                if not cv2.imwrite(str(staging / "masks" / split / f"{stem}.png"), mask):
                    raise DatasetError(f"cannot write {staging / 'masks' / split / f'{stem}.png'}")
            counts[split] = len(stems)
        table = {
            "name": name or out.name,
            "ignore_index": ignore_index,
            "classes": [{"name": n, "color": list(c)} for n, c in classes],
        }
        (staging / "classes.yaml").write_text(yaml.safe_dump(table, sort_keys=False), encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty, checked above
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"out": str(out), "splits": counts, "classes": [n for n, _ in classes], "colour_table": str(table_path)}


def _convert_mask(
    mask_path: Path, image_path: Path, lut_keys: dict[int, int], unknown_colors: str, ignore_index: int
) -> np.ndarray:
    rgb = read_rgb(mask_path)
    image = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"cannot read image {image_path} (missing, truncated or not an image)")
    if image.shape[:2] != rgb.shape[:2]:
        raise DatasetError(
            f"mask {mask_path} is {rgb.shape[1]}x{rgb.shape[0]} but image {image_path} is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    keys = _key(rgb)
    values, inverse = np.unique(keys, return_inverse=True)
    ids = np.full(len(values), ignore_index, np.uint8)
    unknown = []
    for index, key in enumerate(values.tolist()):
        if key in lut_keys:
            ids[index] = lut_keys[key]
        else:
            unknown.append(index)
    if unknown and unknown_colors == "error":
        pixels = np.bincount(inverse.ravel(), minlength=len(values))
        listed = ", ".join(
            f"({v >> 16}, {(v >> 8) & 255}, {v & 255}): {pixels[i]} px" for i, v in
            ((i, int(values[i])) for i in unknown[:6])
        )
        raise DatasetError(
            f"mask {mask_path} has colours that are not in the colour table: {listed} "
            "(name them with --ignore-color R G B, or pass --unknown-colors ignore)"
        )
    return ids[inverse.reshape(keys.shape)]
