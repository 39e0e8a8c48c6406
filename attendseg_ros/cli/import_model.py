"""attendseg-import-model: run a segmentation model trained elsewhere (ONNX) like this package's own.

    attendseg-import-model --onnx segformer.onnx --classes DIR/classes.yaml --out models --input-size 512 1024
    attendseg-import-model --onnx unet.onnx --classes classes.yaml --out models --mean 0.5 0.5 0.5 --std 0.5 0.5 0.5

Writes OUT/<name>.onnx and OUT/<name>.json. The ONNX file needs one image input (N, 3, H, W)
(NHWC is transposed) and an output of logits (N, C, h, w) at any resolution, C = the classes
of classes.yaml in their order, or of class ids (N, h, w). This package adds the rest: the
resize to the input size, labels (argmax) and confidence (top softmax probability x 255).
Normalisation: --mean/--std (pixels scaled to 0-1), else classes.yaml's mean/std, else ImageNet's.
The result runs in the onnxruntime and openvino backends: the node (model:=OUT/<name>.onnx),
attendseg-eval, attendseg-bench and the bag evaluation. docs/custom_models.md has the contract.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..data.preprocessing import Normalization
from ..modelfiles.import_onnx import import_onnx
from ..modelfiles.sidecar import ModelFileError
from .arguments import positive_int


def import_model(
    onnx_path: str | Path,
    classes: str | Path,
    out: str | Path,
    input_size: tuple[int, int] | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    name: str | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """Import ``onnx_path`` (see :func:`attendseg_ros.modelfiles.import_onnx.import_onnx`); returns a summary."""
    if (mean is None) != (std is None):
        raise ValueError("give --mean and --std together (or neither: classes.yaml's, else ImageNet's)")
    normalization = Normalization(tuple(mean), tuple(std)) if mean is not None and std is not None else None
    result = import_onnx(onnx_path, classes, out, input_size, normalization, name, output)
    info = result.info
    return {
        "model": str(result.path),
        "sidecar": str(result.path.with_suffix(".json")),
        "name": info.name,
        "input_size": list(info.input_size),
        "classes": list(info.classes.names),
        "drivable": list(info.classes.drivable),
        "normalization": {"mean": list(info.normalization.mean), "std": list(info.normalization.std)},
        "output_kind": result.output_kind,
        "output_size": list(result.output_size),
        "batch": "dynamic" if result.dynamic_batch else 1,
        "warnings": list(result.warnings),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attendseg-import-model", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", type=Path, required=True, help="the segmentation model (ONNX)")
    p.add_argument("--classes", type=Path, required=True,
                   help="classes.yaml: the model's classes in id order (the dataset format of docs/datasets.md)")
    p.add_argument("--out", type=Path, required=True, help="folder for <name>.onnx and <name>.json")
    p.add_argument("--input-size", type=positive_int, nargs=2, metavar=("H", "W"),
                   help="the input size the model runs at (needed when its input size is dynamic)")
    p.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"),
                   help="per-channel mean of pixels scaled to 0-1 (default: classes.yaml's, else ImageNet's)")
    p.add_argument("--std", type=float, nargs=3, metavar=("R", "G", "B"), help="per-channel std, with --mean")
    p.add_argument("--name", help="file name of the imported model (default: the ONNX file's name)")
    p.add_argument("--output", help="the graph output holding the segmentation (default: the first)")
    p.add_argument("--json", type=Path, help="also write the summary here")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command: exit status 1 with one line on stderr when the model cannot be imported."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.mean is None) != (args.std is None):
        parser.error("--mean and --std go together (or leave both out)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        summary = import_model(args.onnx, args.classes, args.out, args.input_size, args.mean, args.std, args.name,
                               args.output)
    except (ModelFileError, ValueError, OSError) as exc:
        print(f"attendseg-import-model: error: {exc}", file=sys.stderr)
        return 1
    height, width = summary["input_size"]
    print(f"wrote {summary['model']} and {Path(summary['sidecar']).name}: {summary['output_kind']} at "
          f"{summary['output_size'][0]}x{summary['output_size'][1]} -> labels and confidence at {height}x{width}, "
          f"{len(summary['classes'])} classes, batch {summary['batch']}")
    for line in summary["warnings"]:
        print(f"warning: {line}")
    print(f"run it: ros2 launch attendseg_ros segment.launch.py model:={summary['model']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
