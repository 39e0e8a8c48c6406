"""The tensorrt backend up to its TensorRT calls: version logic, rules refusal, errors, the engine cache.

No machine here has TensorRT or a GPU: the parser build, the engine and torch2trt never run in
these tests (docs/verification.md).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from attendseg_ros.data.transforms import preprocess
from attendseg_ros.engines import EngineError, create_segmenter, resolve_model
from attendseg_ros.engines.tensorrt_engine import (
    EngineCache,
    engine_cache_key,
    entry_name,
    file_sha256,
    load_or_build,
    module_features,
    parse_version,
    plan_build,
)
from attendseg_ros.engines.tensorrt_torch2trt import CalibrationFrames, check_convertible
from attendseg_ros.model import create_model
from attendseg_ros.modelfiles.checkpoint import read_info
from attendseg_ros.modelfiles.export import calibration_frames, quantize_int8

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_TORCH2TRT = importlib.util.find_spec("torch2trt") is not None
# What each TensorRT's Python module offers (TensorRT API docs): 8.5 has the tensor-name runtime API
# and no strongly typed networks; 10.x adds STRONGLY_TYPED (EXPLICIT_BATCH deprecated); 11 drops the
# INT8/FP16 builder flags and EXPLICIT_BATCH.
FEATURES = {
    "8.2.1": {"OnnxParser", "EXPLICIT_BATCH", "INT8", "FP16"},
    "8.5.2.2": {"OnnxParser", "EXPLICIT_BATCH", "INT8", "FP16", "execute_async_v3", "set_memory_pool_limit"},
    "10.3.0.30": {"OnnxParser", "EXPLICIT_BATCH", "STRONGLY_TYPED", "INT8", "FP16", "execute_async_v3",
                  "set_memory_pool_limit"},
    "11.4.0": {"OnnxParser", "STRONGLY_TYPED", "execute_async_v3", "set_memory_pool_limit"},
}


@pytest.fixture(scope="module")
def tensorrt_ready(random_model: dict[str, Path], camvid_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random model in the TensorRT layout (what attendseg-export writes as *.int8.tensorrt.onnx)."""
    out = tmp_path_factory.mktemp("trt") / "random.int8.tensorrt.onnx"
    info = read_info(random_model["onnx_fp32"])
    return quantize_int8(random_model["onnx_fp32"], out, info, camvid_dir, count=2, tensorrt_compatible=True)[0]


def _key(**changes: object) -> dict:
    settings = {
        "gpu": "Orin (sm 8.7)", "tensorrt_version": "10.3.0", "input_shape": (1, 3, 360, 480), "batch": 1,
        "precision": "int8", "model_sha256": "ab" * 32, "converter": "onnx",
        "build": plan_build("10.3.0", "int8", FEATURES["10.3.0.30"]).to_dict(),
    }
    settings.update(changes)
    return engine_cache_key(**settings)  # type: ignore[arg-type]


# --- which TensorRT builds how ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "parsed"), [("10.3.0.30", (10, 3, 0)), ("8.5.2.2", (8, 5, 2)), ("11.4", (11, 4, 0))])
def test_parse_version(text: str, parsed: tuple[int, int, int]) -> None:
    assert parse_version(text) == parsed


def test_unreadable_version_is_named() -> None:
    with pytest.raises(EngineError, match="cannot read the TensorRT version 'dev'"):
        parse_version("dev")


def test_jetpack5_builds_int8_weakly_typed_with_the_int8_flag() -> None:
    plan = plan_build("8.5.2.2", "int8", FEATURES["8.5.2.2"])
    assert not plan.strongly_typed and plan.builder_flags == ("INT8",) and plan.network_flags == ("EXPLICIT_BATCH",)


@pytest.mark.parametrize("version", ["10.3.0.30", "11.4.0"])
def test_jetpack6_and_7_build_int8_strongly_typed_without_builder_flags(version: str) -> None:
    plan = plan_build(version, "int8", FEATURES[version])
    assert plan.strongly_typed and plan.builder_flags == () and plan.network_flags == ("STRONGLY_TYPED",)
    assert json.loads(json.dumps(plan.to_dict())) == plan.to_dict()  # stored in the cache key


