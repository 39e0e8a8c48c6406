"""attendseg-train: train AttendSeg on CamVid, or continue a run from its resume file.

A fresh run takes its schedule from the options. ``--resume FILE`` continues the run saved in
FILE (or in OUT/resume.safetensors when that one is further along) with the schedule saved
there; only --data, --out, --threads, --time-limit-min and --log-every apply then.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..training.resume import ResumeFileError
from ..training.trainer import PRECISIONS, TrainConfig, train


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig(data="")
    p = argparse.ArgumentParser(
        prog="attendseg-train", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--data", required=True, help="CamVid folder (SegNet 11-class or 32-class layout)")
    p.add_argument("--out", default=d.out, help="output folder: resume file, ema/final models, history")
    p.add_argument("--resume", metavar="FILE", help="continue the run saved in this resume file")
    p.add_argument("--variant", default=d.variant)
    p.add_argument("--train-splits", nargs="+", default=list(d.train_splits))
    p.add_argument(
        "--exclude-sequences",
        nargs="*",
        default=list(d.exclude_sequences),
        metavar="SEQ",
        help="drives left out of training (a leave-one-sequence-out proxy), e.g. 0006R0",
    )
    p.add_argument(
        "--eval-sets",
        nargs="*",
        default=list(d.eval_sets),
        metavar="SPLIT[:SEQ]",
        help="what the EMA model is scored on, e.g. val train:0006R0",
    )
    p.add_argument("--steps", type=int, default=d.steps, help="optimiser steps of the whole schedule")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--schedule", choices=["poly", "cosine"], default=d.schedule)
    p.add_argument("--crop", type=int, nargs=2, default=list(d.crop), metavar=("H", "W"))
    p.add_argument("--final-crop", type=int, nargs=2, default=list(d.final_crop), metavar=("H", "W"))
    p.add_argument(
        "--final-fraction",
        type=float,
        default=d.final_fraction,
        help="share of the steps, at the end, trained on --final-crop",
    )
    p.add_argument("--scale-range", type=float, nargs=2, default=list(d.scale_range), metavar=("MIN", "MAX"))
    p.add_argument("--color-jitter", type=float, default=d.color_jitter)
    p.add_argument("--gamma-jitter", type=float, default=d.gamma_jitter)
    p.add_argument("--input-size", type=int, nargs=2, default=list(d.input_size), metavar=("H", "W"))
    p.add_argument("--class-weighting", choices=["none", "median", "sqrt_median"], default=d.class_weighting)
    p.add_argument("--ema-decay", type=float, default=d.ema_decay)
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d.precision,
        help="auto: bf16 on CUDA and on CPUs with AVX512-BF16/AMX, fp32 elsewhere",
    )
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="steps between evaluations")
    p.add_argument("--save-every-min", type=float, default=d.save_every_min)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--log-every", type=int, default=d.log_every, help="steps between progress lines (no terminal)")
    p.add_argument("--time-limit-min", type=float, default=0.0, help="stop and save after this many minutes")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    return p  # fmt: skip


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, str | None]:
    values = vars(build_parser().parse_args(argv))
    resume = values.pop("resume")
    return TrainConfig.from_dict(values), resume


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config, resume = parse_args(argv)
    try:
        summary = train(config, resume_from=resume)
    except ResumeFileError as exc:
        sys.exit(f"attendseg-train: {exc}")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
