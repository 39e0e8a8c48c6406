"""Reusable building blocks of AttendSeg.

Every block uses only operations that torch2trt converts and ONNX (opset >= 13) exports:
convolution (incl. groups), batch norm, ReLU/ReLU6, sigmoid, max/avg pooling, add, mul,
concatenation and nearest/bilinear interpolation. ``test/model/test_op_set.py`` enforces it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBnAct(nn.Sequential):
    """Convolution -> batch norm -> activation (the activation may be ``None``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act_layer: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        padding = (kernel_size - 1) // 2 if stride == 1 else (kernel_size - stride + 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        if act_layer is not None:
            layers.append(act_layer(inplace=True))
        super().__init__(*layers)


class AttentionCondenser(nn.Module):
    """Joint spatial-channel selective attention at low cost (AttendNets / TinySpeech lineage).

    condensation  Q = maxpool(V)                     spatial size / ``condense``
    embedding     K = pw(dw(pw_reduce(Q)))           grouped/depthwise + pointwise convolutions
    expansion     A = upsample(K) to the size of V   nearest neighbour
    attention     V' = V + s * (V * sigmoid(A))      s: learned per-channel scale

    The residual form makes the block the identity when ``s == 0`` (``scale_init``), so a deep
    stack trains from scratch without the gating collapsing activations, and it quantises well
    (the gate multiplies, never replaces, the signal).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 4,
        condense: int = 2,
        scale_init: float = 0.0,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.condense = nn.MaxPool2d(condense, condense, ceil_mode=True)
        self.embed = nn.Sequential(
            ConvBnAct(channels, hidden, 1, act_layer=act_layer),
            ConvBnAct(hidden, hidden, 3, groups=hidden, act_layer=act_layer),
            ConvBnAct(hidden, channels, 1, act_layer=None),
        )
        self.scale = nn.Parameter(torch.full((1, channels, 1, 1), float(scale_init)))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The attention map sigmoid(A) at the resolution of ``x``."""
        embedded = self.embed(self.condense(x))
        expanded = F.interpolate(embedded, size=x.shape[-2:], mode="nearest")
        return torch.sigmoid(expanded)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.scale * (x * self.attention(x))


class InvertedResidual(nn.Module):
    """Pointwise expand -> depthwise 3x3 -> pointwise project, residual when shapes match."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expansion: float = 2.0,
        stride: int = 1,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        hidden = round(in_channels * expansion)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.body = nn.Sequential(
            ConvBnAct(in_channels, hidden, 1, act_layer=act_layer),
            ConvBnAct(hidden, hidden, 3, stride=stride, groups=hidden, act_layer=act_layer),
            ConvBnAct(hidden, out_channels, 1, act_layer=None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


class CondenserBlock(nn.Module):
    """An attention condenser followed by an inverted-residual block."""

    def __init__(
        self, channels: int, expansion: float = 2.0, reduction: int = 4, act_layer: type[nn.Module] = nn.ReLU
    ) -> None:
        super().__init__()
        self.attend = AttentionCondenser(channels, reduction=reduction, act_layer=act_layer)
        self.mix = InvertedResidual(channels, channels, expansion=expansion, act_layer=act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.attend(x))


class StridedReduction(nn.Module):
    """Aggressive spatial reduction: a ``stride x stride`` convolution with stride ``stride``.

    EdgeSegNet reduced with 8x8 strided convolutions; AttendSeg keeps the idea of strided
    convolutions with large strides. A pointwise compression first keeps the large kernel cheap.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        compress: float = 0.5,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        squeezed = max(8, round(in_channels * compress))
        self.body = nn.Sequential(
            ConvBnAct(in_channels, squeezed, 1, act_layer=act_layer),
            ConvBnAct(squeezed, out_channels, stride, stride=stride, act_layer=act_layer),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class RefineBlock(nn.Module):
    """Multi-path refinement (RefineNet style): a deep feature refined by an earlier one.

    Both paths are adapted to ``channels`` by pointwise convolutions, the deep one is resized
    to the earlier one's exact size (bilinear), summed, then refined by ``depth`` blocks.
    """

    def __init__(
        self,
        deep_channels: int,
        skip_channels: int,
        channels: int,
        depth: int = 1,
        expansion: float = 2.0,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.deep_adapt = ConvBnAct(deep_channels, channels, 1, act_layer=None)
        self.skip_adapt = ConvBnAct(skip_channels, channels, 1, act_layer=None)
        self.act = act_layer(inplace=True)
        self.refine = nn.Sequential(*[CondenserBlock(channels, expansion, act_layer=act_layer) for _ in range(depth)])

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(self.deep_adapt(deep), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.refine(self.act(deep + self.skip_adapt(skip)))
