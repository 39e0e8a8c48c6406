"""attendseg-demo (``make demo``): the segmentation node on CamVid frames, end to end over DDS.

With CamVid available (``--camvid``, ``$CAMVID_DIR`` or ``../shared/camvid``) it starts the real
node as its own process, plays validation frames onto ``/camera/image_raw`` one at a time, receives
labels and overlay, and writes overlay PNGs and ``summary.json`` (fps, latency, class histogram,
accuracy against the annotations) to ``demo_out/``. CamVid val is training data of the shipped
model: that accuracy shows fit, not accuracy on unseen images, and the demo says so. Without
CamVid it starts the node and says which topic it is waiting on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..registry import BACKEND_CHOICES, DEFAULT_BACKEND
from ..runtime.pipeline import OUTPUTS
from ..runtime.topics import output_prefix, output_topic

log = logging.getLogger(__name__)

TOPIC = "/camera/image_raw"
START_TIMEOUT = 600.0  # a TensorRT engine build can take minutes
FRAME_TIMEOUT = 30.0


def find_camvid(explicit: str | Path | None = None) -> Path | None:
    """The CamVid folder: ``explicit``, ``$CAMVID_DIR``, or ``shared/camvid`` beside the repo or the cwd."""
    if explicit:
        if not (Path(explicit) / "val").is_dir():
            raise FileNotFoundError(f"{explicit}: not a CamVid folder (no val/ inside)")
        return Path(explicit)
    package_root = Path(__file__).resolve().parents[2]
    candidates = [os.environ.get("CAMVID_DIR"), package_root.parent / "shared" / "camvid",
                  Path.cwd().parent / "shared" / "camvid", Path.cwd() / "shared" / "camvid"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "val").is_dir():
            return Path(candidate)
    return None


def node_parameters(model: str | None, backend: str, topic: str, threads: int = 0,
                    options: tuple[str, ...] = ()) -> dict[str, object]:
    """The node's parameters for one camera topic."""
    parameters: dict[str, object] = {"camera_topics": [topic], "backend": backend, "threads": threads}
    if model:
        parameters["model"] = str(Path(model).resolve())
    if options:
        parameters["backend_options"] = list(options)
    return parameters


def wait_for_node(topic: str, model: str | None, backend: str) -> dict[str, Any]:
    """No input: run the node in the foreground until Ctrl-C, saying where it listens."""
    from ..ros.process import node_command, node_env

    command = node_command(node_parameters(model, backend, topic))
    prefix = output_prefix(topic)
    print(f"No CamVid found (set CAMVID_DIR or pass --camvid). The node is waiting for sensor_msgs/Image on {topic};"
          f" results appear on {prefix}/{{{','.join(OUTPUTS)},info}}. Ctrl-C stops it.", flush=True)
    process = subprocess.Popen(command, env=node_env())  # in the foreground: its log goes to this terminal
    try:
        code = process.wait()
    except KeyboardInterrupt:  # Ctrl-C in a terminal reaches the node too: let it finish first
        try:
            code = process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    return {"waiting_on": topic, "outputs": prefix, "exit_code": code}


