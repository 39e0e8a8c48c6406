"""attendseg-camvid-to-bag: write a CamVid split as a rosbag2 (images, camera info, ground truth)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..bag.convert import camvid_to_bag
from ..bag.io import STORAGES, WRITE_ENCODINGS, BagError
from ..data.camvid import DatasetError
from ..runtime.image_conversion import quiet_opencv


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="attendseg-camvid-to-bag", description=__doc__)
    p.add_argument("--data", required=True, help="CamVid folder (SegNet 11-class or 32-class layout)")
    p.add_argument("--split", choices=["train", "val", "test"], default="val")
    p.add_argument("--out", required=True, help="bag folder to create")
    p.add_argument("--storage", choices=sorted(STORAGES), default="mcap")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second: stamps are 1/rate apart")
    p.add_argument("--encoding", choices=WRITE_ENCODINGS, default="rgb8", help="image encoding")
    p.add_argument("--frame-id", default="camera", help="header frame_id")
    p.add_argument("--limit", type=int, default=None, help="write only the first N frames")
    p.add_argument("--force", action="store_true",
                   help="replace an existing bag at --out (only once the new one is complete; never a plain file)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_opencv()
    try:
        summary = camvid_to_bag(
            args.data,
            args.split,
            args.out,
            storage=args.storage,
            rate=args.rate,
            encoding=args.encoding,
            frame_id=args.frame_id,
            limit=args.limit,
            force=args.force,
        )
    except (BagError, DatasetError, ValueError, OSError) as exc:
        print(f"attendseg-camvid-to-bag: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
