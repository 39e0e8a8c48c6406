"""The one preprocessing function (resize + normalise) and the batched training augmentation.

``preprocess`` is used by training, evaluation, every engine and therefore the ROS node.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

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


def preprocess(
    frames: np.ndarray | torch.Tensor,
    size: tuple[int, int] | None = None,
    normalization: Normalization = Normalization(),
) -> np.ndarray | torch.Tensor:
    """uint8 RGB frames ``(N, H, W, 3)`` or ``(H, W, 3)`` -> float32 ``(N, 3, h, w)`` network input.

    ``size = (h, w)`` resizes bilinearly first (``None`` keeps the frame size); then
    ``(x / 255 - mean) / std`` per channel. NumPy in, NumPy out (OpenCV resize: the node,
    evaluation and engines); a torch tensor in, a tensor out on its device (training).
    """
    if frames.ndim == 3:
        frames = frames[None]
    is_tensor = isinstance(frames, torch.Tensor)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype not in (np.uint8, torch.uint8):
        raise ValueError(f"preprocess expects uint8 RGB frames (N, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    if is_tensor:
        mean = np.asarray(normalization.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(normalization.std, np.float32).reshape(1, 3, 1, 1)
        scale, offset = 1.0 / (255.0 * std), mean / std
        chw = frames.permute(0, 3, 1, 2).float()
        if size is not None and tuple(chw.shape[-2:]) != tuple(size):
            chw = F.interpolate(chw, size=size, mode="bilinear", align_corners=False)
        return chw * torch.from_numpy(scale).to(chw.device) - torch.from_numpy(offset).to(chw.device)
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


@dataclass(frozen=True)
class Augmentation:
    """Batched training augmentation in torch, on the device the data lives on (CPU or GPU).

    One ``grid_sample`` per batch does random scale, crop and horizontal flip (bilinear for
    images, nearest for labels; area outside the frame becomes void), then brightness,
    contrast, saturation and gamma jitter per sample (gamma in ``[1 - gamma, 1 + gamma]``,
    applied in both directions, so dusk frames and bright ones are both covered).
    """

    crop: tuple[int, int] = (288, 384)
    scale_range: tuple[float, float] = (0.5, 1.5)
    flip: bool = True
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    gamma: float = 0.0

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor, void_id: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``(N, H, W, 3)`` frames and ``(N, H, W)`` labels -> augmented crops, same dtypes."""
        n, height, width = labels.shape
        device = images.device

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.rand(n, generator=generator).to(device) * (high - low) + low

        scale = uniform(*self.scale_range)
        crop_h, crop_w = self.crop
        # Size of the crop window measured in source pixels, and its random centre.
        window_h, window_w = crop_h / scale, crop_w / scale
        center_y = (
            uniform(0, 1) * (height - window_h).abs() + torch.minimum(window_h, torch.full_like(window_h, height)) / 2
        )
        center_x = (
            uniform(0, 1) * (width - window_w).abs() + torch.minimum(window_w, torch.full_like(window_w, width)) / 2
        )
        sign = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n, device=device)
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = sign * window_w / width
        theta[:, 0, 2] = 2 * center_x / width - 1
        theta[:, 1, 1] = window_h / height
        theta[:, 1, 2] = 2 * center_y / height - 1
        grid = F.affine_grid(theta, [n, 1, crop_h, crop_w], align_corners=False)

        pixels = F.grid_sample(images.permute(0, 3, 1, 2).float(), grid, "bilinear", "zeros", align_corners=False)
        shifted = (labels.float() + 1).unsqueeze(1)  # 0 marks "outside the frame"
        sampled = F.grid_sample(shifted, grid, "nearest", "zeros", align_corners=False).squeeze(1).long() - 1
        out_labels = torch.where(sampled < 0, void_id, sampled).to(torch.uint8)

        pixels = pixels * uniform(1 - self.brightness, 1 + self.brightness).view(n, 1, 1, 1)
        mean = pixels.mean(dim=(1, 2, 3), keepdim=True)
        pixels = (pixels - mean) * uniform(1 - self.contrast, 1 + self.contrast).view(n, 1, 1, 1) + mean
        gray = pixels.mean(dim=1, keepdim=True)
        pixels = (pixels - gray) * uniform(1 - self.saturation, 1 + self.saturation).view(n, 1, 1, 1) + gray
        pixels = pixels.clamp(0, 255)
        if self.gamma:
            exponent = uniform(1 - self.gamma, 1 + self.gamma).view(n, 1, 1, 1)
            pixels = 255.0 * (pixels / 255.0).pow(exponent)
        out_images = pixels.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        return out_images, out_labels
