"""attendseg-evaluate-bag: accuracy and latency of a model on a labelled bag (closed-loop or offline)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..bag.evaluate import MODES, RATES, evaluate_bag
from ..bag.io import GT_TOPIC, IMAGE_TOPIC, BagError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="attendseg-evaluate-bag", description=__doc__)
    p.add_argument("bag", help="rosbag2 folder (or .mcap/.db3 file) with images and mono8 ground truth")
    p.add_argument("--mode", choices=MODES, default="closed-loop",
                   help="closed-loop: through the real segmentation node over ROS; offline: engine in-process")
    p.add_argument("--params", default=None, help="node parameter YAML (e.g. config/attendseg.yaml)")
    p.add_argument("--backend", default=None, help="override the backend parameter")
    p.add_argument("--model", default=None, help="override the model parameter (default: the embedded model)")
    p.add_argument("--rate", choices=RATES, default="max",
                   help="closed-loop playback: as fast as results come back (max) or at the recorded rate")
    p.add_argument("--json", dest="json_out", default=None, help="write the result JSON here")
    p.add_argument("--report", dest="report_dir", default=None, help="write a Markdown report with plots here")
    p.add_argument("--image-topic", default=IMAGE_TOPIC)
    p.add_argument("--gt-topic", default=GT_TOPIC)
    p.add_argument("--frame-timeout", type=float, default=10.0, help="seconds to wait for a frame's labels")
    p.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for the node to serve")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        report = evaluate_bag(
            args.bag,
            mode=args.mode,
            params_file=args.params,
            backend=args.backend,
            model=args.model,
            rate=args.rate,
            json_out=args.json_out,
            report_dir=args.report_dir,
            image_topic=args.image_topic,
            gt_topic=args.gt_topic,
            frame_timeout=args.frame_timeout,
            startup_timeout=args.startup_timeout,
        )
    except (BagError, ValueError, OSError, RuntimeError) as exc:
        print(f"attendseg-evaluate-bag: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
