"""A tiny end-to-end training run: checkpoints, sidecar, best-on-val, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from attendseg_ros.checkpoint import load_model
from attendseg_ros.training import TrainConfig, class_weights, learning_rate, train


def test_train_saves_best_and_resumes(tiny_camvid: Path, tmp_path: Path) -> None:
    config = TrainConfig(
        data=str(tiny_camvid),
        out=str(tmp_path / "run"),
        epochs=2,
        batch_size=2,
        crop=(64, 96),
        input_size=(64, 96),
        val_every=1,
        warmup_epochs=0.5,
        threads=2,
    )
    summary = train(config)
    assert summary["epochs_done"] == 2 and 0.0 <= summary["best_val_miou"] <= 1.0
    _model, info = load_model(tmp_path / "run" / "best.safetensors")
    assert info.input_size == (64, 96) and info.classes.num_classes == 11
    assert {"val", "epoch"} <= set(info.metrics) and "command" in info.training
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]

    config.epochs, config.resume = 3, True
    resumed = train(config)
    assert resumed["epochs_done"] == 3
    assert [h["epoch"] for h in json.loads((tmp_path / "run" / "history.json").read_text())] == [1, 2, 3]


def test_class_weights() -> None:
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10 + [11] * 50, np.uint8)
    weights = class_weights(labels, 3, "median")
    assert torch.allclose(weights, torch.tensor([0.5, 1.0, 3.0]))
    assert torch.allclose(class_weights(labels, 3, "sqrt_median"), weights.sqrt())
    assert torch.equal(class_weights(labels, 3, "none"), torch.ones(3))


def test_learning_rate_schedule() -> None:
    config = TrainConfig(data="", lr=1.0, warmup_epochs=1.0)
    assert learning_rate(config, 0.0, 0.5) == pytest.approx(0.5)
    assert learning_rate(config, 0.5, 10) == pytest.approx(0.5**0.9)
    assert learning_rate(config, 1.0, 20) == 0.0


def test_distributed_data_parallel_under_torchrun(tiny_camvid: Path, tmp_path: Path) -> None:
    """Two ranks (gloo on CPU) train one model; rank 0 alone validates and writes."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "attendseg_ros.cli.train", "--data", str(tiny_camvid), "--out", str(out), "--epochs", "1",
        "--batch-size", "1", "--crop", "64", "96", "--input-size", "64", "96", "--val-every", "1", "--threads", "1",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "history.json").read_text())[0]["epoch"] == 1
    assert (out / "best.safetensors").is_file()
