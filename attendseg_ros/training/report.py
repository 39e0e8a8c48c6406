"""Evaluation reports: confusion-matrix and per-class IoU plots, colour overlays, a Markdown summary.

Plain functions over arrays, shared by ``attendseg-eval --plots`` and ``attendseg-evaluate-bag --report``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..interop.unknown import UNKNOWN_NAME
from ..runtime.visualize import overlay


def _pyplot():  # returns matplotlib.pyplot
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | Path, dpi: int = 120) -> Path:  # plt: matplotlib.pyplot
    """Lay out, write and close one figure as a PNG at ``path`` (its folder is created)."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_confusion(confusion: np.ndarray, class_names: Sequence[str], path: str | Path, normalize: bool = True) -> Path:
    """Confusion matrix as a PNG (rows = ground truth, columns = prediction; row-normalised by default).

    A ``(C, C + 1)`` matrix (see :mod:`attendseg_ros.metrics`) gets a last column "unknown".
    """
    confusion = np.asarray(confusion)
    count = len(class_names)
    if confusion.shape not in ((count, count), (count, count + 1)):
        raise ValueError(f"confusion {confusion.shape} does not match {count} class names")
    column_names = [*class_names, *([UNKNOWN_NAME] if confusion.shape[1] > count else [])]
    values = confusion.astype(np.float64)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.nan_to_num(values / values.sum(axis=1, keepdims=True))
    plt = _pyplot()
    size = max(5.0, 0.55 * len(column_names) + 2.0)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    ax.set_xticks(np.arange(len(column_names)), labels=column_names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(np.arange(count), labels=list(class_names), fontsize=8)
    ax.set_xlabel("prediction")
    ax.set_ylabel("ground truth")
    if count <= 20:
        for row in range(count):
            for col in range(len(column_names)):
                text = f"{values[row, col]:.2f}" if normalize else str(int(values[row, col]))
                colour = "white" if values[row, col] > values.max() / 2 else "black"
                ax.text(col, row, text, ha="center", va="center", fontsize=6, color=colour)
    ax.set_title("confusion matrix" + (" (row-normalised)" if normalize else ""))
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _save(plt, fig, path)


def plot_class_iou(class_iou: Sequence[float | None], names: Sequence[str], path: str | Path) -> Path:
    """Horizontal bars of per-class IoU (None/NaN drawn as an empty bar marked 'n/a')."""
    if len(class_iou) != len(names):
        raise ValueError(f"{len(class_iou)} IoU values for {len(names)} class names")
    values = [float("nan") if v is None else float(v) for v in class_iou]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, max(3.0, 0.35 * len(names) + 1.0)))
    positions = np.arange(len(names))
    ax.barh(positions, [0.0 if math.isnan(v) else v for v in values], color="tab:blue")
    for pos, value in zip(positions, values, strict=True):
        ax.text(
            0.01 if math.isnan(value) else value + 0.01,
            pos,
            "n/a" if math.isnan(value) else f"{value:.3f}",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(positions, labels=list(names), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.1)
    ax.set_xlabel("IoU")
    finite = [v for v in values if not math.isnan(v)]
    if finite:
        ax.axvline(float(np.mean(finite)), color="tab:red", linestyle="--", label=f"mIoU {np.mean(finite):.3f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_title("per-class IoU")
    return _save(plt, fig, path)


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
    return path


def training_data_note(training: Mapping[str, Any], split: str | None = None,
                       sequences: Sequence[str] | None = None) -> str | None:
    """A warning when the frames scored were training data of the model, from its sidecar's ``training`` record.

    ``split`` (``val``, ``train``, ``test``) with ``sequences`` (drives) names the frames; ``None`` when
    they are not known (a bag): then the note says which splits the model was trained on. ``None``
    when the frames were not trained on, or the sidecar does not say what was.
    """
    config = training.get("config") or {}
    splits = list(config.get("train_splits") or ())
    if not splits:
        return None
    trained = " + ".join(splits)
    if split is None:
        return (f"this model was trained on CamVid {trained}: frames of those splits are training data, their "
                "scores measure fit, not accuracy on unseen images (CamVid test is held out)")
    excluded = set(config.get("exclude_sequences") or ())
    if split not in splits or (sequences and set(sequences) <= excluded):
        return None
    return (f"{split} is training data of this model (trained on CamVid {trained}): this score measures fit, "
            "not accuracy on unseen images (CamVid test is held out)")


def _fmt(value: object, percent: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{100 * value:.2f} %" if percent else f"{value:.2f}"
    return str(value)


def write_report(
    directory: str | Path,
    report: Mapping[str, object],
    confusion: np.ndarray,
    class_names: Sequence[str],
    palette: np.ndarray,
    samples: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = (),
    title: str = "AttendSeg evaluation",
    details: Mapping[str, object] | None = None,
    alpha: float = 0.5,
) -> Path:
    """Write ``report.md``, ``report.json``, ``confusion.png``, ``class_iou.png`` and overlays to ``directory``.

    ``samples`` are ``(name, rgb, ground_truth, prediction)``; each becomes one PNG with the frame,
    the ground-truth overlay and the prediction overlay side by side. Returns the Markdown path.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    plot_confusion(confusion, class_names, directory / "confusion.png")
    plot_class_iou(report["class_iou"], class_names, directory / "class_iou.png")  # type: ignore[arg-type]
    (directory / "report.json").write_text(json.dumps(dict(report), indent=2) + "\n", encoding="utf-8")
    overlays = []
    for name, rgb, truth, prediction in samples:
        panel = np.concatenate(
            [rgb, overlay(rgb, truth, palette, alpha), overlay(rgb, prediction, palette, alpha)], axis=1
        )
        overlays.append(write_png(directory / f"overlay_{name}.png", panel).name)
    lines = [f"# {title}", ""]
    for key, value in (details or {}).items():
        lines.append(f"- **{key}**: {value}")
    if details:
        lines.append("")
    lines += [
        "| metric | value |",
        "|---|---|",
        f"| pixel accuracy | {_fmt(report.get('pixel_accuracy'))} |",
        f"| mean class accuracy | {_fmt(report.get('mean_class_accuracy'))} |",
        f"| mIoU | {_fmt(report.get('miou'))} |",
        f"| frames | {_fmt(report.get('frames'))} |",
    ]
    if "frames_missing" in report:
        lines.append(f"| frames missing | {_fmt(report.get('frames_missing'))} |")
    for key, label in (("latency_ms_p50", "latency p50 (ms)"), ("latency_ms_p99", "latency p99 (ms)"), ("fps", "fps")):
        if key in report:
            lines.append(f"| {label} | {_fmt(report.get(key), percent=False)} |")
    lines += ["", "## Per-class IoU", "", "| class | IoU |", "|---|---|"]
    for name, value in zip(class_names, report["class_iou"], strict=True):  # type: ignore[call-overload]
        lines.append(f"| {name} | {_fmt(value)} |")
    lines += ["", "![per-class IoU](class_iou.png)", "", "![confusion matrix](confusion.png)", ""]
    if overlays:
        lines += ["## Samples (frame | ground truth | prediction)", ""]
        lines += [f"![{name}]({name})" for name in overlays]
        lines.append("")
    path = directory / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def plot_training_curve(history: Sequence[Mapping[str, object]], path: str | Path, title: str = "") -> Path:
    """Training loss and the mIoU of every evaluation set against the optimiser step, as a PNG.

    ``history``: the records a training run keeps (``step``, ``loss`` and one ``{name: {"miou": ...}}``
    entry per evaluation set).
    """
    if not history:
        raise ValueError("the training history is empty: nothing to plot")
    steps = [int(record["step"]) for record in history]  # type: ignore[call-overload]
    sets = [k for k, v in history[-1].items() if isinstance(v, Mapping) and "miou" in v]
    plt = _pyplot()
    fig, (loss_axis, miou_axis) = plt.subplots(1, 2, figsize=(11, 4))
    loss_axis.plot(steps, [float(record["loss"]) for record in history], marker=".")  # type: ignore[arg-type]
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss (smoothed)")
    for name in sets:
        points = [(s, r[name]["miou"]) for s, r in zip(steps, history, strict=True) if isinstance(r.get(name), Mapping)]
        miou_axis.plot([p[0] for p in points], [100 * float(p[1]) for p in points], marker=".", label=name)
    miou_axis.set_xlabel("step")
    miou_axis.set_ylabel("mIoU of the EMA model (%)")
    miou_axis.legend()
    for axis in (loss_axis, miou_axis):
        axis.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return _save(plt, fig, path)


def class_iou_table(reports: Mapping[str, Mapping[str, object]], class_names: Sequence[str]) -> str:
    """A Markdown table of per-class IoU (rows: classes, then mIoU and pixel accuracy; columns: reports)."""
    names = list(reports)
    lines = ["| class | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for index, class_name in enumerate(class_names):
        cells = [_fmt(list(reports[n]["class_iou"])[index]) for n in names]  # type: ignore[call-overload]
        lines.append(f"| {class_name} | " + " | ".join(cells) + " |")
    lines.append("| **mIoU** | " + " | ".join(_fmt(reports[n]["miou"]) for n in names) + " |")
    lines.append("| pixel accuracy | " + " | ".join(_fmt(reports[n]["pixel_accuracy"]) for n in names) + " |")
    return "\n".join(lines) + "\n"
