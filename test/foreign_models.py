"""Test-only: small segmentation networks of another architecture than AttendSeg, exported to ONNX by torch.

Each stands for a model trained elsewhere (random weights, seeded): a few convolutions and strided
convolutions with logits at 1/4 of the input, a variant that outputs class ids, one with an NHWC
input, and ones that are not importable. Importable from any test (conftest.py puts this folder on
sys.path); not part of the package.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import yaml
from torch import nn
from torch.nn import functional as F

# A sidewalk robot's classes (CamVid's 11 merged into 7), in id order; index 3 is drivable.
SIDEWALK = ("sky", "structure", "road", "sidewalk", "vegetation", "vehicle", "person")
SIDEWALK_COLORS = ((128, 128, 128), (128, 0, 0), (128, 64, 128), (60, 40, 222), (128, 128, 0), (64, 0, 128),
                   (64, 64, 0))


class StridedConvNet(nn.Module):
    """Conv -> strided conv -> strided conv (1/4) -> BN/ReLU -> 1x1 classifier: logits (N, C, h/4, w/4)."""

    def __init__(self, classes: int = 7) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 24, 3, stride=2, padding=1), nn.BatchNorm2d(24), nn.ReLU(),
            nn.Conv2d(24, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, classes, 1),
        )
        for module in self.body:  # non-trivial batch-norm statistics, as a trained model has
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ClassIds(nn.Module):
    """A network whose graph ends in its own argmax: class ids int64 (N, h, w), ``argmax * step + offset``."""

    def __init__(self, network: nn.Module, step: int = 1, offset: int = 0) -> None:
        super().__init__()
        self.network, self.step, self.offset = network, step, offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x).argmax(dim=1) * self.step + self.offset


class ChannelsLast(nn.Module):
    """The network behind an NHWC input (N, H, W, 3)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x.permute(0, 3, 1, 2))


class WithAuxiliary(nn.Module):
    """Two outputs: an auxiliary head first, the segmentation logits second."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network
        self.aux = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.aux(x), self.network(x)


class SkipNet(nn.Module):
    """A skip connection that adds a 2x upsampled feature: runs only at even heights and widths."""

    def __init__(self, classes: int = 7) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.head = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.stem(x)
        return self.head(skip + F.interpolate(self.down(skip), scale_factor=2.0, mode="nearest"))


class Classifier(nn.Module):
    """An image classifier: (N, C) scores, not a segmentation."""

    def __init__(self, classes: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, classes, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean(dim=(2, 3))


def export(module: nn.Module, path: Path, example: torch.Tensor, *, dynamic_size: bool = False,
           dynamic_batch: bool = True, outputs: tuple[str, ...] = ("logits",), input_name: str = "images",
           opset: int = 17) -> Path:
    """``module`` (eval mode) as ONNX at ``path``; ``dynamic_size``: height and width left open (NCHW input)."""
    axes: dict[int, str] = {}
    if dynamic_batch:
        axes[0] = "n"
    if dynamic_size:
        axes.update({2: "height", 3: "width"})
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module.eval(), (example,), str(path), opset_version=opset, dynamo=False,
                          input_names=[input_name], output_names=list(outputs),
                          dynamic_axes={input_name: axes} if axes else None)
    return path


def classes_yaml(path: Path, names: tuple[str, ...] = SIDEWALK, colors: tuple[tuple[int, int, int], ...] | None =
                 SIDEWALK_COLORS, drivable: tuple[str, ...] = ("sidewalk",), ignore_index: int = 255,
                 **extra: object) -> Path:
    """A folder-layout classes.yaml."""
    classes = [{"name": n} if colors is None else {"name": n, "color": list(c)}
               for n, c in zip(names, colors or names, strict=True)]
    data = {"ignore_index": ignore_index, "classes": classes, "drivable": list(drivable), **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