def test_fp16_uses_the_builder_flag_where_it_exists() -> None:
    for version in ("8.5.2.2", "10.3.0.30"):
        plan = plan_build(version, "fp16", FEATURES[version])
        assert plan.builder_flags == ("FP16",) and not plan.strongly_typed
    assert plan_build("11.4.0", "fp32", FEATURES["11.4.0"]).strongly_typed


def test_tensorrt_11_fp16_names_the_version_and_what_it_lacks() -> None:
    with pytest.raises(EngineError, match=r"TensorRT 11\.4\.0 found: it lacks the FP16 builder flag"):
        plan_build("11.4.0", "fp16", FEATURES["11.4.0"])


def test_old_tensorrt_names_the_version_and_the_way_out() -> None:
    with pytest.raises(EngineError, match=r"TensorRT 8\.2\.1 found: .*needs TensorRT >= 8\.5.*converter torch2trt"):
        plan_build("8.2.1", "int8", FEATURES["8.2.1"])


def test_a_module_without_its_onnx_parser_is_named() -> None:
    with pytest.raises(EngineError, match=r"TensorRT 10\.3\.0\.30 found, but .* lacks its ONNX parser"):
        plan_build("10.3.0.30", "int8", FEATURES["10.3.0.30"] - {"OnnxParser"})


def test_module_features_reads_what_the_module_offers() -> None:
    """The probe behind plan_build, on a namespace shaped like TensorRT 11's module."""
    module = SimpleNamespace(
        OnnxParser=object, NetworkDefinitionCreationFlag=SimpleNamespace(STRONGLY_TYPED=1),
        BuilderFlag=SimpleNamespace(), IExecutionContext=SimpleNamespace(execute_async_v3=None),
    )
    assert module_features(module) == {"OnnxParser", "STRONGLY_TYPED", "execute_async_v3"}


# --- refusals before any TensorRT call ----------------------------------------------------------------


def test_the_default_model_is_the_tensorrt_ready_file() -> None:
    assert resolve_model("tensorrt").name == "attendseg_camvid11.int8.tensorrt.onnx"


def test_a_cpu_layout_file_is_refused_with_the_checkers_message(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError) as info:
        create_segmenter("tensorrt", random_model["onnx_int8"])
    message = str(info.value)
    for rule in ("zero-point-type", "zero-point-nonzero", "quantized-bias", "conv-not-int8"):
        assert rule in message
    assert "node '" in message and "int8.tensorrt.onnx" in message


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_missing_tensorrt_names_what_to_install(tensorrt_ready: Path) -> None:
    with pytest.raises(EngineError, match=r"TensorRT's Python package with its ONNX parser.*tensorrt is not installed"):
        create_segmenter("tensorrt", tensorrt_ready)


@pytest.mark.skipif(HAS_TORCH2TRT, reason="torch2trt is installed here")
def test_missing_torch2trt_names_what_to_install(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"torch2trt.*not installed"):
        create_segmenter("tensorrt", random_model["safetensors"], converter="torch2trt")


def test_converter_and_option_mistakes_are_named(tensorrt_ready: Path, random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match="unknown tensorrt converter 'trtexec'; choose one of onnx, torch2trt"):
        create_segmenter("tensorrt", tensorrt_ready, converter="trtexec")
    with pytest.raises(EngineError, match=r"\['calibration_count'\] apply to converter torch2trt only"):
        create_segmenter("tensorrt", tensorrt_ready, calibration_count=8)
    with pytest.raises(EngineError, match=r"converter torch2trt needs a \.safetensors model"):
        create_segmenter("tensorrt", tensorrt_ready, converter="torch2trt")
    with pytest.raises(EngineError, match="an FP16 engine is built from an FP32 model"):
        create_segmenter("tensorrt", tensorrt_ready, precision="fp16")
    with pytest.raises(EngineError, match="an INT8 engine needs the TensorRT-ready INT8 file"):
        create_segmenter("tensorrt", random_model["safetensors"], precision="int8")
    with pytest.raises(EngineError, match="this model is fp32, int8 was asked for"):
        create_segmenter("tensorrt", random_model["onnx_fp32"], precision="int8")
    with pytest.raises(EngineError, match="model file not found"):
        create_segmenter("tensorrt", tensorrt_ready.with_name("missing.onnx"))


