"""The one preprocessing function (resize + normalise): NumPy/OpenCV, torch only for tensor input.

Used by training, evaluation, every engine and therefore the ROS node. An edge install that runs
the ONNX Runtime engine imports this without torch: the tensor branch needs torch only when it is
handed a tensor, which means torch is already imported.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

# ImageNet statistics in RGB order, stored in every model's sidecar.
DEFAULT_MEAN = (0.485, 0.456, 0.406)
DEFAULT_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Normalization:
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD


def resize_frames(frames: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Resize ``(N, H, W[, C])`` frames to ``size = (height, width)``; a no-op when already that size."""
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])


@lru_cache(maxsize=8)
def _lookup_table(normalization: Normalization) -> np.ndarray:
    """``(3, 256)`` float32: normalised value of every uint8 level, per channel."""
    mean = np.asarray(normalization.mean, np.float64)[:, None]
    std = np.asarray(normalization.std, np.float64)[:, None]
    return ((np.arange(256, dtype=np.float64)[None, :] / 255.0 - mean) / std).astype(np.float32)


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")  # a tensor can only exist once torch is imported
    return torch is not None and isinstance(value, torch.Tensor)


def _preprocess_tensor(frames: Any, size: tuple[int, int] | None, normalization: Normalization) -> Any:
    import torch
    import torch.nn.functional as F

    mean = np.asarray(normalization.mean, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(normalization.std, np.float32).reshape(1, 3, 1, 1)
    scale, offset = 1.0 / (255.0 * std), mean / std
    chw = frames.permute(0, 3, 1, 2).float()
    if size is not None and tuple(chw.shape[-2:]) != tuple(size):
        chw = F.interpolate(chw, size=size, mode="bilinear", align_corners=False)
    return chw * torch.from_numpy(scale).to(chw.device) - torch.from_numpy(offset).to(chw.device)


def preprocess(
    frames: Any,
    size: tuple[int, int] | None = None,
    normalization: Normalization = Normalization(),
    out: np.ndarray | None = None,
) -> Any:
    """uint8 RGB frames ``(N, H, W, 3)`` or ``(H, W, 3)`` -> float32 ``(N, 3, h, w)`` network input.

    ``size = (h, w)`` resizes bilinearly first (``None`` keeps the frame size); then
    ``(x / 255 - mean) / std`` per channel. NumPy in, NumPy out (OpenCV resize: the node,
    evaluation and engines); a torch tensor in, a tensor out on its device (training).
    ``out``: a C-contiguous float32 ``(N, 3, h, w)`` array to write into (NumPy only), e.g. one
    row of a batch; returned.
    """
    if frames.ndim == 3:
        frames = frames[None]
    is_tensor = _is_tensor(frames)
    dtype_ok = str(frames.dtype) in ("uint8", "torch.uint8")
    if frames.ndim != 4 or frames.shape[-1] != 3 or not dtype_ok:
        raise ValueError(f"preprocess expects uint8 RGB frames (N, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    if is_tensor:
        if out is not None:
            raise ValueError("preprocess writes into out= only for NumPy frames")
        return _preprocess_tensor(frames, size, normalization)
    height, width = size if size is not None else frames.shape[1:3]
    shape = (frames.shape[0], 3, height, width)
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {shape}, got {out.dtype} {out.shape}")
    # uint8 in: each channel maps through a 256-entry table (cheaper than float arithmetic on
    # every pixel); OpenCV's LUT writes it straight into the planar NCHW output (4x numpy's indexing).
    table = _lookup_table(normalization)
    for index, frame in enumerate(frames):
        if frame.shape[:2] != (height, width):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        for channel, plane in enumerate(cv2.split(np.ascontiguousarray(frame))):
            cv2.LUT(plane, table[channel], dst=out[index, channel])
    return out
