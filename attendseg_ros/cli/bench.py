"""attendseg-bench: latency, throughput and memory of a segmentation backend, or several side by side.

    attendseg-bench --backend onnxruntime --threads 2 --json bench.json
    attendseg-bench --compare torch:fp32 onnxruntime:fp32 onnxruntime:int8 --threads 2
    attendseg-bench --backend torch --device cuda --precision fp16 --batches 1 2 4 8 16 32

Each iteration times the three stages of :meth:`Segmenter.segment` separately: the shared
preprocessing (resize to the model input + normalise), the network (``Segmenter.run``: the
model with its argmax/confidence post-processing, device copies included) and the resize of
the results back to the frame size (``--resolution input``, the default).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.preprocessing import preprocess
from ..engines import EngineError, create_segmenter
from ..engines.base import RESOLUTIONS, Segmentation, restore_size
from ..registry import BACKEND_NAMES, PRECISIONS

log = logging.getLogger(__name__)

STAGES = ("preprocess", "network", "resize_to_input")


def benchmark(
    backend: str = "onnxruntime",
    precision: str | None = None,
    height: int = 360,
    width: int = 480,
    batch: int = 1,
    iters: int = 50,
    warmup: int = 5,
    threads: int = 0,
    model: str | Path | None = None,
    device: str | None = None,
    resolution: str = "input",
    options: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Benchmark one backend on ``batch`` random ``height x width`` uint8 RGB frames.

    Returns a dict: ``latency_ms_p50``/``_p99``/``_mean`` (one ``segment`` call on the batch,
    end to end), ``frame_ms_p50`` (that divided by ``batch``), ``fps`` (frames per second over
    the timed iterations), ``peak_rss_mb`` (the process's peak resident memory so far),
    ``<stage>_ms_p50``/``_p99`` for each of :data:`STAGES`, and the configuration.
    """
    if iters < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need iters >= 1, warmup >= 0 and batch >= 1 (got {iters}, {warmup}, {batch})")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    segmenter = create_segmenter(backend, model, precision, device, threads, **(options or {}))
    try:
        frames = np.random.default_rng(seed).integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
        times = {stage: [] for stage in STAGES}
        total: list[float] = []
        for i in range(warmup + iters):
            stage_times = _segment_timed(segmenter, frames, resolution)
            if i >= warmup:
                for stage, seconds in zip(STAGES, stage_times, strict=True):
                    times[stage].append(seconds)
                total.append(sum(stage_times))
        result: dict[str, Any] = {
            "backend": segmenter.backend,
            "precision": segmenter.precision,
            "device": device or "default",
            "height": height,
            "width": width,
            "batch": batch,
            "input_height": segmenter.input_size[0],
            "input_width": segmenter.input_size[1],
            "resolution": resolution,
            "iters": iters,
            "warmup": warmup,
            "threads": threads,
            "model": str(getattr(segmenter, "path", model) or "default"),
            **_stats("latency_ms", total),
            "frame_ms_p50": float(np.percentile(total, 50)) * 1e3 / batch,
            "fps": batch * len(total) / sum(total),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        for stage in STAGES:
            result.update(_stats(f"{stage}_ms", times[stage]))
        result["system"] = _system(segmenter)
        return result
    finally:
        segmenter.close()


def _segment_timed(segmenter: Any, frames: np.ndarray, resolution: str) -> tuple[float, float, float]:
    """What :meth:`Segmenter.segment` does, one stage at a time: (preprocess, network, resize) seconds."""
    start = time.perf_counter()
    batch = preprocess(frames, segmenter.input_size, segmenter.info.normalization)
    preprocessed = time.perf_counter()
    labels, confidence = segmenter.run(batch)
    ran = time.perf_counter()
    if resolution == "input":
        size = frames.shape[1:3]
        for lab, conf in zip(labels, confidence, strict=True):
            restore_size(Segmentation(lab, conf), size)
    done = time.perf_counter()
    return preprocessed - start, ran - preprocessed, done - ran


def _stats(name: str, seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        f"{name}_p50": float(np.percentile(ms, 50)),
        f"{name}_p99": float(np.percentile(ms, 99)),
        f"{name}_mean": float(ms.mean()),
    }


def _system(segmenter: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "cpu": _cpu_name(), "cpu_count": os.cpu_count()}
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    except ImportError:
        pass
    if segmenter.backend == "onnxruntime":
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
        info["providers"] = list(getattr(segmenter, "providers", []))
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``"backend[:precision][@model]"`` -> ``(backend, precision or None, model or None)``.

    ``"onnxruntime:int8"``, ``"torch"``, ``"torch:fp32@m.safetensors"``, ``"onnxruntime:int8@m.int8.onnx"``.
    """
    head, _, model = spec.partition("@")
    backend, _, precision = head.partition(":")
    return backend, precision or None, model or None


def compare(specs: Sequence[str], **common: Any) -> dict[str, Any]:
    """Benchmark several ``backend[:precision][@model]`` specs in this process; ratios are vs the first.

    Runs one after another in this process, so ``peak_rss_mb`` only grows from run to run.
    """
    if not specs:
        raise ValueError("compare needs at least one backend[:precision][@model] spec")
    runs = []
    for spec in specs:
        backend, precision, model = parse_spec(spec)
        log.info("benchmarking %s", spec)
        settings = {**common, "model": model or common.get("model")}
        runs.append({"spec": spec, **benchmark(backend, precision, **settings)})
    base = runs[0]
    for run in runs:
        run["speedup_vs_first"] = base["latency_ms_p50"] / run["latency_ms_p50"]
        run["network_speedup_vs_first"] = base["network_ms_p50"] / run["network_ms_p50"]
    return {"baseline": specs[0], "runs": runs}


def sweep(batches: Sequence[int], **common: Any) -> dict[str, Any]:
    """Throughput over batch sizes for one backend (the GPU throughput curve)."""
    common.pop("batch", None)
    runs = [benchmark(batch=b, **common) for b in batches]
    return {"runs": runs}


def format_table(runs: Sequence[dict[str, Any]]) -> str:
    """A plain-text table, one row per run."""
    header = ["run", "batch", "p50 ms", "p99 ms", "fps", "pre ms", "net ms", "resize ms", "RSS MB", "speedup"]
    rows = [header]
    for run in runs:
        rows.append([
            run.get("spec", f"{run['backend']}:{run['precision']}"),
            str(run["batch"]),
            f"{run['latency_ms_p50']:.1f}",
            f"{run['latency_ms_p99']:.1f}",
            f"{run['fps']:.1f}",
            f"{run['preprocess_ms_p50']:.2f}",
            f"{run['network_ms_p50']:.1f}",
            f"{run['resize_to_input_ms_p50']:.2f}",
            f"{run['peak_rss_mb']:.0f}",
            f"{run['speedup_vs_first']:.2f}x" if "speedup_vs_first" in run else "",
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in rows)


def _option(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options are KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attendseg-bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="onnxruntime", choices=BACKEND_NAMES)
    p.add_argument("--precision", choices=PRECISIONS, help="default: the backend's")
    p.add_argument("--model", help="model file (default: the embedded model)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the backend's)")
    p.add_argument("--height", type=int, default=360, help="frame height (the network runs at the model's input size)")
    p.add_argument("--width", type=int, default=480, help="frame width")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--batches", type=int, nargs="+", help="throughput sweep over these batch sizes")
    p.add_argument("--iters", type=int, default=50, help="timed iterations")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: library default)")
    p.add_argument("--resolution", choices=list(RESOLUTIONS), default="input", help="where results are returned")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="backend option, e.g. cuda_graphs=true, spin=false (repeatable)")
    p.add_argument("--compare", nargs="+", metavar="BACKEND[:PRECISION][@MODEL]",
                   help="benchmark several backends side by side, ratios vs the first")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` and benchmark; returns what ``--json`` writes."""
    args = build_parser().parse_args(argv)
    common = {
        "height": args.height, "width": args.width, "batch": args.batch, "iters": args.iters,
        "warmup": args.warmup, "threads": args.threads, "model": args.model, "device": args.device,
        "resolution": args.resolution, "options": dict(args.option),
    }
    if args.compare and args.batches:
        raise ValueError("use --compare or --batches, not both")
    if args.compare:
        result = compare(args.compare, **common)
    elif args.batches:
        result = sweep(args.batches, backend=args.backend, precision=args.precision, **common)
    else:
        result = benchmark(args.backend, args.precision, **common)
    runs = result.get("runs", [result])
    print(format_table(runs))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    """The command: exit status 1 with one line on stderr when the backend cannot run here."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(argv)
    except (EngineError, ValueError, OSError) as exc:
        print(f"attendseg-bench: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
