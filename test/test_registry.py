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
    with pytest.raises(ValueError, match="for int8 use the onnxruntime, tensorrt or openvino backend"):
        registry.resolve("torch", "int8")


def test_the_factory_refuses_tensorrt_on_the_cpu_before_anything_else(random_model: dict[str, Path]) -> None:
    """The tensorrt backend silently turned device cpu into cuda."""
    with pytest.raises(EngineError, match="runs on cuda only, not on device 'cpu'"):
        create_segmenter("tensorrt", random_model["safetensors"], device="cpu")


def test_default_models_follow_the_registry() -> None:
    assert resolve_model("onnxruntime").name.endswith(".int8.onnx")
    assert resolve_model("onnxruntime", precision="fp32").suffix == ".safetensors"
    assert resolve_model("torch").suffix == ".safetensors"
    assert resolve_model("tensorrt").name.endswith(".int8.tensorrt.onnx")  # the TensorRT-ready INT8 layout
    assert resolve_model("tensorrt", precision="fp16").suffix == ".safetensors"
    assert resolve_model("torch", "/my/model.safetensors") == Path("/my/model.safetensors")


@pytest.mark.parametrize("launch", sorted((REPO / "launch").glob("*.launch.py")), ids=lambda p: p.name)
def test_launch_files_offer_the_registered_backends(launch: Path) -> None:
    text = launch.read_text()
    if "backend" not in text:
        pytest.skip(f"{launch.name} has no backend argument")
    if "SPEC_BY_NAME" in text:  # its node-parameter arguments take their choices from the parameters' table
        from attendseg_ros.ros.parameters import SPEC_BY_NAME

        assert set(registry.BACKEND_CHOICES) <= set(SPEC_BY_NAME["backend"].choices)
        return
    for name in registry.BACKEND_CHOICES:
        assert name in text or "BACKEND_CHOICES" in text, f"{launch.name} does not offer {name}"


def test_openvino_takes_its_own_device_names_and_no_other_backend_does() -> None:
    assert registry.resolve("openvino") == "cpu"
    assert registry.resolve("openvino", "int8", "GPU.1") == "GPU.1"
    assert registry.resolve("openvino", None, "AUTO:GPU,CPU") == "AUTO:GPU,CPU"
    with pytest.raises(ValueError, match=r"openvino backend runs on cpu or one of its own devices .* device 'cuda'"):
        registry.resolve("openvino", None, "cuda")
    with pytest.raises(ValueError, match=r"unknown device 'gpu'.*openvino backend also takes GPU, NPU"):
        registry.resolve("openvino", None, "gpu")
    with pytest.raises(ValueError, match="unknown device 'GPU'; use cpu, cuda or cuda:N"):
        registry.resolve("onnxruntime", None, "GPU")
    with pytest.raises(ValueError, match="openvino backend runs fp32 or int8, not fp16"):
        registry.resolve("openvino", "fp16")


def test_check_device_accepts_what_some_backend_takes() -> None:
    for device in ("cpu", "cuda:2", "GPU", "NPU", "AUTO:GPU,CPU"):
        registry.check_device(device)
    with pytest.raises(ValueError, match=r"unknown device 'tpu'.*openvino: GPU, NPU"):
        registry.check_device("tpu")


def test_auto_is_every_candidate_at_once() -> None:
    assert registry.AUTO_CANDIDATES == ("onnxruntime", "openvino")
    assert registry.DEFAULT_BACKEND in registry.AUTO_CANDIDATES
    assert registry.resolve("auto") == registry.resolve("auto", "int8", "cpu") == "cpu"
    with pytest.raises(ValueError, match=r"auto runs onnxruntime or openvino, so each must take this: .*openvino"):
        registry.resolve("auto", "fp16")
    with pytest.raises(ValueError, match="each must take this: unknown device 'GPU'"):  # only openvino takes GPU
        registry.resolve("auto", None, "GPU")
    # every candidate reads the same model files, so auto has one default model per precision
    for precision in (None, "int8", "fp32"):
        assert len({spec.default_model_kind(precision) for spec in registry.specs_for("auto")}) == 1
    assert resolve_model("auto") == resolve_model("onnxruntime")
