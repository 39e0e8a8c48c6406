"""attendseg-check-tensorrt: check ONNX files against TensorRT's explicit-quantization rules (no TensorRT needed).

    attendseg-check-tensorrt attendseg_ros/weights/attendseg_camvid11.int8.tensorrt.onnx
    attendseg-check-tensorrt model.onnx --json report.json

Prints, per file, whether it passes and every violation (rule, node, cause); exits 0 when every
file passes, 1 when one breaks a rule, 2 when one cannot be read. The rules and their sources are in
:mod:`attendseg_ros.modelfiles.tensorrt_rules`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from ..modelfiles.tensorrt_rules import RULES, RulesFileError, Violation, check_file, format_violations


def check_files(paths: list[str | Path]) -> dict[str, object]:
    """``{"files": [{"file", "passes", "violations": [{"rule", "node", "message"}] | "error"}], "passes"}``."""
    files: list[dict[str, object]] = []
    for path in paths:
        try:
            violations = check_file(path)
        except RulesFileError as exc:
            files.append({"file": str(path), "passes": False, "error": str(exc)})
            continue
        files.append({"file": str(path), "passes": not violations, "violations": [asdict(v) for v in violations]})
    return {"rules": list(RULES), "files": files, "passes": all(f["passes"] for f in files)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attendseg-check-tensorrt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", metavar="FILE", help="ONNX model files")
    parser.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    parser.add_argument("--limit", type=int, default=20, help="violations printed per file (all go to --json)")
    args = parser.parse_args(argv)
    report = check_files(args.files)
    for entry in report["files"]:  # type: ignore[union-attr]
        if "error" in entry:
            print(f"{entry['file']}: error: {entry['error']}")
            continue
        violations = [Violation(**v) for v in entry["violations"]]
        print(format_violations(entry["file"], violations, args.limit))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if any("error" in entry for entry in report["files"]):  # type: ignore[union-attr]
        return 2
    return 0 if report["passes"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
