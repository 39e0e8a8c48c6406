"""Segmentation backends behind one interface, chosen by name.

    seg = create_segmenter("onnxruntime")          # the embedded INT8 model on the CPU
    seg = create_segmenter("torch", device="cuda", precision="fp16")
    seg = create_segmenter("tensorrt", precision="int8")   # Jetson: torch2trt + TensorRT
    seg = create_segmenter("openvino", threads=2)           # the same INT8 ONNX model, OpenVINO
    results = seg.segment(frames, resolution="input")

Each backend lives in its own module, imported only when chosen, so a missing package
(onnxruntime, openvino, torch2trt/TensorRT) fails only for that backend, with an :class:`EngineError`
naming what to install.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from ..checkpoint import ModelFileError, ModelInfo, read_info
from ..resources import weights_dir
from .base import RESOLUTIONS, EngineError, Segmentation, Segmenter
from .selection import CpuBackendChoice, choose_cpu_backend

log = logging.getLogger(__name__)

BACKENDS = ("onnxruntime", "torch", "tensorrt", "openvino")
PRECISIONS = ("fp32", "fp16", "int8")
DEVICES = ("cpu", "cuda")

DEFAULT_MODEL_NAME = "attendseg_camvid11"
# What each backend loads when no model is given: the file kind and the embedded file name.
_DEFAULT_FILES = {
    "onnx": f"{DEFAULT_MODEL_NAME}.int8.onnx",
    "safetensors": f"{DEFAULT_MODEL_NAME}.safetensors",
}
_KIND_ALIASES = {
    "onnxruntime": "onnx", "openvino": "onnx", "int8": "onnx", "torch": "safetensors", "tensorrt": "safetensors",
}
# Backends that read the ONNX model: FP32 from the embedded FP32 weights, exported on the fly.
_ONNX_BACKENDS = ("onnxruntime", "openvino")
# Backends whose device names are their own (OpenVINO: CPU, GPU.0, NPU, AUTO:...), checked there.
_OWN_DEVICE_NAMES = ("openvino",)

# backend -> (module, packages it needs, install hint)
_BACKEND_MODULES = {
    "onnxruntime": (".onnxruntime_engine", "pip install onnxruntime (onnxruntime-gpu for CUDA)"),
    "torch": (".torch_engine", "pip install torch"),
    "tensorrt": (
        ".tensorrt_engine",
        "torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt, install from source) and TensorRT "
        "(JetPack on a Jetson, or NVIDIA's tensorrt wheels)",
    ),
    "openvino": (".openvino_engine", "pip install openvino (or attendseg_ros[openvino])"),
}

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "RESOLUTIONS",
    "CpuBackendChoice",
    "EngineError",
    "Segmentation",
    "Segmenter",
    "choose_cpu_backend",
    "create_segmenter",
    "default_model_path",
    "model_info",
]


def default_model_path(kind: str = "onnx") -> Path:
    """The embedded default model file for ``kind``.

    ``kind``: ``"onnx"`` (or ``"onnxruntime"``/``"int8"``): the INT8 ONNX model;
    ``"safetensors"`` (or ``"torch"``/``"tensorrt"``): the FP32 weights. Raises
    :class:`EngineError` naming the file when it or its ``.json`` sidecar is missing.
    """
    key = _KIND_ALIASES.get(kind, kind)
    if key not in _DEFAULT_FILES:
        choices = sorted(set(_DEFAULT_FILES) | set(_KIND_ALIASES))
        raise EngineError(f"unknown model kind {kind!r}; choose one of {choices}")
    path = weights_dir() / _DEFAULT_FILES[key]
    for required in (path, path.with_suffix(".json")):
        if not required.is_file():
            raise EngineError(
                f"{required}: the embedded default model file is missing (reinstall attendseg_ros, "
                "or pass a model file explicitly)"
            )
    return path


def model_info(path: str | Path) -> ModelInfo:
    """The sidecar of a model file, with errors as :class:`EngineError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"{path}: model file not found")
    try:
        return read_info(path)
    except ModelFileError as exc:
        raise EngineError(str(exc)) from exc


def create_segmenter(
    backend: str = "onnxruntime",
    model: str | Path | None = None,
    precision: str | None = None,
    device: str = "cpu",
    threads: int = 0,
    **options: Any,
) -> Segmenter:
    """Create a :class:`Segmenter` for ``backend``.

    ``model``: a model file (``.onnx`` for onnxruntime/openvino; ``.safetensors`` for torch/tensorrt,
    onnxruntime and openvino also accept it and export an FP32 ONNX graph on the fly), ``None`` for
    the embedded default. ``precision``: ``None`` for the backend's default (onnxruntime, openvino:
    what the file holds; torch: fp32 on the CPU, fp16 on CUDA; tensorrt: int8). ``device``: cpu,
    cuda, cuda:N; openvino takes its own device names (GPU, NPU, AUTO). ``threads``: CPU
    threads (0: the library's default). ``options``: backend-specific settings (see each
    backend module). Every failure to create raises :class:`EngineError` naming the file or
    the package to install.
    """
    if backend not in BACKENDS:
        raise EngineError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if precision is not None and precision not in PRECISIONS:
        raise EngineError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if device not in DEVICES and not device.startswith("cuda:") and backend not in _OWN_DEVICE_NAMES:
        raise EngineError(f"unknown device {device!r}; choose cpu, cuda or cuda:N")
    if threads < 0:
        raise EngineError(f"threads must be >= 0 (0: library default), got {threads}")
    path = Path(model) if model is not None else _default_for(backend, precision)
    module = _import_backend(backend)
    unknown = sorted(set(options) - set(module.OPTIONS))
    if unknown:
        raise EngineError(f"unknown {backend} option(s) {unknown}; this backend takes {sorted(module.OPTIONS)}")
    segmenter: Segmenter = module.create(path, precision=precision, device=device, threads=threads, **options)
    log.info(
        "segmenter: backend %s, precision %s, device %s, model %s, input %dx%d",
        segmenter.backend, segmenter.precision, device, path, *segmenter.input_size,
    )
    return segmenter


def _default_for(backend: str, precision: str | None) -> Path:
    if backend in _ONNX_BACKENDS and precision not in (None, "int8"):
        # The embedded ONNX model is INT8; FP32 for onnxruntime/openvino comes from the FP32 weights.
        return default_model_path("safetensors")
    return default_model_path(backend)


def _import_backend(backend: str) -> Any:
    module_name, install = _BACKEND_MODULES[backend]
    try:
        return importlib.import_module(module_name, __name__)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise EngineError(f"the {backend} backend needs {missing!r}, which is not installed: {install}") from exc
