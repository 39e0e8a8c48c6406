"""Segmentation backends behind one interface, chosen by name.

    seg = create_segmenter("onnxruntime")          # the embedded INT8 model on the CPU
    seg = create_segmenter("torch", device="cuda", precision="fp16")
    seg = create_segmenter("tensorrt")                      # Jetson: the TensorRT-ready INT8 file, on CUDA
    seg = create_segmenter("openvino", threads=2)           # the same INT8 ONNX model, OpenVINO
    seg = create_segmenter("auto")                          # the faster CPU engine here, by measurement
    results = seg.segment(frames, resolution="input")

Which backends exist, what precisions and devices each takes and what it needs installed is
:data:`attendseg_ros.registry.BACKENDS`; each backend lives in its own module, imported only when
chosen, so a missing package (onnxruntime, openvino, torch, torch2trt/TensorRT) fails only for that
backend, with an :class:`EngineError` naming what to install. The ONNX Runtime and OpenVINO paths
with an ``.onnx`` model import no torch.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from .. import registry
from ..modelfiles.sidecar import ModelFileError, ModelInfo, read_info
from ..resources import weights_dir
from .base import RESOLUTIONS, EngineError, Segmentation, Segmenter
from .selection import CpuBackendChoice, choose_cpu_backend

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "attendseg_camvid11"
# The embedded model files, by kind (registry.MODEL_KINDS).
_DEFAULT_FILES = {
    "onnx": f"{DEFAULT_MODEL_NAME}.int8.onnx",
    "onnx_tensorrt": f"{DEFAULT_MODEL_NAME}.int8.tensorrt.onnx",  # the tensorrt backend's INT8 layout
    "safetensors": f"{DEFAULT_MODEL_NAME}.safetensors",
}

__all__ = [
    "RESOLUTIONS",
    "CpuBackendChoice",
    "EngineError",
    "Segmentation",
    "Segmenter",
    "choose_cpu_backend",
    "create_segmenter",
    "default_model_path",
    "model_info",
    "options_for",
    "resolve_model",
]


def default_model_path(kind: str = "onnx") -> Path:
    """The embedded default model file: ``"onnx"`` (the INT8 ONNX model for CPUs), ``"onnx_tensorrt"`` (the
    TensorRT-ready INT8 model) or ``"safetensors"`` (FP32 weights).

    A backend name is accepted too (its default kind). Raises :class:`EngineError` naming the file
    when it or its ``.json`` sidecar is missing.
    """
    if kind in registry.BACKENDS:
        kind = registry.BACKENDS[kind].default_model_kind(None)
    if kind not in _DEFAULT_FILES:
        raise EngineError(f"unknown model kind {kind!r}; choose one of {sorted(_DEFAULT_FILES)} or a backend name")
    path = weights_dir() / _DEFAULT_FILES[kind]
    for required in (path, path.with_suffix(".json")):
        if not required.is_file():
            raise EngineError(
                f"{required}: the embedded default model file is missing (reinstall attendseg_ros, "
                "or pass a model file explicitly)"
            )
    return path


def resolve_model(backend: str, model: str | Path | None = None, precision: str | None = None) -> Path:
    """The model file ``backend`` loads: ``model``, or the embedded one it defaults to.

    For ``auto`` that of its candidates (all read the same files).
    """
    if model is not None and str(model) != "":
        return Path(model)
    try:
        spec = registry.specs_for(backend)[0]
    except ValueError as exc:
        raise EngineError(str(exc)) from exc
    return default_model_path(spec.default_model_kind(precision))


def options_for(backend: str, options: dict[str, Any] | None) -> dict[str, Any]:
    """The options that apply to ``backend``: plain ``key`` for every backend, ``backend.key`` for one.

    ``{"spin": False, "openvino.hint": "latency"}`` -> ``{"spin": False}`` for onnxruntime and
    ``{"spin": False, "hint": "latency"}`` for openvino.
    """
    chosen = {}
    for key, value in (options or {}).items():
        target, dot, name = key.rpartition(".")
        if not dot:
            chosen[key] = value
        elif target == backend:
            chosen[name] = value
    return chosen


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
    backend: str = registry.DEFAULT_BACKEND,
    model: str | Path | None = None,
    precision: str | None = None,
    device: str | None = None,
    threads: int = 0,
    **options: Any,
) -> Segmenter:
    """Create a :class:`Segmenter` for ``backend`` (a name of :data:`attendseg_ros.registry.BACKENDS`, or ``auto``).

    ``model``: a model file (``.onnx`` for onnxruntime/openvino/tensorrt, which needs the TensorRT
    layout for INT8; ``.safetensors`` for torch, onnxruntime, openvino and tensorrt export an FP32 ONNX
    graph from it on the fly), ``None`` for the embedded default. ``precision``: ``None`` for the
    backend's default (onnxruntime, openvino, tensorrt: what the file holds; torch: fp32 on the CPU,
    fp16 on CUDA). ``device``: ``cpu``,
    ``cuda`` or ``cuda:N``, or a name the backend's library resolves (openvino: GPU, NPU, AUTO);
    ``None`` for the backend's default (the registry's first device). ``threads``: CPU threads (0:
    the library's default). ``options``: backend-specific settings (see each backend module);
    ``backend.key`` applies to that backend only (:func:`options_for`). ``auto`` measures the CPU
    engines of :data:`attendseg_ros.registry.AUTO_CANDIDATES` on the model and returns the
    consistently faster one (else onnxruntime), with the measurement in its ``selection``
    (:mod:`.selection`). Every failure to create raises :class:`EngineError` naming the file,
    the device or the package to install.
    """
    try:
        device = registry.resolve(backend, precision or None, device)
    except ValueError as exc:
        raise EngineError(str(exc)) from exc
    if threads < 0:
        raise EngineError(f"threads must be >= 0 (0: library default), got {threads}")
    path = resolve_model(backend, model, precision)
    if backend == registry.AUTO:
        from .selection import select_cpu_segmenter

        per_backend = {name: options_for(name, options) for name in registry.AUTO_CANDIDATES}
        return select_cpu_segmenter(path, precision or None, threads, options=per_backend)[0]
    options = options_for(backend, options)
    module = backend_module(backend)
    unknown = sorted(set(options) - set(module.OPTIONS))
    if unknown:
        raise EngineError(f"unknown {backend} option(s) {unknown}; this backend takes {sorted(module.OPTIONS)}")
    segmenter: Segmenter = module.create(path, precision=precision or None, device=device, threads=threads, **options)
    log.info(
        "segmenter: backend %s, precision %s, device %s, model %s, input %dx%d",
        segmenter.backend, segmenter.precision, device, path, *segmenter.input_size,
    )
    return segmenter


def backend_module(backend: str) -> Any:
    """The module of ``backend`` (with ``create`` and ``OPTIONS``); :class:`EngineError` naming what to install."""
    spec = registry.BACKENDS[backend]
    try:
        return importlib.import_module(f".{spec.module}", __name__)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise EngineError(f"the {backend} backend needs {missing!r}, which is not installed: {spec.install}") from exc
