"""Training AttendSeg on CamVid: a plain function over a configuration, usable from the CLI or tests.

The whole split lives as uint8 tensors on the training device and is augmented there in one
batched call, so on a GPU the GPU, not a data loader, is the limit. Multi-GPU runs use
``torchrun`` (DistributedDataParallel): each rank draws its own batches, rank 0 validates and
writes checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file
from tqdm import tqdm

from .checkpoint import ModelInfo, save_model
from .data.camvid import CamVid
from .data.transforms import Augmentation, Normalization, preprocess
from .evaluation import evaluate
from .model import AttendSeg, create_model
from .model.postprocess import LabelsAndConfidence

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    data: str
    out: str = "runs/attendseg"
    variant: str = "attendseg_camvid11"
    train_splits: tuple[str, ...] = ("train",)
    val_split: str = "val"
    epochs: int = 200
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 2.0
    schedule: str = "poly"  # poly | cosine
    crop: tuple[int, int] = (288, 384)
    scale_range: tuple[float, float] = (0.5, 1.5)
    input_size: tuple[int, int] = (360, 480)  # evaluation/deployment size recorded in the sidecar
    class_weighting: str = "sqrt_median"  # none | median | sqrt_median
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    channels_last: bool = True
    val_every: int = 5
    seed: int = 0
    resume: bool = False
    time_limit_min: float = 0.0  # finish the schedule early so training ends within this many minutes; 0 = none
    threads: int = 0  # CPU threads; 0 = torch default
    extra: dict[str, Any] = field(default_factory=dict)


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


def learning_rate(config: TrainConfig, progress: float, epoch_progress: float) -> float:
    """Linear warm-up over ``warmup_epochs``, then poly(0.9) or cosine decay to zero."""
    if epoch_progress < config.warmup_epochs:
        return config.lr * max(epoch_progress / config.warmup_epochs, 1e-3)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * (1 - progress) ** 0.9


def torch_predictor(model: AttendSeg, info_size: tuple[int, int], normalization: Normalization, device: torch.device):
    """Predictor for :func:`attendseg_ros.evaluation.evaluate` running the torch model."""
    wrapped = LabelsAndConfidence(model).eval()

    @torch.no_grad()
    def predict(frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(preprocess(frames, info_size, normalization)).to(device)
        labels, _ = wrapped(x)
        labels = labels.cpu().numpy()
        if labels.shape[1:] != frames.shape[1:3]:
            import cv2

            labels = np.stack(
                [cv2.resize(lab, frames.shape[2:0:-1], interpolation=cv2.INTER_NEAREST) for lab in labels]
            )
        return labels

    return predict


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


def train(config: TrainConfig) -> dict[str, Any]:
    """Train, validate every ``val_every`` epochs, keep the best model on val; returns a summary."""
    env = _Distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    seed = config.seed + env.rank
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    out = Path(config.out)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)

    splits = [CamVid(config.data, s) for s in config.train_splits]
    classes = splits[0].classes
    arrays = [s.load_all() for s in splits]
    images_np = np.concatenate([a[0] for a in arrays])
    labels_np = np.concatenate([a[1] for a in arrays])
    weights = class_weights(labels_np, classes.num_classes, config.class_weighting).to(env.device)
    images = torch.from_numpy(images_np).to(env.device)
    labels = torch.from_numpy(labels_np).to(env.device)
    val_set = CamVid(config.data, config.val_split) if config.val_split else None
    log.info(
        "training on %d frames (%s), %d classes, device %s",
        len(images),
        "+".join(config.train_splits),
        classes.num_classes,
        env.device,
    )

    model = create_model(config.variant, num_classes=classes.num_classes).to(env.device)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start_epoch, best_miou, history = 0, -1.0, []
    state_path, opt_path = out / "last.safetensors", out / "last_optimizer.pt"
    if config.resume and state_path.is_file():
        model.load_state_dict(load_file(str(state_path), device=str(env.device)))
        saved = torch.load(opt_path, map_location=env.device, weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        start_epoch, best_miou = int(saved["epoch"]), float(saved["best_miou"])
        history = json.loads((out / "history.json").read_text()) if (out / "history.json").is_file() else []
        log.info("resumed from %s at epoch %d (best val mIoU %.4f)", state_path, start_epoch, best_miou)
    trained = torch.nn.parallel.DistributedDataParallel(model) if env.world_size > 1 else model

    augment = Augmentation(crop=config.crop, scale_range=config.scale_range)
    normalization = Normalization()
    steps_per_epoch = max(1, len(images) // (config.batch_size * env.world_size))
    total_steps = config.epochs * steps_per_epoch
    use_amp = config.amp and env.device.type == "cuda"
    started = time.monotonic()
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    info = ModelInfo(
        config=model.config,
        classes=classes,
        input_size=tuple(config.input_size),
        normalization=normalization,
        name=config.variant,
        training={"command": command, "config": _jsonable(asdict(config)), "seed": config.seed},
    )

    def save_last(epoch: int) -> None:
        save_model(state_path, model, info)
        torch.save({"optimizer": optimizer.state_dict(), "epoch": epoch, "best_miou": best_miou}, opt_path)
        (out / "history.json").write_text(json.dumps(history, indent=1))

    epoch, lr, stop = start_epoch, config.lr, False
    for epoch in range(start_epoch, config.epochs):
        trained.train()
        running = 0.0
        bar = tqdm(
            range(steps_per_epoch), desc=f"epoch {epoch + 1}/{config.epochs}", disable=None if env.main else True
        )
        for step in bar:
            global_step = epoch * steps_per_epoch + step
            progress = global_step / total_steps
            if config.time_limit_min:  # the schedule follows wall time when that runs out first
                progress = max(progress, (time.monotonic() - started) / 60 / config.time_limit_min)
            if progress >= 1.0:
                stop = True
                break
            lr = learning_rate(config, progress, global_step / steps_per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            index = torch.randint(0, len(images), (config.batch_size,), generator=generator).to(env.device)
            batch_images, batch_labels = augment(images[index], labels[index], classes.void_id, generator)
            x = preprocess(batch_images, None, normalization).contiguous(memory_format=memory_format)
            with torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = trained(x)
            loss = F.cross_entropy(logits.float(), batch_labels.long(), weight=weights, ignore_index=classes.void_id)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running = 0.9 * running + 0.1 * loss.item() if step else loss.item()
            bar.set_postfix(loss=f"{running:.3f}", lr=f"{lr:.2e}", best_miou=f"{max(best_miou, 0):.3f}")
        elapsed_min = (time.monotonic() - started) / 60
        record: dict[str, Any] = {"epoch": epoch + 1, "loss": running, "lr": lr, "minutes": elapsed_min}
        last_epoch = epoch + 1 == config.epochs or stop
        if env.main and val_set is not None and ((epoch + 1) % config.val_every == 0 or last_epoch):
            _, report = evaluate(torch_predictor(model, tuple(config.input_size), normalization, env.device), val_set)
            record.update({k: report[k] for k in ("pixel_accuracy", "mean_class_accuracy", "miou")})
            log.info("epoch %d: val mIoU %.4f, pixel acc %.4f", epoch + 1, report["miou"], report["pixel_accuracy"])
            if float(report["miou"]) > best_miou:
                best_miou = float(report["miou"])
                best_info = ModelInfo(**{**info.__dict__, "metrics": {config.val_split: report, "epoch": epoch + 1}})
                save_model(out / "best.safetensors", model, best_info)
        if env.main:
            history.append(record)
            log.info("epoch %d: %s", epoch + 1, json.dumps(record))
            save_last(epoch + 1)
        if stop:
            log.info("time limit of %.1f min reached after epoch %d", config.time_limit_min, epoch + 1)
            break
    env.close()
    return {
        "out": str(out),
        "epochs_done": epoch + 1,
        "best_val_miou": best_miou,
        "minutes": (time.monotonic() - started) / 60,
        "stopped_on_time_limit": stop,
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
