"""The backend registry: the one list of backends, precisions and devices, and what it refuses."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from attendseg_ros import registry
from attendseg_ros.engines import EngineError, create_segmenter, resolve_model

REPO = Path(__file__).resolve().parents[1]


def test_every_backend_has_a_module_with_create_and_options() -> None:
    for spec in registry.BACKENDS.values():
        source = (REPO / "attendseg_ros" / "engines" / f"{spec.module}.py").read_text()
        tree = ast.parse(source)
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        assert {"create", "OPTIONS"} <= names, spec.name
        assert set(spec.precisions) <= set(registry.PRECISIONS) and spec.devices
        assert set(spec.devices) <= set(registry.DEVICE_KINDS)


@pytest.mark.parametrize(("device", "parsed"), [("cpu", ("cpu", None)), ("cuda", ("cuda", None)),
                                                ("cuda:3", ("cuda", 3))])
def test_devices_parse(device: str, parsed: tuple) -> None:
    assert registry.parse_device(device) == parsed


@pytest.mark.parametrize("device", ["gpu", "cpu:0", "cuda:", "cuda:-1", "", "CUDA"])
def test_bad_devices_are_named(device: str) -> None:
    with pytest.raises(ValueError, match="cpu, cuda or cuda:N"):
        registry.parse_device(device)


def test_resolve_gives_the_backend_default_device_and_never_moves_a_model() -> None:
    assert registry.resolve("onnxruntime") == "cpu"
    assert registry.resolve("tensorrt") == "cuda"
    assert registry.resolve("torch", "fp16", "cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="tensorrt backend runs on cuda only, not on device 'cpu'"):
        registry.resolve("tensorrt", None, "cpu")
    with pytest.raises(ValueError, match="for int8 use the onnxruntime or tensorrt backend"):
        registry.resolve("torch", "int8")


def test_the_factory_refuses_tensorrt_on_the_cpu_before_anything_else(random_model: dict[str, Path]) -> None:
    """The tensorrt backend silently turned device cpu into cuda."""
    with pytest.raises(EngineError, match="runs on cuda only, not on device 'cpu'"):
        create_segmenter("tensorrt", random_model["safetensors"], device="cpu")


def test_default_models_follow_the_registry() -> None:
    assert resolve_model("onnxruntime").name.endswith(".int8.onnx")
    assert resolve_model("onnxruntime", precision="fp32").suffix == ".safetensors"
    assert resolve_model("torch").suffix == resolve_model("tensorrt").suffix == ".safetensors"
    assert resolve_model("torch", "/my/model.safetensors") == Path("/my/model.safetensors")


@pytest.mark.parametrize("launch", sorted((REPO / "launch").glob("*.launch.py")), ids=lambda p: p.name)
def test_launch_files_offer_the_registered_backends(launch: Path) -> None:
    text = launch.read_text()
    if "backend" not in text:
        pytest.skip(f"{launch.name} has no backend argument")
    for name in registry.BACKEND_NAMES:
        assert name in text or "BACKEND_NAMES" in text, f"{launch.name} does not offer {name}"
