"""Backends, precisions and devices: the one table that parameters, engines, commands and launch files read.

Adding a backend is one :class:`BackendSpec` entry here plus its module in ``engines/``. Nothing in
this module imports a backend library, ROS or torch.

Besides the backends' names, ``backend`` may be :data:`AUTO`: the fastest of the CPU engines marked
``auto`` (onnxruntime, openvino) by a short measurement when the model loads, else
:data:`DEFAULT_BACKEND` (see :mod:`attendseg_ros.engines.selection`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda")
MODEL_KINDS: tuple[str, ...] = ("onnx", "onnx_tensorrt", "safetensors")
_DEVICE = re.compile(r"(cpu|cuda)(?::(\d+))?")
# A device name a backend's library resolves itself: "GPU", "GPU.1", "NPU", "AUTO:GPU,CPU" (OpenVINO).
_NATIVE_DEVICE = re.compile(r"([A-Z]+)(?:[.:][A-Za-z0-9.,:_-]+)?")


@dataclass(frozen=True)
class BackendSpec:
    """One inference backend: where it lives, what it needs, and what it can run."""

    name: str
    module: str  # module in attendseg_ros.engines with ``create(path, ...)`` and ``OPTIONS``
    install: str  # what to install when its import fails
    precisions: tuple[str, ...]  # what ``precision`` may be
    devices: tuple[str, ...]  # device kinds it runs on; the first is its default
    model_suffixes: tuple[str, ...]  # model files it loads
    summary: str
    auto: bool = False  # a CPU engine that ``backend: auto`` measures
    native_devices: tuple[str, ...] = ()  # device names passed to its library as given (OpenVINO's GPU, NPU)
    int8_model_kind: str = "onnx"  # the embedded INT8 file it loads: the CPU layout, or onnx_tensorrt

    @property
    def default_device(self) -> str:
        return self.devices[0]

    def default_model_kind(self, precision: str | None) -> str:
        """Which embedded model file it loads when none is given (a name of :data:`MODEL_KINDS`)."""
        if ".onnx" in self.model_suffixes and precision in (None, "int8"):
            return self.int8_model_kind  # the embedded ONNX models are INT8
        return "safetensors"


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "onnxruntime", "onnxruntime_engine", "pip install onnxruntime (onnxruntime-gpu for CUDA)",
            ("fp32", "fp16", "int8"), ("cpu", "cuda"), (".onnx", ".safetensors"),
            "ONNX Runtime: the exported graph (INT8 by default) on the CPU or CUDA; needs no torch for .onnx",
            auto=True,
        ),
        BackendSpec(
            "torch", "torch_engine", "pip install torch",
            ("fp32", "fp16"), ("cpu", "cuda"), (".safetensors",),
            "PyTorch eager (fp16 on CUDA only)",
        ),
        BackendSpec(
            "tensorrt", "tensorrt_engine",
            "TensorRT with its ONNX parser and torch with CUDA (JetPack on a Jetson, or NVIDIA's tensorrt wheels); "
            "converter torch2trt also needs torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt, from source)",
            ("fp32", "fp16", "int8"), ("cuda",), (".onnx", ".safetensors"),
            "TensorRT engines built by its ONNX parser from the TensorRT-ready INT8 file (Jetson), cached on disk; "
            "CUDA only",
            int8_model_kind="onnx_tensorrt",
        ),
        BackendSpec(
            "openvino", "openvino_engine", "pip install openvino (or pip install attendseg_ros[openvino])",
            ("fp32", "int8"), ("cpu",), (".onnx", ".safetensors"),
            "OpenVINO: the same ONNX files on x86 CPUs (often faster than ONNX Runtime); also Intel GPU/NPU "
            "by OpenVINO device name",
            auto=True, native_devices=("GPU", "NPU", "AUTO", "MULTI", "HETERO", "BATCH", "CPU"),
        ),
    )
}
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)
DEFAULT_BACKEND = "onnxruntime"
AUTO = "auto"
AUTO_CANDIDATES: tuple[str, ...] = tuple(spec.name for spec in BACKENDS.values() if spec.auto)
# What a ``backend`` setting (node parameter, commands, launch files) may be.
BACKEND_CHOICES: tuple[str, ...] = (*BACKEND_NAMES, AUTO)


def backend(name: str) -> BackendSpec:
    """The spec of ``name``; ``ValueError`` listing the backends for an unknown one (or for ``auto``)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    return BACKENDS[name]


