"""attendseg-train: train AttendSeg on CamVid (single process, or multi-GPU under torchrun)."""

from __future__ import annotations

import argparse
import json
import logging

from ..training import TrainConfig, train


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    defaults = TrainConfig(data="")
    p = argparse.ArgumentParser(prog="attendseg-train", description=__doc__)
    p.add_argument("--data", required=True, help="CamVid folder (SegNet 11-class or 32-class layout)")
    p.add_argument("--out", default=defaults.out, help="output folder: best/last safetensors + sidecars, history")
    p.add_argument("--variant", default=defaults.variant)
    p.add_argument("--train-splits", nargs="+", default=list(defaults.train_splits))
    p.add_argument("--val-split", default=defaults.val_split, help="'' to skip validation")
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    p.add_argument("--warmup-epochs", type=float, default=defaults.warmup_epochs)
    p.add_argument("--schedule", choices=["poly", "cosine"], default=defaults.schedule)
    p.add_argument("--crop", type=int, nargs=2, default=list(defaults.crop), metavar=("H", "W"))
    p.add_argument("--scale-range", type=float, nargs=2, default=list(defaults.scale_range), metavar=("MIN", "MAX"))
    p.add_argument("--input-size", type=int, nargs=2, default=list(defaults.input_size), metavar=("H", "W"))
    p.add_argument("--class-weighting", choices=["none", "median", "sqrt_median"], default=defaults.class_weighting)
    p.add_argument("--no-amp", dest="amp", action="store_false", help="disable bf16 autocast on CUDA")
    p.add_argument("--val-every", type=int, default=defaults.val_every)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--time-limit-min", type=float, default=0.0, help="stop and save after this many minutes")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    args = p.parse_args(argv)
    values = vars(args)
    for key in ("train_splits", "crop", "scale_range", "input_size"):
        values[key] = tuple(values[key])
    return TrainConfig(**values)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(json.dumps(train(parse_args(argv)), indent=2))


if __name__ == "__main__":
    main()
