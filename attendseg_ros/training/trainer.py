"""Training AttendSeg on a labelled dataset: a step-based schedule that can stop and resume at any point.

The dataset is any registered layout (:func:`attendseg_ros.data.dataset.open_dataset`); its class
table and normalisation become the model's. ``init_from`` fine-tunes a trained model: every weight
whose shape fits is loaded and the classifier is re-initialised when the classes differ.

The whole training set lives as uint8 tensors on the training device and is augmented there
in one batched call per step. The schedule is fixed in optimiser steps (``TrainConfig.steps``):
stopping early (``time_limit_min``, SIGINT/SIGTERM) saves a resume file, and a later run, on this
machine or another, continues the same schedule from it (:mod:`attendseg_ros.training.resume`).

Weights are averaged (EMA) and the averaged model's BatchNorm statistics are recalibrated before
every evaluation and before it is saved: that model is what ships. Multi-GPU runs use
``torchrun`` (DistributedDataParallel): each rank draws its own batches, rank 0 evaluates and
writes files.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data.dataset import SegmentationDataset, dataset_splits, open_dataset
from ..data.transforms import Augmentation, Normalization, preprocess
from ..model import AttendSeg, create_model
from ..model.postprocess import LabelsAndConfidence
from ..modelfiles.checkpoint import ModelFileError, ModelInfo, load_model, save_model
from .evaluation import evaluate

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class TrainConfig:
    """One training run. Everything that shapes the result is here and is saved with it."""

    data: str
    out: str = "runs/attendseg"
    variant: str = "attendseg_camvid11"
    layout: str | None = None  # dataset layout (folder, cityscapes, camvid); None: detected
    init_from: str = ""  # "" (random init), "embedded" or a .safetensors model to fine-tune
    # () = the layout's default (camvid: train + val, as the published CamVid figures; others: train)
    train_splits: tuple[str, ...] = ()
    exclude_sequences: tuple[str, ...] = ()  # leave-one-sequence-out proxy, e.g. ("0006R0",)
    eval_sets: tuple[str, ...] = ("val",)  # "split" or "split:SEQ[,SEQ]", e.g. "train:0006R0"
    steps: int = 30000
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 0.01  # decoupled (AdamW), on conv/linear weights only
    warmup_steps: int = 500
    schedule: str = "poly"  # poly | cosine, decaying to zero at ``steps``
    freeze_encoder_fraction: float = 0.0  # share of the steps, at the start, that leave the encoder unchanged
    crop: tuple[int, int] = (240, 320)
    final_crop: tuple[int, int] = (360, 480)  # crop of the last ``final_fraction`` of the steps
    final_fraction: float = 0.15
    scale_range: tuple[float, float] = (0.75, 2.0)  # relative to the dataset's native pixel scale
    color_jitter: float = 0.25
    gamma_jitter: float = 0.3
    input_size: tuple[int, int] = (360, 480)  # evaluation/deployment size recorded in the sidecar
    class_weighting: str = "sqrt_median"  # none | median | sqrt_median
    ema_decay: float = 0.999
    bn_recalibration_frames: int = 128
    precision: str = "auto"  # auto: bf16 on CUDA and on CPUs with AVX512-BF16/AMX, else fp32
    channels_last: bool = True
    eval_every: int = 1000  # steps; evaluation of the EMA model on ``eval_sets``
    save_every_min: float = 10.0  # resume file at most this many minutes old
    log_every: int = 50  # steps between progress lines when there is no progress bar
    seed: int = 0
    time_limit_min: float = 0.0  # stop (and save) after this many minutes; the schedule is unchanged
    threads: int = 0  # CPU threads; 0 = one per core
    extra: dict[str, Any] = field(default_factory=dict)

    # What may differ between the run that started the schedule and a run that resumes it.
    MACHINE_LOCAL = ("data", "out", "time_limit_min", "threads", "log_every")

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in fields(cls)}
        values = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown training setting {key!r}")
            values[key] = tuple(value) if isinstance(value, list) else value
        return cls(**values)

    def crop_at(self, step: int) -> tuple[int, int]:
        """Crop size of optimiser step ``step``: ``crop``, then ``final_crop`` for the last steps."""
        return tuple(self.final_crop) if step >= self.final_phase_start else tuple(self.crop)  # type: ignore[return-value]

    @property
    def final_phase_start(self) -> int:
        return round(self.steps * (1.0 - self.final_fraction))

    def encoder_frozen_at(self, step: int) -> bool:
        return step < round(self.steps * self.freeze_encoder_fraction)


# The fine-tuning schedule (``init_from``), as fractions of ``steps``: chosen by measurement
# (docs/datasets.md: 150 steps from the embedded model on one CamVid drive relabelled to 7 classes,
# INT8 scored on another drive).
FINE_TUNE_DEFAULTS: dict[str, float] = {
    "lr": 1e-3,
    "warmup_fraction": 0.1,
    "freeze_encoder_fraction": 0.3,  # the first 30 % of the steps train the decoder and classifier only
    "final_fraction": 0.15,
}


def schedule_defaults(steps: int, fine_tune: bool) -> dict[str, Any]:
    """Defaults of the schedule settings for a run of ``steps`` (scaled to it).

    From scratch: the recipe of ``TrainConfig`` with the warm-up capped at a tenth of the steps.
    Fine-tuning: :data:`FINE_TUNE_DEFAULTS`.
    """
    base = TrainConfig(data="")
    if not fine_tune:
        return {
            "lr": base.lr,
            "warmup_steps": min(base.warmup_steps, max(1, steps // 10)),
            "freeze_encoder_fraction": base.freeze_encoder_fraction,
            "final_fraction": base.final_fraction,
        }
    return {
        "lr": FINE_TUNE_DEFAULTS["lr"],
        "warmup_steps": max(1, round(steps * FINE_TUNE_DEFAULTS["warmup_fraction"])),
        "freeze_encoder_fraction": FINE_TUNE_DEFAULTS["freeze_encoder_fraction"],
        "final_fraction": FINE_TUNE_DEFAULTS["final_fraction"],
    }


# -- pieces of a step ----------------------------------------------------------------------------


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU has native bf16 (AVX512-BF16 or AMX-BF16) in ``/proc/cpuinfo`` flags."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on CUDA and on bf16-capable CPUs, else ``fp32`` (bf16 is slow on AVX2)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if precision != "auto":
        return precision
    return "bf16" if device.type == "cuda" or cpu_has_bf16() else "fp32"


def class_weights(labels: np.ndarray, num_classes: int, mode: str) -> torch.Tensor:
    """Median-frequency balancing (SegNet) or its square root (milder); ``none`` gives ones."""
    if mode == "none":
        return torch.ones(num_classes)
    counts = np.bincount(labels[labels < num_classes].ravel(), minlength=num_classes).astype(np.float64)
    frequency = counts / max(counts.sum(), 1)
    present = frequency > 0
    weights = np.ones(num_classes)
    weights[present] = np.median(frequency[present]) / frequency[present]
    if mode == "sqrt_median":
        weights = np.sqrt(weights)
    elif mode != "median":
        raise ValueError(f"unknown class weighting {mode!r}; choose none, median or sqrt_median")
    return torch.tensor(weights, dtype=torch.float32)


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up over ``warmup_steps``, then poly(0.9) or cosine decay to zero at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * max((step + 1) / config.warmup_steps, 1e-3)
    progress = min(max((step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1), 0.0), 1.0)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
    if config.schedule == "poly":
        return config.lr * (1 - progress) ** 0.9
    raise ValueError(f"unknown schedule {config.schedule!r}; choose poly or cosine")


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on conv/linear weights only (not on norms, biases, scales)."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


class WeightAverage:
    """Exponential moving average of a model's parameters and buffers (the model that ships).

    The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` so early averages are not dominated
    by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
            if average.dtype.is_floating_point:
                average.lerp_(current.detach(), 1.0 - decay)
            else:
                average.copy_(current)


@torch.no_grad()
def recalibrate_batchnorm(
    model: nn.Module,
    frames: torch.Tensor,
    size: tuple[int, int],
    normalization: Normalization | None = None,
    batch_size: int = 8,
) -> None:
    """Recompute BatchNorm running statistics of ``model`` from uint8 frames at ``size`` (a cumulative mean)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or len(frames) == 0:
        return
    saved = [(m.momentum, m.training) for m in norms]
    memory_format = _memory_format_of(model)
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all recalibration batches
    model.train()
    for start in range(0, len(frames), batch_size):
        x = preprocess(frames[start : start + batch_size], size, normalization or Normalization())
        model(x.contiguous(memory_format=memory_format))
    model.eval()
    for m, (momentum, _) in zip(norms, saved, strict=True):
        m.momentum = momentum


def _memory_format_of(model: nn.Module) -> torch.memory_format:
    weight = next((p for p in model.parameters() if p.ndim == 4), None)
    if weight is not None and weight.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class TrainStep:
    """One optimiser step: augment a batch, forward (autocast when bf16), loss, backward, AdamW.

    Shared by :func:`train` and the throughput benchmark so that what is timed is what trains.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        weights: torch.Tensor,
        void_id: int,
        config: TrainConfig,
        precision: str,
        device: torch.device,
        normalization: Normalization | None = None,
    ) -> None:
        self.model, self.optimizer, self.weights, self.void_id = model, optimizer, weights, void_id
        self.config, self.device = config, device
        self.autocast = precision == "bf16"
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.normalization = normalization or Normalization()
        network = model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model
        self.encoder_parameters = encoder_parameters(network)

    def augmentation(self, crop: tuple[int, int]) -> Augmentation:
        c = self.config
        jitter = c.color_jitter
        return Augmentation(
            crop=crop,
            scale_range=c.scale_range,
            brightness=jitter,
            contrast=jitter,
            saturation=jitter,
            gamma=c.gamma_jitter,
        )

    def __call__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        crop: tuple[int, int],
        lr: float,
        generator: torch.Generator,
        freeze_encoder: bool = False,
    ) -> float:
        """Augment ``images``/``labels`` (uint8 N,H,W,3 / N,H,W) to ``crop`` and take one step; returns the loss.

        ``freeze_encoder``: the encoder's weights are left unchanged by this step (their gradients are
        dropped after the all-reduce, so AdamW skips them; DDP and the optimiser state are unaffected).
        """
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        batch_images, batch_labels = self.augmentation(crop)(images, labels, self.void_id, generator)
        x = preprocess(batch_images, None, self.normalization).contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model(x)
        loss = F.cross_entropy(logits.float(), batch_labels.long(), weight=self.weights, ignore_index=self.void_id)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if freeze_encoder:
            for parameter in self.encoder_parameters:
                parameter.grad = None
        self.optimizer.step()
        return float(loss.detach())


ENCODER_MODULES = ("stem", "stage4", "stage8", "stage32")


def encoder_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of AttendSeg's encoder (stem and the three stages); [] for other modules."""
    return [p for name in ENCODER_MODULES if hasattr(model, name) for p in getattr(model, name).parameters()]


# -- fine-tuning -----------------------------------------------------------------------------------

HEAD_PREFIX = "head."


def init_model_path(init_from: str) -> Path:
    """The model ``init_from`` names: ``embedded`` (the package's model) or a ``.safetensors`` file."""
    if init_from == "embedded":
        from ..engines import default_model_path

        return default_model_path("safetensors")
    path = Path(init_from)
    if path.suffix != ".safetensors":
        raise ModelFileError(f"{path}: fine-tuning starts from .safetensors weights (with their .json sidecar)")
    return path


def initialise_from(model: AttendSeg, source: AttendSeg, source_info: ModelInfo, classes: Any) -> dict[str, Any]:
    """Copy every weight of ``source`` whose name and shape fit ``model``; the classifier only for the same classes.

    Returns what was loaded and what was left at its initialisation (names).
    """
    same_classes = tuple(source_info.classes.names) == tuple(classes.names)
    target = model.state_dict()
    loaded: list[str] = []
    for name, value in source.state_dict().items():
        fits = name in target and target[name].shape == value.shape
        if fits and (same_classes or not name.startswith(HEAD_PREFIX)):
            target[name] = value.to(target[name].dtype)
            loaded.append(name)
    kept = [name for name in target if name not in loaded]
    model.load_state_dict(target)
    return {"loaded": len(loaded), "reinitialised": kept, "classifier_reinitialised": not same_classes}


# -- data ----------------------------------------------------------------------------------------


def parse_eval_set(spec: str) -> tuple[str, tuple[str, ...]]:
    """``"val"`` -> ("val", ()); ``"train:0006R0"`` -> ("train", ("0006R0",))."""
    split, _, sequences = spec.partition(":")
    return split, tuple(s for s in sequences.split(",") if s)


def resolve_splits(config: TrainConfig) -> TrainConfig:
    """``config`` with the layout detected and empty ``train_splits`` set to the layout's default."""
    from ..data.dataset import detect_layout, layout_reader

    layout = config.layout or detect_layout(config.data)
    train_splits = config.train_splits
    if not train_splits:  # the layout's default, without splits this dataset lacks
        present = dataset_splits(config.data, layout)
        default = layout_reader(layout).train_splits
        train_splits = tuple(s for s in default if s in present) or default
    return replace(config, layout=layout, train_splits=tuple(train_splits))


def default_eval_sets(data: str, layout: str | None = None) -> tuple[str, ...]:
    """``("val",)`` when the dataset has a val split, else ``()``."""
    return ("val",) if "val" in dataset_splits(data, layout) else ()


def open_training_splits(config: TrainConfig) -> tuple[list[SegmentationDataset], dict[str, SegmentationDataset]]:
    """The training splits and evaluation sets of ``config``, opened (and checked) before anything trains."""
    train_sets = [
        open_dataset(config.data, s, config.layout, exclude_sequences=config.exclude_sequences)
        for s in config.train_splits
    ]
    eval_sets = {}
    for spec in config.eval_sets:
        split, sequences = parse_eval_set(spec)
        eval_sets[spec] = open_dataset(config.data, split, config.layout, sequences=sequences or None)
    names = train_sets[0].classes.names
    for dataset in [*train_sets, *eval_sets.values()]:
        if dataset.classes.names != names:
            raise ValueError(f"{config.data}: split {dataset.split!r} has another class table than the training split")
    for dataset in eval_sets.values():  # read once now: a broken file stops the run before its first step
        for sample in dataset.samples:
            dataset.load(sample)
    return train_sets, eval_sets


def load_training_frames(
    train_sets: list[SegmentationDataset], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Every training frame and mask (uint8) at ``size``, the model's input size (masks nearest)."""
    arrays = [dataset.load_all(size) for dataset in train_sets]
    return np.concatenate([a[0] for a in arrays]), np.concatenate([a[1] for a in arrays])


def torch_predictor(model: AttendSeg, info_size: tuple[int, int], normalization: Normalization, device: torch.device):
    """Predictor for :func:`attendseg_ros.training.evaluation.evaluate` running the torch model."""
    wrapped = LabelsAndConfidence(model).eval()
    memory_format = _memory_format_of(model)

    @torch.no_grad()
    def predict(frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(preprocess(frames, info_size, normalization)).to(device)
        labels, _ = wrapped(x.contiguous(memory_format=memory_format))
        labels = labels.cpu().numpy()
        if labels.shape[1:] != frames.shape[1:3]:
            import cv2

            labels = np.stack(
                [cv2.resize(lab, frames.shape[2:0:-1], interpolation=cv2.INTER_NEAREST) for lab in labels]
            )
        return labels

    return predict


# -- the run -------------------------------------------------------------------------------------


class _Distributed:
    """torchrun environment (WORLD_SIZE/RANK/LOCAL_RANK) or a single process."""

    def __init__(self) -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world_size > 1:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            dist.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
        else:
            self.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def close(self) -> None:
        if self.world_size > 1:
            dist.destroy_process_group()


class _StopRequest:
    """SIGINT/SIGTERM set a flag: the run saves its resume file at the end of the step and returns."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if _in_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.requested = signal.Signals(signum).name

    def __exit__(self, *_exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _batches(generator: torch.Generator, count: int, batch_size: int) -> Iterator[torch.Tensor]:
    while True:
        yield torch.randint(0, count, (batch_size,), generator=generator)


def train(config: TrainConfig, resume_from: str | Path | None = None) -> dict[str, Any]:
    """Run (or continue) the schedule of ``config``; returns a summary.

    Files in ``config.out``: ``resume.safetensors`` (everything needed to continue), ``ema``
    (the recalibrated EMA model at the last evaluation, with metrics) and, once the schedule has
    run out, ``final`` (the same for the last step), plus ``history.json``.
    ``resume_from`` names a resume file; the newer of it and ``out/resume.safetensors`` is used.
    """
    from .resume import ResumeFileError, ResumeState, load_resume, newest_resume, save_resume

    out = Path(config.out)
    local_resume = out / "resume.safetensors"
    state: ResumeState | None = None
    source = None
    if resume_from is not None:
        if not Path(resume_from).is_file():
            raise ResumeFileError(f"{resume_from}: resume file not found")
        source = newest_resume([resume_from, local_resume])
    elif local_resume.is_file():
        raise ResumeFileError(
            f"{local_resume} exists: continue that run with --resume {local_resume}, or choose another --out"
        )
    if source is not None:
        state = load_resume(source)
        config = _resumed_config(state.config, config)
    config = resolve_splits(config)
    # Every frame is read and checked (pairs, sizes, ids) before any process group or step.
    train_sets, eval_sets = open_training_splits(config)
    classes = train_sets[0].classes
    images_np, labels_np = load_training_frames(train_sets, tuple(config.input_size))
    init_model, init_info = None, None
    if config.init_from:
        init_model, init_info = load_model(init_model_path(config.init_from))
    normalization = train_sets[0].normalization or (init_info.normalization if init_info else Normalization())
    env = _Distributed()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    seed = config.seed + env.rank
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
    precision = resolve_precision(config.precision, env.device)

    weights = class_weights(labels_np, classes.num_classes, config.class_weighting).to(env.device)
    images = torch.from_numpy(images_np).to(env.device)
    labels = torch.from_numpy(labels_np).to(env.device)
    if not env.main:
        eval_sets = {}

    if init_info is not None:
        model = AttendSeg(replace(init_info.config, num_classes=classes.num_classes))
        if state is None:
            assert init_model is not None
            report = initialise_from(model, init_model, init_info, classes)
            log.info("initialised from %s: %d tensors loaded, %s left at their initialisation", config.init_from,
                     report["loaded"], report["reinitialised"] or "none")
        model = model.to(env.device)
    else:
        model = create_model(config.variant, num_classes=classes.num_classes).to(env.device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = make_optimizer(model, config)
    average = WeightAverage(model, config.ema_decay)
    step, history = 0, []
    generator = torch.Generator().manual_seed(seed)
    if state is not None:
        state.restore(model, average, optimizer)
        step, history = state.step, list(state.history)
        generator.manual_seed(seed * 1_000_003 + step)  # a fresh, reproducible stream per resume point
        log.info("resumed from %s at step %d of %d", source, step, config.steps)
    trained = torch.nn.parallel.DistributedDataParallel(model) if env.world_size > 1 else model
    train_step = TrainStep(trained, optimizer, weights, classes.void_id, config, precision, env.device, normalization)
    log.info(
        "training on %d frames of %s (%s, %s%s), %d classes, %s, %s, %d threads, step %d/%d",
        len(images),
        config.data,
        config.layout,
        "+".join(config.train_splits),
        f" without {','.join(config.exclude_sequences)}" if config.exclude_sequences else "",
        classes.num_classes,
        env.device,
        precision,
        torch.get_num_threads(),
        step,
        config.steps,
    )

    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    info = ModelInfo(
        config=model.config,
        classes=classes,
        input_size=tuple(config.input_size),
        normalization=normalization,
        name=config.variant if classes.name == "camvid11" else f"attendseg_{classes.name}",
        training={"command": command, "config": config.to_dict(), "seed": config.seed},
    )
    recalibration_frames = images[
        torch.randperm(len(images), generator=torch.Generator().manual_seed(config.seed))[
            : config.bn_recalibration_frames
        ]
    ]

    def write_average(name: str, metrics: dict[str, Any]) -> Path:
        """Write the (recalibrated) EMA model as ``out/NAME.safetensors`` with its metrics."""
        return save_model(out / f"{name}.safetensors", average.model, replace(info, metrics={**metrics, "step": step}))

    def evaluate_average() -> dict[str, Any]:
        """Recalibrate the EMA model's BatchNorm, then score it on every evaluation set."""
        recalibrate_batchnorm(average.model, recalibration_frames, tuple(config.input_size), normalization)
        predictor = torch_predictor(average.model, tuple(config.input_size), normalization, env.device)
        return {name: evaluate(predictor, data, progress=False)[1] for name, data in eval_sets.items()}

    def save_state() -> None:
        save_resume(local_resume, ResumeState(config.to_dict(), step, history, model, average, optimizer))

    started = time.monotonic()
    last_save, first_step = started, step
    running: float | None = None
    stop_reason: str | None = None
    reports: dict[str, Any] = {}
    batches = _batches(generator, len(images), config.batch_size)
    bar = tqdm(total=config.steps, initial=step, desc="train", disable=None if env.main else True)
    with _StopRequest() as stop:
        while step < config.steps:
            index = next(batches).to(env.device)
            lr = learning_rate(config, step)
            loss = train_step(
                images[index], labels[index], config.crop_at(step), lr, generator, config.encoder_frozen_at(step)
            )
            average.update(model)
            step += 1
            running = loss if running is None else 0.98 * running + 0.02 * loss
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}")
            if env.main and bar.disable and step % config.log_every == 0:  # no bar: a log line instead
                pace = (time.monotonic() - started) / max(step - first_step, 1)
                log.info("step %d/%d loss %.4f lr %.2e %.2f s/step", step, config.steps, running, lr, pace)
            elapsed_min = (time.monotonic() - started) / 60
            if config.time_limit_min and elapsed_min >= config.time_limit_min:
                stop_reason = f"time limit of {config.time_limit_min:g} min"
            if stop.requested:
                stop_reason = f"signal {stop.requested}"
            # Evaluate on schedule, at the end, and when stopping: the EMA model on disk always
            # matches the resume file, so it can be shipped from any session.
            if env.main and (step % config.eval_every == 0 or step == config.steps or stop_reason):
                reports = evaluate_average()
                record = {"step": step, "loss": running, "lr": lr, "minutes": elapsed_min}
                for name, report in reports.items():
                    record[name] = {
                        k: report[k] for k in ("pixel_accuracy", "mean_class_accuracy", "miou", "class_iou")
                    }
                history.append(_jsonable(record))
                log.info("step %d: %s", step, json.dumps(record))
                write_average("ema", reports)
            if env.main and (
                stop_reason or step == config.steps or time.monotonic() - last_save >= 60 * config.save_every_min
            ):
                save_state()
                last_save = time.monotonic()
            if stop_reason:
                break
    bar.close()
    finished = step >= config.steps
    if env.main:
        (out / "history.json").write_text(json.dumps(history, indent=1))
    if env.main and finished:
        write_average("final", reports)
    elif env.main:
        log.info("stopped at step %d/%d (%s); resume with --resume %s", step, config.steps, stop_reason, local_resume)
    env.close()
    return {
        "out": str(out),
        "step": step,
        "steps": config.steps,
        "finished": finished,
        "stopped_by": stop_reason,
        "minutes": (time.monotonic() - started) / 60,
        "last_eval": history[-1] if history else None,
    }


def _resumed_config(saved: dict[str, Any], given: TrainConfig) -> TrainConfig:
    """The saved schedule, with this machine's paths, threads and time limit."""
    values = dict(saved)
    for key in TrainConfig.MACHINE_LOCAL:
        values[key] = getattr(given, key)
    return TrainConfig.from_dict(values)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
