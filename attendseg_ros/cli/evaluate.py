"""attendseg-eval: metrics of a model over a dataset split (any layout; the ignore index is not scored).

The model's class table must be the dataset's (same names in the same order), or a class map
(``--class-map``) must turn the model's classes into the dataset's: e.g. the CamVid-11 model scored on
a dataset labelled with the 7 classes of ``config/class_maps/navigation.yaml``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..data.classes import ClassTable
from ..data.dataset import LAYOUT_NAMES, SegmentationDataset, open_dataset
from ..engines import create_segmenter
from ..interop.class_map import ClassMap, load_class_map
from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND
from ..runtime.image_conversion import quiet_opencv
from ..training.evaluation import evaluate
from ..training.report import training_data_note
from .arguments import non_negative_int, positive_int


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
    layout: str | None = None,
    class_map: str | None = None,
) -> dict[str, object]:
    """Metrics of ``model`` (default: the embedded one) on ``split`` (only the sequences in ``sequences``
    when given, e.g. the leave-one-sequence-out proxy ``train`` / ``("0006R0",)``); optional plots.

    ``class_map``: a class map (name or YAML path) from the model's classes to the dataset's.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    dataset = open_dataset(data, split, layout, sequences=sequences)
    segmenter = create_segmenter(backend, model=model, threads=threads)
    try:
        lut = prediction_lut(segmenter.info.classes, dataset, class_map)

        def predict(frames: np.ndarray) -> np.ndarray:
            labels = np.stack([s.labels for s in segmenter.segment(frames, resolution="input")])
            return labels if lut is None else lut[labels]

        confusion, report = evaluate(predict, dataset, batch_size=batch_size, progress=progress)
        report.update(
            {
                "split": split if sequences is None else f"{split}:{','.join(sequences)}",
                "model": segmenter.info.name,
                "backend": segmenter.backend,
                "precision": segmenter.precision,
                "input_size": list(segmenter.input_size),
                "class_names": list(dataset.classes.names),
                "data": str(data),
                "layout": dataset.layout,
                **({"class_map": str(class_map)} if class_map else {}),
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


def prediction_lut(model_classes: ClassTable, dataset: SegmentationDataset, class_map: str | None) -> np.ndarray | None:
    """uint8[256] turning the model's ids into the dataset's (``None``: the same table).

    Without a class map the model's class names must be the dataset's, in order; with one, its target
    names must be the dataset's (any order). Anything else is a ``ValueError`` naming both tables.
    """
    wanted = list(dataset.classes.names)
    where = f"{dataset.root} ({dataset.layout} layout)"
    if not class_map:
        if list(model_classes.names) != wanted:
            raise ValueError(
                f"the model's classes {list(model_classes.names)} are not those of {where}: {wanted}; "
                "train on this dataset, or pass --class-map from the model's classes to the dataset's"
            )
        return None
    mapping: ClassMap = load_class_map(class_map, model_classes)
    targets = [t.name for t in mapping.classes]
    if sorted(targets) != sorted(wanted) or mapping.maps_to_unknown:
        raise ValueError(
            f"class map {class_map} gives {targets}"
            f"{' and unknown' if mapping.maps_to_unknown else ''}, but {where} has {wanted}: "
            "its target classes must be exactly the dataset's"
        )
    by_name = {name: wanted.index(name) for name in wanted}
    target_to_dataset = np.zeros(256, np.uint8)
    for target in mapping.classes:
        target_to_dataset[target.id] = by_name[target.name]
    return target_to_dataset[mapping.lut]


def _write_plots(
    folder: Path, confusion: np.ndarray, report: dict[str, object], dataset: SegmentationDataset, predict
) -> None:
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
    parser.add_argument("--data", required=True, help="dataset folder (folder, cityscapes or camvid layout)")
    parser.add_argument("--layout", choices=LAYOUT_NAMES, help="the dataset's layout (default: detected)")
    parser.add_argument("--split", default="val", help="split to score (default: val)")
    parser.add_argument(
        "--sequences", nargs="+", metavar="SEQ",
        help="only these sequences (CamVid drives, Cityscapes cities), e.g. --split train --sequences 0006R0",
    )
    parser.add_argument(
        "--class-map", metavar="MAP",
        help="class map from the model's classes to the dataset's (a name in config/class_maps or a .yaml)",
    )
    parser.add_argument("--model", help="model file (.onnx or .safetensors with its .json); default: embedded")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default=DEFAULT_BACKEND)
    parser.add_argument("--threads", type=non_negative_int, default=0)
    parser.add_argument("--batch-size", type=positive_int, default=4)
    parser.add_argument("--json", dest="json_out", help="write the metrics JSON here")
    parser.add_argument("--plots", help="folder for a confusion-matrix PNG, IoU bars and overlays")
    args = parser.parse_args(argv)
    quiet_opencv()  # our errors name the file; OpenCV's own warning would come first, unasked
    try:
        report = evaluate_model(
            args.data, args.split, args.model, args.backend, args.threads, args.batch_size, args.plots,
            sequences=tuple(args.sequences) if args.sequences else None, layout=args.layout,
            class_map=args.class_map,
        )
    except (OSError, ValueError, RuntimeError) as exc:
        parser.exit(1, f"attendseg-eval: error: {exc}\n")
    print(format_report(report))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
