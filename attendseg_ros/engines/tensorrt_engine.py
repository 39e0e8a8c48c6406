"""tensorrt backend (Jetson): torch2trt INT8 engines calibrated on CamVid frames, cached on disk.

Verified only on a Jetson: torch2trt and TensorRT cannot be installed on the development
machines. What runs everywhere (and is tested): the cache key, the cache's validation, the
calibration dataset, the op-set check, and the error when torch2trt is missing.

Building an engine takes minutes (INT8 calibration runs the network over the calibration
frames); it is saved in a cache keyed by GPU name, TensorRT version, input shape, batch size,
precision, calibration settings and the SHA-256 of the weights file. Each entry is the
serialised engine plus a JSON manifest holding that key and the engine's own SHA-256. Loading
re-checks both: a stale entry (any key field differs) or a corrupt one (hash mismatch,
unreadable manifest, engine TensorRT cannot deserialise) is logged, deleted and rebuilt, never
used. Only the serialised engine is stored: nothing is pickled.

Options (``create_segmenter("tensorrt", ..., **options)``):
  ``batch``: the largest batch the engine takes (default 1; larger batches run in chunks);
  ``cache_dir``: default ``$ATTENDSEG_TRT_CACHE`` or ``~/.cache/attendseg_ros/tensorrt``;
  ``calibration_data``: CamVid folder for INT8 calibration (default ``$CAMVID_DIR``), needed
  only when no cached engine matches; ``calibration_split`` (``train``), ``calibration_count``
  (64), ``calibration_algorithm`` (``entropy2`` or ``minmax``); ``fp16_fallback``: build FP16
  when INT8 calibration is unavailable (TensorRT >= 11 removed it) instead of failing;
  ``workspace_mb`` (default 1024).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.preprocessing import preprocess
from ..model.complexity import unsupported_ops
from ..model.postprocess import LabelsAndConfidence
from ..modelfiles.checkpoint import ModelFileError, ModelInfo, load_model
from .base import EngineError, Segmenter

log = logging.getLogger(__name__)

CACHE_FORMAT = 1
INSTALL_HINT = (
    "the tensorrt backend needs torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt, install from source) "
    "and TensorRT (JetPack on a Jetson); on other machines use backend='onnxruntime' or 'torch'"
)
OPTIONS = (
    "batch", "cache_dir", "calibration_data", "calibration_split", "calibration_count", "calibration_algorithm",
    "fp16_fallback", "workspace_mb",
)
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


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def engine_cache_key(
    gpu: str,
    tensorrt_version: str,
    input_shape: tuple[int, int, int, int],
    batch: int,
    precision: str,
    model_sha256: str,
    calibration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything an engine depends on; two builds with equal keys are interchangeable."""
    return {
        "format": CACHE_FORMAT,
        "gpu": gpu,
        "tensorrt": tensorrt_version,
        "input_shape": [int(d) for d in input_shape],
        "batch": int(batch),
        "precision": precision,
        "model_sha256": model_sha256,
        "calibration": calibration if precision == "int8" else None,
    }


def entry_name(model_path: Path, precision: str, batch: int, input_size: tuple[int, int]) -> str:
    """One cache slot per model file, precision, batch and size; a changed key replaces its content."""
    return f"{model_path.stem}-{precision}-b{batch}-{input_size[0]}x{input_size[1]}"


