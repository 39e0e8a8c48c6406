"""torch backend: the safetensors model in FP32 or FP16 on the CPU or CUDA.

The network is wrapped in :class:`~attendseg_ros.model.postprocess.LabelsAndConfidence`, so
argmax and confidence run on the device and only uint8 maps are copied back. Channels-last
memory format by default.

Options (``create_segmenter(..., **options)``):
  ``channels_last`` (default True); ``compile``: ``torch.compile`` the wrapped model;
  ``cuda_graphs``: capture one CUDA graph per batch size and replay it (CUDA only; with
  ``compile`` it becomes torch.compile's ``reduce-overhead`` mode).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model.postprocess import LabelsAndConfidence
from ..modelfiles.checkpoint import ModelFileError, ModelInfo, load_model
from . import model_info
from .base import EngineError, Segmenter

log = logging.getLogger(__name__)

OPTIONS = ("channels_last", "compile", "cuda_graphs")


def create(
    path: Path, precision: str | None = None, device: str = "cpu", threads: int = 0, **options: Any
) -> TorchSegmenter:
    """Factory entry point (see :func:`attendseg_ros.engines.create_segmenter`)."""
    if path.suffix != ".safetensors":
        imported = path.with_suffix(".json").is_file() and not model_info(path).is_attendseg
        raise EngineError(
            f"{path}: an imported model (attendseg-import-model) runs in the onnxruntime or openvino backend only; "
            "the torch backend runs AttendSeg .safetensors models" if imported else
            f"{path}: the torch backend needs a .safetensors model (with its .json sidecar)"
        )
    on_cuda = device.startswith("cuda")
    if on_cuda and not torch.cuda.is_available():
        raise EngineError(f"device {device!r} asked for, but this torch ({torch.__version__}) sees no CUDA GPU")
    precision = precision or ("fp16" if on_cuda else "fp32")
    if precision == "int8":
        raise EngineError("the torch backend runs fp32 or fp16; for int8 use the onnxruntime or tensorrt backend")
    if precision == "fp16" and not on_cuda:
        raise EngineError("fp16 with the torch backend needs device='cuda'; on the CPU use fp32 (or onnxruntime int8)")
    if not path.is_file():
        raise EngineError(f"{path}: model file not found")
    if threads > 0:
        torch.set_num_threads(threads)  # process-wide: torch has one intra-op pool
    try:
        network, info = load_model(path, device=device)
    except ModelFileError as exc:
        raise EngineError(str(exc)) from exc
    return TorchSegmenter(network, info, precision, device, **options)


class TorchSegmenter(Segmenter):
    """Eager (optionally compiled or graph-captured) PyTorch inference."""

    backend = "torch"

    def __init__(
        self,
        network: torch.nn.Module,
        info: ModelInfo,
        precision: str = "fp32",
        device: str = "cpu",
        channels_last: bool = True,
        compile: bool = False,
        cuda_graphs: bool = False,
    ) -> None:
        super().__init__(info)
        self.precision = precision
        self.device = torch.device(device)
        self.dtype = torch.float16 if precision == "fp16" else torch.float32
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if cuda_graphs and self.device.type != "cuda":
            raise EngineError("cuda_graphs needs device='cuda'")
        model = LabelsAndConfidence(network).eval().to(self.device, self.dtype)
        model = model.to(memory_format=self.memory_format)
        self._use_graphs = cuda_graphs and not compile
        if compile:
            model = torch.compile(model, mode="reduce-overhead" if cuda_graphs else "default")
        self.model = model
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]] = {}

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        expected = (3, *self.input_size)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"expected a float32 (N, {', '.join(map(str, expected))}) batch, got {tuple(batch.shape)}")
        labels, confidence = self.run_tensor(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return labels.cpu().numpy(), confidence.cpu().numpy()

    @torch.inference_mode()
    def run_tensor(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Like :meth:`run` for a float tensor on any device; returns uint8 tensors on this device."""
        x = batch.to(self.device, self.dtype, non_blocking=True).contiguous(memory_format=self.memory_format)
        if self._use_graphs:
            return self._replay(x)
        return self.model(x)

    def _replay(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run ``x`` through a CUDA graph captured for its batch size (captured on first use)."""
        size = x.shape[0]
        if size not in self._graphs:
            static_input = x.clone()
            stream = torch.cuda.Stream(self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for _ in range(3):  # warm-up outside the graph (cuDNN autotuning, allocator)
                    self.model(static_input)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_output = self.model(static_input)
            self._graphs[size] = (graph, static_input, static_output)
            log.info("captured a CUDA graph for batch size %d", size)
        graph, static_input, (labels, confidence) = self._graphs[size]
        static_input.copy_(x)
        graph.replay()
        return labels.clone(), confidence.clone()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        self._graphs.clear()
        self.model = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