# --- the engine cache ------------------------------------------------------------------------------


def test_cache_key_covers_every_dependency() -> None:
    base = _key()
    assert base == _key() and json.loads(json.dumps(base)) == base  # deterministic and JSON-storable
    for change in [
        {"gpu": "Xavier (sm 7.2)"}, {"tensorrt_version": "8.6.2"}, {"input_shape": (1, 3, 720, 960)}, {"batch": 8},
        {"precision": "fp16"}, {"model_sha256": "cd" * 32}, {"converter": "torch2trt"},
        {"build": plan_build("8.5.2", "int8", FEATURES["8.5.2.2"]).to_dict()},
    ]:
        assert _key(**change) != base, change
    # calibration settings matter only for torch2trt's INT8 calibration
    assert _key(calibration={"count": 1}) == _key()
    calibrated = {"converter": "torch2trt", "build": None}
    assert _key(**calibrated, calibration={"count": 1}) != _key(**calibrated, calibration={"count": 2})


def test_model_hash_is_the_sha256_of_the_file(random_model: dict[str, Path]) -> None:
    path = random_model["safetensors"]
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_entry_name_is_per_model_converter_precision_batch_and_size() -> None:
    path = Path("attendseg_camvid11.int8.tensorrt.onnx")
    assert entry_name(path, "int8", 4, (360, 480)) == "attendseg_camvid11.int8.tensorrt-onnx-int8-b4-360x480"
    name = entry_name(Path("random.safetensors"), "fp16", 1, (96, 128), "torch2trt")
    assert name == "random-torch2trt-fp16-b1-96x128"


