"""Benchmark of the segmentation node: its overhead against the network, and end-to-end latency.

    python -m attendseg_ros.cli.node_bench [--model M] [--backend B] [--frames 100] [--json out.json]

1. In this process: the network alone (``Segmenter.run`` on a preprocessed batch) and the node's
   per-frame stages at the camera resolution (default 640x480 bgr8): conversion, preprocessing
   + resize back (``segment() - run()``), drivable mask, overlay, building the messages.
2. The real node as its own process: frames stamped with the current time are published one at a
   time over DDS; the time from the stamp to the labels arriving here is the end-to-end latency. The
   node's own /diagnostics give its per-frame overhead (conversion, mask, overlay, publish).

Aims (issue 5): node overhead <= 10 % of the network time; end-to-end latency <= network + 10 ms.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

TOPIC = "/bench/image_raw"


def _timed(function: Callable[[], Any], repeats: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return {"p50": float(np.median(times)), "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90))}


def bench_frame(width: int, height: int) -> np.ndarray:
    """An RGB frame: a CamVid val image resized to ``width x height`` when CamVid is around, else synthetic."""
    from .demo import find_camvid

    camvid = find_camvid()
    if camvid is not None:
        from ..data import CamVid

        rgb, _ = CamVid(camvid, "val")[0]
        return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def measure_in_process(rgb: np.ndarray, model: str | None, backend: str, threads: int,
                       repeats: int, options: tuple[str, ...] = ()) -> dict[str, Any]:
    """Per-stage times (ms) of what the node does to one frame, without DDS."""
    from std_msgs.msg import Header

    from ..data.transforms import preprocess
    from ..engines import create_segmenter
    from ..ros.drivable import DrivableConfig, drivable_mask
    from ..ros.image_conversion import array_to_image, image_to_rgb
    from ..ros.parameters import backend_options
    from ..visualize import overlay

    seg = create_segmenter(backend=backend, model=model, threads=threads, **backend_options(options))
    try:
        info = seg.info
        batch = preprocess(rgb, seg.input_size, info.normalization)
        msg = array_to_image(np.ascontiguousarray(rgb[:, :, ::-1]), Header(), encoding="bgr8")
        result = seg.segment([rgb], resolution="input")[0]
        config = DrivableConfig(tuple(info.classes.ids(list(info.classes.drivable))))
        palette = info.classes.palette()
        mask = drivable_mask(result.labels, config)
        stages = {
            "network": _timed(lambda: seg.run(batch), repeats),
            "segment_call": _timed(lambda: seg.segment([rgb], resolution="input"), repeats),
            "conversion_bgr8": _timed(lambda: image_to_rgb(msg), repeats),
            "drivable_mask": _timed(lambda: drivable_mask(result.labels, config), repeats),
            "overlay": _timed(lambda: overlay(rgb, result.labels, palette, 0.5), repeats),
            "build_messages": _timed(lambda: [array_to_image(a, msg.header) for a in
                                              (result.labels, result.confidence, mask)], repeats),
        }
        return {"model": info.name, "backend": seg.backend, "precision": seg.precision,
                "model_input": list(seg.input_size), "stages_ms": stages}
    finally:
        seg.close()


def measure_end_to_end(rgb: np.ndarray, model: str | None, backend: str, threads: int, frames: int,
                       overlay: bool, log_path: Path, options: tuple[str, ...] = ()) -> dict[str, Any]:
    """Stamp -> labels received in this process, through the node process, one frame at a time."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ..ros.harness import RELIABLE, Graph, diagnostics_values, start_node, stop_node
    from ..ros.image_conversion import array_to_image
    from .demo import node_arguments

    process = start_node(log_path, *node_arguments(model, backend, TOPIC, threads, options),
                         "-p", "diagnostics_period:=0.5")
    graph = Graph("attendseg_node_bench")
    arrivals: dict[tuple[int, int], float] = {}
    try:
        def on_labels(msg: Image) -> None:
            arrivals[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = graph.node.get_clock().now().nanoseconds

        graph.node.create_subscription(Image, "/bench/segmentation/labels", on_labels, RELIABLE)
        graph.collect(Image, "/bench/segmentation/drivable_mask")
        graph.collect(Image, "/bench/segmentation/confidence")
        if overlay:
            graph.collect(Image, "/bench/segmentation/overlay")
        diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
        publisher = graph.publisher(TOPIC)
        graph.spin_until(lambda: publisher.get_subscription_count() > 0 or process.poll() is not None, 600,
                         "the node to start")
        if process.poll() is not None:
            raise RuntimeError(f"the node exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        graph.spin_until(lambda: graph.node.count_publishers("/bench/segmentation/labels") > 0, 30, "labels")
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        latencies = []
        for index in range(frames + 5):  # the first 5 warm up
            header = Header(frame_id="bench")
            header.stamp = graph.node.get_clock().now().to_msg()
            key = (header.stamp.sec, header.stamp.nanosec)
            graph.publish_until(TOPIC, array_to_image(bgr, header, encoding="bgr8"), lambda k=key: k in arrivals,
                                30, f"labels of frame {index}")
            if index >= 5:
                latencies.append((arrivals[key] - (key[0] * 10**9 + key[1])) * 1e-6)
            graph.executor.spin_once(timeout_sec=0.005)  # let the node settle: lockstep, not back-to-back
        graph.spin_until(lambda: diagnostics and diagnostics_values(diagnostics[-1], TOPIC), 10, "diagnostics")
        values = diagnostics_values(diagnostics[-1], TOPIC) or {}
    finally:
        graph.close()
        stop_node(process)
    return {
        "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
                       "mean": float(np.mean(latencies))},
        "node_diagnostics": {k: values.get(k) for k in ("network_ms", "node_overhead_ms", "latency_ms_p50",
                                                         "latency_ms_p99", "dropped_stale", "processed")},
        "frames": frames,
    }


def run_bench(model: str | None = None, backend: str = "onnxruntime", width: int = 640, height: int = 480,
              frames: int = 100, repeats: int = 50, threads: int = 0, overlay: bool = False,
              options: tuple[str, ...] = (), log_dir: Path = Path("/tmp")) -> dict[str, Any]:
    """Both measurements and the two aims; returns a JSON-able dict."""
    rgb = bench_frame(width, height)
    local = measure_in_process(rgb, model, backend, threads, repeats, options)
    stages = local["stages_ms"]
    network = stages["network"]["p50"]
    segment_extra = stages["segment_call"]["p50"] - network  # preprocess + resize back to the input size
    e2e = measure_end_to_end(rgb, model, backend, threads, frames, overlay, Path(log_dir) / "node_bench_node.log",
                             options)
    node_overhead = float(e2e["node_diagnostics"].get("node_overhead_ms") or "nan")
    node_segment = float(e2e["node_diagnostics"].get("network_ms") or "nan")  # same run, same CPU load
    overhead = segment_extra + node_overhead
    latency = e2e["latency_ms"]["p50"]
    return {
        **{k: v for k, v in local.items() if k != "stages_ms"},
        "resolution": f"{width}x{height} bgr8",
        "stages_ms": stages,
        "network_ms": network,
        "overhead_ms": {"preprocess_and_resize": segment_extra, "node_measured": node_overhead, "total": overhead},
        "overhead_fraction_of_network": overhead / network,
        "end_to_end": e2e,
        "latency_minus_network_ms": latency - network,
        "node_segment_ms": node_segment,
        "latency_minus_node_segment_ms": latency - node_segment,
        "aims": {"overhead_le_10pct": overhead <= 0.1 * network,
                 "latency_le_network_plus_10ms": latency <= network + 10},
        "overlay_subscribed": overlay,
        "backend_options": list(options),
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="node_bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: the embedded model)")
    parser.add_argument("--backend", default="onnxruntime", choices=["onnxruntime", "torch", "tensorrt"])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=100, help="frames sent through the node (after 5 warm-up)")
    parser.add_argument("--repeats", type=int, default=50, help="repeats of each in-process stage")
    parser.add_argument("--threads", type=int, default=0, help="backend CPU threads (0 = default)")
    parser.add_argument("--overlay", action="store_true", help="also subscribe to the overlay (RViz case)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, as the node's backend_options (e.g. spin=false); repeatable")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run_bench(args.model, args.backend, args.width, args.height, args.frames, args.repeats, args.threads,
                       args.overlay, tuple(args.option))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    stages = result["stages_ms"]
    print(f"node benchmark: {result['model']} ({result['backend']}, {result['precision']}, input "
          f"{result['model_input'][1]}x{result['model_input'][0]}), camera {result['resolution']}")
    for name, t in stages.items():
        print(f"  {name:<16} p50 {t['p50']:7.2f} ms  (p10 {t['p10']:.2f}, p90 {t['p90']:.2f})")
    over = result["overhead_ms"]
    print(f"  node overhead: {over['total']:.2f} ms = preprocess+resize {over['preprocess_and_resize']:.2f} + in node "
          f"{over['node_measured']:.2f} (conversion, mask, publish) -> {result['overhead_fraction_of_network']:.1%} "
          f"of the network's {result['network_ms']:.2f} ms (aim <= 10 %)")
    lat = result["end_to_end"]["latency_ms"]
    print(f"  end-to-end stamp -> labels in another process: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms "
          f"= network + {result['latency_minus_network_ms']:.2f} ms (aim <= network + 10 ms)")
    print(f"  during that run the node's segment() took p50 {result['node_segment_ms']:.2f} ms: latency = segment + "
          f"{result['latency_minus_node_segment_ms']:.2f} ms (conversion, mask, publish, DDS both ways)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
