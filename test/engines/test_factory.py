"""create_segmenter/default_model_path: every failure is one EngineError naming the file or package."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from attendseg_ros import engines, registry
from attendseg_ros.engines import EngineError, create_segmenter, default_model_path


def _copy_model(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    shutil.copyfile(source.with_suffix(".json"), target.with_suffix(".json"))
    return target


def _edit_sidecar(path: Path, **changes: object) -> None:
    sidecar = path.with_suffix(".json")
    data = json.loads(sidecar.read_text())
    data.update(changes)
    sidecar.write_text(json.dumps(data))


def test_backends_are_listed() -> None:
    assert registry.BACKEND_NAMES == ("onnxruntime", "torch", "tensorrt", "openvino")
    assert registry.BACKEND_CHOICES[:-1] == registry.BACKEND_NAMES and registry.BACKEND_CHOICES[-1] == "auto"


def test_unknown_backend_lists_the_choices() -> None:
    with pytest.raises(EngineError, match=r"unknown backend 'tflite'.*onnxruntime, torch, tensorrt, openvino, auto"):
        create_segmenter("tflite")


_WITHOUT_OPENVINO = """
import sys
sys.modules["openvino"] = None  # any "import openvino" now raises ImportError, as when not installed
from attendseg_ros.engines import EngineError, create_segmenter
create_segmenter("onnxruntime", sys.argv[1]).close()  # the other backends are unaffected
try:
    create_segmenter("openvino", sys.argv[1])
except EngineError as exc:
    print(exc)
"""


def test_missing_openvino_names_the_install_command(random_model: dict[str, Path]) -> None:
    """A missing openvino fails only when chosen, with an EngineError saying what to install."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _WITHOUT_OPENVINO, str(random_model["onnx_int8"])],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "the openvino backend needs 'openvino', which is not installed: pip install openvino" in result.stdout


def test_unknown_precision_and_device(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match="unknown precision 'int4'"):
        create_segmenter("onnxruntime", random_model["onnx_int8"], precision="int4")
    with pytest.raises(EngineError, match="unknown device 'tpu'"):
        create_segmenter("onnxruntime", random_model["onnx_int8"], device="tpu")


def test_unknown_backend_option_lists_the_accepted_ones(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"unknown torch option\(s\) \['fast'\].*'cuda_graphs'"):
        create_segmenter("torch", random_model["safetensors"], fast=True)


def test_missing_default_model_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "weights_dir", lambda: tmp_path)
    with pytest.raises(EngineError, match=r"attendseg_camvid11\.int8\.onnx.*missing"):
        default_model_path("onnxruntime")
    with pytest.raises(EngineError, match=r"attendseg_camvid11\.safetensors.*missing"):
        create_segmenter("torch")
    (tmp_path / "attendseg_camvid11.safetensors").write_bytes(b"x")
    with pytest.raises(EngineError, match=r"attendseg_camvid11\.json.*missing"):
        default_model_path("torch")


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_missing_model_file_names_it(backend: str, tmp_path: Path) -> None:
    suffix = ".onnx" if backend == "onnxruntime" else ".safetensors"
    missing = tmp_path / f"nothing{suffix}"
    with pytest.raises(EngineError, match=str(missing)):
        create_segmenter(backend, missing)


def test_missing_sidecar_names_it(random_model: dict[str, Path], tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.onnx"
    shutil.copyfile(random_model["onnx_int8"], lonely)
    with pytest.raises(EngineError, match=r"lonely\.json.*not found"):
        create_segmenter("onnxruntime", lonely)


def test_corrupt_onnx_names_the_file(random_model: dict[str, Path], tmp_path: Path) -> None:
    corrupt = _copy_model(random_model["onnx_fp32"], tmp_path / "corrupt.onnx")
    corrupt.write_bytes(corrupt.read_bytes()[:5000])
    with pytest.raises(EngineError, match=f"{corrupt}.*not a readable ONNX model"):
        create_segmenter("onnxruntime", corrupt)


def test_corrupt_safetensors_names_the_file(random_model: dict[str, Path], tmp_path: Path) -> None:
    corrupt = _copy_model(random_model["safetensors"], tmp_path / "corrupt.safetensors")
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(EngineError, match=f"{corrupt}.*not a readable safetensors"):
        create_segmenter("torch", corrupt)


def test_onnx_input_size_must_match_sidecar(random_model: dict[str, Path], tmp_path: Path) -> None:
    model = _copy_model(random_model["onnx_int8"], tmp_path / "resized.onnx")
    _edit_sidecar(model, input_size=[360, 480])
    with pytest.raises(EngineError, match=r"resized\.onnx.*input is \['batch', 3, 96, 128\].*360x480"):
        create_segmenter("onnxruntime", model)


@pytest.mark.parametrize("key", ["onnx_fp32", "onnx_int8"])
def test_onnx_class_count_must_match_sidecar(random_model: dict[str, Path], tmp_path: Path, key: str) -> None:
    from attendseg_ros.data import load_class_table

    model = _copy_model(random_model[key], tmp_path / "classes.onnx")
    sidecar = json.loads(model.with_suffix(".json").read_text())
    table = load_class_table("camvid32")
    sidecar["classes"] = table.to_dict()
    sidecar["config"]["num_classes"] = table.num_classes
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(EngineError, match=r"classes\.onnx: the graph predicts 11 classes but classes\.json lists 31"):
        create_segmenter("onnxruntime", model)


def test_safetensors_head_must_match_sidecar(random_model: dict[str, Path], tmp_path: Path) -> None:
    from attendseg_ros.data import load_class_table

    model = _copy_model(random_model["safetensors"], tmp_path / "head.safetensors")
    sidecar = json.loads(model.with_suffix(".json").read_text())
    table = load_class_table("camvid32")
    sidecar["classes"] = table.to_dict()
    sidecar["config"]["num_classes"] = table.num_classes
    model.with_suffix(".json").write_text(json.dumps(sidecar))
    with pytest.raises(EngineError, match=r"head\.safetensors: weights do not match"):
        create_segmenter("torch", model)


def test_wrong_file_kind_per_backend(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"torch backend needs a \.safetensors model"):
        create_segmenter("torch", random_model["onnx_fp32"])
    with pytest.raises(EngineError, match=r"this model is int8, fp32 was asked for"):
        create_segmenter("onnxruntime", random_model["onnx_int8"], precision="fp32")
    with pytest.raises(EngineError, match="runs int8 only from a quantised"):
        create_segmenter("onnxruntime", random_model["safetensors"], precision="int8")


def test_torch_precisions(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match="for int8 use the onnxruntime, tensorrt or openvino backend"):
        create_segmenter("torch", random_model["safetensors"], precision="int8")
    with pytest.raises(EngineError, match="fp16 with the torch backend needs device='cuda'"):
        create_segmenter("torch", random_model["safetensors"], precision="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_an_engine_error(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match="sees no CUDA GPU"):
        create_segmenter("torch", random_model["safetensors"], device="cuda")


def test_onnxruntime_cuda_needs_its_provider(random_model: dict[str, Path]) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed")
    with pytest.raises(EngineError, match=r"lacks CUDAExecutionProvider.*install onnxruntime-gpu"):
        create_segmenter("onnxruntime", random_model["onnx_int8"], device="cuda")
