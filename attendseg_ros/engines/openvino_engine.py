"""openvino backend: the exported ONNX graph (FP32 or INT8 QDQ) compiled by OpenVINO.

Reads the same files as the onnxruntime backend (checked against their sidecar by
:mod:`.onnx_model`; a ``.safetensors`` file is exported to a temporary FP32 graph), with the
post-processing inside the graph: ``labels`` and ``confidence`` come out as uint8. OpenVINO
runs a QDQ graph in its integer kernels (low-precision transformations). The graph is compiled
for a static batch of one frame; a batch of N frames runs as N inferences, spread over
OpenVINO's parallel requests under the ``throughput`` hint, one after another under ``latency``.

``device``: ``"cpu"`` (OpenVINO's ``CPU``) or an OpenVINO device name passed through as given
(``GPU``, ``GPU.1``, ``NPU``, ``AUTO``, ``AUTO:GPU,CPU``, ...); ``threads``:
``INFERENCE_NUM_THREADS`` (CPU only; 0: OpenVINO's default).

Options (``create_segmenter(..., **options)``):
  ``hint``: ``PERFORMANCE_HINT``, ``"latency"`` (default: one stream, lowest per-frame time) or
  ``"throughput"`` (several streams and requests, for batches);
  ``streams``: ``NUM_STREAMS`` (CPU; 0: what the hint picks), the parallel requests of a batch;
  ``inference_precision``: ``INFERENCE_PRECISION_HINT`` for the layers that stay in float,
  ``"f32"``, ``"bf16"`` or ``"f16"``; default ``"f32"`` on the CPU (OpenVINO would pick bf16 on
  CPUs with AMX, which changes labels against the other backends), the device's own elsewhere.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from .base import EngineError
from .onnx_model import INPUT_NAME, OUTPUT_NAMES, OnnxModel, OnnxSegmenter, check_batch, open_onnx_model

log = logging.getLogger(__name__)

OPTIONS = ("hint", "inference_precision", "streams")
HINTS = ("latency", "throughput")
INFERENCE_PRECISIONS = ("f32", "bf16", "f16")
# Devices that stand for others: OpenVINO resolves them itself.
_META_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")


def create(
    path: Path, precision: str | None = None, device: str = "cpu", threads: int = 0, **options: Any
) -> OpenVinoSegmenter:
    """Factory entry point (see :func:`attendseg_ros.engines.create_segmenter`)."""
    return OpenVinoSegmenter(open_onnx_model(path, precision, "openvino"), device, threads, **options)


def openvino_device(device: str, core: ov.Core) -> str:
    """The OpenVINO device name for ``device``; :class:`EngineError` when OpenVINO does not see it."""
    if device == "cpu":
        return "CPU"
    if device.startswith("cuda"):
        raise EngineError(
            f"OpenVINO does not run on CUDA ({device!r}): use device='cpu' or an OpenVINO device "
            "(GPU, NPU, AUTO), or the onnxruntime/torch backend on NVIDIA GPUs"
        )
    base = device.split(":", 1)[0].split(".", 1)[0]
    if base in _META_DEVICES:
        return device
    available = core.available_devices  # e.g. ['CPU', 'GPU.0', 'GPU.1']
    if device not in available and base not in {name.split(".", 1)[0] for name in available}:
        raise EngineError(
            f"OpenVINO {ov.__version__} sees the devices {available}, not {device!r} (an Intel GPU needs its "
            "OpenCL runtime, an NPU its driver); use device='cpu'"
        )
    return device


def compile_config(
    device: str, threads: int = 0, hint: str = "latency", inference_precision: str | None = None, streams: int = 0
) -> dict[str, str]:
    """The OpenVINO properties for these settings, each validated with an :class:`EngineError`."""
    if not isinstance(hint, str) or hint.lower() not in HINTS:
        raise EngineError(f"unknown OpenVINO hint {hint!r}; choose one of {', '.join(HINTS)}")
    config = {"PERFORMANCE_HINT": hint.upper()}
    for name, value, key in (("threads", threads, "INFERENCE_NUM_THREADS"), ("streams", streams, "NUM_STREAMS")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise EngineError(f"OpenVINO {name} must be an integer >= 0 (0: OpenVINO's choice), got {value!r}")
        if value and device != "CPU":
            raise EngineError(f"{name} applies to OpenVINO's CPU device only, not {device!r}; pass {name}=0")
        if value:
            config[key] = str(value)
    if inference_precision is None and device == "CPU":
        inference_precision = "f32"
    if inference_precision is not None:
        if inference_precision not in INFERENCE_PRECISIONS:
            raise EngineError(
                f"unknown OpenVINO inference_precision {inference_precision!r}; "
                f"choose one of {', '.join(INFERENCE_PRECISIONS)}"
            )
        config["INFERENCE_PRECISION_HINT"] = inference_precision
    return config


class OpenVinoSegmenter(OnnxSegmenter):
    """A segmenter running one OpenVINO compiled model (static batch 1) and its infer requests."""

    backend = "openvino"

    def __init__(
        self,
        model: OnnxModel,
        device: str = "cpu",
        threads: int = 0,
        hint: str = "latency",
        inference_precision: str | None = None,
        streams: int = 0,
    ) -> None:
        super().__init__(model)
        core = ov.Core()
        self.device = openvino_device(device, core)
        self.config = compile_config(self.device, threads, hint, inference_precision, streams)
        try:
            graph = core.read_model(str(self.path))
            graph.reshape({INPUT_NAME: [1, 3, *self.input_size]})
            self.compiled = core.compile_model(graph, self.device, self.config)
        except RuntimeError as exc:  # OpenVINO's errors (read, reshape, compile) are RuntimeErrors
            raise EngineError(f"{self.path}: OpenVINO cannot compile this model for {self.device}: {exc}") from exc
        self._ports = [self.compiled.output(name) for name in OUTPUT_NAMES]
        self.requests = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._request = self.compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(self.compiled, self.requests) if self.requests > 1 else None
        if self._queue is not None:
            self._queue.set_callback(self._collect)
        self._lock = threading.Lock()  # infer requests are not thread-safe: one run at a time
        log.info("openvino: %s on %s, %s, %d request(s)", self.path.name, self.device, self.config, self.requests)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = check_batch(batch, self.input_size)
        labels = np.empty((len(batch), *self.input_size), np.uint8)
        confidence = np.empty_like(labels)
        outputs = (labels, confidence)
        with self._lock:
            if self._queue is None or len(batch) == 1:
                for index in range(len(batch)):
                    self._request.infer({INPUT_NAME: batch[index : index + 1]}, share_inputs=True)
                    self._collect(self._request, (index, outputs))
            else:
                for index in range(len(batch)):
                    self._queue.start_async({INPUT_NAME: batch[index : index + 1]}, (index, outputs), share_inputs=True)
                self._queue.wait_all()
        return labels, confidence

    def _collect(self, request: ov.InferRequest, userdata: tuple[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """Copy one finished request's outputs into row ``index`` of the result arrays."""
        index, outputs = userdata
        for port, out in zip(self._ports, outputs, strict=True):
            out[index] = request.get_tensor(port).data[0]

    def close(self) -> None:
        self._queue = None
        self._request = None  # type: ignore[assignment]
        self.compiled = None  # type: ignore[assignment]
        super().close()
