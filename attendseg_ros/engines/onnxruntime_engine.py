"""onnxruntime backend: the exported ONNX graph (FP32 or INT8 QDQ) on the CPU, CUDA or TensorRT.

The graph already contains the post-processing (argmax and confidence, uint8 outputs), so
``run`` is one ``session.run``. Precision is read from the file: ``int8`` when it holds
``QuantizeLinear`` nodes, else ``fp32`` (``fp16`` for a float16 input).

Options (``create_segmenter(..., **options)``):
  ``tensorrt``: with ``device="cuda"``, put onnxruntime's TensorRT execution provider first
  (needs a TensorRT-compatible model: ``quantize_int8(..., tensorrt_compatible=True)``);
  ``optimization``: graph optimisation level, ``"all"`` (default), ``"extended"``, ``"basic"``
  or ``"disable"``; ``inter_op_threads``; ``spin``: let idle worker threads spin (default True:
  lowest latency; False frees the CPU between frames, useful beside a busy ROS node);
  ``profile``: a file prefix; onnxruntime writes a per-operator JSON profile on ``close()``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from ..modelfile import INPUT_NAME, OUTPUT_NAMES, ModelInfo
from . import model_info
from .base import EngineError, Segmenter

log = logging.getLogger(__name__)

_OPTIMIZATION_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

OPTIONS = ("tensorrt", "optimization", "inter_op_threads", "spin", "profile")


def create(
    path: Path, precision: str | None = None, device: str = "cpu", threads: int = 0, **options: Any
) -> OnnxRuntimeSegmenter:
    """Factory entry point (see :func:`attendseg_ros.engines.create_segmenter`)."""
    if path.suffix == ".safetensors":
        return _from_safetensors(path, precision, device, threads, **options)
    if path.suffix != ".onnx":
        raise EngineError(f"{path}: the onnxruntime backend needs an .onnx file (or .safetensors to export)")
    info = model_info(path)
    graph = _load_graph(path)
    _check_graph(path, graph, info)
    file_precision = graph_precision(graph)
    if precision is not None and precision != file_precision:
        raise EngineError(
            f"{path}: this model is {file_precision}, {precision} was asked for; pass the {precision} ONNX file "
            "(attendseg-export writes both)"
        )
    return OnnxRuntimeSegmenter(path, info, file_precision, device=device, threads=threads, **options)


class OnnxRuntimeSegmenter(Segmenter):
    """A segmenter running one onnxruntime ``InferenceSession``."""

    backend = "onnxruntime"

    def __init__(
        self,
        path: Path,
        info: ModelInfo,
        precision: str,
        device: str = "cpu",
        threads: int = 0,
        tensorrt: bool = False,
        optimization: str = "all",
        inter_op_threads: int = 0,
        spin: bool = True,
        profile: str | None = None,
        keep: Any = None,
    ) -> None:
        super().__init__(info)
        self.path = path
        self.precision = precision
        self._keep = keep  # e.g. the temporary folder of an on-the-fly export
        if optimization not in _OPTIMIZATION_LEVELS:
            choices = sorted(_OPTIMIZATION_LEVELS)
            raise EngineError(f"unknown optimization level {optimization!r}; choose one of {choices}")
        options = ort.SessionOptions()
        options.graph_optimization_level = _OPTIMIZATION_LEVELS[optimization]
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = inter_op_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if profile:
            options.enable_profiling = True
            options.profile_file_prefix = profile
        self.providers = select_providers(device, tensorrt)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=self.providers)
        except Exception as exc:  # onnxruntime's pybind errors (Fail, InvalidGraph, ...) derive from Exception only
            raise EngineError(f"{path}: onnxruntime cannot load this model: {exc}") from exc
        self._output_names = list(OUTPUT_NAMES)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        expected = (3, *self.input_size)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"expected a float32 (N, {', '.join(map(str, expected))}) batch, got {tuple(batch.shape)}")
        labels, confidence = self.session.run(
            self._output_names, {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        )
        return labels, confidence

    def close(self) -> None:
        if getattr(self, "session", None) is not None and self.session.get_session_options().enable_profiling:
            log.info("onnxruntime profile written to %s", self.session.end_profiling())
        self.session = None  # type: ignore[assignment]
        if self._keep is not None and hasattr(self._keep, "cleanup"):
            self._keep.cleanup()
            self._keep = None


def select_providers(device: str, tensorrt: bool = False) -> list[str | tuple[str, dict[str, Any]]]:
    """Execution providers for ``device`` (``cpu``, ``cuda``, ``cuda:N``).

    Raises :class:`EngineError` when CUDA (or TensorRT) was asked for but this onnxruntime lacks it.
    """
    if device == "cpu":
        if tensorrt:
            raise EngineError("the TensorRT execution provider needs device='cuda'")
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    wanted = (["TensorrtExecutionProvider"] if tensorrt else []) + ["CUDAExecutionProvider"]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise EngineError(
            f"onnxruntime {ort.__version__} lacks {', '.join(missing)} (available: {', '.join(available)}); "
            "install onnxruntime-gpu (and TensorRT for its provider), or use device='cpu'"
        )
    _, _, index = device.partition(":")
    options = {"device_id": int(index or 0)}
    return [*((name, options) for name in wanted), "CPUExecutionProvider"]


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


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def _check_graph(path: Path, graph: onnx.ModelProto, info: ModelInfo) -> None:
    """The graph's input/outputs and class count must match the sidecar beside it."""
    sidecar = path.with_suffix(".json").name
    inputs = {i.name: i for i in graph.graph.input}
    outputs = {o.name: o for o in graph.graph.output}
    if INPUT_NAME not in inputs or any(name not in outputs for name in OUTPUT_NAMES):
        raise EngineError(
            f"{path}: expected input {INPUT_NAME!r} and outputs {list(OUTPUT_NAMES)} (an attendseg-export model), "
            f"found inputs {list(inputs)} and outputs {list(outputs)}"
        )
    height, width = info.input_size
    input_dims = _dims(inputs[INPUT_NAME])
    if len(input_dims) != 4 or input_dims[1:] != [3, height, width]:
        raise EngineError(
            f"{path}: the graph's input is {input_dims} but {sidecar} says input_size {height}x{width} "
            f"(expected [batch, 3, {height}, {width}])"
        )
    for name in OUTPUT_NAMES:
        dims = _dims(outputs[name])  # symbolic (str) dims are unknown, not wrong
        known = [d for d in dims[1:] if isinstance(d, int) and d > 0]
        if len(dims) != 3 or (len(known) == 2 and known != [height, width]):
            raise EngineError(f"{path}: output {name!r} is {dims}, expected [batch, {height}, {width}] ({sidecar})")
    classes = graph_num_classes(graph)
    if classes is not None and classes != info.classes.num_classes:
        raise EngineError(
            f"{path}: the graph predicts {classes} classes but {sidecar} lists {info.classes.num_classes}"
        )


