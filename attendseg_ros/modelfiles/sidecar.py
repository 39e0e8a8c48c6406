"""The model file format without torch: the JSON sidecar and the ONNX graph's contract (names, class count).

A model is a weights file (``x.safetensors`` or ``x.onnx``) with ``x.json`` beside it. The
sidecar holds the architecture configuration, class table, input size, normalisation, the
training command and metrics; ``format_version`` says which layout it uses. Reading it needs
no torch, so an edge install running the INT8 ONNX model through ONNX Runtime has none.

Two architectures: ``attendseg`` (this package's network; ``config`` rebuilds it; format 1) and
``onnx`` (a segmentation graph trained elsewhere, wrapped by ``attendseg-import-model`` into the
same input/outputs; no ``config``, an ``imported`` record of where it came from; format 2). An
AttendSeg sidecar is still written as format 1, so older readers keep reading it; they refuse an
imported model's format 2 with "upgrade attendseg_ros" instead of misreading it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.classes import ClassTable
from ..data.preprocessing import Normalization
from ..model.config import AttendSegConfig

FORMAT_VERSION = 2  # the newest layout this reads (1: AttendSeg only; 2: adds imported ONNX models)
ATTENDSEG = "attendseg"  # this package's network, rebuilt from ``config``
IMPORTED_ONNX = "onnx"  # a graph from elsewhere, wrapped by attendseg-import-model (runs in the ONNX engines only)
ARCHITECTURES = (ATTENDSEG, IMPORTED_ONNX)
# The exported graph: input float32 (N, 3, h, w); outputs uint8 (N, h, w) class ids and confidence.
INPUT_NAME = "input"
OUTPUT_NAMES = ("labels", "confidence")


class ModelFileError(ValueError):
    """A model file or its sidecar is missing, unreadable or inconsistent."""


@dataclass(frozen=True)
class ModelInfo:
    """Everything about a trained model except its tensors (the sidecar's content).

    ``config`` is the AttendSeg architecture (``None`` for an imported model); ``imported``
    records an imported model's source file and how it was wrapped (empty for AttendSeg).
    """

    config: AttendSegConfig | None
    classes: ClassTable
    input_size: tuple[int, int]  # (height, width) the model was trained/evaluated at
    normalization: Normalization = field(default_factory=Normalization)
    name: str = "attendseg"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    architecture: str = ATTENDSEG
    imported: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.architecture!r}; this attendseg_ros reads "
                             f"{' and '.join(ARCHITECTURES)}")
        if (self.config is None) != (self.architecture == IMPORTED_ONNX):
            raise ValueError(f"architecture {self.architecture!r} "
                             + ("needs an AttendSeg config" if self.config is None else "has no AttendSeg config"))
        if self.config is not None and self.config.num_classes != self.classes.num_classes:
            raise ValueError(f"the model has {self.config.num_classes} outputs but its class table "
                             f"lists {self.classes.num_classes} classes")

    @property
    def is_attendseg(self) -> bool:
        """True for this package's network (weights that torch, training and export can load)."""
        return self.architecture == ATTENDSEG

    @property
    def format_version(self) -> int:
        """The oldest sidecar layout that holds this model: 1 for AttendSeg, 2 for an imported model."""
        return 1 if self.is_attendseg else 2

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format_version": self.format_version, "name": self.name,
                                "architecture": self.architecture}
        if self.config is not None:
            data["config"] = self.config.to_dict()
        data.update({
            "classes": self.classes.to_dict(),
            "input_size": list(self.input_size),
            "normalization": {"mean": list(self.normalization.mean), "std": list(self.normalization.std)},
            "metrics": self.metrics,
            "training": self.training,
        })
        if self.imported:
            data["imported"] = self.imported
        return data

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
        architecture = data.get("architecture", ATTENDSEG)
        if architecture not in ARCHITECTURES or (version == 1 and architecture != ATTENDSEG):
            raise ModelFileError(
                f"{source}: unknown architecture {architecture!r} in model format_version {version}; this "
                f"attendseg_ros reads {' and '.join(ARCHITECTURES)} (upgrade attendseg_ros if the file is newer)"
            )
        try:
            return cls(
                config=AttendSegConfig.from_dict(data["config"]) if architecture == ATTENDSEG else None,
                classes=ClassTable.from_dict(data["classes"]),
                input_size=(int(data["input_size"][0]), int(data["input_size"][1])),
                normalization=Normalization(
                    tuple(data["normalization"]["mean"]),
                    tuple(data["normalization"]["std"]),  # type: ignore[arg-type]
                ),
                name=str(data.get("name", "attendseg")),
                metrics=dict(data.get("metrics", {})),
                training=dict(data.get("training", {})),
                architecture=architecture,
                imported=dict(data.get("imported", {})),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelFileError(f"{source}: malformed model sidecar ({exc})") from exc


def value_dims(value: Any) -> list[int | str]:
    """The dimensions of an ONNX ``ValueInfoProto``: ints where fixed, names (``""`` if unnamed) where dynamic."""
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def graph_num_classes(graph: Any) -> int | None:
    """The number of classes the graph's ArgMax chooses from, if it can be read.

    The channel axis of the ArgMax input where the graph records its shape (an imported model's
    wrapped logits); else the output channels of the classifier convolution that feeds it, found by
    walking back through resizes and (de)quantisation to the first Conv and reading its weight's
    first dimension (an initializer, or the input of its DequantizeLinear).
    """
    producers = {out: node for node in graph.graph.node for out in node.output}
    shapes = {init.name: list(init.dims) for init in graph.graph.initializer}
    argmax = [node for node in graph.graph.node if node.op_type == "ArgMax"]
    if not argmax:
        return None
    tensor = argmax[-1].input[0]
    axis = next((a.i for a in argmax[-1].attribute if a.name == "axis"), 0)
    recorded = next((value_dims(v) for v in graph.graph.value_info if v.name == tensor), [])
    if axis == 1 and len(recorded) == 4 and isinstance(recorded[1], int) and recorded[1] > 0:
        return recorded[1]
    for _ in range(16):
        node = producers.get(tensor)
        if node is None:
            return None
        if node.op_type in ("Conv", "QLinearConv"):
            weight = node.input[1] if node.op_type == "Conv" else node.input[3]
            source = producers.get(weight)
            if source is not None and source.op_type == "DequantizeLinear":
                weight = source.input[0]
            return shapes[weight][0] if shapes.get(weight) else None
        tensor = node.input[0]
    return None


def sidecar_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def read_info(weights: str | Path) -> ModelInfo:
    """Read the sidecar of ``weights`` (``x.safetensors`` or ``x.onnx`` -> ``x.json``)."""
    path = sidecar_path(weights)
    if not path.is_file():
        hint = ("; an ONNX model trained elsewhere gets one from attendseg-import-model"
                if Path(weights).suffix == ".onnx" else "")
        raise ModelFileError(f"{path}: model sidecar not found (it must sit beside {Path(weights).name}){hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: cannot read model sidecar ({exc})") from exc
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: malformed model sidecar (not a JSON object)")
    return ModelInfo.from_dict(data, source=str(path))


def write_info(path: str | Path, info: ModelInfo) -> None:
    Path(path).write_text(json.dumps(info.to_dict(), indent=2) + "\n", encoding="utf-8")
