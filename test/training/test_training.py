"""Training: a tiny step-based run, stop and resume from the resume file, schedule pieces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from attendseg_ros.cli.train_report import write_training_report
from attendseg_ros.data.camvid import CamVid
from attendseg_ros.model import create_model
from attendseg_ros.modelfiles.checkpoint import load_model
from attendseg_ros.training.resume import ResumeFileError, ResumeState, load_resume, newest_resume, save_resume
from attendseg_ros.training.trainer import (
    TrainConfig,
    WeightAverage,
    class_weights,
    cpu_has_bf16,
    learning_rate,
    make_optimizer,
    recalibrate_batchnorm,
    resolve_precision,
    train,
)


def _tiny_config(data: Path, out: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        data=str(data),
        out=str(out),
        train_splits=("train",),
        eval_sets=("val",),
        steps=steps,
        batch_size=2,
        crop=(64, 96),
        final_crop=(96, 128),
        final_fraction=0.5,
        input_size=(64, 96),
        warmup_steps=1,
        eval_every=2,
        bn_recalibration_frames=2,
        threads=2,
    )


def test_run_stops_on_time_limit_and_resumes_to_the_same_schedule(tiny_camvid: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config = _tiny_config(tiny_camvid, out, steps=4)
    config.time_limit_min = 1e-9  # stop after the first step
    first = train(config)
    assert first["step"] == 1 and not first["finished"] and "time limit" in first["stopped_by"]
    resume_file = out / "resume.safetensors"
    assert load_resume(resume_file).step == 1
    _model, stopped = load_model(out / "ema.safetensors")
    assert stopped.metrics["step"] == 1 and "val" in stopped.metrics

    with pytest.raises(ResumeFileError, match="--resume"):  # never restarts over a run silently
        train(_tiny_config(tiny_camvid, out, steps=4))

    moved = tmp_path / "committed" / "resume.safetensors"  # as if carried to another machine
    moved.parent.mkdir()
    moved.write_bytes(resume_file.read_bytes())
    resume_file.unlink()
    changed = _tiny_config(tiny_camvid, out, steps=99)  # the saved schedule wins over new options
    done = train(changed, resume_from=moved)
    assert done["finished"] and done["step"] == 4 and done["steps"] == 4
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 4]  # the stop evaluates too: ema matches the resume file
    assert 0.0 <= history[-1]["val"]["miou"] <= 1.0
    _model, info = load_model(out / "final.safetensors")
    assert info.input_size == (64, 96) and info.metrics["step"] == 4 and "val" in info.metrics
    assert info.training["config"]["steps"] == 4

    report = write_training_report(out / "resume.safetensors", tmp_path / "docs")  # the curve crosses sessions
    assert report["step"] == 4 and report["evaluations"] == 3
    assert Path(report["curve"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = Path(report["table"]).read_text()
    assert "| Road |" in table and "step 4" in table and "**mIoU**" in table


def test_resume_file_round_trip_and_size(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("attendseg_camvid11")
    config = TrainConfig(data="")
    optimizer = make_optimizer(model, config)
    average = WeightAverage(model, 0.999)
    x = torch.randn(2, 3, 64, 64)
    for _ in range(3):
        loss = model(x).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        average.update(model)
    path = save_resume(
        tmp_path / "r.safetensors", ResumeState(config.to_dict(), 3, [{"step": 3}], model, average, optimizer)
    )
    assert path.stat().st_size <= 12 * 2**20  # small enough to commit

    fresh = create_model("attendseg_camvid11")
    fresh_optimizer = make_optimizer(fresh, config)
    fresh_average = WeightAverage(fresh, 0.999)
    state = load_resume(path)
    state.restore(fresh, fresh_average, fresh_optimizer)
    assert state.step == 3 and state.history == [{"step": 3}] and fresh_average.updates == 3
    for name, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], value), name
    for name, value in average.model.state_dict().items():
        restored = fresh_average.model.state_dict()[name]
        if value.dtype.is_floating_point:
            assert torch.allclose(restored, value, rtol=0, atol=1e-3 * float(value.abs().max()) + 1e-8), name
    moments = [s["exp_avg_sq"] for s in optimizer.state_dict()["state"].values()]
    restored_moments = [s["exp_avg_sq"] for s in fresh_optimizer.state_dict()["state"].values()]
    assert len(moments) == len(restored_moments) > 0
    for a, b in zip(moments, restored_moments, strict=True):
        assert torch.allclose(a, b, rtol=1e-2, atol=0)
    assert fresh_optimizer.param_groups[1]["weight_decay"] == 0.0


def test_newest_resume_prefers_more_steps_and_rejects_other_files(tmp_path: Path) -> None:
    model = create_model("attendseg_camvid11")
    config = TrainConfig(data="")
    optimizer, average = make_optimizer(model, config), WeightAverage(model, 0.9)
    older = save_resume(tmp_path / "a.safetensors", ResumeState({}, 10, [], model, average, optimizer))
    newer = save_resume(tmp_path / "b.safetensors", ResumeState({}, 20, [], model, average, optimizer))
    assert newest_resume([older, newer, tmp_path / "missing"]) == newer
    assert newest_resume([tmp_path / "missing"]) is None
    not_resume = tmp_path / "model.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(not_resume), metadata={"format": "attendseg"})
    with pytest.raises(ResumeFileError, match="not an attendseg resume file"):
        load_resume(not_resume)
    with safe_open(str(newer), "pt") as handle:
        assert handle.metadata()["step"] == "20"


def test_weight_average_and_batchnorm_recalibration() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    average = WeightAverage(model, decay=0.5)
    before = average.model[0].weight.clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    average.update(model)  # first update: decay min(0.5, 2/11)
    expected = before + (1 - 2 / 11) * 1.0
    assert torch.allclose(average.model[0].weight, expected)
    frames = torch.randint(0, 256, (6, 16, 16, 3), dtype=torch.uint8)
    recalibrate_batchnorm(average.model, frames, (16, 16), batch_size=3)
    assert not average.model.training
    assert average.model[1].momentum == 0.1  # restored after the cumulative pass
    assert int(average.model[1].num_batches_tracked) == 2
    assert not torch.allclose(average.model[1].running_mean, torch.zeros(4))


def test_precision_detection() -> None:
    zen4 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n"
    avx2 = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"
    assert cpu_has_bf16(zen4) and not cpu_has_bf16(avx2)
    assert resolve_precision("fp32", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cpu")) == ("bf16" if cpu_has_bf16() else "fp32")
    with pytest.raises(ValueError, match="unknown precision"):
        resolve_precision("fp8", torch.device("cpu"))


def test_learning_rate_schedule_and_crop_phases() -> None:
    config = TrainConfig(data="", lr=1.0, warmup_steps=10, steps=110, final_fraction=0.2)
    assert learning_rate(config, 4) == pytest.approx(0.5)
    assert learning_rate(config, 60) == pytest.approx(0.5**0.9)
    assert learning_rate(config, 110) == 0.0
    config.schedule = "cosine"
    assert learning_rate(config, 60) == pytest.approx(0.5)
    assert config.crop_at(87) == config.crop and config.crop_at(88) == config.final_crop


def test_class_weights() -> None:
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10 + [11] * 50, np.uint8)
    weights = class_weights(labels, 3, "median")
    assert torch.allclose(weights, torch.tensor([0.5, 1.0, 3.0]))
    assert torch.allclose(class_weights(labels, 3, "sqrt_median"), weights.sqrt())
    assert torch.equal(class_weights(labels, 3, "none"), torch.ones(3))


def test_sequence_selection(camvid_dir: Path) -> None:
    proxy = CamVid(camvid_dir, "train", sequences=("0006R0",))
    rest = CamVid(camvid_dir, "train", exclude_sequences=("0006R0",))
    assert len(proxy) + len(rest) == len(CamVid(camvid_dir, "train"))
    assert all(s.image.name.startswith("0006R0_") for s in proxy.samples)
    assert not any(s.image.name.startswith("0006R0_") for s in rest.samples)


def test_distributed_data_parallel_under_torchrun(tiny_camvid: Path, tmp_path: Path) -> None:
    """Two ranks (gloo on CPU) train one model; rank 0 alone evaluates and writes."""
    import subprocess
    import sys

    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "attendseg_ros.cli.train", "--data", str(tiny_camvid), "--out", str(out), "--steps", "2",
        "--train-splits", "train", "--batch-size", "1", "--crop", "64", "96", "--final-crop", "64", "96",
        "--input-size", "64", "96", "--eval-every", "2", "--warmup-steps", "1", "--threads", "1",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "history.json").read_text())[0]["step"] == 2
    assert (out / "final.safetensors").is_file()
