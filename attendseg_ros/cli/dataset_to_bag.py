"""attendseg-dataset-to-bag: write a dataset split (any layout) as a rosbag2 (images, camera info, ground truth).

The bag records the dataset's class table, and attendseg-evaluate-bag scores only a model with the same
classes on it. attendseg-camvid-to-bag is the same command under its earlier name.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..bag.convert import dataset_to_bag
from ..bag.io import STORAGES, WRITE_ENCODINGS, BagError
from ..data.dataset import LAYOUT_NAMES, DatasetError
from ..runtime.image_conversion import quiet_opencv
from .arguments import positive_float, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    called = Path(sys.argv[0]).name  # either command name, as the user typed it
    p = argparse.ArgumentParser(prog=called if called.startswith("attendseg-") else "attendseg-dataset-to-bag",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset folder (folder, cityscapes or camvid layout)")
    p.add_argument("--layout", choices=LAYOUT_NAMES, help="the dataset's layout (default: detected)")
    p.add_argument("--split", default="val", help="split to write (default: val)")
    p.add_argument("--out", required=True, help="bag folder to create")
    p.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    p.add_argument("--rate", type=positive_float, default=10.0, help="frames per second: stamps are 1/rate apart")
    p.add_argument("--encoding", choices=WRITE_ENCODINGS, default="rgb8", help="image encoding")
    p.add_argument("--frame-id", default="camera", help="header frame_id")
    p.add_argument("--limit", type=positive_int, default=None, help="write only the first N frames")
    p.add_argument("--force", action="store_true",
                   help="replace an existing bag at --out (only once the new one is complete; never a plain file)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_opencv()
    try:
        summary = dataset_to_bag(
            args.data,
            args.split,
            args.out,
            storage=args.storage,
            rate=args.rate,
            encoding=args.encoding,
            frame_id=args.frame_id,
            limit=args.limit,
            force=args.force,
            layout=args.layout,
        )
    except (BagError, DatasetError, ValueError, OSError) as exc:
        print(f"attendseg-dataset-to-bag: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