def default_cache_dir() -> Path:
    if os.environ.get("ATTENDSEG_TRT_CACHE"):
        return Path(os.environ["ATTENDSEG_TRT_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "attendseg_ros" / "tensorrt"


class EngineCache:
    """Serialised engines with JSON manifests (key + engine SHA-256) in one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def paths(self, name: str) -> tuple[Path, Path]:
        return self.root / f"{name}.engine", self.root / f"{name}.manifest.json"

    def load(self, name: str, key: dict[str, Any]) -> bytes | None:
        """The engine bytes when the entry exists, matches ``key`` and is intact; else ``None``.

        A stale or corrupt entry is logged and deleted so that the caller rebuilds it.
        """
        engine_path, manifest_path = self.paths(name)
        if not engine_path.exists() and not manifest_path.exists():
            return None
        problem = self._check(engine_path, manifest_path, key)
        if isinstance(problem, bytes):
            return problem
        log.warning("TensorRT cache entry %s is %s; rebuilding it", engine_path, problem)
        self.remove(name)
        return None

    def _check(self, engine_path: Path, manifest_path: Path, key: dict[str, Any]) -> bytes | str:
        if not engine_path.is_file() or not manifest_path.is_file():
            return "incomplete (engine or manifest missing)"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            stored_key, stored_hash = manifest["key"], manifest["engine_sha256"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"corrupt (unreadable manifest: {exc})"
        if stored_key != key:
            changed = sorted(k for k in set(stored_key) | set(key) if stored_key.get(k) != key.get(k))
            return f"stale ({', '.join(changed)} changed)"
        data = engine_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != stored_hash:
            return "corrupt (engine SHA-256 does not match its manifest)"
        return data

    def store(self, name: str, key: dict[str, Any], engine: bytes, **details: Any) -> Path:
        """Write the engine, then its manifest (an interrupted write leaves no valid entry)."""
        self.root.mkdir(parents=True, exist_ok=True)
        engine_path, manifest_path = self.paths(name)
        manifest_path.unlink(missing_ok=True)
        partial = engine_path.with_suffix(".engine.partial")
        partial.write_bytes(engine)
        os.replace(partial, engine_path)
        manifest = {"key": key, "engine_sha256": hashlib.sha256(engine).hexdigest(), "engine_bytes": len(engine),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **details}
        partial = manifest_path.with_suffix(".partial")
        partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, manifest_path)
        return engine_path

    def remove(self, name: str) -> None:
        for path in self.paths(name):
            path.unlink(missing_ok=True)


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


def create(
    path: Path, precision: str | None = None, device: str = "cuda", threads: int = 0, **options: Any
) -> TensorRTSegmenter:
    """Factory entry point (see :func:`attendseg_ros.engines.create_segmenter`)."""
    del threads  # TensorRT runs on the GPU
    precision = precision or "int8"
    if path.suffix != ".safetensors":
        raise EngineError(f"{path}: the tensorrt backend needs a .safetensors model (with its .json sidecar)")
    if not path.is_file():
        raise EngineError(f"{path}: model file not found")
    if not device.startswith("cuda"):  # the factory checks this too (registry): never move a model silently
        raise EngineError(f"the tensorrt backend runs on CUDA only, not on device {device!r}")
    torch2trt, tensorrt = require_torch2trt()
    if not torch.cuda.is_available():
        raise EngineError("the tensorrt backend needs a CUDA GPU, and torch sees none")
    try:
        network, info = load_model(path, device="cpu")
    except ModelFileError as exc:
        raise EngineError(str(exc)) from exc
    return TensorRTSegmenter(network, info, path, precision, device, torch2trt, tensorrt, **options)


class TensorRTSegmenter(Segmenter):
    """A torch2trt engine for the network; argmax/confidence in torch on the same GPU."""

    backend = "tensorrt"

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
        key = engine_cache_key(
            torch.cuda.get_device_name(self.device), tensorrt.__version__, (batch, 3, *info.input_size), batch,
            precision, file_sha256(model_path), calibration,
        )
        cache = EngineCache(cache_dir or default_cache_dir())
        name = entry_name(model_path, precision, batch, info.input_size)
        engine = self._deserialize(cache.load(name, key))
        if engine is None:
            check_convertible(network, info.input_size)
            data = calibration_data or os.environ.get("CAMVID_DIR")
            if precision == "int8" and not data:
                raise EngineError(
                    f"building an INT8 engine for {model_path} needs calibration frames: pass "
                    "calibration_data=<CamVid folder> (or set CAMVID_DIR), or use precision='fp16'"
                )
            serialized = self._build(network, torch2trt, precision, data, calibration, algorithms, workspace_mb)
            cache.store(
                name, key, serialized, model=str(model_path), input_names=INPUT_NAMES, output_names=OUTPUT_NAMES
            )
            log.info("TensorRT engine cached at %s", cache.paths(name)[0])
            engine = self._deserialize(serialized)
            if engine is None:
                raise EngineError(f"TensorRT could not deserialise the engine it just built for {model_path}")
        else:
            log.info("TensorRT engine loaded from cache %s", cache.paths(name)[0])
        module = torch2trt.TRTModule(engine=engine, input_names=INPUT_NAMES, output_names=OUTPUT_NAMES)
        self.model = LabelsAndConfidence(module).to(self.device).eval()

    def _deserialize(self, data: bytes | None) -> Any:
        if data is None:
            return None
        runtime = self._trt.Runtime(self._trt.Logger(self._trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(data)
        if engine is None:
            log.warning("TensorRT could not deserialise the cached engine; rebuilding it")
        return engine

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
        start = time.monotonic()
        with torch.no_grad():
            module = torch2trt.torch2trt(network, [example], **kwargs)
        log.info("TensorRT engine built in %.0f s", time.monotonic() - start)
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
