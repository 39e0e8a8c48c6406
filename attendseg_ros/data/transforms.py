"""The batched training augmentation (torch); the one preprocessing function lives in ``preprocessing``.

``preprocess`` (re-exported here) is used by training, evaluation, every engine and therefore the ROS node.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .preprocessing import DEFAULT_MEAN, DEFAULT_STD, Normalization, preprocess, resize_frames

__all__ = ["DEFAULT_MEAN", "DEFAULT_STD", "Augmentation", "Normalization", "preprocess", "resize_frames"]


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
