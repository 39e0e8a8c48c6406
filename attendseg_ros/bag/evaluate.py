"""Bag evaluation pieces without ROS: node parameter files, the offline mode, the outputs (JSON, report).

Both modes of ``attendseg-evaluate-bag`` read ground truth from the bag, pair it with predictions by
header stamp and score with :mod:`attendseg_ros.metrics`, so their accuracy agrees with each other
and with ``attendseg-eval`` on the same frames. The closed-loop mode, which drives the real node,
is :mod:`attendseg_ros.ros.bag_runner`; :mod:`attendseg_ros.cli.evaluate_bag` chooses between them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from ..data.classes import ClassTable
from .io import CLASS_TABLE_KEY, GT_TOPIC, IMAGE_TOPIC, bag_custom_data
from .offline import BagEvaluation

MODES = ("closed-loop", "offline")
RATES = ("max", "recorded")
# node parameters that choose and configure the engine (the rest of the YAML is left to the node)
ENGINE_PARAMETERS = ("backend", "model", "precision", "device", "threads")


def load_node_parameters(path: str | Path | None) -> dict[str, Any]:
    """The ``ros__parameters`` of the first node section in a ROS 2 parameter YAML ({} for None)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the parameter file ({exc})") from exc
    sections = [v for v in (data or {}).values() if isinstance(v, dict)] if isinstance(data, dict) else []
    for section in sections:
        if isinstance(section.get("ros__parameters"), dict):
            return dict(section["ros__parameters"])
    raise ValueError(f"{path}: no '<node>: ros__parameters:' section found")


def engine_options(parameters: dict[str, Any]) -> dict[str, Any]:
    """Arguments of ``create_segmenter`` from node parameters (empty strings = the defaults)."""
    options: dict[str, Any] = {}
    for key in ENGINE_PARAMETERS:
        value = parameters.get(key)
        if value is None or value == "":
            continue
        options[key] = int(value) if key == "threads" else value
    return options


def check_ground_truth_classes(bag: str | Path, classes: ClassTable) -> ClassTable | None:
    """The bag's ground-truth class table (``None`` when it records none); ``ValueError`` unless it is ``classes``.

    Bags written by ``attendseg-dataset-to-bag`` record the dataset's table; a model is scored on such a
    bag only when its classes are the same names in the same order (ids would mean other classes).
    """
    text = bag_custom_data(bag).get(CLASS_TABLE_KEY)
    if text is None:
        return None
    try:
        recorded = ClassTable.from_dict(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{bag}: malformed class table in the bag's metadata ({exc})") from exc
    if recorded.names != classes.names:
        raise ValueError(
            f"{bag}: its ground truth is labelled in class table {recorded.name!r} {list(recorded.names)}, but the "
            f"model predicts {classes.name!r} {list(classes.names)}; score a model trained on that dataset"
        )
    return recorded


def evaluate_offline(bag: str | Path, options: dict[str, Any], image_topic: str = IMAGE_TOPIC,
                     gt_topic: str = GT_TOPIC, keep_samples: int = 0,
                     progress: bool | None = None) -> tuple[BagEvaluation, Any, dict[str, str]]:
    """The engine in this process over the bag: (evaluation, the model's info, backend and precision used)."""
    from ..engines import create_segmenter
    from .offline import evaluate_bag_offline

    segmenter = create_segmenter(**options)
    try:
        info = segmenter.info
        result = evaluate_bag_offline(bag, segmenter, info.classes.num_classes, image_topic, gt_topic, keep_samples,
                                      progress)
    finally:
        segmenter.close()
    return result, info, {"backend": segmenter.backend, "precision": segmenter.precision}


def json_safe(value: Any) -> Any:
    """NaN and infinities become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_outputs(report: dict[str, Any], result: BagEvaluation, info: Any, details: dict[str, Any],
                  json_out: str | Path | None, report_dir: str | Path | None, title: str) -> None:
    """The JSON report and the Markdown report with plots, where asked for."""
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if report_dir is not None:
        from ..training.report import write_report

        write_report(
            report_dir,
            report,
            result.confusion,
            info.classes.names,
            info.classes.palette(),
            [(str(s.stamp_ns), s.rgb, s.ground_truth, s.prediction) for s in result.samples],
            title=title,
            details=details,
        )
