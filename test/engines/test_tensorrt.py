"""The Jetson backend, as far as it can be checked without torch2trt/TensorRT: errors, cache, calibration."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from attendseg_ros.data.transforms import preprocess
from attendseg_ros.engines import EngineError, create_segmenter
from attendseg_ros.engines.tensorrt_engine import (
    CalibrationFrames,
    EngineCache,
    check_convertible,
    engine_cache_key,
    entry_name,
    file_sha256,
)
from attendseg_ros.model import create_model
from attendseg_ros.modelfiles.checkpoint import read_info
from attendseg_ros.modelfiles.export import calibration_frames

HAS_TORCH2TRT = importlib.util.find_spec("torch2trt") is not None


def _key(**changes: object) -> dict:
    settings = {
        "gpu": "Orin", "tensorrt_version": "10.3.0", "input_shape": (1, 3, 360, 480), "batch": 1,
        "precision": "int8", "model_sha256": "ab" * 32,
        "calibration": {"split": "train", "count": 64, "algorithm": "entropy2"},
    }
    settings.update(changes)
    return engine_cache_key(**settings)  # type: ignore[arg-type]


@pytest.mark.skipif(HAS_TORCH2TRT, reason="torch2trt is installed here")
def test_missing_torch2trt_names_what_to_install(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"torch2trt.*TensorRT"):
        create_segmenter("tensorrt", random_model["safetensors"])


def test_tensorrt_needs_safetensors(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"tensorrt backend needs a \.safetensors model"):
        create_segmenter("tensorrt", random_model["onnx_int8"])


def test_cache_key_covers_every_dependency() -> None:
    base = _key()
    assert base == _key() and json.loads(json.dumps(base)) == base  # deterministic and JSON-storable
    for change in [
        {"gpu": "Xavier"}, {"tensorrt_version": "8.6.2"}, {"input_shape": (1, 3, 720, 960)}, {"batch": 8},
        {"precision": "fp16"}, {"model_sha256": "cd" * 32},
        {"calibration": {"split": "train", "count": 32, "algorithm": "entropy2"}},
    ]:
        assert _key(**change) != base, change
    # calibration settings do not matter for a non-INT8 engine
    assert _key(precision="fp16", calibration={"count": 1}) == _key(precision="fp16")


def test_model_hash_is_the_sha256_of_the_weights(random_model: dict[str, Path]) -> None:
    path = random_model["safetensors"]
    assert file_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_entry_name_is_per_model_precision_batch_and_size(random_model: dict[str, Path]) -> None:
    assert entry_name(random_model["safetensors"], "int8", 4, (360, 480)) == "random-int8-b4-360x480"


def test_cache_round_trip(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    assert cache.load("m", _key()) is None  # empty cache: a plain miss
    engine = bytes(range(256)) * 10
    path = cache.store("m", _key(), engine, model="m.safetensors")
    assert path.read_bytes() == engine
    manifest = json.loads(cache.paths("m")[1].read_text())
    assert manifest["key"] == _key() and manifest["engine_sha256"] == hashlib.sha256(engine).hexdigest()
    assert cache.load("m", _key()) == engine


def test_stale_entry_is_deleted_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", _key(), b"engine built for TensorRT 10.3")
    with caplog.at_level(logging.WARNING):
        assert cache.load("m", _key(tensorrt_version="10.4.0")) is None
    assert "stale (tensorrt changed)" in caplog.text
    assert not any(p.exists() for p in cache.paths("m"))


def test_new_weights_make_the_entry_stale(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", _key(), b"old engine")
    with caplog.at_level(logging.WARNING):
        assert cache.load("m", _key(model_sha256="ef" * 32)) is None
    assert "model_sha256 changed" in caplog.text


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
