"""attendseg-train-report: the curve and per-class table of a training run (resume file or history.json)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..data import load_class_table
from ..training.report import class_iou_table, plot_training_curve


def read_history(source: str | Path) -> list[dict[str, Any]]:
    """Evaluation records from a resume file (``.safetensors``) or a ``history.json``."""
    source = Path(source)
    if source.suffix == ".safetensors":
        from ..training.resume import read_metadata

        return json.loads(read_metadata(source)["history"])
    return json.loads(source.read_text(encoding="utf-8"))


def write_training_report(source: str | Path, out: str | Path, classes: str = "camvid11") -> dict[str, Any]:
    """Write ``training_curve.png`` and ``training_latest.md`` into ``out``; returns the paths and last step."""
    history = read_history(source)
    out = Path(out)
    curve = plot_training_curve(history, out / "training_curve.png", title=f"AttendSeg training ({Path(source).name})")
    last = history[-1]
    reports = {k: v for k, v in last.items() if isinstance(v, dict) and "class_iou" in v}
    table = out / "training_latest.md"
    table.write_text(
        f"EMA model at step {last['step']} (BatchNorm recalibrated), per-class IoU:\n\n"
        + class_iou_table(reports, load_class_table(classes).names),
        encoding="utf-8",
    )
    return {"curve": str(curve), "table": str(table), "step": last["step"], "evaluations": len(history)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="attendseg-train-report", description=__doc__)
    p.add_argument("source", help="resume file (.safetensors) or history.json of a training run")
    p.add_argument("--out", default="docs", help="folder for training_curve.png and training_latest.md")
    p.add_argument("--classes", default="camvid11", help="class table the run used")
    a = p.parse_args(argv)
    print(json.dumps(write_training_report(a.source, a.out, a.classes), indent=2))


if __name__ == "__main__":
    main()