def graph_num_classes(graph: onnx.ModelProto) -> int | None:
    """Output channels of the classifier convolution that feeds the graph's ArgMax, if found.

    Walks back from the ArgMax input through resizes and (de)quantisation to the first Conv and
    reads its weight's first dimension (an initializer, or the input of its DequantizeLinear).
    """
    producers = {out: node for node in graph.graph.node for out in node.output}
    shapes = {init.name: list(init.dims) for init in graph.graph.initializer}
    argmax = [node for node in graph.graph.node if node.op_type == "ArgMax"]
    if not argmax:
        return None
    tensor = argmax[-1].input[0]
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


def _from_safetensors(
    path: Path, precision: str | None, device: str, threads: int, **options: Any
) -> OnnxRuntimeSegmenter:
    """FP32 onnxruntime straight from safetensors weights: export to a temporary ONNX file."""
    from ..checkpoint import ModelFileError, load_model
    from ..export import export_onnx

    if precision not in (None, "fp32"):
        raise EngineError(
            f"{path}: onnxruntime runs {precision} only from a quantised .onnx file (attendseg-export); "
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
    log.info("exported %s to a temporary FP32 ONNX graph for onnxruntime", path)
    return OnnxRuntimeSegmenter(onnx_path, info, "fp32", device=device, threads=threads, keep=folder, **options)
