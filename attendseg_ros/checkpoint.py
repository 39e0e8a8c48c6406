"""Trained models on disk: safetensors weights + a JSON sidecar that rebuilds the model.

``model.safetensors`` holds the tensors (never pickled); ``model.json`` beside it holds the
architecture configuration, class table, input size, normalisation, the training command and
metrics. ``load_model`` checks that the two agree and names the file when they do not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .data.classes import ClassTable
from .data.transforms import Normalization
from .model import AttendSeg, AttendSegConfig

FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file or its sidecar is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class ModelInfo:
    """Everything about a trained model except its tensors (the sidecar's content)."""

    config: AttendSegConfig
    classes: ClassTable
    input_size: tuple[int, int]  # (height, width) the model was trained/evaluated at
    normalization: Normalization = field(default_factory=Normalization)
    name: str = "attendseg"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "architecture": "attendseg",
            "config": self.config.to_dict(),
            "classes": self.classes.to_dict(),
            "input_size": list(self.input_size),
            "normalization": {"mean": list(self.normalization.mean), "std": list(self.normalization.std)},
            "metrics": self.metrics,
            "training": self.training,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<sidecar>") -> ModelInfo:
        try:
            info = cls(
                config=AttendSegConfig.from_dict(data["config"]),
                classes=ClassTable.from_dict(data["classes"]),
                input_size=(int(data["input_size"][0]), int(data["input_size"][1])),
                normalization=Normalization(
                    tuple(data["normalization"]["mean"]),
                    tuple(data["normalization"]["std"]),  # type: ignore[arg-type]
                ),
                name=str(data.get("name", "attendseg")),
                metrics=dict(data.get("metrics", {})),
                training=dict(data.get("training", {})),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelFileError(f"{source}: malformed model sidecar ({exc})") from exc
        if info.config.num_classes != info.classes.num_classes:
            raise ModelFileError(
                f"{source}: the model has {info.config.num_classes} outputs but its class table "
                f"lists {info.classes.num_classes} classes"
            )
        return info


def sidecar_path(weights: Path) -> Path:
    return Path(weights).with_suffix(".json")


def read_info(weights: str | Path) -> ModelInfo:
    """Read the sidecar of ``weights`` (``x.safetensors`` -> ``x.json``; an ONNX file works too)."""
    path = sidecar_path(Path(weights))
    if not path.is_file():
        raise ModelFileError(f"{path}: model sidecar not found (it must sit beside {Path(weights).name})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read model sidecar ({exc})") from exc
    return ModelInfo.from_dict(data, source=str(path))


def write_info(path: str | Path, info: ModelInfo) -> None:
    Path(path).write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")


def save_model(path: str | Path, model: AttendSeg, info: ModelInfo) -> Path:
    """Write ``path`` (.safetensors) and its sidecar; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "attendseg", "version": str(FORMAT_VERSION)})
    write_info(sidecar_path(path), info)
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[AttendSeg, ModelInfo]:
    """Rebuild the model described by the sidecar and load its safetensors weights (eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model weights not found")
    info = read_info(path)
    model = AttendSeg(info.config)
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise ModelFileError(
            f"{path}: weights do not match the architecture in {sidecar_path(path).name}: {exc}"
        ) from exc
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: weights do not match the architecture in {sidecar_path(path).name} "
            f"(missing {list(missing)[:3]}..., unexpected {list(unexpected)[:3]}...)"
        )
    return model.to(device).eval(), info
