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
) -> Any:
    """uint8 RGB frames ``(N, H, W, 3)`` or ``(H, W, 3)`` -> float32 ``(N, 3, h, w)`` network input.

    ``size = (h, w)`` resizes bilinearly first (``None`` keeps the frame size); then
    ``(x / 255 - mean) / std`` per channel. NumPy in, NumPy out (OpenCV resize: the node,
    evaluation and engines); a torch tensor in, a tensor out on its device (training).
    """
    if frames.ndim == 3:
        frames = frames[None]
    is_tensor = _is_tensor(frames)
    dtype_ok = str(frames.dtype) in ("uint8", "torch.uint8")
    if frames.ndim != 4 or frames.shape[-1] != 3 or not dtype_ok:
        raise ValueError(f"preprocess expects uint8 RGB frames (N, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    if is_tensor:
        return _preprocess_tensor(frames, size, normalization)
    if size is not None:
        frames = resize_frames(frames, size)
    # uint8 in: each channel maps through a 256-entry table (cheaper than float arithmetic on
    # every pixel), written straight into the planar NCHW output.
    table = _lookup_table(normalization)
    out = np.empty((frames.shape[0], 3, *frames.shape[1:3]), np.float32)
    for index, frame in enumerate(frames):
        for channel, plane in enumerate(cv2.split(np.ascontiguousarray(frame))):
            out[index, channel] = table[channel][plane]
    return out