def run_demo(camvid: Path, frames: int = 30, model: str | None = None, backend: str = DEFAULT_BACKEND,
             out: Path = Path("demo_out"), topic: str = TOPIC, threads: int = 0) -> dict[str, Any]:
    """Play ``frames`` CamVid val frames through the node process; write overlays + summary.json."""
    from sensor_msgs.msg import Image

    from ..data import CamVid
    from ..metrics import confusion_matrix, summarize
    from ..msg import SegmentationInfo
    from ..ros.messages import array_to_image, stamp_ns
    from ..ros.process import LATCHED, Client, NodeProcess
    from ..runtime.image_conversion import image_to_array

    dataset = CamVid(camvid, "val")
    count = min(frames, len(dataset))
    out.mkdir(parents=True, exist_ok=True)
    shown = ("labels", "overlay")  # the outputs the demo reads (their encodings come from the pipeline's registry)
    process = NodeProcess(node_parameters(model, backend, topic, threads), log_path=out / "node.log")
    client = Client("attendseg_demo", watch=process)
    try:
        received: dict[str, dict[int, tuple[Any, float]]] = {name: {} for name in shown}

        def keep(name: str, msg: Image) -> None:
            received[name][stamp_ns(msg)] = (msg, time.time())

        for name in shown:
            client.subscribe(Image, output_topic(topic, name), lambda m, n=name: keep(n, m))
        infos = client.collect(SegmentationInfo, output_topic(topic, "info"), LATCHED)
        client.spin_until(lambda: infos, START_TIMEOUT, "the node to load its model")
        info = infos[-1]
        publisher = client.publisher(topic)
        client.spin_until(lambda: publisher.get_subscription_count() > 0, FRAME_TIMEOUT, f"the node to read {topic}")
        num_classes = len(info.class_names)
        histogram = np.zeros(256, np.int64)
        confusion = np.zeros((num_classes, num_classes), np.int64)
        latencies = []
        start = time.monotonic()
        for index in range(count):
            rgb, truth = dataset[index]
            frame_msg = array_to_image(rgb, _header(client))
            key = stamp_ns(frame_msg)
            client.publish_until(topic, frame_msg, lambda k=key: all(k in r for r in received.values()),
                                 FRAME_TIMEOUT, f"the results of frame {index}")
            labels_msg, labels_time = received["labels"][key]
            latencies.append((labels_time - key * 1e-9) * 1e3)  # stamp -> labels received
            labels = image_to_array(labels_msg, OUTPUTS["labels"].encoding)
            histogram += np.bincount(labels.ravel(), minlength=256)
            if labels.shape == truth.shape and labels.max() < num_classes:
                confusion += confusion_matrix(truth, labels, num_classes)
            overlay = image_to_array(received["overlay"][key][0], OUTPUTS["overlay"].encoding)
            name = dataset.samples[index].image.stem
            cv2.imwrite(str(out / f"overlay_{index:03d}_{name}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        elapsed = time.monotonic() - start
    finally:
        client.close()
        process.stop()
    names = [*info.class_names, *(["void"] if histogram[info.void_id] else [])]
    ids = [*range(num_classes), *([info.void_id] if histogram[info.void_id] else [])]
    total = max(int(histogram.sum()), 1)
    accuracy = summarize(confusion, count)
    summary = {
        "model": info.model_name,
        "backend": info.backend,
        "precision": info.precision,
        "model_input": [info.input_height, info.input_width],
        "topic": topic,
        "frames": count,
        "fps": count / elapsed,
        "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p99": float(np.percentile(latencies, 99)),
                       "mean": float(np.mean(latencies))},
        "class_histogram": {n: round(float(histogram[i]) / total, 4) for n, i in zip(names, ids, strict=True)},
        "pixel_accuracy": accuracy["pixel_accuracy"],
        "miou": accuracy["miou"],
        "accuracy_note": accuracy_note(model, backend),
        "out": str(out),
        "note": "frames are played one at a time (each waits for its result), so fps = 1 / round-trip time",
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def accuracy_note(model: str | None, backend: str) -> str:
    """What the accuracy on CamVid val frames says about this model (fit, for the shipped model)."""
    from ..engines import model_info, resolve_model
    from ..training.report import training_data_note

    training = model_info(resolve_model(backend, model)).training
    if not (training.get("config") or {}).get("train_splits"):
        return "this model's sidecar does not say what it was trained on"
    return training_data_note(training, "val") or "CamVid val is not training data of this model"


def _header(client: Any) -> Any:
    from std_msgs.msg import Header

    header = Header(frame_id="camera")
    header.stamp = client.node.get_clock().now().to_msg()
    return header


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attendseg-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--camvid", help="CamVid folder (default: $CAMVID_DIR or ../shared/camvid)")
    parser.add_argument("--frames", type=int, default=30, help="val frames to play (default 30)")
    parser.add_argument("--model", help="model file (default: the embedded model)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=BACKEND_CHOICES)
    parser.add_argument("--threads", type=int, default=0, help="backend CPU threads (0 = default)")
    parser.add_argument("--topic", default=TOPIC, help=f"camera topic (default {TOPIC})")
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder (default demo_out/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        camvid = find_camvid(args.camvid)
        if camvid is None:
            return wait_for_node(args.topic, args.model, args.backend)["exit_code"]
        summary = run_demo(camvid, args.frames, args.model, args.backend, args.out, args.topic, args.threads)
    except (RuntimeError, FileNotFoundError, AssertionError) as exc:  # the node failed, or timed out
        print(f"attendseg-demo: {exc}", file=sys.stderr)
        return 1
    top = sorted(summary["class_histogram"].items(), key=lambda kv: -kv[1])[:5]
    print(f"attendseg demo: {summary['frames']} CamVid val frames through {summary['model']} "
          f"({summary['backend']}, {summary['precision']}) over DDS")
    print(f"  {summary['fps']:.1f} fps (one frame at a time), latency p50 {summary['latency_ms']['p50']:.1f} ms, "
          f"p99 {summary['latency_ms']['p99']:.1f} ms")
    print(f"  pixel accuracy {summary['pixel_accuracy']:.3f}, mIoU {summary['miou']:.3f} on these frames; "
          f"{summary['accuracy_note']}")
    print("  classes: " + ", ".join(f"{n} {v:.0%}" for n, v in top))
    print(f"  overlays and summary.json in {summary['out']}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
