"""attendseg-train: train AttendSeg on a labelled dataset, fine-tune a model, or continue a run.

--data is any dataset layout (folder, cityscapes, camvid; attendseg-dataset check DIR shows what
it holds): the model learns its class table, normalisation and splits and is scored on its val split
when there is one. --init-from embedded|MODEL fine-tunes: every weight whose shape fits is loaded,
the classifier re-initialised when the classes differ, and the schedule options left unset take the
fine-tuning defaults, scaled to --steps. A fresh run takes its schedule from the options.
--resume FILE continues the run saved in FILE (or in OUT/resume.safetensors when that one is
further along) with the schedule saved there; only --data, --out, --threads, --time-limit-min and
--log-every apply then.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..data.dataset import LAYOUT_NAMES, DatasetError
from ..modelfiles.sidecar import ModelFileError
from ..training.resume import ResumeFileError
from ..training.trainer import PRECISIONS, TrainConfig, default_eval_sets, schedule_defaults, train
from .arguments import non_negative_int, positive_float, positive_int

# Schedule options whose default depends on --steps and --init-from (None: not given).
SCALED = ("lr", "warmup_steps", "freeze_encoder_fraction", "final_fraction")


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig(data="")
    p = argparse.ArgumentParser(
        prog="attendseg-train", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--data", required=True, help="dataset folder (folder, cityscapes or camvid layout)")
    p.add_argument("--layout", choices=LAYOUT_NAMES, help="the dataset's layout (default: detected)")
    p.add_argument("--out", default=d.out, help="output folder: resume file, ema/final models, history")
    p.add_argument("--resume", metavar="FILE", help="continue the run saved in this resume file")
    p.add_argument(
        "--init-from", default="", metavar="embedded|MODEL",
        help="fine-tune: start from the embedded model or a .safetensors model (with its .json)",
    )
    p.add_argument("--variant", default=d.variant, help="architecture of a run from scratch")
    p.add_argument(
        "--train-splits", nargs="+", default=None,
        help="splits to train on (default: train; for CamVid train and val, as its published figures)",
    )
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
        default=None,
        metavar="SPLIT[:SEQ]",
        help="what the EMA model is scored on, e.g. val train:0006R0 (default: val when the dataset has it)",
    )
    p.add_argument("--steps", type=positive_int, default=d.steps, help="optimiser steps of the whole schedule")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size, help="per process")
    p.add_argument("--lr", type=positive_float, help=f"peak learning rate (default {d.lr:g}; fine-tuning: "
                   f"{schedule_defaults(100, True)['lr']:g})")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--warmup-steps", type=non_negative_int,
                   help=f"linear warm-up (default: {d.warmup_steps}, at most a tenth of --steps; fine-tuning: a tenth)")
    p.add_argument("--freeze-encoder-fraction", type=float,
                   help="share of the steps, at the start, that train only the decoder and classifier (default 0)")
    p.add_argument("--schedule", choices=["poly", "cosine"], default=d.schedule)
    p.add_argument("--crop", type=int, nargs=2, default=list(d.crop), metavar=("H", "W"))
    p.add_argument("--final-crop", type=int, nargs=2, default=list(d.final_crop), metavar=("H", "W"))
    p.add_argument(
        "--final-fraction",
        type=float,
        help=f"share of the steps, at the end, trained on --final-crop (default {d.final_fraction})",
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
    """The run's configuration (unset schedule options scaled to --steps) and the resume file, if any."""
    values = vars(build_parser().parse_args(argv))
    resume = values.pop("resume")
    defaults = schedule_defaults(values["steps"], fine_tune=bool(values["init_from"]))
    for key in SCALED:
        if values[key] is None:
            values[key] = defaults[key]
    if values["train_splits"] is None:
        values["train_splits"] = []  # the layout's default
    if values["eval_sets"] is None:
        values["eval_sets"] = list(default_eval_sets(values["data"], values["layout"])) if not resume else ["val"]
    return TrainConfig.from_dict(values), resume


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config, resume = parse_args(argv)
        summary = train(config, resume_from=resume)
    except (ResumeFileError, DatasetError, ModelFileError) as exc:
        sys.exit(f"attendseg-train: error: {exc}")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
