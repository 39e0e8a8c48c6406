"""The per-frame work, without ROS: RGB frames -> segmentation -> the outputs that are wanted.

:data:`OUTPUTS` is the registry of what the node can publish for each frame: its name (the topic
``<ns>/segmentation/<name>`` and the parameter ``publish_<name>``), its encoding, how it is built
from a :class:`Frame`, and whether it is built only while someone subscribes. Adding an output is
one :class:`Output` entry here (and its line in config/attendseg.yaml). :class:`FramePipeline`
runs a batch of frames through a segmenter and builds, for each frame, only the outputs asked
for; the node, ``attendseg-node-bench`` and the demo all use it.

The segmenter returns labels and confidence at the model's resolution; a :class:`Frame` resizes
each to the output size once, when an output first needs it (the drivable mask needs neither: it is
computed at the model's resolution and upsampled, see :func:`attendseg_ros.drivable.drivable_mask`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .drivable import DrivableConfig, drivable_mask
from .engines.base import resize_confidence, resize_labels
from .visualize import overlay


@dataclass(frozen=True)
class FrameSettings:
    """What the outputs of a frame depend on besides the frame (the node's live parameters)."""

    resolution: str = "input"  # outputs at the input frame's size or the model's ("model")
    drivable: DrivableConfig = field(default_factory=lambda: DrivableConfig(()))
    palette: np.ndarray = field(default_factory=lambda: np.zeros((256, 3), np.uint8))
    overlay_alpha: float = 0.5


@dataclass
class Frame:
    """One segmented frame: the RGB input, the segmenter's results at the model's resolution, the output size.

    ``labels`` and ``confidence`` are the results at ``size``, resized on first use (once per frame).
    """

    rgb: np.ndarray  # (H, W, 3) uint8
    model_labels: np.ndarray  # (h, w) uint8 class ids, at the model's resolution
    model_confidence: np.ndarray  # (h, w) uint8, max probability x 255
    size: tuple[int, int]  # (height, width) of the outputs

    @cached_property
    def labels(self) -> np.ndarray:
        """Class ids at the output size (nearest-neighbour)."""
        return resize_labels(self.model_labels, self.size)

    @cached_property
    def confidence(self) -> np.ndarray:
        """Confidence at the output size (bilinear)."""
        return resize_confidence(self.model_confidence, self.size)


@dataclass(frozen=True)
class Output:
    """One per-frame output: name, encoding, builder, and whether it is built only on demand."""

    name: str
    encoding: str
    build: Callable[[Frame, FrameSettings], np.ndarray]
    description: str
    on_demand: bool = False  # expensive: built only while the output has a subscriber


OUTPUTS: dict[str, Output] = {
    output.name: output
    for output in (
        Output("labels", "mono8", lambda f, s: f.labels, "class id per pixel"),
        Output("drivable_mask", "mono8", lambda f, s: drivable_mask(f.model_labels, s.drivable, f.size),
               "255 where drivable (drivable_* parameters), 0 elsewhere", on_demand=True),
        Output("confidence", "mono8", lambda f, s: f.confidence, "max class probability x 255"),
        Output("overlay", "rgb8", lambda f, s: overlay(f.rgb, f.labels, s.palette, s.overlay_alpha),
               "class colours blended over the image (overlay_alpha)", on_demand=True),
    )
}


@dataclass
class BatchResult:
    """Per frame, the outputs built (name -> array); and how long the segmenter took."""

    outputs: list[dict[str, np.ndarray]]
    segment_ms: float  # the segment() call: preprocessing and network
    outputs_ms: float  # building the outputs of all frames (resizes to the output size included)


class FramePipeline:
    """Segment batches of RGB frames and build the wanted outputs of each (see the module docstring)."""

    def __init__(self, segmenter: Any) -> None:
        self.segmenter = segmenter

    def run(self, frames: Sequence[np.ndarray], wanted: Sequence[Iterable[str]],
            settings: FrameSettings) -> BatchResult:
        """Outputs of each frame: ``wanted[i]`` names the outputs to build for ``frames[i]``.

        Errors of the segmenter propagate (the caller counts them); an unknown output name is a
        ``KeyError`` naming it.
        """
        if len(frames) != len(wanted):
            raise ValueError(f"{len(frames)} frames but {len(wanted)} output sets")
        start = time.perf_counter()
        results = self.segmenter.segment(list(frames), resolution="model")
        segmented = time.perf_counter()
        outputs = []
        for rgb, result, names in zip(frames, results, wanted, strict=True):
            size = rgb.shape[:2] if settings.resolution == "input" else result.labels.shape
            frame = Frame(rgb, result.labels, result.confidence, size)
            outputs.append({name: build_output(name, frame, settings) for name in names})
        done = time.perf_counter()
        return BatchResult(outputs, (segmented - start) * 1e3, (done - segmented) * 1e3)


def build_output(name: str, frame: Frame, settings: FrameSettings) -> np.ndarray:
    """Build one output of ``frame``; ``KeyError`` naming the known outputs for an unknown name."""
    if name not in OUTPUTS:
        raise KeyError(f"unknown output {name!r}; outputs: {', '.join(OUTPUTS)}")
    return OUTPUTS[name].build(frame, settings)
