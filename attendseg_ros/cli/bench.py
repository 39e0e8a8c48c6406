"""attendseg-bench: latency, throughput and memory of a segmentation backend, or several side by side.

    attendseg-bench --backend onnxruntime --threads 2 --json bench.json
    attendseg-bench --compare onnxruntime:fp32 onnxruntime:int8 openvino:fp32 openvino:int8 --threads 2
    attendseg-bench --compare torch:fp32 onnxruntime:int8 --option onnxruntime.spin=false
    attendseg-bench --backend torch --device cuda --precision fp16 --batches 1 2 4 8 16 32
    attendseg-bench --agreement onnxruntime:int8 openvino:int8 --data ../shared/camvid --frames 0

Without ``@MODEL`` a spec runs the embedded model: INT8 is the shipped ``.int8.onnx``, FP32 the
shipped weights (exported to ONNX on the fly for onnxruntime/openvino), both at the input size of
their sidecar. Any model file works the same way, an imported one (attendseg-import-model) too:
frames default to the model's input size, and the output names the model and its class count.
The output starts with the CPU's name and the flags that decide INT8 speed
(avx2, avx512_vnni, avx_vnni, amx_int8). ``--agreement`` runs every spec on real frames of a
CamVid split and reports, against the first spec, the % of pixels with the same label.

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
from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND, PRECISIONS
from .arguments import non_negative_int, positive_int

log = logging.getLogger(__name__)

STAGES = ("preprocess", "network", "resize_to_input")
# CPU flags that decide which INT8 kernels run: VNNI (AVX512 or AVX) and AMX sum u8 x s8 products
# in 32 bits; AVX2 alone goes through 16-bit pair sums that saturate with full 8-bit weights.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")


def benchmark(
    backend: str = DEFAULT_BACKEND,
    precision: str | None = None,
    height: int | None = None,
    width: int | None = None,
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
    """Benchmark one backend on ``batch`` random ``height x width`` uint8 RGB frames (default: the model's input size).

    Returns a dict: ``latency_ms_p50``/``_p99``/``_mean`` (one ``segment`` call on the batch,
    end to end), ``frame_ms_p50`` (that divided by ``batch``), ``fps`` (frames per second over
    the timed iterations), ``peak_rss_mb`` (the process's peak resident memory so far),
    ``<stage>_ms_p50``/``_p99`` for each of :data:`STAGES`, and the configuration.
    """
    if iters < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"need iters >= 1, warmup >= 0 and batch >= 1 (got {iters}, {warmup}, {batch})")
    if (height is not None and height < 1) or (width is not None and width < 1):
        raise ValueError(f"frame height and width must be at least 1 (got {height} x {width})")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    segmenter = create_segmenter(backend, model, precision, device, threads, **(options or {}))
    try:
        height = height or segmenter.input_size[0]
        width = width or segmenter.input_size[1]
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
            "model_name": segmenter.info.name,
            "classes": segmenter.info.classes.num_classes,
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
    info["cpu_flags"] = cpu_flags()
    if segmenter.backend == "onnxruntime":
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
        info["providers"] = list(getattr(segmenter, "providers", []))
    if segmenter.backend == "openvino":
        import openvino

        info["openvino"] = openvino.__version__
        info["openvino_device"] = segmenter.device
        info["openvino_config"] = dict(segmenter.config)
    if segmenter.selection is not None:  # --backend auto: what was measured
        info["auto_selection"] = segmenter.selection._asdict()
    return info


def cpu_flags() -> dict[str, bool]:
    """Which of :data:`CPU_FLAGS` this CPU has (Linux ``/proc/cpuinfo``; all False elsewhere)."""
    flags = (_cpuinfo_field("flags") or "").split()
    return {flag: flag in flags for flag in CPU_FLAGS}


def cpu_summary() -> str:
    """One line: the CPU's name, logical CPU count and its INT8-relevant flags."""
    flags = cpu_flags()
    present = [name for name, has in flags.items() if has] or ["none"]
    absent = [name for name, has in flags.items() if not has]
    family, model = _cpuinfo_field("cpu family"), _cpuinfo_field("model")
    ident = f", family {family} model {model}" if family and model else ""
    return (f"CPU: {_cpu_name()} ({os.cpu_count()} logical CPUs{ident}); flags: {' '.join(present)}"
            + (f" (no {' '.join(absent)})" if absent else ""))


def _cpuinfo_field(name: str) -> str | None:
    """The first ``name : value`` of /proc/cpuinfo (``None`` where there is none)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return None


def _cpu_name() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


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
    ``options`` keys ``backend.key`` apply to that backend only (``onnxruntime.spin=false``).
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


def agreement(
    specs: Sequence[str],
    data: str | Path,
    split: str = "val",
    frames: int = 20,
    threads: int = 0,
    device: str | None = None,
    model: str | Path | None = None,
    options: dict[str, Any] | None = None,
    batch_size: int = 4,
) -> dict[str, Any]:
    """Label agreement of every ``backend[:precision][@model]`` spec with the first, on real frames.

    ``frames`` CamVid frames of ``split`` spread evenly over it (0: all), compared at the model
    resolution. Per spec: ``label_agreement`` (fraction of pixels with the first spec's label),
    ``min_frame_agreement`` (the worst frame's) and ``confidence_within_1`` (fraction of pixels
    whose confidence is within one step of 255).
    """
    from ..data.camvid import CamVid

    if len(specs) < 2:
        raise ValueError("agreement needs at least two backend[:precision][@model] specs")
    if frames < 0:
        raise ValueError(f"frames must be >= 0 (0: the whole split), got {frames}")
    dataset = CamVid(data, split)
    count = len(dataset) if frames == 0 else min(frames, len(dataset))
    indices = np.unique(np.linspace(0, len(dataset) - 1, count).astype(int)).tolist()
    segmenters = []
    try:
        for spec in specs:
            backend, precision, spec_model = parse_spec(spec)
            segmenters.append(create_segmenter(backend, spec_model or model, precision, device, threads,
                                               **(options or {})))
        if len({s.input_size for s in segmenters}) > 1:
            sizes = {spec: s.input_size for spec, s in zip(specs, segmenters, strict=True)}
            raise ValueError(f"the specs run at different input sizes {sizes}: labels cannot be compared")
        if len({s.info.classes.names for s in segmenters}) > 1:
            tables = {spec: list(s.info.classes.names) for spec, s in zip(specs, segmenters, strict=True)}
            raise ValueError(f"the specs predict different classes {tables}: labels cannot be compared")
        same = np.zeros(len(specs)), np.zeros(len(specs))  # equal labels, confidence within 1
        worst = np.ones(len(specs))
        pixels = 0
        for start in range(0, len(indices), batch_size):
            batch = [dataset[i][0] for i in indices[start : start + batch_size]]
            results = [s.segment(batch) for s in segmenters]
            for column, result in enumerate(results):
                for ref, res in zip(results[0], result, strict=True):
                    equal = ref.labels == res.labels
                    same[0][column] += equal.sum()
                    same[1][column] += (np.abs(ref.confidence.astype(int) - res.confidence.astype(int)) <= 1).sum()
                    worst[column] = min(worst[column], float(equal.mean()))
            pixels += sum(r.labels.size for r in results[0])
    finally:
        for segmenter in segmenters:
            segmenter.close()
    runs = [
        {
            "spec": spec,
            "backend": seg.backend,
            "precision": seg.precision,
            "model": str(getattr(seg, "path", "") or spec),
            "label_agreement": float(same[0][i] / pixels),
            "min_frame_agreement": float(worst[i]),
            "confidence_within_1": float(same[1][i] / pixels),
        }
        for i, (spec, seg) in enumerate(zip(specs, segmenters, strict=True))
    ]
    return {"reference": specs[0], "split": split, "frames": len(indices),
            "input_size": list(segmenters[0].input_size), "runs": runs}


def format_agreement(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`agreement`, in % of pixels."""
    header = ["run", "precision", "labels = ref", "worst frame", "confidence +-1"]
    rows = [header]
    for i, run in enumerate(result["runs"]):
        cells = ["(reference)", "", ""] if i == 0 else [
            f"{100 * run['label_agreement']:.2f} %", f"{100 * run['min_frame_agreement']:.2f} %",
            f"{100 * run['confidence_within_1']:.2f} %"]
        rows.append([run["spec"], run["precision"], *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    title = (f"label agreement with {result['reference']} on {result['frames']} {result['split']} frames "
             f"at {result['input_size'][0]}x{result['input_size'][1]}")
    return title + "\n" + "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


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
    p.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKEND_CHOICES,
                   help="auto: the faster CPU engine here, by a short measurement")
    p.add_argument("--precision", choices=PRECISIONS, help="default: the backend's")
    p.add_argument("--model", help="model file (default: the embedded model)")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N; openvino also GPU, NPU, AUTO (default: the backend's)")
    p.add_argument("--height", type=positive_int,
                   help="frame height (default: the model's input height; the network runs at its input size)")
    p.add_argument("--width", type=positive_int, help="frame width (default: the model's input width)")
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--batches", type=positive_int, nargs="+", help="throughput sweep over these batch sizes")
    p.add_argument("--iters", type=positive_int, default=50, help="timed iterations")
    p.add_argument("--warmup", type=non_negative_int, default=5, help="untimed iterations first")
    p.add_argument("--threads", type=non_negative_int, default=0, help="CPU threads (0: library default)")
    p.add_argument("--resolution", choices=list(RESOLUTIONS), default="input", help="where results are returned")
    p.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                   help="backend option, e.g. cuda_graphs=true, spin=false; BACKEND.KEY=VALUE applies to one "
                        "backend only, e.g. openvino.hint=throughput (repeatable)")
    p.add_argument("--compare", nargs="+", metavar="BACKEND[:PRECISION][@MODEL]",
                   help="benchmark several backends side by side, ratios vs the first")
    p.add_argument("--agreement", nargs="+", metavar="BACKEND[:PRECISION][@MODEL]",
                   help="share of pixels (%%) labelled as by the first spec, on real frames of --data")
    p.add_argument("--data", type=Path, help="CamVid folder for --agreement")
    p.add_argument("--split", default="val", choices=["train", "val", "test"], help="split for --agreement")
    p.add_argument("--frames", type=non_negative_int, default=20,
                   help="frames for --agreement, spread over the split (0: all)")
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
    if sum(map(bool, (args.compare, args.batches, args.agreement))) > 1:
        raise ValueError("use one of --compare, --batches and --agreement")
    print(cpu_summary())
    if args.agreement:
        if args.data is None:
            raise ValueError("--agreement needs --data (a CamVid folder)")
        result = agreement(args.agreement, args.data, args.split, args.frames, args.threads, args.device,
                           args.model, common["options"])
        result["system"] = {"cpu": _cpu_name(), "cpu_flags": cpu_flags()}
        print(format_agreement(result))
    else:
        if args.compare:
            result = compare(args.compare, **common)
        elif args.batches:
            result = sweep(args.batches, backend=args.backend, precision=args.precision, **common)
        else:
            result = benchmark(args.backend, args.precision, **common)
        runs = result.get("runs", [result])
        print(f"model {runs[0]['model_name']} ({runs[0]['classes']} classes), "
              f"network input {runs[0]['input_height']}x{runs[0]['input_width']}, frames "
              f"{runs[0]['height']}x{runs[0]['width']}, batch {runs[0]['batch']}, threads {runs[0]['threads']}")
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
