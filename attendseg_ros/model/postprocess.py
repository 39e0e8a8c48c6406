"""Post-processing that runs where the model runs (exported into ONNX, compiled by TensorRT)."""

from __future__ import annotations

import torch
from torch import nn


class LabelsAndConfidence(nn.Module):
    """Wrap a segmentation network: logits -> (class ids uint8, max softmax probability as uint8 0-255).

    The maximum softmax probability is ``1 / sum(exp(logits - max))``: no full softmax is formed
    (onnxruntime's Softmax over the channel axis of a 360x480 map costs ~9x more than this).
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(x)
        labels = logits.argmax(dim=1)
        peak = logits.amax(dim=1, keepdim=True)
        confidence = 255.0 / torch.exp(logits - peak).sum(dim=1)
        return labels.to(torch.uint8), confidence.round().to(torch.uint8)