def specs_for(name: str) -> tuple[BackendSpec, ...]:
    """The spec of backend ``name``, or of every :data:`AUTO_CANDIDATES` engine for ``auto``."""
    if name == AUTO:
        return tuple(BACKENDS[candidate] for candidate in AUTO_CANDIDATES)
    return (backend(name),)


def is_native_device(spec: BackendSpec, device: str) -> bool:
    """Whether ``device`` is one of the names ``spec``'s library resolves itself (``GPU.1`` for openvino)."""
    match = _NATIVE_DEVICE.fullmatch(device.strip()) if isinstance(device, str) else None
    return match is not None and match[1] in spec.native_devices


def check_device(device: str) -> None:
    """``ValueError`` unless ``device`` is ``cpu``/``cuda``/``cuda:N`` or a device name some backend takes."""
    if any(is_native_device(spec, device) for spec in BACKENDS.values()):
        return
    try:
        parse_device(device)
    except ValueError as exc:
        natives = [f"{spec.name}: {', '.join(spec.native_devices)}" for spec in BACKENDS.values()
                   if spec.native_devices]
        raise ValueError(f"{exc} (or a backend's own device name, {'; '.join(natives)})") from None


def _either(names: Sequence[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"


def parse_device(device: str) -> tuple[str, int | None]:
    """``"cpu"`` -> ``("cpu", None)``, ``"cuda"`` -> ``("cuda", None)``, ``"cuda:1"`` -> ``("cuda", 1)``."""
    match = _DEVICE.fullmatch(device.strip()) if isinstance(device, str) else None
    if match is None or (match[1] == "cpu" and match[2] is not None):
        raise ValueError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    return match[1], None if match[2] is None else int(match[2])


def resolve(backend_name: str, precision: str | None = None, device: str | None = None) -> str:
    """Check a backend/precision/device combination; returns the device to use.

    ``device`` empty or ``None`` means the backend's default (cpu, or cuda for tensorrt). For
    ``auto`` every candidate engine must accept the combination. Raises ``ValueError`` naming the
    problem (never silently moves a model to another device).
    """
    specs = specs_for(backend_name)
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    try:
        devices = {_resolve_one(spec, precision, device) for spec in specs}
    except ValueError as exc:
        if backend_name != AUTO:
            raise
        raise ValueError(f"backend {AUTO} runs {_either(AUTO_CANDIDATES)}, so each must take this: {exc}") from None
    if len(devices) > 1:  # the auto candidates differ in their default device
        raise ValueError(f"backend {backend_name}: set device explicitly (the candidates default to {sorted(devices)})")
    return devices.pop()


def _resolve_one(spec: BackendSpec, precision: str | None, device: str | None) -> str:
    if precision is not None and precision not in spec.precisions:
        others = [b.name for b in BACKENDS.values() if precision in b.precisions]
        raise ValueError(f"the {spec.name} backend runs {_either(spec.precisions)}, not {precision}; "
                         f"for {precision} use the {_either(others)} backend")
    if not device:
        return spec.default_device
    if is_native_device(spec, device):
        return device.strip()
    try:
        kind, _ = parse_device(device)
    except ValueError as exc:
        if spec.native_devices:
            raise ValueError(f"{exc} (the {spec.name} backend also takes {', '.join(spec.native_devices)})") from None
        raise
    if kind not in spec.devices:
        natives = f" or one of its own devices ({', '.join(spec.native_devices)})" if spec.native_devices else ""
        raise ValueError(
            f"the {spec.name} backend runs on {' or '.join(spec.devices)}{natives} only, not on device {device!r}: "
            f"set device to {spec.default_device} (or leave it empty for the backend's default)"
        )
    return device.strip()
