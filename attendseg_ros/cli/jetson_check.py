"""attendseg-jetson-check: does the tensorrt backend work on this Jetson (or NVIDIA GPU), and how fast?

    attendseg-jetson-check --data ~/camvid                 # the embedded TensorRT-ready INT8 model
    attendseg-jetson-check --data ~/camvid --model my.int8.tensorrt.onnx --max-batch 8 --json report.json

Steps: build the engine from the model file in a fresh cache folder (the build time), run CamVid
frames through TensorRT and through onnxruntime on the same file and compare the labels (the % of
pixels with equal labels; without ``--data`` this is skipped), measure latency p50/p99 and fps at
batch 1 and at the largest batch up to ``--max-batch`` that runs, and record the TensorRT, CUDA,
GPU and JetPack versions. Everything goes to a JSON file to attach to a bug report. Without
TensorRT or a CUDA GPU it stops at once with exit status 2 and says what is missing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..engines import EngineError, create_segmenter, resolve_model
from ..engines.tensorrt_engine import require_cuda_torch, require_tensorrt
from .arguments import positive_int
from .bench import agreement, benchmark

log = logging.getLogger(__name__)

# L4T major release -> JetPack major version (NVIDIA's JetPack archive).
L4T_TO_JETPACK = {32: "4.x", 35: "5.x", 36: "6.x", 38: "7.x"}


def jetson_versions(release_file: Path = Path("/etc/nv_tegra_release")) -> dict[str, Any]:
    """L4T release and JetPack version where this is a Jetson (``None`` values elsewhere)."""
    info: dict[str, Any] = {"l4t": None, "jetpack": None, "machine": platform.machine()}
    try:
        line = release_file.read_text().splitlines()[0]  # "# R36 (release), REVISION: 4.3, ..."
        major = int(line.split()[1].lstrip("R"))
        revision = line.split("REVISION:")[1].split(",")[0].strip()
        info["l4t"] = f"{major}.{revision}"
        info["jetpack"] = L4T_TO_JETPACK.get(major)
    except (OSError, IndexError, ValueError):
        return info  # not a Jetson
    try:
        result = subprocess.run(["dpkg-query", "--showformat=${Version}", "--show", "nvidia-jetpack"],
                                capture_output=True, text=True, timeout=10, check=False)
        if result.returncode == 0 and result.stdout.strip():
            info["jetpack"] = result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def gpu_versions() -> dict[str, Any]:
    """TensorRT, torch, CUDA and GPU; :class:`EngineError` naming what is missing."""
    tensorrt = require_tensorrt()
    torch = require_cuda_torch()
    properties = torch.cuda.get_device_properties(0)
    return {
        "tensorrt": tensorrt.__version__,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": properties.name,
        "compute_capability": f"{properties.major}.{properties.minor}",
        "gpu_memory_mb": properties.total_memory // (1 << 20),
    }


def jetson_check(
    model: str | Path | None = None,
    data: str | Path | None = None,
    split: str = "val",
    frames: int = 20,
    max_batch: int = 8,
    iters: int = 100,
    warmup: int = 10,
    converter: str = "onnx",
) -> dict[str, Any]:
    """Build, compare with onnxruntime, time; returns the report (see the module docstring)."""
    report: dict[str, Any] = {"python": platform.python_version(), **jetson_versions()}
    report.update(gpu_versions())  # raises first when TensorRT or CUDA is missing
    path = resolve_model("tensorrt", model, "fp32" if converter == "torch2trt" else None)  # torch2trt: .safetensors
    report.update({"model": str(path), "converter": converter, "max_batch": max_batch})
    with tempfile.TemporaryDirectory(prefix="attendseg_trt_cache_") as cache_dir:
        options = {"batch": max_batch, "cache_dir": cache_dir, "converter": converter}
        start = time.monotonic()
        segmenter = create_segmenter("tensorrt", path, **options)
        report["engine_build_s"] = segmenter.build_seconds
        report["engine_create_s"] = time.monotonic() - start
        report["precision"] = segmenter.precision
        report["build_plan"] = segmenter.plan.to_dict() if hasattr(segmenter, "plan") else None
        segmenter.close()
        if data is not None:
            specs = [f"onnxruntime@{path}", f"tensorrt@{path}"]
            report["agreement"] = agreement(specs, data, split, frames, options={"tensorrt.batch": max_batch,
                                                                               "tensorrt.cache_dir": cache_dir,
                                                                               "tensorrt.converter": converter})
        else:
            report["agreement"] = None
        report["latency"] = _latency(path, max_batch, iters, warmup, options)
    return report


def _latency(path: Path, max_batch: int, iters: int, warmup: int, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Batch 1, then the largest batch up to ``max_batch`` (halving after out-of-memory errors)."""
    runs = [benchmark("tensorrt", None, batch=1, iters=iters, warmup=warmup, model=path, options=options)]
    batch = max_batch
    while batch > 1:
        try:
            runs.append(benchmark("tensorrt", None, batch=batch, iters=iters, warmup=warmup, model=path,
                                  options=options))
            break
        except (RuntimeError, EngineError) as exc:  # CUDA out of memory: torch raises RuntimeError subclasses
            if "out of memory" not in str(exc).lower():
                raise
            log.warning("batch %d does not fit (%s); trying %d", batch, exc, batch // 2)
            batch //= 2
    keys = ("batch", "latency_ms_p50", "latency_ms_p99", "network_ms_p50", "network_ms_p99", "fps", "frame_ms_p50")
    return [{key: run[key] for key in keys} for run in runs]


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"TensorRT {report['tensorrt']}, CUDA {report['cuda']}, torch {report['torch']}, GPU {report['gpu']} "
        f"(sm {report['compute_capability']}), JetPack {report['jetpack'] or 'n/a'} (L4T {report['l4t'] or 'n/a'})",
        f"model {report['model']} ({report['precision']}, converter {report['converter']})",
        f"engine build {report['engine_build_s']:.1f} s" if report["engine_build_s"] is not None
        else "engine loaded from cache",
    ]
    if report["agreement"]:
        run = report["agreement"]["runs"][1]
        lines.append(f"label agreement with onnxruntime on {report['agreement']['frames']} "
                     f"{report['agreement']['split']} frames: {100 * run['label_agreement']:.2f} % "
                     f"(worst frame {100 * run['min_frame_agreement']:.2f} %)")
    else:
        lines.append("label agreement: not measured (pass --data CAMVID_FOLDER)")
    for run in report["latency"]:
        lines.append(f"batch {run['batch']:>3}: latency p50 {run['latency_ms_p50']:.2f} ms, p99 "
                     f"{run['latency_ms_p99']:.2f} ms (network p50 {run['network_ms_p50']:.2f} ms), "
                     f"{run['fps']:.1f} frames/s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attendseg-jetson-check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model file (default: the embedded TensorRT-ready INT8 model)")
    parser.add_argument("--data", default=os.environ.get("CAMVID_DIR"),
                        help="CamVid folder for the label agreement (default $CAMVID_DIR; skipped without)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--frames", type=positive_int, default=20, help="CamVid frames compared")
    parser.add_argument("--max-batch", type=positive_int, default=8, help="largest batch the engine takes")
    parser.add_argument("--iters", type=positive_int, default=100)
    parser.add_argument("--warmup", type=positive_int, default=10)
    parser.add_argument("--converter", choices=["onnx", "torch2trt"], default="onnx")
    parser.add_argument("--json", default="attendseg_jetson_check.json", help="report file (for bug reports)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log the build")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        report = jetson_check(args.model, args.data, args.split, args.frames, args.max_batch, args.iters,
                              args.warmup, args.converter)
    except EngineError as exc:
        print(f"attendseg-jetson-check: cannot run TensorRT here: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"attendseg-jetson-check: error: {exc}", file=sys.stderr)
        return 1
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(format_report(report))
    print(f"report written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
