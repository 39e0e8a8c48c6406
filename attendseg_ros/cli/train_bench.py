"""attendseg-train-bench: training throughput (steps/s, images/s) without a training run.

Times the very step :func:`attendseg_ros.training.trainer.train` takes (batched augmentation, forward,
loss, backward, AdamW) for a crop, batch size, precision and thread count, after warm-up steps,
and prints the median with its spread. Frames are CamVid's when --data is given, else random.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import numpy as np
import torch

from ..training.trainer import PRECISIONS, TrainConfig, TrainStep, class_weights, make_optimizer, resolve_precision


def measure(
    crop: tuple[int, int],
    batch_size: int = 8,
    precision: str = "auto",
    threads: int = 0,
    channels_last: bool = True,
    steps: int = 10,
    warmup: int = 3,
    data: str | None = None,
) -> dict[str, Any]:
    """Seconds per training step at ``crop``; returns a dict of figures."""
    from ..model import create_model

    torch.set_num_threads(threads or os.cpu_count() or 1)
    device = torch.device("cpu")
    resolved = resolve_precision(precision, device)
    config = TrainConfig(data=data or "", crop=crop, batch_size=batch_size, channels_last=channels_last)
    if data:
        from ..data.camvid import CamVid

        images_np, labels_np = CamVid(data, "train").load_all()
        images_np, labels_np = images_np[:64], labels_np[:64]
    else:
        rng = np.random.default_rng(0)
        images_np = rng.integers(0, 256, (64, 360, 480, 3), dtype=np.uint8)
        labels_np = rng.integers(0, 11, (64, 360, 480), dtype=np.uint8)
    images, labels = torch.from_numpy(images_np), torch.from_numpy(labels_np)
    model = create_model(config.variant)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    step = TrainStep(
        model,
        make_optimizer(model, config),
        class_weights(labels_np, 11, config.class_weighting),
        11,
        config,
        resolved,
        device,
    )
    generator = torch.Generator().manual_seed(0)
    times = []
    for index in range(warmup + steps):
        batch = torch.randint(0, len(images), (batch_size,), generator=generator)
        started = time.perf_counter()
        step(images[batch], labels[batch], crop, 1e-3, generator)
        if index >= warmup:
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "crop": list(crop),
        "batch_size": batch_size,
        "precision": resolved,
        "threads": torch.get_num_threads(),
        "channels_last": channels_last,
        "steps_timed": steps,
        "s_per_step_median": median,
        "s_per_step_min": min(times),
        "s_per_step_max": max(times),
        "steps_per_s": 1.0 / median,
        "images_per_s": batch_size / median,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="attendseg-train-bench", description=__doc__)
    p.add_argument("--crop", type=int, nargs=2, default=[240, 320], metavar=("H", "W"))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--precision", choices=PRECISIONS, default="auto")
    p.add_argument("--threads", type=int, default=0, help="0: one per core")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--data", help="CamVid folder (default: random frames)")
    p.add_argument("--json", action="store_true", help="print JSON only")
    a = p.parse_args(argv)
    result = measure(tuple(a.crop), a.batch_size, a.precision, a.threads, a.channels_last, a.steps, a.warmup, a.data)
    if a.json:
        print(json.dumps(result))
        return
    layout = "channels-last" if result["channels_last"] else "NCHW"
    print(
        f"crop {a.crop[0]}x{a.crop[1]} batch {a.batch_size} {result['precision']} {layout} "
        f"{result['threads']} threads: {result['s_per_step_median']:.3f} s/step "
        f"(min {result['s_per_step_min']:.3f}, max {result['s_per_step_max']:.3f}, {a.steps} steps), "
        f"{result['steps_per_s']:.3f} steps/s, {result['images_per_s']:.2f} images/s"
    )


if __name__ == "__main__":
    main()
