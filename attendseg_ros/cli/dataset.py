"""attendseg-dataset: check a labelled dataset before training, or convert colour-coded masks to the folder layout.

  attendseg-dataset check DIR [--json FILE] [--layout L]
      the layout, frames per split, the class table, each class's share of the pixels per split and
      every problem with the file named; exit status 1 when there is an error.
  attendseg-dataset convert SRC --out DIR [--colors labelmap.txt|classes.yaml] [--ignore NAME ...]
      a CVAT / Pascal VOC SegmentationClass export (colour masks + colour table) -> the folder layout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data.check import check_dataset, format_check
from ..data.convert import convert_color_masks
from ..data.dataset import LAYOUT_NAMES, DatasetError
from ..runtime.image_conversion import quiet_opencv
from .arguments import non_negative_int


def _rgb(text: str) -> tuple[int, int, int]:
    parts = text.replace(",", " ").split()
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise argparse.ArgumentTypeError(f"expected a colour R,G,B with values 0-255, got {text!r}")
    return values  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attendseg-dataset", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="report layout, splits, class shares and problems; exit 1 on errors")
    check.add_argument("data", metavar="DIR", help="dataset folder")
    check.add_argument("--layout", choices=LAYOUT_NAMES, help="force a layout (default: detected)")
    check.add_argument("--json", dest="json_out", metavar="FILE",
                       help="also write the report as JSON (keys layout, splits, classes, problems, ...)")
    convert = commands.add_parser("convert", help="colour-coded masks (CVAT / VOC export) -> folder layout")
    convert.add_argument("source", metavar="SRC", help="export folder with JPEGImages/ and SegmentationClass/")
    convert.add_argument("--out", required=True, help="new dataset folder (must not exist or be empty)")
    convert.add_argument("--colors", metavar="FILE",
                         help="colour table: CVAT labelmap.txt or a classes.yaml (default: SRC/labelmap.txt)")
    convert.add_argument("--ignore", nargs="+", default=[], metavar="NAME",
                         help="colour-table entries that become the ignore index instead of a class (e.g. background)")
    convert.add_argument("--ignore-color", action="append", type=_rgb, default=[], metavar="R,G,B",
                         help="a colour that becomes the ignore index (e.g. VOC's boundary 224,224,192); repeatable")
    convert.add_argument("--unknown-colors", choices=["error", "ignore"], default="error",
                         help="a colour in no table: stop with an error naming the file (default) or ignore it")
    convert.add_argument("--val-every", type=non_negative_int, default=0, metavar="N",
                         help="without a val list: every N-th train frame goes to val (0: none)")
    convert.add_argument("--name", help="the class table's name (default: the --out folder's name)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_opencv()  # our errors name the file; OpenCV's own warning would come first, unasked
    try:
        if args.command == "check":
            report = check_dataset(args.data, args.layout)
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            print(format_check(report))
            return 1 if report["errors"] else 0
        summary = convert_color_masks(
            args.source, args.out, args.colors, tuple(args.ignore), tuple(args.ignore_color), args.unknown_colors,
            val_every=args.val_every, name=args.name,
        )
    except (DatasetError, ValueError, OSError) as exc:
        print(f"attendseg-dataset {args.command}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
