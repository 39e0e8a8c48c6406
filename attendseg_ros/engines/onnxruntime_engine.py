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
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from .base import EngineError
from .onnx_model import INPUT_NAME, OUTPUT_NAMES, OnnxModel, OnnxSegmenter, check_batch, open_onnx_model

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
    return OnnxRuntimeSegmenter(open_onnx_model(path, precision, "onnxruntime"), device, threads, **options)


class OnnxRuntimeSegmenter(OnnxSegmenter):
    """A segmenter running one onnxruntime ``InferenceSession``."""

    backend = "onnxruntime"

    def __init__(
        self,
        model: OnnxModel,
        device: str = "cpu",
        threads: int = 0,
        tensorrt: bool = False,
        optimization: str = "all",
        inter_op_threads: int = 0,
        spin: bool = True,
        profile: str | None = None,
    ) -> None:
        super().__init__(model)
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
            self.session = ort.InferenceSession(str(self.path), options, providers=self.providers)
        except Exception as exc:  # onnxruntime's pybind errors (Fail, InvalidGraph, ...) derive from Exception only
            raise EngineError(f"{self.path}: onnxruntime cannot load this model: {exc}") from exc
        self._output_names = list(OUTPUT_NAMES)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels, confidence = self.session.run(self._output_names, {INPUT_NAME: check_batch(batch, self.input_size)})
        return labels, confidence

    def close(self) -> None:
        if getattr(self, "session", None) is not None and self.session.get_session_options().enable_profiling:
            log.info("onnxruntime profile written to %s", self.session.end_profiling())
        self.session = None  # type: ignore[assignment]
        super().close()


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
