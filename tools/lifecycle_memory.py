"""Resident memory of the segmentation node over lifecycle cycles (configure, activate, one frame,
deactivate, cleanup), measured from outside through /proc.

    python tools/lifecycle_memory.py --cycles 40 [--source DIR] [-- NODE_ROS_ARGS...]

``--source`` runs the node from another checkout (e.g. an older commit unpacked with ``git archive``),
so that two versions compare on one machine; the driving side is this checkout's
:mod:`attendseg_ros.ros.process`. Prints one line per measured cycle and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from attendseg_ros.ros.messages import array_to_image, stamp_ns
from attendseg_ros.ros.process import NODE_MODULE, Client, NodeProcess, node_env

TOPIC = "/memory/image_raw"


def status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise KeyError(key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--source", type=Path, help="checkout to run the node from (default: this one)")
    parser.add_argument("--log", type=Path, default=Path("/tmp/lifecycle_memory_node.log"))
    parser.add_argument("ros_args", nargs="*", help="more --ros-args for the node, e.g. -p backend:=torch")
    args = parser.parse_args(argv)
    start = ["-m", NODE_MODULE]
    if args.source:  # first on sys.path (python -m would put the current folder, this checkout, first)
        start = ["-c", f"import runpy, sys; sys.path.insert(0, {str(args.source.resolve())!r}); "
                       f"runpy.run_module({NODE_MODULE!r}, run_name='__main__')"]
    command = [sys.executable, *start, "--ros-args", "-p", f"camera_topics:=[{TOPIC}]", "-p", "autostart:=false",
               *args.ros_args]
    rows = []
    with NodeProcess(command=command, log_path=args.log, env=node_env()) as node, \
            Client("lifecycle_memory", watch=node) as client:
        labels: set[int] = set()
        client.subscribe(Image, TOPIC.replace("image_raw", "segmentation/labels"), lambda m: labels.add(stamp_ns(m)))
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        client.publisher(TOPIC, Image, reliable)
        frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
        client.spin_until(lambda: client.get_state() == "unconfigured", 60, "the node")
        rows.append({"cycle": 0, "rss_mb": status(node.pid, "VmRSS") / 1024, "threads": status(node.pid, "Threads")})
        started = time.monotonic()
        for cycle in range(1, args.cycles + 1):
            for transition in ("configure", "activate"):
                assert client.change_state(transition), node.tail()
            msg = array_to_image(frame, _header(cycle))
            client.spin_until(lambda: client.publishers[TOPIC].get_subscription_count() > 0, 30, "a subscription")
            client.publish_until(TOPIC, msg, lambda c=cycle: c in labels, 60, f"labels of cycle {cycle}")
            for transition in ("deactivate", "cleanup"):
                assert client.change_state(transition), node.tail()
            row = {"cycle": cycle, "rss_mb": status(node.pid, "VmRSS") / 1024, "threads": status(node.pid, "Threads")}
            rows.append(row)
            print(f"cycle {cycle:3d}: RSS {row['rss_mb']:6.0f} MB, {row['threads']} threads "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
    summary = {"source": str(args.source or "this checkout"), "node_args": args.ros_args,
               "rss_mb_before_first_configure": rows[0]["rss_mb"], "rss_mb_after_cycle_1": rows[1]["rss_mb"],
               f"rss_mb_after_cycle_{args.cycles}": rows[-1]["rss_mb"],
               "growth_mb_cycle_1_to_last": rows[-1]["rss_mb"] - rows[1]["rss_mb"]}
    print(json.dumps(summary, indent=2))
    return 0


def _header(cycle: int) -> object:
    from std_msgs.msg import Header

    header = Header(frame_id="camera")
    header.stamp.sec, header.stamp.nanosec = 0, cycle  # stamp_ns == cycle identifies the frame
    return header


if __name__ == "__main__":
    sys.exit(main())
