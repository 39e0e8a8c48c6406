"""attendseg-evaluate-bag: accuracy and latency of a model on a labelled bag (closed-loop or offline).

``closed-loop`` plays the bag's images to the real segmentation node in its own process over ROS
(:mod:`attendseg_ros.ros.bag_runner`, the only part that imports rclpy); ``offline`` runs the engine
in this process. Both pair by stamp and score with the same metrics.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from ..bag.evaluate import (
    MODES,
    RATES,
    check_ground_truth_classes,
    engine_options,
    evaluate_offline,
    json_safe,
    load_node_parameters,
    write_outputs,
)
from ..bag.io import GT_TOPIC, IMAGE_TOPIC, BagError, LabelledFrames
from ..engines import EngineError, model_info, resolve_model
from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND
from ..runtime.image_conversion import quiet_opencv
from ..training.report import training_data_note

LOGGER = logging.getLogger(__name__)


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
    expected = model_info(resolve_model(options.get("backend", DEFAULT_BACKEND), options.get("model"),
                                        options.get("precision")))
    check_ground_truth_classes(bag, expected.classes)  # before any frame runs
    keep = samples if report_dir is not None else 0
    started = time.perf_counter()
    if mode == "offline":
        result, info, engine = evaluate_offline(bag, options, image_topic, gt_topic, keep, progress)
    else:
        from ..ros.bag_runner import run_closed_loop

        backend_name = options.get("backend", DEFAULT_BACKEND)
        info = model_info(resolve_model(backend_name, options.get("model"), options.get("precision")))
        overrides: dict[str, object] = {}  # what the command line changes; the rest comes from params_file
        if backend is not None:
            overrides["backend"] = backend
        if model is not None:
            overrides["model"] = str(Path(model).resolve())
        result = run_closed_loop(
            bag, num_classes=info.classes.num_classes, params_file=params_file, overrides=overrides, rate=rate,
            image_topic=image_topic, gt_topic=gt_topic, keep_samples=keep, frame_timeout=frame_timeout,
            startup_timeout=startup_timeout, progress=progress,
        )
        engine = result.engine or {"backend": backend_name, "precision": options.get("precision") or "default"}
    report = json_safe(result.report)
    LOGGER.info("%s evaluation of %s: %d frames in %.1f s", mode, bag, report["frames"], time.perf_counter() - started)
    details = {"bag": str(bag), "mode": mode, "rate": rate, "model": info.name, **engine}
    note = training_data_note(info.training)
    if note is not None:
        details["note"] = note
    write_outputs(report, result, info, details, json_out, report_dir, f"AttendSeg on {bag.name} ({mode})")
    if report["frames"] == 0:
        raise BagError(bag, f"no frame could be scored ({report['frames_missing']} frames missing)")
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="attendseg-evaluate-bag", description=__doc__.splitlines()[0])
    p.add_argument("bag", help="rosbag2 folder (or .mcap/.db3 file) with images and mono8 ground truth")
    p.add_argument("--mode", choices=MODES, default="closed-loop",
                   help="closed-loop: through the real segmentation node over ROS; offline: engine in-process")
    p.add_argument("--params", default=None, help="node parameter YAML (e.g. config/attendseg.yaml)")
    p.add_argument("--backend", default=None, choices=BACKEND_CHOICES, help="override the backend parameter")
    p.add_argument("--model", default=None, help="override the model parameter (default: the embedded model)")
    p.add_argument("--rate", choices=RATES, default="max",
                   help="closed-loop playback: as fast as results come back (max) or at the recorded rate")
    p.add_argument("--json", dest="json_out", default=None, help="write the result JSON here")
    p.add_argument("--report", dest="report_dir", default=None, help="write a Markdown report with plots here")
    p.add_argument("--image-topic", default=IMAGE_TOPIC)
    p.add_argument("--gt-topic", default=GT_TOPIC)
    p.add_argument("--frame-timeout", type=float, default=10.0, help="seconds to wait for a frame's labels")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the node to serve")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_opencv()
    try:
        report = evaluate_bag(
            args.bag,
            mode=args.mode,
            params_file=args.params,
            backend=args.backend,
            model=args.model,
            rate=args.rate,
            json_out=args.json_out,
            report_dir=args.report_dir,
            image_topic=args.image_topic,
            gt_topic=args.gt_topic,
            frame_timeout=args.frame_timeout,
            startup_timeout=args.startup_timeout,
        )
    except (BagError, EngineError, ValueError, OSError, RuntimeError) as exc:
        print(f"attendseg-evaluate-bag: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
