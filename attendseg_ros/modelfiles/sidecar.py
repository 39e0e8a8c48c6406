"""The model file format without torch: the JSON sidecar and the ONNX graph's input/output names.

A model is a weights file (``x.safetensors`` or ``x.onnx``) with ``x.json`` beside it. The
sidecar holds the architecture configuration, class table, input size, normalisation, the
training command and metrics; ``format_version`` says which layout it uses. Reading it needs
no torch, so an edge install running the INT8 ONNX model through ONNX Runtime has none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.classes import ClassTable
from ..data.preprocessing import Normalization
from ..model.config import AttendSegConfig

FORMAT_VERSION = 1
# The exported graph: input float32 (N, 3, h, w); outputs uint8 (N, h, w) class ids and confidence.
INPUT_NAME = "input"
OUTPUT_NAMES = ("labels", "confidence")


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
        version = data.get("format_version", 1) if isinstance(data, dict) else None
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelFileError(f"{source}: malformed model sidecar (format_version {version!r})")
        if version > FORMAT_VERSION:
            raise ModelFileError(
                f"{source}: written in model format_version {version}, newer than the {FORMAT_VERSION} this "
                "attendseg_ros reads; upgrade attendseg_ros (or export the model with this version)"
            )
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


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def read_info(weights: str | Path) -> ModelInfo:
    """Read the sidecar of ``weights`` (``x.safetensors`` or ``x.onnx`` -> ``x.json``)."""
    path = sidecar_path(weights)
    if not path.is_file():
        raise ModelFileError(f"{path}: model sidecar not found (it must sit beside {Path(weights).name})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read model sidecar ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: malformed model sidecar (not a JSON object)")
    return ModelInfo.from_dict(data, source=str(path))


def write_info(path: str | Path, info: ModelInfo) -> None:
    Path(path).write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
