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
from ..modelfiles.sidecar import ModelInfo

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


def resize_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class ids resized to ``size = (height, width)``, nearest-neighbour (``labels`` itself when already that size)."""
    if labels.shape[:2] == tuple(size):
        return labels
    return cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def resize_confidence(confidence: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Confidence resized to ``size = (height, width)``, bilinear (``confidence`` itself when already that size)."""
    if confidence.shape[:2] == tuple(size):
        return confidence
    return cv2.resize(confidence, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def restore_size(result: Segmentation, size: tuple[int, int]) -> Segmentation:
    """``result`` resized to ``size = (height, width)``: labels nearest-neighbour, confidence bilinear."""
    if result.labels.shape == tuple(size):
        return result
    return Segmentation(resize_labels(result.labels, size), resize_confidence(result.confidence, size))


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
        batch = np.empty((len(frames), 3, *self.input_size), np.float32)
        for index, frame in enumerate(frames):  # straight into the batch: no per-frame arrays to concatenate
            preprocess(frame, self.input_size, self.info.normalization, out=batch[index : index + 1])
        labels, confidence = self.run(batch)
        results = [Segmentation(lab, conf) for lab, conf in zip(labels, confidence, strict=True)]
        if resolution == "input":
            results = [restore_size(result, frame.shape[:2]) for result, frame in zip(results, frames, strict=True)]
        return results

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release backend resources (sessions, CUDA memory)."""