def test_cache_round_trip(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    assert cache.load("m", _key()) is None  # empty cache: a plain miss
    engine = bytes(range(256)) * 10
    path = cache.store("m", _key(), engine, model="m.onnx")
    assert path.read_bytes() == engine
    manifest = json.loads(cache.paths("m")[1].read_text())
    assert manifest["key"] == _key() and manifest["engine_sha256"] == hashlib.sha256(engine).hexdigest()
    assert cache.load("m", _key()) == engine


class _Builds:
    """Counts builds; "deserialises" bytes that start with ``ok``."""

    def __init__(self, engine: bytes = b"ok engine") -> None:
        self.engine, self.count = engine, 0

    def build(self) -> bytes:
        self.count += 1
        return self.engine

    @staticmethod
    def deserialize(data: bytes) -> object | None:
        return ("engine", data) if data.startswith(b"ok") else None


def test_an_engine_from_another_tensorrt_is_rebuilt_once_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache, builds = EngineCache(tmp_path), _Builds()
    cache.store("m", _key(tensorrt_version="10.3.0"), b"ok built by 10.3")
    key = _key(tensorrt_version="10.4.0")
    with caplog.at_level(logging.WARNING):
        first = load_or_build(cache, "m", key, builds.build, builds.deserialize)
    assert first.built and builds.count == 1
    assert "is stale (tensorrt changed: tensorrt: '10.3.0' -> '10.4.0'); rebuilding it" in caplog.text
    caplog.clear()
    second = load_or_build(cache, "m", key, builds.build, builds.deserialize)
    assert not second.built and builds.count == 1 and second.engine == ("engine", b"ok engine")
    assert "stale" not in caplog.text


def test_an_engine_from_another_gpu_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache, builds = EngineCache(tmp_path), _Builds()
    cache.store("m", _key(gpu="Xavier (sm 7.2)"), b"ok xavier")
    with caplog.at_level(logging.WARNING):
        assert load_or_build(cache, "m", _key(), builds.build, builds.deserialize).built
    assert "gpu: 'Xavier (sm 7.2)' -> 'Orin (sm 8.7)'" in caplog.text


def test_an_entry_tensorrt_cannot_deserialise_is_rebuilt_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache, builds = EngineCache(tmp_path), _Builds()
    cache.store("m", _key(), b"garbage with a valid manifest")
    with caplog.at_level(logging.WARNING):
        result = load_or_build(cache, "m", _key(), builds.build, builds.deserialize)
    assert result.built and builds.count == 1 and "could not deserialise the cached engine" in caplog.text
    assert cache.load("m", _key()) == b"ok engine"


def test_a_fresh_engine_that_cannot_be_deserialised_is_an_error_not_a_loop(tmp_path: Path) -> None:
    builds = _Builds(engine=b"never loads")
    with pytest.raises(EngineError, match="could not deserialise the engine it just built"):
        load_or_build(EngineCache(tmp_path), "m", _key(), builds.build, builds.deserialize)
    assert builds.count == 1 and not any(p.exists() for p in EngineCache(tmp_path).paths("m"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_cache_is_logged_and_the_engine_still_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING):
            result = load_or_build(EngineCache(locked), "m", _key(), _Builds().build, _Builds.deserialize)
    finally:
        locked.chmod(0o700)
    assert result.built and "every start will rebuild the engine" in caplog.text


def test_an_unwritable_cache_path_is_logged_and_the_engine_still_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING):
        result = load_or_build(EngineCache(blocker / "cache"), "m", _key(), _Builds().build, _Builds.deserialize)
    assert result.built and result.engine == ("engine", b"ok engine")
    assert "cannot write the TensorRT engine cache" in caplog.text and "every start will rebuild" in caplog.text


def test_corrupt_engine_is_deleted_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = EngineCache(tmp_path)
    engine_path = cache.store("m", _key(), b"\x01" * 1000)
    data = bytearray(engine_path.read_bytes())
    data[500] ^= 0xFF  # one flipped byte
    engine_path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert cache.load("m", _key()) is None
    assert "corrupt (engine SHA-256 does not match" in caplog.text
    assert not engine_path.exists()


@pytest.mark.parametrize("manifest", ["{not json", '{"key": {}}', "[]"])
def test_unreadable_manifest_is_corrupt(tmp_path: Path, caplog: pytest.LogCaptureFixture, manifest: str) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", _key(), b"engine")
    cache.paths("m")[1].write_text(manifest)
    with caplog.at_level(logging.WARNING):
        assert cache.load("m", _key()) is None
    assert "corrupt" in caplog.text or "stale" in caplog.text


def test_engine_without_manifest_is_incomplete(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", _key(), b"engine")
    cache.paths("m")[1].unlink()  # e.g. interrupted before the manifest was written
    with caplog.at_level(logging.WARNING):
        assert cache.load("m", _key()) is None
    assert "incomplete" in caplog.text
    assert not cache.paths("m")[0].exists()


# --- converter torch2trt ---------------------------------------------------------------------------


def test_calibration_frames_are_the_shared_preprocessing(random_model: dict[str, Path], camvid_dir: Path) -> None:
    info = read_info(random_model["safetensors"])
    frames = CalibrationFrames(camvid_dir, info, split="train", count=3, device="cpu")
    dataset, indices = calibration_frames(camvid_dir, "train", 3)
    assert len(frames) == 3
    for i, index in enumerate(indices):
        (x,) = frames[i]
        assert x.dtype == torch.float32 and tuple(x.shape) == (1, 3, 96, 128) and x.is_contiguous()
        expected = preprocess(dataset[index][0], info.input_size, info.normalization)
        np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-6)
    with pytest.raises(IndexError):
        frames[3]


def test_the_network_uses_only_convertible_operations() -> None:
    check_convertible(create_model(), (96, 128))
    with pytest.raises(EngineError, match="GELU"):
        check_convertible(nn.Sequential(nn.Conv2d(3, 4, 1), nn.GELU()), (8, 8))
