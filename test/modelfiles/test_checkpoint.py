"""Weights + sidecar round trip and the errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attendseg_ros.data import load_class_table
from attendseg_ros.model import create_model
from attendseg_ros.modelfiles.checkpoint import ModelFileError, ModelInfo, load_model, read_info, save_model


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model(num_classes=11).eval()
    info = ModelInfo(config=model.config, classes=load_class_table(), input_size=(96, 128), metrics={"miou": 0.5})
    return save_model(tmp_path / "m.safetensors", model, info), model


def test_round_trip_rebuilds_the_same_model(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    loaded, info = load_model(path)
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert info.input_size == (96, 128) and info.metrics == {"miou": 0.5} and info.classes.names[3] == "Road"
    assert path.read_bytes()[:8] != b"\x80\x02\x8a\x0a"  # safetensors, not a pickle


def test_round_trip_keeps_the_architecture_options(tmp_path: Path) -> None:
    model = create_model("attendseg_camvid11_stem").eval()
    info = ModelInfo(config=model.config, classes=load_class_table(), input_size=(96, 128))
    loaded, loaded_info = load_model(save_model(tmp_path / "stem.safetensors", model, info))
    assert loaded_info.config.stem_skip_channels == 32 and loaded.refine2 is not None
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_missing_sidecar(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelFileError, match=r"m.json"):
        load_model(path)


def test_sidecar_classes_must_match_the_head(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data["classes"]["classes"] = data["classes"]["classes"][:5]
    data["classes"]["void_id"] = 5
    sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"11 outputs.*5 classes"):
        read_info(path)


def test_a_newer_format_version_is_refused_by_name(saved: tuple[Path, torch.nn.Module]) -> None:
    """A sidecar written by a newer attendseg_ros was accepted silently (and perhaps misread)."""
    path, _ = saved
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    assert data["format_version"] == 1  # AttendSeg sidecars keep the layout older readers know
    data["format_version"] = 3
    sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match=r"m\.json: written in model format_version 3, newer than the 2.*upgrade"):
        read_info(path)
    data["format_version"] = "one"
    sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="malformed model sidecar"):
        read_info(path)


def test_weights_that_do_not_fit_the_architecture(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data["config"]["stem_channels"] = 16
    sidecar.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="do not match"):
        load_model(path)


def test_corrupt_weights(saved: tuple[Path, torch.nn.Module]) -> None:
    path, _ = saved
    path.write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match=r"m.safetensors"):
        load_model(path)
