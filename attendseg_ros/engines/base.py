"""The one segmentation interface every backend implements; the ROS node uses only this.

A :class:`Segmenter` takes uint8 RGB frames of any size, runs the shared
:func:`attendseg_ros.data.preprocess` (resize to the model input + normalise), the network
and its post-processing (argmax + max softmax probability) where the model runs, and
returns class ids and confidence as uint8, at the model resolution or the input's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..data.preprocessing import preprocess
from ..modelfile import ModelInfo

if TYPE_CHECKING:
    from .selection import CpuBackendChoice


class EngineError(RuntimeError):
    """A backend cannot be created or run: missing package, unreadable model, mismatched sidecar."""


@dataclass(frozen=True)
class Segmentation:
    """One frame's result. ``labels``: class id per pixel; ``confidence``: max probability x 255."""

    labels: np.ndarray  # (h, w) uint8
    confidence: np.ndarray  # (h, w) uint8


RESOLUTIONS = ("model", "input")


def restore_size(result: Segmentation, size: tuple[int, int]) -> Segmentation:
    """``result`` resized to ``size = (height, width)``: labels nearest-neighbour, confidence bilinear."""
    height, width = size
    if result.labels.shape == (height, width):
        return result
    return Segmentation(
        cv2.resize(result.labels, (width, height), interpolation=cv2.INTER_NEAREST),
        cv2.resize(result.confidence, (width, height), interpolation=cv2.INTER_LINEAR),
    )


class Segmenter(ABC):
    """Backend-independent segmentation of batches of frames."""

    backend: str = ""
    precision: str = ""
    selection: CpuBackendChoice | None = None  # how ``backend: auto`` chose this engine (None: named directly)

    def __init__(self, info: ModelInfo) -> None:
        self.info = info

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) the network runs at."""
        return self.info.input_size

    @abstractmethod
    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network + post-processing on a preprocessed float32 ``(N, 3, h, w)`` batch.

        Returns ``(labels, confidence)``, both uint8 ``(N, h, w)``.
        """

    def segment(self, frames: np.ndarray | Sequence[np.ndarray], resolution: str = "model") -> list[Segmentation]:
        """Segment uint8 RGB frames (a ``(N, H, W, 3)`` array or a list of ``(H, W, 3)`` of any sizes).

        ``resolution="input"`` returns each result at its frame's size (labels nearest-neighbour).
        """
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
        frames = list(frames)
        if not frames:
            return []
        batch = np.concatenate([preprocess(f, self.input_size, self.info.normalization) for f in frames])
        labels, confidence = self.run(batch)
        results = [Segmentation(lab, conf) for lab, conf in zip(labels, confidence, strict=True)]
        if resolution == "input":
            results = [restore_size(result, frame.shape[:2]) for result, frame in zip(results, frames, strict=True)]
        return results

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release backend resources (sessions, CUDA memory)."""
