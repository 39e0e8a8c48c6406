"""attendseg-export: FP32 ONNX + calibrated INT8 QDQ ONNX files (+ calibration sets) from trained weights.

INT8 layouts (``--layouts``, default both): ``cpu`` writes ``<name>.int8.onnx`` (onnxruntime/OpenVINO
on CPUs), ``tensorrt`` writes ``<name>.int8.tensorrt.onnx`` (TensorRT's explicit-quantization rules,
checked before the file is kept). The inputs are checked before anything is written; the files are
written into a temporary folder beside ``--out`` and moved into it only when every step succeeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..modelfiles.checkpoint import load_model, sidecar_path
from ..modelfiles.export import INT8_LAYOUTS, INT8_SUFFIXES, calibration_frames, export_onnx, quantize_int8
from ..resources import weights_dir
from .arguments import positive_int

DEFAULT_NAME = "attendseg_camvid11"


def export(
    model: str | Path,
    data: str | Path,
    out: str | Path,
    input_size: tuple[int, int] | None = None,
    calib_split: str = "train",
    calib_count: int = 32,
    calib_method: str = "percentile",
    embed: bool = False,
    name: str | None = None,
    weight_bits: int | None = None,
    layouts: Sequence[str] = INT8_LAYOUTS,
) -> dict[str, object]:
    """Write ``OUT/<name>.fp32.onnx`` and one INT8 file per layout, each with its calibration description.

    ``weight_bits``: the CPU layout's weights, 7 (default: safe on AVX2 CPUs without VNNI) or 8 (see
    :func:`quantize_int8`); the TensorRT layout always uses 8. Raises ``ValueError``/``OSError`` naming
    the bad input before writing anything; on a failure later nothing is left in or beside ``out``.
    """
    out = Path(out)
    unknown = sorted(set(layouts) - set(INT8_LAYOUTS))
    if unknown or not layouts:
        raise ValueError(f"layouts must be some of {list(INT8_LAYOUTS)}, got {list(layouts)}")
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder (it is created if missing)")
    if calib_count < 1:
        raise ValueError(f"calib_count must be at least 1, got {calib_count}")
    network, info = load_model(model)
    if input_size is not None:
        info = replace(info, input_size=tuple(input_size))
    # the model's own name (a fine-tuned model: attendseg_<its class table>); the embedded default's with --embed
    name = name or (DEFAULT_NAME if embed else info.name)
    info = replace(info, name=name)
    calibration_frames(data, calib_split, calib_count)  # the calibration frames exist (DatasetError otherwise)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        fp32 = export_onnx(network, info, staging / f"{name}.fp32.onnx")
        int8: dict[str, Path] = {}
        calibrations = {}
        for layout in layouts:
            int8[layout], calibrations[layout] = quantize_int8(
                fp32, staging / f"{name}{INT8_SUFFIXES[layout]}", info, data, calib_split, calib_count,
                calib_method, tensorrt_compatible=layout == "tensorrt",
                weight_bits=weight_bits if layout == "cpu" else None,
            )
        written = _move_into(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    fp32, int8 = written[fp32.name], {layout: written[path.name] for layout, path in int8.items()}
    result: dict[str, object] = {
        "fp32_onnx": str(fp32),
        **{_int8_key(layout): str(path) for layout, path in int8.items()},
        "calibration": {layout: str(path.with_suffix(".calibration.json")) for layout, path in int8.items()},
        "size_bytes": {
            "safetensors": Path(model).stat().st_size,
            "fp32_onnx": fp32.stat().st_size,
            **{_int8_key(layout): path.stat().st_size for layout, path in int8.items()},
        },
        "input_size": list(info.input_size),
        "calibration_frames": len(next(iter(calibrations.values())).frames),
        "int8_weights": {layout: calibration.weights for layout, calibration in calibrations.items()},
    }
    if embed:
        target = weights_dir()
        target.mkdir(parents=True, exist_ok=True)
        copies = [(path, target / f"{name}{INT8_SUFFIXES[layout]}") for layout, path in int8.items()]
        for source, dest in [*copies, (Path(model), target / f"{name}.safetensors")]:
            if not (dest.exists() and os.path.samefile(source, dest)):  # re-exporting the embedded weights
                shutil.copyfile(source, dest)
            sidecar_path(dest).write_text(json.dumps(info.to_dict(), indent=2) + "\n")
            if source.suffix == ".onnx":
                shutil.copyfile(source.with_suffix(".calibration.json"), dest.with_suffix(".calibration.json"))
        result["embedded"] = str(target)
    return result


def _int8_key(layout: str) -> str:
    """``int8_onnx`` (the CPU layout, the key older reports use) or ``int8_<layout>_onnx``."""
    return "int8_onnx" if layout == "cpu" else f"int8_{layout}_onnx"


def _move_into(staging: Path, out: Path) -> dict[str, Path]:
    """Move every file of ``staging`` into ``out`` (renamed into place when ``out`` does not exist yet)."""
    names = sorted(p.name for p in staging.iterdir())
    if not out.exists():
        os.replace(staging, out)
    else:
        for name in names:
            os.replace(staging / name, out / name)
    return {name: out / name for name in names}


def compare_precisions(
    result: dict[str, object], model: str | Path, data: str | Path, split: str, threads: int = 0
) -> list[dict[str, object]]:
    """FP32 (torch, ONNX) and INT8 (ONNX) metrics on ``split`` side by side, with file sizes."""
    from .evaluate import evaluate_model

    rows = []
    files = [
        ("fp32 torch", model, "torch", "safetensors"),
        ("fp32 onnx", result["fp32_onnx"], "onnxruntime", "fp32_onnx"),
        *[(f"int8 {layout}", result[_int8_key(layout)], "onnxruntime", _int8_key(layout))
          for layout in INT8_LAYOUTS if _int8_key(layout) in result],
    ]
    for label, path, backend, size_key in files:
        report = evaluate_model(data, split, path, backend, threads)
        rows.append(
            {
                "model": label,
                "file_mb": result["size_bytes"][size_key] / 1e6,  # type: ignore[index]
                **{k: report[k] for k in ("pixel_accuracy", "mean_class_accuracy", "miou")},
            }
        )
    return rows


def format_comparison(rows: list[dict[str, object]], split: str) -> str:
    lines = [f"{'model':<14}{'file (MB)':>10}{'pixel acc':>11}{'class acc':>11}{'mIoU':>8}   ({split})"]
    for row in rows:
        lines.append(
            f"{row['model']:<14}{row['file_mb']:>10.2f}{100 * float(row['pixel_accuracy']):>10.2f}%"
            f"{100 * float(row['mean_class_accuracy']):>10.2f}%{100 * float(row['miou']):>7.2f}%"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(prog="attendseg-export", description=__doc__)
    parser.add_argument("--model", required=True, help="trained .safetensors (with its .json sidecar)")
    parser.add_argument(
        "--data", required=True, help="dataset folder (any layout) whose --calib-split frames calibrate INT8"
    )
    parser.add_argument("--out", required=True, help="output folder (created; files are moved in only on success)")
    parser.add_argument("--input-size", type=positive_int, nargs=2, metavar=("H", "W"), help="default: the sidecar's")
    parser.add_argument("--calib-split", default="train")
    parser.add_argument(
        "--calib-count", type=positive_int, default=32,
        help="calibration frames (fed two at a time: memory flat in the count)",
    )
    parser.add_argument(
        "--layouts", nargs="+", choices=INT8_LAYOUTS, default=list(INT8_LAYOUTS),
        help="INT8 files to write: cpu (<name>.int8.onnx, onnxruntime/OpenVINO) and/or tensorrt "
        "(<name>.int8.tensorrt.onnx, TensorRT's explicit-quantization rules); default both",
    )
    parser.add_argument("--calib-method", choices=["minmax", "percentile", "entropy"], default="percentile")
    parser.add_argument(
        "--weight-bits", type=int, choices=[7, 8], default=7,
        help="CPU layout's INT8 weight range: 7 (default; no saturation on AVX2 CPUs without VNNI) or 8 (VNNI/AMX "
        "CPUs); the tensorrt layout always uses 8",
    )
    parser.add_argument("--name", help="file name stem (default: the model's name from its sidecar; "
                        f"{DEFAULT_NAME} with --embed)")
    parser.add_argument("--embed", action="store_true", help="also install as the package's default model")
    parser.add_argument("--evaluate", metavar="SPLIT", help="then compare FP32 and INT8 on this split")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for --evaluate")
    args = parser.parse_args(argv)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"argument --out: {args.out} is a file; pass a folder (it is created if missing)")
    try:
        result = export(
            args.model, args.data, args.out, args.input_size, args.calib_split, args.calib_count,
            args.calib_method, args.embed, args.name, args.weight_bits, args.layouts,
        )  # fmt: skip
        if args.evaluate:
            rows = compare_precisions(result, args.model, args.data, args.evaluate, args.threads)
            result["comparison"] = {"split": args.evaluate, "rows": rows}
    except (OSError, ValueError, RuntimeError) as exc:
        parser.exit(1, f"attendseg-export: error: {exc}\n")
    (Path(args.out) / "export.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if args.evaluate:
        print(format_comparison(rows, args.evaluate))

if __name__ == "__main__":
    main()
