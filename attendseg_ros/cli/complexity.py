"""attendseg-complexity: the paper's Table 1 columns for this AttendSeg next to the published rows."""

from __future__ import annotations

import argparse
import json

from ..model import create_model, measure

# AttendSeg paper, Table 1 (CamVid, 512x512, 32 classes); weight memory as published, in MB.
PAPER_ROWS: tuple[dict[str, object], ...] = (
    {"model": "RefineNet (paper)", "params": 85.69e6, "macs": 202.47e9, "memory_mb": 343.0, "bits": 32},
    {"model": "EdgeSegNet (paper)", "params": 7.09e6, "macs": 77.89e9, "memory_mb": 28.3, "bits": 32},
    {"model": "AttendSeg (paper)", "params": 1.19e6, "macs": 7.45e9, "memory_mb": 1.19, "bits": 8},
)


def complexity(height: int = 512, width: int = 512, classes: int = 32, variant: str = "attendseg") -> dict[str, float]:
    """Parameters, MACs and weight memory of this implementation for one frame."""
    model = create_model(variant, num_classes=classes)
    return measure(model, height, width).to_dict()


def format_table(ours: dict[str, float], height: int, width: int, classes: int) -> str:
    header = f"{'model':<28}{'params (M)':>12}{'MACs (G)':>11}{'weights 8-bit (MB)':>20}{'weights 32-bit (MB)':>21}"
    lines = [f"AttendSeg complexity at {height}x{width}, {classes} classes", header, "-" * len(header)]
    for row in PAPER_ROWS:
        params, macs = float(row["params"]), float(row["macs"])  # type: ignore[arg-type]
        mem8 = f"{row['memory_mb']:.2f}" if row["bits"] == 8 else "-"
        mem32 = f"{row['memory_mb']:.2f}" if row["bits"] == 32 else "-"
        lines.append(f"{row['model']:<28}{params / 1e6:>12.2f}{macs / 1e9:>11.2f}{mem8:>20}{mem32:>21}")
    lines.append(
        f"{'AttendSeg (this package)':<28}{ours['params'] / 1e6:>12.3f}{ours['macs'] / 1e9:>11.2f}"
        f"{ours['weight_memory_mb_int8']:>20.2f}{ours['weight_memory_mb_fp32']:>21.2f}"
    )
    lines.append("(paper rows are for 512x512; MACs of this package are counted over the traced graph)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="attendseg-complexity", description=__doc__)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--classes", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print only the JSON of this implementation")
    args = parser.parse_args(argv)
    if min(args.height, args.width) < 64 or args.classes < 1:
        parser.error("--height and --width must be >= 64 and --classes >= 1")
    ours = complexity(args.height, args.width, args.classes)
    print(json.dumps(ours) if args.json else format_table(ours, args.height, args.width, args.classes))


if __name__ == "__main__":
    main()
