"""Backends, precisions and devices: the one table that parameters, engines, commands and launch files read.

Adding a backend is one :class:`BackendSpec` entry here plus its module in ``engines/``. Nothing in
this module imports a backend library, ROS or torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
DEVICE_KINDS: tuple[str, ...] = ("cpu", "cuda")
MODEL_KINDS: tuple[str, ...] = ("onnx", "safetensors")
_DEVICE = re.compile(r"(cpu|cuda)(?::(\d+))?")


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

    @property
    def default_device(self) -> str:
        return self.devices[0]

    def default_model_kind(self, precision: str | None) -> str:
        """Which embedded model file it loads when none is given (``onnx`` or ``safetensors``)."""
        if ".onnx" in self.model_suffixes and precision in (None, "int8"):
            return "onnx"  # the embedded ONNX model is INT8
        return "safetensors"


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec(
            "onnxruntime", "onnxruntime_engine", "pip install onnxruntime (onnxruntime-gpu for CUDA)",
            ("fp32", "fp16", "int8"), ("cpu", "cuda"), (".onnx", ".safetensors"),
            "ONNX Runtime: the exported graph (INT8 by default) on the CPU or CUDA; needs no torch for .onnx",
        ),
        BackendSpec(
            "torch", "torch_engine", "pip install torch",
            ("fp32", "fp16"), ("cpu", "cuda"), (".safetensors",),
            "PyTorch eager (fp16 on CUDA only)",
        ),
        BackendSpec(
            "tensorrt", "tensorrt_engine",
            "torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt, install from source) and TensorRT "
            "(JetPack on a Jetson, or NVIDIA's tensorrt wheels)",
            ("fp32", "fp16", "int8"), ("cuda",), (".safetensors",),
            "torch2trt + TensorRT engines (Jetson), cached on disk; CUDA only",
        ),
    )
}
BACKEND_NAMES: tuple[str, ...] = tuple(BACKENDS)


def backend(name: str) -> BackendSpec:
    """The spec of ``name``; ``ValueError`` listing the backends for an unknown one."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}")
    return BACKENDS[name]


def parse_device(device: str) -> tuple[str, int | None]:
    """``"cpu"`` -> ``("cpu", None)``, ``"cuda"`` -> ``("cuda", None)``, ``"cuda:1"`` -> ``("cuda", 1)``."""
    match = _DEVICE.fullmatch(device.strip()) if isinstance(device, str) else None
    if match is None or (match[1] == "cpu" and match[2] is not None):
        raise ValueError(f"unknown device {device!r}; use cpu, cuda or cuda:N")
    return match[1], None if match[2] is None else int(match[2])


def resolve(backend_name: str, precision: str | None = None, device: str | None = None) -> str:
    """Check a backend/precision/device combination; returns the device to use.

    ``device`` empty or ``None`` means the backend's default (cpu, or cuda for tensorrt). Raises
    ``ValueError`` naming the problem (never silently moves a model to another device).
    """
    spec = backend(backend_name)
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision is not None and precision not in spec.precisions:
        others = [b.name for b in BACKENDS.values() if precision in b.precisions]
        raise ValueError(f"the {spec.name} backend runs {' or '.join(spec.precisions)}, not {precision}; "
                         f"for {precision} use the {' or '.join(others)} backend")
    if not device:
        return spec.default_device
    kind, _ = parse_device(device)
    if kind not in spec.devices:
        raise ValueError(
            f"the {spec.name} backend runs on {' or '.join(spec.devices)} only, not on device {device!r}: set "
            f"device to {spec.default_device} (or leave it empty for the backend's default)"
        )
    return device.strip()
