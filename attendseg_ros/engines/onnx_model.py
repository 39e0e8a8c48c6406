"""The exported ONNX model as every ONNX-reading backend (onnxruntime, openvino) opens it.

:func:`open_onnx_model` checks a ``.onnx`` file against its ``.json`` sidecar (input/output
names, input size, class count) and reads its precision from the graph; a ``.safetensors``
file is exported to a temporary FP32 ONNX graph first. :class:`OnnxSegmenter` is the base of
those backends' segmenters (the model file, its precision, the temporary export's removal);
:func:`check_batch` is their input check. Needs ``onnx``; torch only for the on-the-fly export (an
``.onnx`` model runs without torch installed).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from ..modelfiles.sidecar import INPUT_NAME, OUTPUT_NAMES, ModelInfo, graph_num_classes, value_dims
from . import model_info
from .base import EngineError, Segmenter

log = logging.getLogger(__name__)

__all__ = ["INPUT_NAME", "OUTPUT_NAMES", "OnnxModel", "OnnxSegmenter", "check_batch", "graph_num_classes",
           "graph_precision", "open_onnx_model"]


@dataclass(frozen=True)
class OnnxModel:
    """A checked ONNX model file: what to load, its sidecar, its precision.

    ``keep``: the temporary folder of an on-the-fly export (``None`` for a file on disk),
    removed by :meth:`cleanup`.
    """

    path: Path
    info: ModelInfo
    precision: str
    keep: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        """Remove the temporary export, if any (a second call does nothing)."""
        if self.keep is not None:
            self.keep.cleanup()


class OnnxSegmenter(Segmenter):
    """Base of the segmenters that run an :class:`OnnxModel`: its file, precision and clean-up."""

    def __init__(self, model: OnnxModel) -> None:
        super().__init__(model.info)
        self.model = model
        self.path = model.path
        self.precision = model.precision

    def close(self) -> None:
        self.model.cleanup()


def open_onnx_model(path: Path, precision: str | None, backend: str) -> OnnxModel:
    """Check ``path`` (``.onnx``, or ``.safetensors`` to export as FP32) for ``backend``.

    ``precision``: ``None`` takes what the file holds; otherwise it must match it. Raises
    :class:`EngineError` naming the file and what to pass instead.
    """
    if path.suffix == ".safetensors":
        return _export_safetensors(path, precision, backend)
    if path.suffix != ".onnx":
        raise EngineError(f"{path}: the {backend} backend needs an .onnx file (or .safetensors to export)")
    info = model_info(path)
    graph = _load_graph(path)
    _check_graph(path, graph, info)
    file_precision = graph_precision(graph)
    if precision is not None and precision != file_precision:
        raise EngineError(
            f"{path}: this model is {file_precision}, {precision} was asked for; pass the {precision} ONNX file "
            "(attendseg-export writes both)"
        )
    return OnnxModel(path, info, file_precision)


def check_batch(batch: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
    """``batch`` as a C-contiguous float32 ``(N, 3, h, w)`` array; ``ValueError`` naming the shape otherwise."""
    expected = (3, *input_size)
    if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
        raise ValueError(f"expected a float32 (N, {', '.join(map(str, expected))}) batch, got {tuple(batch.shape)}")
    return np.ascontiguousarray(batch, dtype=np.float32)


def graph_precision(graph: onnx.ModelProto) -> str:
    """``int8`` for a quantised (QDQ or QOperator) graph, ``fp16`` for a float16 input, else ``fp32``."""
    if any(node.op_type in ("QuantizeLinear", "QLinearConv") for node in graph.graph.node):
        return "int8"
    elem_type = graph.graph.input[0].type.tensor_type.elem_type if graph.graph.input else 0
    return "fp16" if elem_type == onnx.TensorProto.FLOAT16 else "fp32"


def _load_graph(path: Path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except (DecodeError, OSError, ValueError) as exc:
        raise EngineError(f"{path}: not a readable ONNX model ({exc})") from exc


def _check_graph(path: Path, graph: onnx.ModelProto, info: ModelInfo) -> None:
    """The graph's input/outputs and class count must match the sidecar beside it."""
    sidecar = path.with_suffix(".json").name
    inputs = {i.name: i for i in graph.graph.input}
    outputs = {o.name: o for o in graph.graph.output}
    if INPUT_NAME not in inputs or any(name not in outputs for name in OUTPUT_NAMES):
        raise EngineError(
            f"{path}: expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)} (an attendseg-export model), "
            f"found inputs {list(inputs)} and outputs {list(outputs)}; wrap a segmentation model trained elsewhere "
            "with attendseg-import-model"
        )
    types = {name: value.type.tensor_type.elem_type for name, value in (*inputs.items(), *outputs.items())}
    expected = {INPUT_NAME: (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)}
    expected.update(dict.fromkeys(OUTPUT_NAMES, (onnx.TensorProto.UINT8,)))
    for name, allowed in expected.items():
        if types[name] not in allowed:
            wanted = " or ".join(onnx.TensorProto.DataType.Name(t).lower() for t in allowed)
            raise EngineError(f"{path}: {name!r} is {onnx.TensorProto.DataType.Name(types[name]).lower()}, "
                              f"expected {wanted}")
    height, width = info.input_size
    input_dims = value_dims(inputs[INPUT_NAME])
    if len(input_dims) != 4 or input_dims[1:] != [3, height, width]:
        raise EngineError(
            f"{path}: the graph's input is {input_dims} but {sidecar} says input_size {height}x{width} "
            f"(expected [batch, 3, {height}, {width}])"
        )
    for name in OUTPUT_NAMES:
        dims = value_dims(outputs[name])  # symbolic (str) dims are unknown, not wrong
        known = [d for d in dims[1:] if isinstance(d, int) and d > 0]
        if len(dims) != 3 or (len(known) == 2 and known != [height, width]):
            raise EngineError(f"{path}: output {name!r} is {dims}, expected [batch, {height}, {width}] ({sidecar})")
    classes = graph_num_classes(graph)
    if classes is not None and classes != info.classes.num_classes:
        raise EngineError(
            f"{path}: the graph predicts {classes} classes but {sidecar} lists {info.classes.num_classes}"
        )


def _export_safetensors(path: Path, precision: str | None, backend: str) -> OnnxModel:
    """FP32 straight from safetensors weights: export to a temporary ONNX file (needs torch)."""
    from ..modelfiles.checkpoint import ModelFileError, load_model
    from ..modelfiles.export import export_onnx

    if precision not in (None, "fp32"):
        raise EngineError(
            f"{path}: {backend} runs {precision} only from a quantised .onnx file (attendseg-export); "
            "from .safetensors it runs fp32"
        )
    if not path.is_file():
        raise EngineError(f"{path}: model file not found")
    try:
        network, info = load_model(path)
    except ModelFileError as exc:
        raise EngineError(str(exc)) from exc
    folder = tempfile.TemporaryDirectory(prefix="attendseg_onnx_")
    onnx_path = export_onnx(network, info, Path(folder.name) / f"{path.stem}.fp32.onnx")
    log.info("exported %s to a temporary FP32 ONNX graph for %s", path, backend)
    return OnnxModel(onnx_path, info, "fp32", keep=folder)
