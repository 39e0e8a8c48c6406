"""Check a dataset folder before training: layout, frames and class shares per split, every problem by file.

Errors are what training and evaluation would refuse (an image without a mask, an unreadable file, a
mask of another size, ids outside the class table, an empty or missing train split, a malformed class
table); warnings are worth a look but stop nothing (a mask without an image, a class with no pixel
in the train split).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .dataset import DatasetError, detect_layout, layout_reader


@dataclass(frozen=True)
class Problem:
    severity: str  # error | warning
    message: str
    split: str | None = None
    file: str | None = None


def check_dataset(root: str | Path, layout: str | None = None, progress: bool | None = None) -> dict[str, Any]:
    """Read every frame of every split of the dataset at ``root``; returns the report.

    Keys: ``layout``, ``splits`` ({split: labelled frames}), ``classes`` (names), ``problems`` (list of
    {severity, message, split, file}), and ``root``, ``ignore_index``, ``normalization``,
    ``pixel_share`` ({split: {class: share of the labelled pixels}}), ``ignored_share`` ({split: share
    of all pixels}), ``errors``, ``warnings``. A folder in no known layout raises :class:`DatasetError`.
    """
    root = Path(root)
    layout = layout or detect_layout(root)
    reader = layout_reader(layout)
    problems: list[Problem] = []
    report: dict[str, Any] = {"root": str(root), "layout": layout, "splits": {}, "classes": [],
                              "ignore_index": None, "normalization": None, "pixel_share": {}, "ignored_share": {}}
    splits = reader.splits(root)
    if "train" not in splits:
        problems.append(Problem("error", f"no train split in {root} (splits found: {list(splits) or 'none'})"))
    seen_errors: set[str] = set()
    for split in splits:
        try:
            dataset = reader(root, split, allow_unpaired=True)
        except DatasetError as exc:
            if str(exc) not in seen_errors:  # a malformed class table fails every split the same way
                problems.append(Problem("error", str(exc), split))
                seen_errors.add(str(exc))
            report["splits"][split] = 0
            continue
        classes = dataset.classes
        report["classes"] = list(classes.names)
        report["ignore_index"] = classes.void_id
        if dataset.normalization is not None:
            report["normalization"] = {"mean": list(dataset.normalization.mean), "std": list(dataset.normalization.std)}
        for image in dataset.unpaired.images_without_mask:
            problems.append(Problem("error", "image without a mask", split, str(image)))
        for mask in dataset.unpaired.masks_without_image:
            problems.append(Problem("warning", "mask without an image", split, str(mask)))
        counts = np.zeros(256, np.int64)
        bar = tqdm(dataset.samples, desc=f"check {split}", unit="frame",
                   disable=None if progress is None else not progress)
        for sample in bar:
            try:
                _, labels = dataset.load(sample)
            except DatasetError as exc:
                problems.append(Problem("error", str(exc), split, str(_culprit(exc, sample.image, sample.label))))
                continue
            counts += np.bincount(labels.ravel(), minlength=256)
        report["splits"][split] = len(dataset.samples)
        labelled = counts[: classes.num_classes]
        total = max(int(labelled.sum()), 1)
        report["pixel_share"][split] = {name: float(labelled[i]) / total for i, name in enumerate(classes.names)}
        report["ignored_share"][split] = float(counts[classes.void_id]) / max(int(counts.sum()), 1)
        if split == "train":
            for index, name in enumerate(classes.names):
                if labelled[index] == 0:
                    problems.append(Problem("warning", f"class {name!r} (id {index}) has no pixel in train", split))
    for split, frames in report["splits"].items():
        if frames == 0 and not any(p.split == split and p.severity == "error" for p in problems):
            problems.append(Problem("error", f"split {split!r} has no labelled frame", split))
    report["problems"] = [asdict(p) for p in problems]
    report["errors"] = sum(p.severity == "error" for p in problems)
    report["warnings"] = sum(p.severity == "warning" for p in problems)
    return report


def _culprit(exc: DatasetError, image: Path, label: Path) -> Path:
    """The file an error is about: the mask when the message names it first, else the image."""
    text = str(exc)
    at_label, at_image = text.find(str(label)), text.find(str(image))
    if at_label >= 0 and (at_image < 0 or at_label < at_image):
        return label
    return image


def _percent(value: float | None) -> str:
    return "         -" if value is None else f"{100 * value:9.2f}%"


def format_check(report: dict[str, Any], max_problems: int = 50) -> str:
    """The report as text: layout, frames and class shares per split, then the problems."""
    splits = list(report["splits"])
    lines = [f"{report['root']}: {report['layout']} layout, {len(report['classes'])} classes, "
             f"ignore index {report['ignore_index']}"]
    lines.append("frames: " + ", ".join(f"{s} {report['splits'][s]}" for s in splits))
    if report["classes"]:
        width = max(len(n) for n in report["classes"]) + 2
        lines.append(f"{'class':<{width}}" + "".join(f"{s:>10}" for s in splits) + "   (share of labelled pixels)")
        for name in report["classes"]:
            shares = [report["pixel_share"].get(s, {}).get(name) for s in splits]
            lines.append(f"{name:<{width}}" + "".join(_percent(v) for v in shares))
        ignored = [report["ignored_share"].get(s) for s in splits]
        lines.append(f"{'(ignored)':<{width}}" + "".join(_percent(v) for v in ignored) + "   (share of all pixels)")
    problems = report["problems"]
    lines.append(f"{report['errors']} error(s), {report['warnings']} warning(s)")
    for problem in problems[:max_problems]:
        where = f" {problem['file']}:" if problem["file"] else ""
        lines.append(f"  {problem['severity']}:{where} {problem['message']}")
    if len(problems) > max_problems:
        lines.append(f"  ... and {len(problems) - max_problems} more (all in --json)")
    return "\n".join(lines)
