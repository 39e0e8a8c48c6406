"""``attendseg-evaluate-bag``: score a model on a labelled bag, offline or through the real ROS node.

Both modes read ground truth from the bag, pair it with predictions by header stamp and score
with :mod:`attendseg_ros.metrics`, so their accuracy agrees with each other and with
``attendseg-eval`` on the same frames. Only ``closed-loop`` imports rclpy (lazily).
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import yaml

from .io import GT_TOPIC, IMAGE_TOPIC, BagError, LabelledFrames
from .offline import BagEvaluation

LOGGER = logging.getLogger(__name__)

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
    """Arguments of ``create_segmenter`` from node parameters (empty model string = default model)."""
    options: dict[str, Any] = {}
    for key in ENGINE_PARAMETERS:
        value = parameters.get(key)
        if value is None or value == "":
            continue
        options[key] = int(value) if key == "threads" else value
    return options


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def evaluate_bag(
    bag: str | Path,
    mode: str = "closed-loop",
    params_file: str | Path | None = None,
    backend: str | None = None,
    model: str | Path | None = None,
    rate: str = "max",
    json_out: str | Path | None = None,
    report_dir: str | Path | None = None,
    image_topic: str = IMAGE_TOPIC,
    gt_topic: str = GT_TOPIC,
    samples: int = 4,
    frame_timeout: float = 10.0,
    startup_timeout: float = 120.0,
    progress: bool | None = None,
) -> dict[str, object]:
    """Evaluate the model on ``bag``; returns the report dict (also written to ``json_out``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if rate not in RATES:
        raise ValueError(f"rate must be one of {RATES}, got {rate!r}")
    bag = Path(bag)
    LabelledFrames(bag, image_topic, gt_topic)  # fail early and clearly on a missing or unreadable bag
    parameters = load_node_parameters(params_file)
    if backend is not None:
        parameters["backend"] = backend
    if model is not None:
        parameters["model"] = str(model)
    options = engine_options(parameters)
    keep = samples if report_dir is not None else 0
    started = time.perf_counter()
    if mode == "offline":
        from ..engines import create_segmenter

        segmenter = create_segmenter(**options)
        try:
            info = segmenter.info
            from .offline import evaluate_bag_offline

            result: BagEvaluation = evaluate_bag_offline(
                bag, segmenter, info.classes.num_classes, image_topic, gt_topic, keep, progress
            )
        finally:
            segmenter.close()
        engine = {"backend": segmenter.backend, "precision": segmenter.precision}
    else:
        from ..engines import default_model_path, model_info
        from ..ros.bag_runner import run_closed_loop

        model_path = options.get("model")
        if model_path is None:  # the node's embedded default for its backend and precision
            onnx = options.get("backend", "onnxruntime") == "onnxruntime" and options.get("precision") in (None, "int8")
            model_path = default_model_path("onnx" if onnx else "safetensors")
        info = model_info(model_path)
        overrides: dict[str, object] = {}  # what the command line changes; the rest comes from params_file
        if backend is not None:
            overrides["backend"] = backend
        if model is not None:
            overrides["model"] = str(Path(model).resolve())
        result = run_closed_loop(
            bag,
            num_classes=info.classes.num_classes,
            params_file=params_file,
            overrides=overrides,
            rate=rate,
            image_topic=image_topic,
            gt_topic=gt_topic,
            keep_samples=keep,
            frame_timeout=frame_timeout,
            startup_timeout=startup_timeout,
            progress=progress,
        )
        engine = {"backend": options.get("backend", "default"), "precision": options.get("precision", "default")}
    report = _json_safe(result.report)
    LOGGER.info("%s evaluation of %s: %d frames in %.1f s", mode, bag, report["frames"], time.perf_counter() - started)
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if report_dir is not None:
        from ..report import write_report

        details = {"bag": str(bag), "mode": mode, "rate": rate, "model": info.name, **engine}
        write_report(
            report_dir,
            report,
            result.confusion,
            info.classes.names,
            info.classes.palette(),
            [(str(s.stamp_ns), s.rgb, s.ground_truth, s.prediction) for s in result.samples],
            title=f"AttendSeg on {bag.name} ({mode})",
            details=details,
        )
    if report["frames"] == 0:
        raise BagError(bag, f"no frame could be scored ({report['frames_missing']} frames missing)")
    return report
