"""attendseg-export: FP32 ONNX + calibrated INT8 QDQ ONNX (+ calibration set) from trained weights."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

from ..modelfiles.checkpoint import load_model, sidecar_path
from ..modelfiles.export import export_onnx, quantize_int8
from ..resources import weights_dir

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
    name: str = DEFAULT_NAME,
    weight_bits: int | None = None,
) -> dict[str, object]:
    """Write ``OUT/<name>.fp32.onnx``, ``OUT/<name>.int8.onnx`` and the calibration description.

    ``weight_bits``: 7 (default: safe on AVX2 CPUs without VNNI) or 8 (see :func:`quantize_int8`).
    """
    network, info = load_model(model)
    if input_size is not None:
        info = replace(info, input_size=tuple(input_size))
    info = replace(info, name=name)
    out = Path(out)
    fp32 = export_onnx(network, info, out / f"{name}.fp32.onnx")
    int8, calibration = quantize_int8(
        fp32, out / f"{name}.int8.onnx", info, data, calib_split, calib_count, calib_method, weight_bits=weight_bits
    )
    result: dict[str, object] = {
        "fp32_onnx": str(fp32),
        "int8_onnx": str(int8),
        "calibration": str(int8.with_suffix(".calibration.json")),
        "size_bytes": {
            "safetensors": Path(model).stat().st_size,
            "fp32_onnx": fp32.stat().st_size,
            "int8_onnx": int8.stat().st_size,
        },
        "input_size": list(info.input_size),
        "calibration_frames": len(calibration.frames),
        "int8_weights": calibration.weights,
    }
    if embed:
        target = weights_dir()
        target.mkdir(parents=True, exist_ok=True)
        for source, dest in ((int8, target / f"{name}.int8.onnx"), (Path(model), target / f"{name}.safetensors")):
            shutil.copyfile(source, dest)
            sidecar_path(dest).write_text(json.dumps(info.to_dict(), indent=2) + "\n")
        shutil.copyfile(int8.with_suffix(".calibration.json"), target / f"{name}.int8.calibration.json")
        result["embedded"] = str(target)
    return result


def compare_precisions(
    result: dict[str, object], model: str | Path, data: str | Path, split: str, threads: int = 0
) -> list[dict[str, object]]:
    """FP32 (torch, ONNX) and INT8 (ONNX) metrics on ``split`` side by side, with file sizes."""
    from .evaluate import evaluate_model

    rows = []
    for label, path, backend, size_key in (
        ("fp32 torch", model, "torch", "safetensors"),
        ("fp32 onnx", result["fp32_onnx"], "onnxruntime", "fp32_onnx"),
        ("int8 onnx", result["int8_onnx"], "onnxruntime", "int8_onnx"),
    ):
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
    lines = [f"{'model':<12}{'file (MB)':>10}{'pixel acc':>11}{'class acc':>11}{'mIoU':>8}   ({split})"]
    for row in rows:
        lines.append(
            f"{row['model']:<12}{row['file_mb']:>10.2f}{100 * float(row['pixel_accuracy']):>10.2f}%"
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
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), help="default: the sidecar's")
    parser.add_argument("--calib-split", default="train")
    parser.add_argument(
        "--calib-count", type=int, default=32, help="calibration frames (fed two at a time: memory flat in the count)"
    )
    parser.add_argument("--calib-method", choices=["minmax", "percentile", "entropy"], default="percentile")
    parser.add_argument(
        "--weight-bits", type=int, choices=[7, 8], default=7,
        help="INT8 weight range: 7 (default; no saturation on AVX2 CPUs without VNNI) or 8 (VNNI/AMX CPUs)",
    )
    parser.add_argument("--name", default=DEFAULT_NAME)
    parser.add_argument("--embed", action="store_true", help="also install as the package's default model")
    parser.add_argument("--evaluate", metavar="SPLIT", help="then compare FP32 and INT8 on this split")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for --evaluate")
    args = parser.parse_args(argv)
    try:
        result = export(
            args.model, args.data, args.out, args.input_size, args.calib_split, args.calib_count,
            args.calib_method, args.embed, args.name, args.weight_bits,
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
