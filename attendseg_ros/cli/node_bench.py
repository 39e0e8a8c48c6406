"""Benchmark of the segmentation node: its overhead against the network, and end-to-end latency.

    attendseg-node-bench [--model M] [--backend B] [--threads 2] [--frames 100] [--overlay] [--json out.json]

1. In this process, frame after frame, what the node does to a camera frame (default 640x480 bgr8)
   with the outputs a typical user subscribes to (labels, drivable_mask, confidence; ``--overlay``
   adds the overlay): conversion, preprocessing, the network (``Segmenter.run``), each output
   (labels and confidence include their resize to the camera size) and building the messages, each
   step timed in place and given as % of the network time of the same frames; then the same path
   through the real :class:`~attendseg_ros.runtime.pipeline.FramePipeline`, whose overhead per frame (all but
   the network) against the network of the same frame is the figure to compare with the aim.
2. The real node as its own process: frames stamped with the current time are published one at a
   time over DDS; the time from the stamp to the labels arriving here is the end-to-end latency. The
   node's own /diagnostics give its per-frame overhead (conversion, resizes, outputs, publish).

Aims: node overhead <= 10 % of the network time; end-to-end latency <= network + 10 ms.
Ratios, not milliseconds, compare across machines and loads; the output names the CPU, its INT8 flags
and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND

log = logging.getLogger(__name__)

TOPIC = "/bench/image_raw"


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


DEFAULT_OUTPUTS = ("labels", "drivable_mask", "confidence")


def _stats(times: list[float]) -> dict[str, float]:
    return {"p50": float(np.median(times)), "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90))}


def measure_in_process(rgb: np.ndarray, model: str | None, backend: str, threads: int, repeats: int,
                       options: tuple[str, ...] = (), outputs: tuple[str, ...] = DEFAULT_OUTPUTS) -> dict[str, Any]:
    """Per-step times (ms) of what the node does to one frame, without DDS, each step timed in place.

    ``steps_ms``: each step's p50/p10/p90 over ``repeats`` frames; ``steps_pct_of_network``: its p50 as
    % of the network's p50; ``pipeline``: the real FramePipeline path (conversion, pipeline, messages),
    per frame: ``overhead_ms`` (all but the network) and ``network_ms`` of the same frames, and their ratio.
    """
    from std_msgs.msg import Header

    from ..data.preprocessing import preprocess
    from ..engines import create_segmenter
    from ..ros.messages import array_to_image
    from ..ros.parameters import backend_options
    from ..runtime.drivable import DrivableConfig
    from ..runtime.image_conversion import image_to_rgb
    from ..runtime.pipeline import OUTPUTS, Frame, FramePipeline, FrameSettings, build_output

    seg = create_segmenter(backend=backend, model=model, threads=threads, **backend_options(options))
    try:
        info = seg.info
        msg = array_to_image(np.ascontiguousarray(rgb[:, :, ::-1]), Header(), encoding="bgr8")
        settings = FrameSettings("input", DrivableConfig(tuple(info.classes.ids(list(info.classes.drivable)))),
                                 info.classes.palette(), 0.5)
        steps: dict[str, list[float]] = {}

        def lap(step: str, since: float) -> float:
            now = time.perf_counter()
            steps.setdefault(step, []).append((now - since) * 1e3)
            return now

        warmup = 3
        for index in range(warmup + repeats):  # the node's steps, one after another, as in FramePipeline.run
            if index == warmup:
                steps.clear()
            now = time.perf_counter()
            frame = image_to_rgb(msg)
            now = lap("conversion", now)
            batch = preprocess(frame, seg.input_size, info.normalization)
            now = lap("preprocess", now)
            labels, confidence = seg.run(batch)
            now = lap("network", now)
            built = Frame(frame, labels[0], confidence[0], frame.shape[:2], settings)
            arrays = {}
            for name in outputs:
                arrays[name] = build_output(name, built, settings)
                now = lap(f"output_{name}", now)
            for name, array in arrays.items():
                array_to_image(array, msg.header, OUTPUTS[name].encoding)
            lap("messages", now)
        stats = {step: _stats(times) for step, times in steps.items()}
        network = stats["network"]["p50"]
        pipeline = _pipeline_overhead(FramePipeline(seg), msg, list(outputs), settings, repeats, warmup)
        return {"model": info.name, "backend": seg.backend, "precision": seg.precision,
                "model_input": list(seg.input_size), "outputs": list(outputs), "steps_ms": stats,
                "steps_pct_of_network": {step: 100 * t["p50"] / network for step, t in stats.items()},
                "pipeline": pipeline}
    finally:
        seg.close()


def _pipeline_overhead(pipeline: Any, msg: Any, outputs: list[str], settings: Any, repeats: int,
                       warmup: int) -> dict[str, float]:
    """Per frame through the real pipeline: conversion + FramePipeline.run + messages, less its network run."""
    from ..ros.messages import array_to_image
    from ..runtime.image_conversion import image_to_rgb
    from ..runtime.pipeline import OUTPUTS

    segmenter = pipeline.segmenter
    network: list[float] = []
    run = segmenter.run

    def timed_run(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        result = run(batch)
        network.append((time.perf_counter() - start) * 1e3)
        return result

    overhead = []
    segmenter.run = timed_run  # this instance only, for the measurement; restored below
    try:
        for index in range(warmup + repeats):
            start = time.perf_counter()
            result = pipeline.run([image_to_rgb(msg)], [outputs], settings)
            for name, array in result.outputs[0].items():
                array_to_image(array, msg.header, OUTPUTS[name].encoding)
            total = (time.perf_counter() - start) * 1e3
            if index >= warmup:
                overhead.append(total - network[-1])
    finally:
        del segmenter.run
    network = network[warmup:]
    return {"overhead_ms": float(np.median(overhead)), "network_ms": float(np.median(network)),
            "overhead_pct_of_network": float(100 * np.median(np.asarray(overhead) / np.asarray(network)))}


def measure_end_to_end(rgb: np.ndarray, model: str | None, backend: str, threads: int, frames: int,
                       overlay: bool, log_path: Path, options: tuple[str, ...] = ()) -> dict[str, Any]:
    """Stamp -> labels received in this process, through the node process, one frame at a time."""
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from ..ros.messages import array_to_image, stamp_ns
    from ..ros.process import Client, NodeProcess, diagnostics_values
    from ..runtime.pipeline import OUTPUTS
    from ..runtime.topics import output_topic
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
        for name, output in OUTPUTS.items():  # subscribed like a typical user: the raw images, the overlay if asked
            if output.kind == "image" and name != "labels" and (name != "overlay" or overlay):
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
    from .bench import cpu_flags, cpu_summary

    load_before = os.getloadavg()
    rgb = bench_frame(width, height)
    outputs = (*DEFAULT_OUTPUTS, "overlay") if overlay else DEFAULT_OUTPUTS
    local = measure_in_process(rgb, model, backend, threads, repeats, options, outputs)
    network = local["steps_ms"]["network"]["p50"]
    preprocess = local["steps_ms"]["preprocess"]["p50"]
    e2e = measure_end_to_end(rgb, model, backend, threads, frames, overlay, Path(log_dir) / "node_bench_node.log",
                             options)
    node_overhead = float(e2e["node_diagnostics"].get("node_overhead_ms") or "nan")
    node_segment = float(e2e["node_diagnostics"].get("network_ms") or "nan")  # segment(): preprocess + network
    node_network = node_segment - preprocess
    latency = e2e["latency_ms"]["p50"]
    overhead_pct = local["pipeline"]["overhead_pct_of_network"]
    return {
        **{k: v for k, v in local.items() if k not in ("steps_ms",)},
        "resolution": f"{width}x{height} bgr8",
        "cpu": cpu_summary(),
        "cpu_flags": cpu_flags(),
        "load_average_before_after": [load_before[0], os.getloadavg()[0]],
        "stages_ms": local["steps_ms"],
        "network_ms": network,
        "overhead_pct_of_network": overhead_pct,
        "node": {"segment_ms": node_segment, "overhead_ms": node_overhead,
                 "overhead_with_preprocess_pct_of_network": 100 * (node_overhead + preprocess) / node_network},
        "end_to_end": e2e,
        "latency_minus_network_ms": latency - network,
        "latency_minus_node_segment_ms": latency - node_segment,
        "aims": {"overhead_le_10pct": overhead_pct <= 10.0,
                 "latency_le_network_plus_10ms": latency <= network + 10},
        "overlay_subscribed": overlay,
        "backend_options": list(options),
        "threads": threads,
    }


def format_report(result: dict[str, Any]) -> str:
    """The breakdown as printed: every step in ms and % of the network, then the totals and the aims."""
    lines = [f"node benchmark: {result['model']} ({result['backend']}, {result['precision']}, input "
             f"{result['model_input'][1]}x{result['model_input'][0]}), camera {result['resolution']}, outputs "
             f"{', '.join(result['outputs'])}, threads {result['threads'] or 'default'}",
             result["cpu"],
             "load average (1 min) before/after: "
             + " / ".join(f"{x:.2f}" for x in result["load_average_before_after"]),
             "per frame, in this process, each step timed in place (p50; % of the network's p50):"]
    steps, pct = result["stages_ms"], result["steps_pct_of_network"]
    for name, t in steps.items():
        lines.append(f"  {name:<22} {t['p50']:8.2f} ms  {pct[name]:6.1f} %   (p10 {t['p10']:.2f}, p90 {t['p90']:.2f})")
    rest = sum(t["p50"] for name, t in steps.items() if name != "network")
    lines.append(f"  {'all but the network':<22} {rest:8.2f} ms  {100 * rest / result['network_ms']:6.1f} %")
    pipe = result["pipeline"]
    lines.append(f"node overhead through FramePipeline (p50 per frame): {pipe['overhead_ms']:.2f} ms = "
                 f"{pipe['overhead_pct_of_network']:.1f} % of the network's {pipe['network_ms']:.2f} ms in the same "
                 "frames (aim <= 10 %)")
    node = result["node"]
    lines.append(f"in the node process (its /diagnostics): segment() {node['segment_ms']:.2f} ms (preprocess + "
                 f"network), the rest {node['overhead_ms']:.2f} ms (conversion, resizes, outputs, messages, publish); "
                 f"with preprocessing {node['overhead_with_preprocess_pct_of_network']:.1f} % of the network")
    lat = result["end_to_end"]["latency_ms"]
    lines.append(f"end-to-end stamp -> labels in another process: p50 {lat['p50']:.2f} ms, p99 {lat['p99']:.2f} ms "
                 f"= network + {result['latency_minus_network_ms']:.2f} ms (aim <= network + 10 ms); = the node's "
                 f"segment() + {result['latency_minus_node_segment_ms']:.2f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attendseg-node-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model file (default: the embedded model)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKEND_CHOICES)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--frames", type=int, default=100, help="frames sent through the node (after 5 warm-up)")
    parser.add_argument("--repeats", type=int, default=50, help="frames of each in-process measurement")
    parser.add_argument("--threads", type=int, default=0, help="backend CPU threads (0 = default)")
    parser.add_argument("--overlay", action="store_true", help="also build and subscribe to the overlay (RViz case)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="backend option, as the node's backend_options (e.g. spin=false); repeatable")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run_bench(args.model, args.backend, args.width, args.height, args.frames, args.repeats, args.threads,
                       args.overlay, tuple(args.option))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(format_report(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
