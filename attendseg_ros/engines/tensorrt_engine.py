"""tensorrt backend (Jetson, NVIDIA GPUs): TensorRT engines built from ONNX by TensorRT's parser, cached on disk.

Two converters (option ``converter``):

``onnx`` (default): TensorRT's ONNX parser reads an exported ONNX file. The default model is the
embedded TensorRT-ready INT8 file (``*.int8.tensorrt.onnx``): explicit quantization, the scales
travel in the file's Q/DQ nodes, no calibration on the device. An INT8 file is checked against
TensorRT's explicit-quantization rules (:mod:`attendseg_ros.modelfiles.tensorrt_rules`) before any
TensorRT call and refused with the checker's message when it breaks one. The network is strongly
typed where the TensorRT version offers it (10.x and later: the file's Q/DQ nodes decide every
precision), else (8.5-9.x) built with the INT8 builder flag. FP32 and FP16 engines are built from an
FP32 ``.onnx`` file or from ``.safetensors`` weights exported on the fly; FP16 needs the FP16 builder
flag, which TensorRT 11 removed. :func:`plan_build` decides all of this from the version and what
its Python module offers, and names the version and what it lacks when it cannot build.

``torch2trt``: the previous path, for FP16 engines of ``.safetensors`` models and INT8 with implicit
calibration on JetPack 5 (TensorRT 8.5; the calibrators are deprecated in 10.x and gone in 11).
Needs torch2trt (from its repository) and CamVid frames for INT8 calibration.

Both need torch with CUDA (NVIDIA's wheel on a Jetson) for device memory and the stream. Building
takes minutes; the engine is cached keyed by GPU name and compute capability, TensorRT version,
converter, build plan, input shape, batch, precision, calibration settings (torch2trt INT8) and the
model file's SHA-256. Each entry is the serialised engine plus a JSON manifest holding that key and
the engine's SHA-256. A stale entry (another TensorRT, GPU, model...) or a corrupt one is logged
with its cause, deleted and rebuilt once; the new entry then matches. A cache folder that cannot be
written is logged (every start would rebuild). Nothing is pickled.

Options (``create_segmenter("tensorrt", ..., **options)``):
  ``converter``: ``onnx`` (default) or ``torch2trt``;
  ``batch``: the largest batch the engine takes (default 1; larger batches run in chunks; the
  optimization profile spans 1..batch);
  ``cache_dir``: default ``$ATTENDSEG_TRT_CACHE`` or ``~/.cache/attendseg_ros/tensorrt``;
  ``workspace_mb`` (default 1024);
  torch2trt only: ``calibration_data`` (CamVid folder, default ``$CAMVID_DIR``), ``calibration_split``
  (``train``), ``calibration_count`` (64), ``calibration_algorithm`` (``entropy2`` or ``minmax``),
  ``fp16_fallback`` (build FP16 when this TensorRT has no INT8 calibration instead of failing).

Verified without TensorRT only (no machine here has a GPU): the version logic, the cache, the
checker's refusal and the error paths are tested; the TensorRT calls themselves have never run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..modelfiles.sidecar import INPUT_NAME, OUTPUT_NAMES
from ..modelfiles.tensorrt_rules import RulesFileError, check_file, format_violations
from .base import EngineError, Segmenter
from .onnx_model import OnnxModel, check_batch, open_onnx_model

log = logging.getLogger(__name__)

CACHE_FORMAT = 2
CONVERTERS = ("onnx", "torch2trt")
INSTALL_HINT = (
    "the tensorrt backend needs TensorRT's Python package with its ONNX parser (JetPack on a Jetson: "
    "python3-libnvinfer; elsewhere NVIDIA's tensorrt wheels) and torch with CUDA; converter torch2trt also "
    "needs torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt, from source); without a GPU use "
    "backend='onnxruntime' or 'openvino'"
)
OPTIONS = (
    "converter", "batch", "cache_dir", "workspace_mb", "calibration_data", "calibration_split",
    "calibration_count", "calibration_algorithm", "fp16_fallback",
)
TORCH2TRT_OPTIONS = ("calibration_data", "calibration_split", "calibration_count", "calibration_algorithm",
                     "fp16_fallback")
MINIMUM_VERSION = (8, 5)  # JetPack 5: opset 17, Q/DQ explicit quantization, the tensor-name runtime API


# --- what this TensorRT can do -------------------------------------------------------------------


def parse_version(text: str) -> tuple[int, int, int]:
    """``"10.3.0.30"`` -> ``(10, 3, 0)``; :class:`EngineError` for text that is no TensorRT version."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", str(text).strip())
    if match is None:
        raise EngineError(f"cannot read the TensorRT version {text!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


def module_features(tensorrt: Any) -> frozenset[str]:
    """The names :func:`plan_build` asks about, as far as the ``tensorrt`` module offers them."""
    flags = getattr(tensorrt, "NetworkDefinitionCreationFlag", None)
    builder_flags = getattr(tensorrt, "BuilderFlag", None)
    context = getattr(tensorrt, "IExecutionContext", None)
    offered = {
        "OnnxParser": hasattr(tensorrt, "OnnxParser"),
        "STRONGLY_TYPED": hasattr(flags, "STRONGLY_TYPED"),
        "EXPLICIT_BATCH": hasattr(flags, "EXPLICIT_BATCH"),
        "INT8": hasattr(builder_flags, "INT8"),
        "FP16": hasattr(builder_flags, "FP16"),
        "execute_async_v3": hasattr(context, "execute_async_v3"),
        "set_memory_pool_limit": hasattr(getattr(tensorrt, "IBuilderConfig", None), "set_memory_pool_limit"),
    }
    return frozenset(name for name, present in offered.items() if present)


@dataclass(frozen=True)
class BuildPlan:
    """How to build with this TensorRT: network creation flags and builder flags, by name."""

    tensorrt: str
    precision: str
    strongly_typed: bool
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag names
    builder_flags: tuple[str, ...]  # BuilderFlag names

    def to_dict(self) -> dict[str, Any]:
        """JSON types (lists, not tuples): equal to what a cache manifest reads back."""
        return json.loads(json.dumps(asdict(self)))


def plan_build(version: str, precision: str, features: Collection[str]) -> BuildPlan:
    """The ONNX-parser build for ``precision`` with TensorRT ``version`` offering ``features``.

    INT8 (a Q/DQ file): strongly typed where offered (TensorRT >= 10: types come from the file, no
    builder flags), else weakly typed with the INT8 flag (8.5-9.x). FP32: strongly typed where
    offered. FP16 (from an FP32 file): weakly typed with the FP16 flag, which TensorRT 11 removed.
    Raises :class:`EngineError` naming the version found and what it lacks.
    """
    numbers = parse_version(version)
    if numbers[:2] < MINIMUM_VERSION:
        raise EngineError(
            f"TensorRT {version} found: the onnx converter needs TensorRT >= {'.'.join(map(str, MINIMUM_VERSION))} "
            "(opset 17 Q/DQ files, the tensor-name runtime API); this TensorRT lacks them. Upgrade JetPack "
            "(5.1 or later) or use converter torch2trt"
        )
    for needed, why in (("OnnxParser", "its ONNX parser (tensorrt.OnnxParser)"),
                        ("execute_async_v3", "the tensor-name runtime API (execute_async_v3)")):
        if needed not in features:
            raise EngineError(f"TensorRT {version} found, but its Python module lacks {why}: {INSTALL_HINT}")
    network_flags = ["EXPLICIT_BATCH"] if "EXPLICIT_BATCH" in features and numbers[0] < 10 else []
    strongly_typed = precision in ("int8", "fp32") and "STRONGLY_TYPED" in features
    builder_flags: list[str] = []
    if strongly_typed:
        network_flags.append("STRONGLY_TYPED")
    elif precision == "int8":
        if "INT8" not in features:
            raise EngineError(
                f"TensorRT {version} found: it offers neither strongly typed networks nor the INT8 builder flag, "
                "so it cannot build the INT8 Q/DQ model"
            )
        builder_flags.append("INT8")
    elif precision == "fp16":
        if "FP16" not in features:
            raise EngineError(
                f"TensorRT {version} found: it lacks the FP16 builder flag (removed in TensorRT 11, where a "
                "network takes its types from the file); run the INT8 model (the default) or an FP16 ONNX file"
            )
        builder_flags.append("FP16")
    elif precision != "fp32":
        raise EngineError(f"unknown precision {precision!r} for the tensorrt backend")
    return BuildPlan(version, precision, strongly_typed, tuple(network_flags), tuple(builder_flags))


# --- the engine cache ----------------------------------------------------------------------------


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
    converter: str = "onnx",
    build: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything an engine depends on; two builds with equal keys are interchangeable.

    ``gpu``: name and compute capability; ``build``: the :class:`BuildPlan` (onnx converter).
    ``calibration`` counts only for torch2trt INT8 (the onnx converter's scales are in the file).
    """
    key = {
        "format": CACHE_FORMAT,
        "gpu": gpu,
        "tensorrt": tensorrt_version,
        "converter": converter,
        "build": build,
        "input_shape": [int(d) for d in input_shape],
        "batch": int(batch),
        "precision": precision,
        "model_sha256": model_sha256,
        "calibration": calibration if precision == "int8" and converter == "torch2trt" else None,
    }
    return json.loads(json.dumps(key))  # JSON types, as the manifest reads back: tuples would never match


def entry_name(
    model_path: Path, precision: str, batch: int, input_size: tuple[int, int], converter: str = "onnx"
) -> str:
    """One cache slot per model file, converter, precision, batch and size; a changed key replaces its content."""
    stem = model_path.name.removesuffix(model_path.suffix)
    return f"{stem}-{converter}-{precision}-b{batch}-{input_size[0]}x{input_size[1]}"


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

        A stale or corrupt entry is logged with its cause and deleted, so that the caller rebuilds it.
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
            changed = sorted(k for k in set(stored_key) | set(key) if stored_key.get(k) != key.get(k))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return f"corrupt (unreadable manifest: {exc})"
        if changed:
            details = "; ".join(f"{k}: {stored_key.get(k)!r} -> {key.get(k)!r}" for k in changed if k != "build")
            return f"stale ({', '.join(changed)} changed{': ' + details if details else ''})"
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


@dataclass
class CachedEngine:
    """What :func:`load_or_build` returns: the deserialised engine and how it was obtained."""

    engine: Any
    built: bool
    build_seconds: float | None
    path: Path


def load_or_build(
    cache: EngineCache,
    name: str,
    key: dict[str, Any],
    build: Callable[[], bytes],
    deserialize: Callable[[bytes], Any],
    **details: Any,
) -> CachedEngine:
    """The cached engine for ``key``, or a fresh build stored in the cache.

    A stale, corrupt or undeserialisable entry is logged, deleted and rebuilt once. An engine
    that cannot be deserialised right after its build is an :class:`EngineError` (never a rebuild
    loop); a cache that cannot be written is logged and the engine used anyway.
    """
    engine_path = cache.paths(name)[0]
    data = cache.load(name, key)
    if data is not None:
        engine = deserialize(data)
        if engine is not None:
            log.info("TensorRT engine loaded from cache %s", engine_path)
            return CachedEngine(engine, False, None, engine_path)
        log.warning("TensorRT %s could not deserialise the cached engine %s; rebuilding it", key["tensorrt"],
                    engine_path)
        cache.remove(name)
    start = time.monotonic()
    data = build()
    seconds = time.monotonic() - start
    log.info("TensorRT engine built in %.0f s", seconds)
    try:
        cache.store(name, key, data, **details)
        log.info("TensorRT engine cached at %s", engine_path)
    except OSError as exc:
        log.warning("cannot write the TensorRT engine cache %s (%s): every start will rebuild the engine; "
                    "set cache_dir or ATTENDSEG_TRT_CACHE to a writable folder", cache.root, exc)
    engine = deserialize(data)
    if engine is None:
        cache.remove(name)
        raise EngineError(f"TensorRT {key['tensorrt']} could not deserialise the engine it just built for {name}")
    return CachedEngine(engine, True, seconds, engine_path)


# --- creating a segmenter ------------------------------------------------------------------------


def require_tensorrt() -> Any:
    """Import tensorrt, or raise :class:`EngineError` naming what to install."""
    try:
        import tensorrt
    except ImportError as exc:
        raise EngineError(f"{INSTALL_HINT} ({exc.name or exc} is not installed)") from exc
    return tensorrt


def require_cuda_torch() -> Any:
    """torch with a CUDA device, or :class:`EngineError` naming what is missing."""
    try:
        import torch
    except ImportError as exc:
        raise EngineError(f"the tensorrt backend needs torch with CUDA for device memory ({exc.name} is not "
                          "installed; on a Jetson use NVIDIA's torch wheel for your JetPack)") from exc
    if not torch.cuda.is_available():
        raise EngineError(f"the tensorrt backend needs a CUDA GPU, and torch {torch.__version__} sees none "
                          f"(torch CUDA build: {torch.version.cuda or 'none'})")
    return torch


def check_tensorrt_ready(path: Path) -> None:
    """Refuse an INT8 ONNX file that breaks TensorRT's explicit-quantization rules (the checker's message)."""
    try:
        violations = check_file(path)
    except RulesFileError as exc:
        raise EngineError(str(exc)) from exc
    if violations:
        raise EngineError(
            f"{format_violations(path, violations, limit=8)}\nThe tensorrt backend builds INT8 only from a "
            "TensorRT-ready file: attendseg-export writes <name>.int8.tensorrt.onnx (the embedded default)"
        )


def create(
    path: Path, precision: str | None = None, device: str = "cuda", threads: int = 0, **options: Any
) -> Segmenter:
    """Factory entry point (see :func:`attendseg_ros.engines.create_segmenter`).

    Everything that needs no TensorRT is checked first: the converter, the file, the precision
    and (INT8) TensorRT's quantization rules.
    """
    del threads  # TensorRT runs on the GPU
    converter = options.pop("converter", "onnx")
    if converter not in CONVERTERS:
        raise EngineError(f"unknown tensorrt converter {converter!r}; choose one of {', '.join(CONVERTERS)}")
    if not device.startswith("cuda"):  # the factory checks this too (registry): never move a model silently
        raise EngineError(f"the tensorrt backend runs on CUDA only, not on device {device!r}")
    if not path.is_file():
        raise EngineError(f"{path}: model file not found")
    if converter == "torch2trt":
        return _create_torch2trt(path, precision, device, **options)
    ignored = sorted(set(options) & set(TORCH2TRT_OPTIONS))
    if ignored:
        raise EngineError(f"option(s) {ignored} apply to converter torch2trt only (the onnx converter reads the "
                          "INT8 scales from the file)")
    model = _open_model(path, precision)
    tensorrt = require_tensorrt()
    torch = require_cuda_torch()
    return TensorRTSegmenter(model, precision or model.precision, device, tensorrt, torch, **options)


def _open_model(path: Path, precision: str | None) -> OnnxModel:
    """The ONNX model to parse: INT8 (checked against the rules) or FP32 (for fp32/fp16 engines)."""
    wanted = precision
    if path.suffix == ".safetensors" or precision == "fp16":
        wanted = None if path.suffix == ".onnx" else "fp32"
    model = open_onnx_model(path, wanted, "tensorrt")
    if precision == "fp16" and model.precision != "fp32":
        model.cleanup()
        raise EngineError(f"{path}: an FP16 engine is built from an FP32 model (.safetensors or FP32 .onnx); "
                          f"this file is {model.precision}")
    if precision == "int8" and model.precision != "int8":
        model.cleanup()
        raise EngineError(f"{path}: an INT8 engine needs the TensorRT-ready INT8 file (attendseg-export writes "
                          "<name>.int8.tensorrt.onnx), not an FP32 model")
    if model.precision == "int8":
        check_tensorrt_ready(model.path)
    return model


class TensorRTSegmenter(Segmenter):
    """An engine built by TensorRT's ONNX parser from the exported graph (post-processing included)."""

    backend = "tensorrt"

    def __init__(
        self,
        model: OnnxModel,
        precision: str,
        device: str,
        tensorrt: Any,
        torch: Any,
        batch: int = 1,
        cache_dir: str | Path | None = None,
        workspace_mb: int = 1024,
    ) -> None:
        super().__init__(model.info)
        if batch < 1:
            raise EngineError(f"batch must be >= 1, got {batch}")
        self.path, self.precision, self.batch = model.path, precision, batch
        self._trt, self._torch, self._model = tensorrt, torch, model
        self.device = torch.device(device)
        self.plan = plan_build(tensorrt.__version__, precision, module_features(tensorrt))
        self._logger = tensorrt.Logger(tensorrt.Logger.WARNING)
        properties = torch.cuda.get_device_properties(self.device)
        key = engine_cache_key(
            f"{properties.name} (sm {properties.major}.{properties.minor})", tensorrt.__version__,
            (batch, 3, *self.info.input_size), batch, precision, file_sha256(model.path), converter="onnx",
            build=self.plan.to_dict(),
        )
        cache = EngineCache(cache_dir or default_cache_dir())
        name = entry_name(model.path, precision, batch, self.info.input_size)
        with torch.cuda.device(self.device):
            self.cached = load_or_build(
                cache, name, key, lambda: self._build(workspace_mb), self._deserialize, model=str(model.path),
            )
            self.engine = self.cached.engine
            self.context = self.engine.create_execution_context()
            self.stream = torch.cuda.Stream(self.device)
        self.build_seconds = self.cached.build_seconds

    def _deserialize(self, data: bytes) -> Any:
        runtime = self._trt.Runtime(self._logger)
        return runtime.deserialize_cuda_engine(data)

    def _build(self, workspace_mb: int) -> bytes:
        trt, plan = self._trt, self.plan
        flags = 0
        for flag in plan.network_flags:
            flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, flag))
        builder = trt.Builder(self._logger)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(self._model.path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EngineError(f"TensorRT {plan.tensorrt}'s ONNX parser refused {self._model.path}: {errors}")
        config = builder.create_builder_config()
        if hasattr(config, "set_memory_pool_limit"):
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
        for flag in plan.builder_flags:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        profile = builder.create_optimization_profile()
        shape = (3, *self.info.input_size)
        profile.set_shape(INPUT_NAME, (1, *shape), (self.batch, *shape), (self.batch, *shape))
        config.add_optimization_profile(profile)
        log.info("building a TensorRT %s %s engine from %s (batch 1..%d, %dx%d%s); this takes minutes",
                 plan.tensorrt, self.precision, self._model.path.name, self.batch, *self.info.input_size,
                 ", strongly typed" if plan.strongly_typed else f", builder flags {', '.join(plan.builder_flags)}")
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EngineError(f"TensorRT {plan.tensorrt} could not build an engine from {self._model.path} "
                              "(its log above names the layer)")
        return bytes(serialized)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = check_batch(batch, self.input_size)
        torch, trt = self._torch, self._trt
        labels, confidence = [], []
        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            for start in range(0, batch.shape[0], self.batch):
                chunk = torch.from_numpy(batch[start : start + self.batch]).to(self.device, non_blocking=True)
                self.context.set_input_shape(INPUT_NAME, tuple(chunk.shape))
                self.context.set_tensor_address(INPUT_NAME, chunk.data_ptr())
                outputs = {}
                for name in OUTPUT_NAMES:
                    dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
                    shape = tuple(self.context.get_tensor_shape(name))
                    outputs[name] = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, dtype)).dtype,
                                                device=self.device)
                    self.context.set_tensor_address(name, outputs[name].data_ptr())
                if not self.context.execute_async_v3(self.stream.cuda_stream):
                    raise RuntimeError(f"TensorRT {trt.__version__} failed to run the engine {self.cached.path}")
                self.stream.synchronize()
                labels.append(outputs[OUTPUT_NAMES[0]].cpu().numpy().astype(np.uint8, copy=False))
                confidence.append(outputs[OUTPUT_NAMES[1]].cpu().numpy().astype(np.uint8, copy=False))
        return np.concatenate(labels), np.concatenate(confidence)

    def close(self) -> None:
        self.context = self.engine = None
        self._model.cleanup()


# --- converter torch2trt -------------------------------------------------------------------------


def _create_torch2trt(path: Path, precision: str | None, device: str, **options: Any) -> Segmenter:
    from .tensorrt_torch2trt import create_torch2trt

    if path.suffix != ".safetensors":
        raise EngineError(f"{path}: converter torch2trt needs a .safetensors model (with its .json sidecar)")
    return create_torch2trt(path, precision, device, **options)
