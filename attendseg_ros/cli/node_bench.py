"""Benchmark of the segmentation node: its overhead against the network, and end-to-end latency.

    python -m attendseg_ros.cli.node_bench [--model M] [--backend B] [--frames 100] [--json out.json]

1. In this process: the network alone (``Segmenter.run`` on a preprocessed batch) and the node's
   per-frame stages at the camera resolution (default 640x480 bgr8): conversion, preprocessing
   + resize back (``segment() - run()``), each output of :data:`attendseg_ros.pipeline.OUTPUTS`,
   building the messages, and the whole :class:`~attendseg_ros.pipeline.FramePipeline` call.
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

from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND

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
    """Per-stage times (ms) of what the node does to one frame, without DDS: the same pipeline it runs."""
    from std_msgs.msg import Header

    from ..data.preprocessing import preprocess
    from ..drivable import DrivableConfig
    from ..engines import create_segmenter
    from ..image_conversion import image_to_rgb
    from ..pipeline import OUTPUTS, Frame, FramePipeline, FrameSettings, build_output
    from ..ros.messages import array_to_image
    from ..ros.parameters import backend_options

    seg = create_segmenter(backend=backend, model=model, threads=threads, **backend_options(options))
    try:
        info = seg.info
        batch = preprocess(rgb, seg.input_size, info.normalization)
        msg = array_to_image(np.ascontiguousarray(rgb[:, :, ::-1]), Header(), encoding="bgr8")
        settings = FrameSettings("input", DrivableConfig(tuple(info.classes.ids(list(info.classes.drivable)))),
                                 info.classes.palette(), 0.5)
        pipeline = FramePipeline(seg)
        result = seg.segment([rgb], resolution="input")[0]
        frame = Frame(rgb, result.labels, result.confidence)
        outputs = {name: build_output(name, frame, settings) for name in OUTPUTS}
        stages = {
            "network": _timed(lambda: seg.run(batch), repeats),
            "segment_call": _timed(lambda: seg.segment([rgb], resolution="input"), repeats),
            "conversion_bgr8": _timed(lambda: image_to_rgb(msg), repeats),
            **{f"output_{name}": _timed(lambda n=name: build_output(n, frame, settings), repeats) for name in OUTPUTS},
            "build_messages": _timed(lambda: [array_to_image(a, msg.header, OUTPUTS[n].encoding)
                                              for n, a in outputs.items()], repeats),
            "pipeline_all_outputs": _timed(lambda: pipeline.run([rgb], [list(OUTPUTS)], settings), repeats),
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

    from ..pipeline import OUTPUTS
    from ..ros.messages import array_to_image, stamp_ns
    from ..ros.process import Client, NodeProcess, diagnostics_values
    from ..topics import output_topic
    from .demo import node_parameters

    parameters = {**node_parameters(model, backend, TOPIC, threads, options), "diagnostics_period": 0.5}
    process = NodeProcess(parameters, log_path=log_path)
    client = Client("attendseg_node_bench", watch=process)
    arrivals: dict[int, float] = {}
    try:
        def on_labels(msg: Image) -> None:
            arrivals[stamp_ns(msg)] = client.node.get_clock().now().nanoseconds

        labels_topic = output_topic(TOPIC, "labels")
        client.subscribe(Image, labels_topic, on_labels)
        for name in OUTPUTS:  # subscribed like a typical user: everything but the overlay unless asked
            if name != "labels" and (name != "overlay" or overlay):
                client.collect(Image, output_topic(TOPIC, name))
        diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        publisher = client.publisher(TOPIC)
        client.spin_until(lambda: publisher.get_subscription_count() > 0, 600, "the node to start")
        client.spin_until(lambda: client.node.count_publishers(labels_topic) > 0, 30, "labels")
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        latencies = []
        for index in range(frames + 5):  # the first 5 warm up
            header = Header(frame_id="bench")
            header.stamp = client.node.get_clock().now().to_msg()
            msg = array_to_image(bgr, header, encoding="bgr8")
            key = stamp_ns(msg)
            client.publish_until(TOPIC, msg, lambda k=key: k in arrivals, 30, f"labels of frame {index}")
            if index >= 5:
                latencies.append((arrivals[key] - key) * 1e-6)
            client.executor.spin_once(timeout_sec=0.005)  # let the node settle: lockstep, not back-to-back
        def counted() -> dict[str, str] | None:  # diagnostics that include every frame sent
            values = diagnostics_values(diagnostics[-1], TOPIC) if diagnostics else None
            return values if values and int(values["processed"]) >= frames + 5 else None

        values = client.spin_until(counted, 10, "diagnostics covering every frame")
    finally:
        client.close()
        process.stop()
    return {
        "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
                       "mean": float(np.mean(latencies))},
        "node_diagnostics": {k: values.get(k) for k in ("network_ms", "node_overhead_ms", "node_latency_ms_p50",
                                                         "latency_ms_p50", "latency_ms_p99", "dropped_stale",
                                                         "processed")},
        "frames": frames,
    }


def run_bench(model: str | None = None, backend: str = DEFAULT_BACKEND, width: int = 640, height: int = 480,
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
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKEND_CHOICES)
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
