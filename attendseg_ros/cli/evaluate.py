"""attendseg-eval: SegNet-split metrics of a model over a CamVid split (void ignored)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..data.camvid import CamVid
from ..engines import create_segmenter
from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND
from ..runtime.image_conversion import quiet_opencv
from ..training.evaluation import evaluate
from ..training.report import training_data_note


def evaluate_model(
    data: str | Path,
    split: str = "val",
    model: str | Path | None = None,
    backend: str = DEFAULT_BACKEND,
    threads: int = 0,
    batch_size: int = 4,
    plots: str | Path | None = None,
    progress: bool | None = None,
    sequences: tuple[str, ...] | None = None,
) -> dict[str, object]:
    """Metrics of ``model`` (default: the embedded one) on ``split`` (only the drives in ``sequences``
    when given, e.g. the leave-one-sequence-out proxy ``train`` / ``("0006R0",)``); optional plots."""
    dataset = CamVid(data, split, sequences=sequences)
    segmenter = create_segmenter(backend, model=model, threads=threads)
    try:
        if segmenter.info.classes.num_classes != dataset.classes.num_classes:
            raise ValueError(
                f"the model predicts {segmenter.info.classes.num_classes} classes but {data} ({dataset.layout}) "
                f"has {dataset.classes.num_classes}"
            )

        def predict(frames: np.ndarray) -> np.ndarray:
            return np.stack([s.labels for s in segmenter.segment(frames, resolution="input")])

        confusion, report = evaluate(predict, dataset, batch_size=batch_size, progress=progress)
        report.update(
            {
                "split": split if sequences is None else f"{split}:{','.join(sequences)}",
                "model": segmenter.info.name,
                "backend": segmenter.backend,
                "precision": segmenter.precision,
                "input_size": list(segmenter.input_size),
                "class_names": list(dataset.classes.names),
            }
        )
        note = training_data_note(segmenter.info.training, split, sequences)
        if note is not None:
            report["note"] = note
        if plots is not None:
            _write_plots(Path(plots), confusion, report, dataset, predict)
        return report
    finally:
        segmenter.close()


def _write_plots(folder: Path, confusion: np.ndarray, report: dict[str, object], dataset: CamVid, predict) -> None:
    import cv2

    from ..runtime.visualize import overlay
    from ..training.report import plot_class_iou, plot_confusion

    folder.mkdir(parents=True, exist_ok=True)
    names = list(dataset.classes.names)
    plot_confusion(confusion, names, folder / "confusion.png")
    plot_class_iou(report["class_iou"], names, folder / "class_iou.png")
    palette = dataset.classes.palette()
    for index in np.linspace(0, len(dataset) - 1, num=min(4, len(dataset)), dtype=int):
        rgb, _ = dataset[int(index)]
        labels = predict(rgb[None])[0]
        image = overlay(rgb, labels, palette, 0.5)
        cv2.imwrite(str(folder / f"overlay_{dataset.samples[int(index)].image.stem}.png"), image[..., ::-1])


def format_report(report: dict[str, object]) -> str:
    names = report.get("class_names", [])
    lines = [
        f"{report['model']} [{report['backend']} {report['precision']}] on {report['split']} "
        f"({report['frames']} frames, input {report['input_size']})",
        f"  pixel accuracy      {100 * float(report['pixel_accuracy']):6.2f} %",
        f"  mean class accuracy {100 * float(report['mean_class_accuracy']):6.2f} %",
        f"  mIoU                {100 * float(report['miou']):6.2f} %",
    ]
    for name, iou in zip(names, report["class_iou"], strict=False):  # type: ignore[arg-type]
        lines.append(f"    {name:<12} IoU {'   n/a' if iou is None else f'{100 * iou:6.2f} %'}")
    if report.get("note"):
        lines.append(f"  note: {report['note']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="attendseg-eval", description=__doc__)
    parser.add_argument("--data", required=True, help="CamVid folder (SegNet 11-class or 32-class layout)")
    parser.add_argument("--split", choices=["train", "val", "test"], default="val")
    parser.add_argument(
        "--sequences", nargs="+", metavar="SEQ", help="only these drives, e.g. --split train --sequences 0006R0"
    )
    parser.add_argument("--model", help="model file (.onnx or .safetensors with its .json); default: embedded")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=DEFAULT_BACKEND)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--json", dest="json_out", help="write the metrics JSON here")
    parser.add_argument("--plots", help="folder for a confusion-matrix PNG, IoU bars and overlays")
    args = parser.parse_args(argv)
    quiet_opencv()  # our errors name the file; OpenCV's own warning would come first, unasked
    try:
        report = evaluate_model(
            args.data, args.split, args.model, args.backend, args.threads, args.batch_size, args.plots,
            sequences=tuple(args.sequences) if args.sequences else None,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        parser.exit(1, f"attendseg-eval: error: {exc}\n")
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
