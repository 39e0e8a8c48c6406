"""Converter ``torch2trt`` of the tensorrt backend: INT8 by TensorRT's implicit calibration, or FP16.

For FP16 engines of ``.safetensors`` models and for INT8 on JetPack 5 (TensorRT 8.5): torch2trt
traces the network in torch and TensorRT calibrates INT8 on CamVid frames (``IInt8Calibrator``,
deprecated in TensorRT 10, removed in 11; torch2trt's import fails on TensorRT 10.8 and later).
Everything else (the cache, the version checks) is shared with :mod:`.tensorrt_engine`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocessing import preprocess
from ..model.complexity import unsupported_ops
from ..model.postprocess import LabelsAndConfidence
from ..modelfiles.checkpoint import ModelFileError, ModelInfo, load_model
from .base import EngineError, Segmenter
from .tensorrt_engine import (
    INSTALL_HINT,
    EngineCache,
    default_cache_dir,
    engine_cache_key,
    entry_name,
    file_sha256,
    load_or_build,
)

log = logging.getLogger(__name__)

INPUT_NAMES = ["input"]
OUTPUT_NAMES = ["logits"]


def require_torch2trt() -> tuple[Any, Any]:
    """Import torch2trt and tensorrt, or raise :class:`EngineError` naming what to install."""
    try:
        import tensorrt
        import torch2trt
    except ImportError as exc:
        raise EngineError(f"{INSTALL_HINT} ({exc.name or exc} is not installed)") from exc
    return torch2trt, tensorrt


class CalibrationFrames(torch.utils.data.Dataset):
    """INT8 calibration inputs for torch2trt: CamVid frames through the shared preprocessing.

    The same reproducible frame subset as the ONNX calibration
    (:func:`attendseg_ros.modelfiles.export.calibration_frames`). Item ``i`` is ``[x]`` with ``x`` a
    contiguous float32 ``(1, 3, h, w)`` tensor on ``device`` (torch2trt's calibrator binds it
    directly as a batch of one). The last item stays referenced until the next is made, since
    TensorRT reads it after ``__getitem__`` returns.
    """

    def __init__(
        self, data: str | Path, info: ModelInfo, split: str = "train", count: int = 64, device: str = "cuda"
    ) -> None:
        from ..modelfiles.export import calibration_frames

        self.dataset, self.indices = calibration_frames(data, split, count)
        self.info = info
        self.device = torch.device(device)
        self._current: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> list[torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rgb, _ = self.dataset[self.indices[index]]
        batch = preprocess(rgb, self.info.input_size, self.info.normalization)
        self._current = torch.from_numpy(batch).to(self.device).contiguous()
        if (index + 1) % 8 == 0 or index + 1 == len(self):
            log.info("INT8 calibration: frame %d/%d", index + 1, len(self))
        return [self._current]


def check_convertible(network: torch.nn.Module, input_size: tuple[int, int]) -> None:
    """Raise :class:`EngineError` listing operations torch2trt would not convert."""
    unsupported = unsupported_ops(network.eval(), torch.zeros(1, 3, *input_size))
    if unsupported:
        raise EngineError(f"the network uses operations the TensorRT path does not support: {sorted(unsupported)}")


def create_torch2trt(path: Path, precision: str | None, device: str, **options: Any) -> Torch2trtSegmenter:
    """A torch2trt segmenter for the ``.safetensors`` model ``path`` (``precision`` default int8)."""
    precision = precision or "int8"
    torch2trt, tensorrt = require_torch2trt()
    if not torch.cuda.is_available():
        raise EngineError("the tensorrt backend needs a CUDA GPU, and torch sees none")
    try:
        network, info = load_model(path, device="cpu")
    except ModelFileError as exc:
        raise EngineError(str(exc)) from exc
    return Torch2trtSegmenter(network, info, path, precision, device, torch2trt, tensorrt, **options)


class Torch2trtSegmenter(Segmenter):
    """A torch2trt engine for the network; argmax/confidence in torch on the same GPU."""

    backend = "tensorrt"
    path: Path

    def __init__(
        self,
        network: torch.nn.Module,
        info: ModelInfo,
        model_path: Path,
        precision: str,
        device: str,
        torch2trt: Any,
        tensorrt: Any,
        batch: int = 1,
        cache_dir: str | Path | None = None,
        calibration_data: str | Path | None = None,
        calibration_split: str = "train",
        calibration_count: int = 64,
        calibration_algorithm: str = "entropy2",
        fp16_fallback: bool = False,
        workspace_mb: int = 1024,
    ) -> None:
        super().__init__(info)
        if batch < 1:
            raise EngineError(f"batch must be >= 1, got {batch}")
        self.device = torch.device(device)
        self.path = model_path
        self.batch = batch
        self._trt = tensorrt
        if precision == "int8" and not hasattr(tensorrt, "IInt8Calibrator"):
            if not fp16_fallback:
                raise EngineError(
                    f"TensorRT {tensorrt.__version__} has no INT8 calibration (removed in TensorRT 11); "
                    "use precision='fp16' or fp16_fallback=True"
                )
            log.warning("TensorRT %s has no INT8 calibration: building FP16 instead", tensorrt.__version__)
            precision = "fp16"
        self.precision = precision
        algorithms = {"entropy2": "ENTROPY_CALIBRATION_2", "minmax": "MINMAX_CALIBRATION"}
        if calibration_algorithm not in algorithms:
            raise EngineError(
                f"unknown calibration algorithm {calibration_algorithm!r}; choose one of {sorted(algorithms)}"
            )
        calibration = {"split": calibration_split, "count": calibration_count, "algorithm": calibration_algorithm}
        properties = torch.cuda.get_device_properties(self.device)
        key = engine_cache_key(
            f"{properties.name} (sm {properties.major}.{properties.minor})", tensorrt.__version__,
            (batch, 3, *info.input_size), batch, precision, file_sha256(model_path), calibration,
            converter="torch2trt",
        )
        cache = EngineCache(cache_dir or default_cache_dir())
        name = entry_name(model_path, precision, batch, info.input_size, converter="torch2trt")
        data = calibration_data or os.environ.get("CAMVID_DIR")
        if precision == "int8" and not data and cache.load(name, key) is None:
            raise EngineError(
                f"building an INT8 engine for {model_path} needs calibration frames: pass "
                "calibration_data=<CamVid folder> (or set CAMVID_DIR), or use precision='fp16'"
            )
        check_convertible(network, info.input_size)

        def build() -> bytes:
            return self._build(network, torch2trt, precision, data, calibration, algorithms, workspace_mb)

        self.cached = load_or_build(cache, name, key, build, self._deserialize, model=str(model_path),
                                    input_names=INPUT_NAMES, output_names=OUTPUT_NAMES)
        self.build_seconds = self.cached.build_seconds
        module = torch2trt.TRTModule(engine=self.cached.engine, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES)
        self.model = LabelsAndConfidence(module).to(self.device).eval()

    def _deserialize(self, data: bytes) -> Any:
        runtime = self._trt.Runtime(self._trt.Logger(self._trt.Logger.WARNING))
        return runtime.deserialize_cuda_engine(data)

    def _build(
        self,
        network: torch.nn.Module,
        torch2trt: Any,
        precision: str,
        data: str | Path | None,
        calibration: dict[str, Any],
        algorithms: dict[str, str],
        workspace_mb: int,
    ) -> bytes:
        network = network.to(self.device).eval()
        example = torch.zeros(self.batch, 3, *self.info.input_size, device=self.device)
        kwargs: dict[str, Any] = {
            "input_names": INPUT_NAMES,
            "output_names": OUTPUT_NAMES,
            "fp16_mode": precision in ("fp16", "int8"),  # int8 layers fall back to fp16, not fp32
            "max_batch_size": self.batch,
            "max_workspace_size": workspace_mb << 20,
        }
        if precision == "int8":
            kwargs["int8_mode"] = True
            kwargs["int8_calib_dataset"] = CalibrationFrames(
                data, self.info, calibration["split"], calibration["count"], str(self.device)  # type: ignore[arg-type]
            )
            algorithm = algorithms[calibration["algorithm"]]
            kwargs["int8_calib_algorithm"] = getattr(self._trt.CalibrationAlgoType, algorithm)
        log.info(
            "building a TensorRT %s engine (batch %d, %dx%d); this takes minutes%s",
            precision, self.batch, *self.info.input_size,
            f", calibrating on {calibration['count']} {calibration['split']} frames" if precision == "int8" else "",
        )
        with torch.no_grad():
            module = torch2trt.torch2trt(network, [example], **kwargs)
        return bytes(module.engine.serialize())

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        expected = (3, *self.input_size)
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"expected a float32 (N, {', '.join(map(str, expected))}) batch, got {tuple(batch.shape)}")
        labels, confidence = [], []
        with torch.no_grad():
            for start in range(0, batch.shape[0], self.batch):
                x = torch.from_numpy(np.ascontiguousarray(batch[start : start + self.batch], dtype=np.float32))
                lab, conf = self.model(x.to(self.device, non_blocking=True))
                labels.append(lab.cpu().numpy())
                confidence.append(conf.cpu().numpy())
        return np.concatenate(labels), np.concatenate(confidence)

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        torch.cuda.empty_cache()
