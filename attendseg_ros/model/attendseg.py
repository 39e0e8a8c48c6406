"""AttendSeg: a compact self-attention network for on-device semantic segmentation.

Read top to bottom: configuration -> network -> variants -> factory. The exact machine-designed
layer list of the paper is not public; this is a faithful design from what it states (see
README, "The network"): attention condensers mixed with depthwise and pointwise convolutions,
aggressive reduction by strided convolutions with large strides, and a multi-path refinement
decoder where only selected deep features are refined by earlier ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import CondenserBlock, ConvBnAct, InvertedResidual, RefineBlock, StridedReduction
from .config import AttendSegConfig


class AttendSeg(nn.Module):
    """Encoder (1/2 -> 1/4 -> 1/8 -> 1/32) and a selective multi-path refinement decoder.

    With ``config.stem_skip_channels > 0`` the decoder refines its 1/4 output once more with the
    1/2 stem feature (one block: ~4 % more MACs, 13-34 % more INT8 CPU latency); otherwise it ends at 1/4.

    Input: float tensor ``(N, 3, H, W)``, normalised by :func:`attendseg_ros.data.preprocess`.
    Output: logits ``(N, num_classes, H, W)``. Any ``H, W >= min_size`` works: every resize
    targets the exact size of the feature it joins, so no padding or cropping is needed.
    """

    min_size = 64
    in_channels = 3

    def __init__(self, config: AttendSegConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or AttendSegConfig()
        c4, c8, c32 = config.channels
        d8, d4 = config.decoder_channels
        e = config.expansion

        self.stem = nn.Sequential(
            ConvBnAct(3, config.stem_channels, 3, stride=2),
            InvertedResidual(config.stem_channels, config.stem_channels, expansion=1.0),
        )
        self.stage4 = nn.Sequential(
            ConvBnAct(config.stem_channels, c4, 3, stride=2),
            *[CondenserBlock(c4, e) for _ in range(config.depths[0])],
        )
        self.stage8 = nn.Sequential(
            StridedReduction(c4, c8, stride=2),
            *[CondenserBlock(c8, e) for _ in range(config.depths[1])],
        )
        self.stage32 = nn.Sequential(
            StridedReduction(c8, c32, stride=config.deep_stride),
            *[CondenserBlock(c32, e) for _ in range(config.depths[2])],
        )
        # Selective long-range connectivity: 1/32 is refined by 1/8, and 1/8 by 1/4 (and, when
        # configured, 1/4 by the 1/2 stem feature).
        self.refine8 = RefineBlock(c32, c8, d8, depth=config.decoder_depths[0], expansion=e)
        self.refine4 = RefineBlock(d8, c4, d4, depth=config.decoder_depths[1], expansion=e)
        d2 = config.stem_skip_channels
        self.refine2 = RefineBlock(d4, config.stem_channels, d2, depth=1, expansion=1.0) if d2 else None
        self.head = nn.Conv2d(d2 or d4, config.num_classes, 1)

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    def check_input(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` naming the expected shape when ``x`` cannot be segmented."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"AttendSeg expects a (N, 3, H, W) tensor, got shape {tuple(x.shape)}")
        height, width = x.shape[-2:]
        if height < self.min_size or width < self.min_size:
            raise ValueError(
                f"AttendSeg needs H and W >= {self.min_size}, got {height}x{width}; resize the input first"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and not isinstance(x, torch.fx.Proxy):
            self.check_input(x)
        f2 = self.stem(x)
        f4 = self.stage4(f2)
        f8 = self.stage8(f4)
        f32 = self.stage32(f8)
        refined = self.refine4(self.refine8(f32, f8), f4)
        if self.refine2 is not None:
            refined = self.refine2(refined, f2)
        logits = self.head(refined)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


VARIANTS: dict[str, dict[str, Any]] = {
    # The paper's configuration: 32 CamVid classes, measured at 512x512.
    "attendseg": {"num_classes": 32},
    # CamVid's SegNet split: 11 classes (+ void, ignored).
    "attendseg_camvid11": {"num_classes": 11},
    # The same with the 1/2 stem feature fed into the decoder (a candidate, A/B-tested on the proxy).
    "attendseg_camvid11_stem": {"num_classes": 11, "stem_skip_channels": 32},
}


def create_model(variant: str = "attendseg_camvid11", **overrides: Any) -> AttendSeg:
    """Build a variant by name; keyword arguments override its configuration."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown AttendSeg variant {variant!r}; choose one of {sorted(VARIANTS)}")
    return AttendSeg(AttendSegConfig(**{**VARIANTS[variant], **overrides}))
