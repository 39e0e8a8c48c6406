"""The resume file: all a training run needs to continue, in one small safetensors file.

A run of tens of thousands of CPU steps outlasts any working session, so it stops and continues
many times, possibly on another machine. The file is small enough to commit (about 11.5 MiB
for AttendSeg's 1.2 M parameters):

- ``model/<name>``: the trained model's parameters and buffers, float32.
- ``ema/<name>``: the weight average. Parameters are stored as ``average - model`` in bfloat16
  (the difference is small, so its 0.4 % rounding is negligible); buffers in full.
- ``adam/<index>/exp_avg`` and ``.../exp_avg_sq``: AdamW moments in bfloat16.
- metadata: the training configuration, the step, the evaluation history, the optimiser's
  parameter groups and the number of EMA updates (JSON strings).

Nothing is pickled; :func:`load_resume` checks the format and names the file when it is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = "attendseg-resume"
VERSION = 1


class ResumeFileError(ValueError):
    """A resume file is missing, unreadable or of another format."""


@dataclass
class ResumeState:
    """A training run at one step; ``restore`` puts it into a fresh model, EMA and optimiser."""

    config: dict[str, Any]
    step: int
    history: list[dict[str, Any]]
    model: nn.Module | None = None
    average: Any = None  # training.WeightAverage
    optimizer: torch.optim.Optimizer | None = None
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    extra: dict[str, Any] = field(default_factory=dict)

    def restore(self, model: nn.Module, average: Any, optimizer: torch.optim.Optimizer) -> None:
        """Load weights, EMA and AdamW moments into objects built from the same configuration."""
        device = next(model.parameters()).device
        model_state = {k[len("model/") :]: v for k, v in self.tensors.items() if k.startswith("model/")}
        model.load_state_dict({k: v.to(device) for k, v in model_state.items()})
        parameter_names = {name for name, _ in model.named_parameters()}
        average_state = {}
        for name, value in model.state_dict().items():
            stored = self.tensors[f"ema/{name}"].to(device)
            average_state[name] = value.detach().float() + stored.float() if name in parameter_names else stored
        average.model.load_state_dict(average_state)
        average.updates = int(self.extra["ema_updates"])
        groups = json.loads(self.extra["param_groups"])
        state: dict[int, dict[str, torch.Tensor]] = {}
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        for index, parameter in enumerate(parameters):
            key = f"adam/{index}"
            if f"{key}/exp_avg" not in self.tensors:
                continue
            state[index] = {
                "step": torch.tensor(float(self.extra["adam_steps"][str(index)])),
                "exp_avg": self.tensors[f"{key}/exp_avg"].to(device, parameter.dtype),
                "exp_avg_sq": self.tensors[f"{key}/exp_avg_sq"].to(device, parameter.dtype),
            }
        optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_resume(path: str | Path, state: ResumeState) -> Path:
    """Write ``state`` (with its live model, average and optimiser) to ``path`` atomically."""
    assert state.model is not None and state.average is not None and state.optimizer is not None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model_state = state.model.state_dict()
    parameter_names = {name for name, _ in state.model.named_parameters()}
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model_state.items():
        tensors[f"model/{name}"] = value.detach().cpu().contiguous()
    for name, value in state.average.model.state_dict().items():
        if name in parameter_names:
            value = (value.detach().float() - model_state[name].detach().float()).to(torch.bfloat16)
        tensors[f"ema/{name}"] = value.detach().cpu().contiguous()
    optimizer_state = state.optimizer.state_dict()
    adam_steps = {}
    for index, entry in optimizer_state["state"].items():
        tensors[f"adam/{index}/exp_avg"] = entry["exp_avg"].detach().to("cpu", torch.bfloat16).contiguous()
        tensors[f"adam/{index}/exp_avg_sq"] = entry["exp_avg_sq"].detach().to("cpu", torch.bfloat16).contiguous()
        adam_steps[str(index)] = float(entry["step"])
    metadata = {
        "format": FORMAT,
        "version": str(VERSION),
        "step": str(state.step),
        "config": json.dumps(state.config),
        "history": json.dumps(state.history),
        "ema_updates": str(state.average.updates),
        "param_groups": json.dumps(optimizer_state["param_groups"]),
        "adam_steps": json.dumps(adam_steps),
    }
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    os.replace(partial, path)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a resume file, checked to be one."""
    path = Path(path)
    if not path.is_file():
        raise ResumeFileError(f"{path}: resume file not found")
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise ResumeFileError(f"{path}: not a readable safetensors file ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise ResumeFileError(f"{path}: not an attendseg resume file (format {metadata.get('format')!r})")
    if int(metadata.get("version", "0")) > VERSION:
        raise ResumeFileError(
            f"{path}: resume format version {metadata['version']} is newer than this package reads ({VERSION})"
        )
    return metadata


def load_resume(path: str | Path) -> ResumeState:
    metadata = read_metadata(path)
    tensors = load_file(str(path))
    extra = {
        "ema_updates": metadata["ema_updates"],
        "param_groups": metadata["param_groups"],
        "adam_steps": json.loads(metadata["adam_steps"]),
    }
    return ResumeState(
        config=json.loads(metadata["config"]),
        step=int(metadata["step"]),
        history=json.loads(metadata["history"]),
        tensors=tensors,
        extra=extra,
    )


def newest_resume(paths: Iterable[str | Path]) -> Path | None:
    """The existing resume file with the most steps done (the first named wins a tie); None if none exist."""
    best: tuple[int, Path] | None = None
    for candidate in paths:
        path = Path(candidate)
        if not path.is_file():
            continue
        step = int(read_metadata(path)["step"])
        if best is None or step > best[0]:
            best = (step, path)
    return None if best is None else best[1]
