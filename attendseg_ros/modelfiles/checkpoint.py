"""Trained models on disk: safetensors weights + a JSON sidecar that rebuilds the model.

``model.safetensors`` holds the tensors (never pickled); ``model.json`` beside it holds the
architecture configuration, class table, input size, normalisation, the training command and
metrics (read without torch by :mod:`attendseg_ros.modelfiles.sidecar`, re-exported here).
``load_model`` checks that the two agree and names the file when they do not.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..model import AttendSeg
from .sidecar import FORMAT_VERSION, ModelFileError, ModelInfo, read_info, sidecar_path, write_info

__all__ = [
    "FORMAT_VERSION", "ModelFileError", "ModelInfo", "load_model", "read_info", "save_model", "sidecar_path",
    "write_info",
]


def save_model(path: str | Path, model: AttendSeg, info: ModelInfo) -> Path:
    """Write ``path`` (.safetensors) and its sidecar; returns the weights path."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"format": "attendseg", "version": str(FORMAT_VERSION)})
    write_info(sidecar_path(path), info)
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[AttendSeg, ModelInfo]:
    """Rebuild the model described by the sidecar and load its safetensors weights (eval mode)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model weights not found")
    info = read_info(path)
    if info.config is None:
        raise ModelFileError(
            f"{path}: {sidecar_path(path).name} describes an imported {info.architecture} model, not AttendSeg "
            "weights; it runs only as its .onnx file in the onnxruntime or openvino backend"
        )
    model = AttendSeg(info.config)
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatch
        raise ModelFileError(
            f"{path}: weights do not match the architecture in {sidecar_path(path).name}: {exc}"
        ) from exc
    if missing or unexpected:
        raise ModelFileError(
            f"{path}: weights do not match the architecture in {sidecar_path(path).name} "
            f"(missing {list(missing)[:3]}..., unexpected {list(unexpected)[:3]}...)"
        )
    return model.to(device).eval(), info
