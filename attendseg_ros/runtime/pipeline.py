"""The per-frame work, without ROS: RGB frames -> segmentation -> the outputs that are wanted.

:data:`OUTPUTS` is the registry of what the node can publish for each frame: its name (the topic
``<ns>/segmentation/<name>`` and the parameter ``publish_<name>``), its encoding, how it is built
from a :class:`Frame`, and whether it is built only while someone subscribes. Adding an output is
one :class:`Output` entry here (and its line in config/attendseg.yaml). :class:`FramePipeline`
runs a batch of frames through a segmenter and builds, for each frame, only the outputs asked
for; the node, ``attendseg-node-bench`` and the demo all use it.

Labels and confidence come from the segmenter at the model's resolution; a :class:`Frame` resizes
each to the output size once, when an output first needs it. Before any output is built, the labels
go through the navigation stage (:func:`navigation_labels`): pixels below ``min_confidence`` get the
unknown id 255, then the class map merges/renames the classes, so every output (and its compressed
copy) shows the same ids. The drivable mask needs no resize: it is computed on the navigation-stage
labels at the model's resolution and upsampled (:func:`attendseg_ros.runtime.drivable.drivable_mask`).
Outputs are image arrays (``kind="image"``), image_transport-style compressed copies of another
output (``"compressed"``, PNG or JPEG, one ``publish_compressed`` switch for all), the camera's
intrinsics scaled to the outputs' size (``"camera_info"``, from the CameraInfo paired with the frame)
or the labels run-length encoded as Autoware's segmentation_pointcloud_fusion reads them (``"rle"``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..engines.base import resize_confidence, resize_labels
from ..interop.camera_info import CameraGeometry, scale_geometry
from ..interop.class_map import ClassMap
from ..interop.compression import JPEG_QUALITY, PNG_LEVEL, EncodedImage, encode_jpeg, encode_png
from ..interop.rle import RunLengthLabels, encode_labels
from ..interop.unknown import mark_unknown
from .drivable import DrivableConfig, drivable_mask
from .visualize import overlay

OUTPUT_KINDS = ("image", "compressed", "camera_info", "rle")


@dataclass(frozen=True)
class FrameSettings:
    """What the outputs of a frame depend on besides the frame (the node's live parameters)."""

    resolution: str = "input"  # outputs at the input frame's size or the model's ("model")
    drivable: DrivableConfig = field(default_factory=lambda: DrivableConfig(()))
    palette: np.ndarray = field(default_factory=lambda: np.zeros((256, 3), np.uint8))
    overlay_alpha: float = 0.5
    min_confidence: float = 0.0  # below it a pixel gets the unknown id 255; 0 = off
    class_map: ClassMap | None = None  # None = the model's classes unchanged
    png_level: int = PNG_LEVEL  # compressed mono8 outputs (lossless)
    jpeg_quality: int = JPEG_QUALITY  # overlay/compressed


@dataclass
class Frame:
    """One segmented frame: the RGB input, the segmenter's results at the model's resolution, the output size.

    ``labels`` (after the navigation stage of ``settings``) and ``confidence`` are the results at
    ``size``, made on first use (once per frame); ``model_output_labels`` are the navigation-stage
    labels at the model's resolution (what the drivable mask is computed on).
    """

    rgb: np.ndarray  # (H, W, 3) uint8
    model_labels: np.ndarray  # (h, w) uint8 class ids from the segmenter, at the model's resolution
    model_confidence: np.ndarray  # (h, w) uint8, max probability x 255
    size: tuple[int, int]  # (height, width) of the outputs
    settings: FrameSettings = field(default_factory=FrameSettings)
    camera: CameraGeometry | None = None  # the received image's intrinsics (its paired CameraInfo), if any

    @cached_property
    def model_output_labels(self) -> np.ndarray:
        """The navigation-stage labels at the model's resolution."""
        return navigation_labels(self.model_labels, self.model_confidence, self.settings)

    @cached_property
    def labels(self) -> np.ndarray:
        """Class ids at the output size (nearest-neighbour), after the navigation stage.

        The stage runs at the output size, against the published confidence, so a published label
        is unknown exactly where the published confidence is below ``min_confidence``.
        """
        if tuple(self.size) == self.model_labels.shape:
            return self.model_output_labels
        return navigation_labels(resize_labels(self.model_labels, self.size), self.confidence, self.settings)

    @cached_property
    def confidence(self) -> np.ndarray:
        """Confidence at the output size (bilinear)."""
        return resize_confidence(self.model_confidence, self.size)


@dataclass(frozen=True)
class Output:
    """One per-frame output: name (its topic below ``<ns>/segmentation/``), encoding, builder, switch.

    ``build`` takes the :class:`Frame` and the settings; for an output with a ``source`` it takes
    that output's array instead (a compressed copy encodes what its source publishes). ``encoding``
    is the image encoding (mono8, rgb8), the compression (png, jpeg) or the message type of other
    kinds. ``parameter`` is the ``publish_*`` switch (default ``publish_<name>``).
    """

    name: str
    encoding: str
    build: Callable[..., Any]
    description: str
    on_demand: bool = False  # expensive: built only while the output has a subscriber
    kind: str = "image"  # one of OUTPUT_KINDS: how the node turns the built value into a message
    source: str | None = None
    switch: str | None = None

    @property
    def parameter(self) -> str:
        return self.switch or f"publish_{self.name}"


def _camera_info(frame: Frame, settings: FrameSettings) -> CameraGeometry | None:
    """The paired intrinsics scaled to the outputs' size; None without a CameraInfo for the frame."""
    if frame.camera is None:
        return None
    height, width = frame.size
    return scale_geometry(frame.camera, width, height)


def _png(array: np.ndarray, settings: FrameSettings) -> EncodedImage:
    return encode_png(array, settings.png_level)


def _jpeg(array: np.ndarray, settings: FrameSettings) -> EncodedImage:
    return encode_jpeg(array, settings.jpeg_quality)


def _rle(labels: np.ndarray, settings: FrameSettings) -> RunLengthLabels:
    return encode_labels(labels)


def _compressed(source: str, encoding: str, description: str) -> Output:
    """``<source>/compressed`` (image_transport's name): PNG (lossless) or JPEG of the source output."""
    return Output(f"{source}/compressed", encoding, _png if encoding == "png" else _jpeg, description,
                  on_demand=True, kind="compressed", source=source, switch="publish_compressed")


OUTPUTS: dict[str, Output] = {
    output.name: output
    for output in (
        Output("labels", "mono8", lambda f, s: f.labels, "class id per pixel"),
        Output("drivable_mask", "mono8", lambda f, s: drivable_mask(f.model_output_labels, s.drivable, f.size),
               "255 where drivable (drivable_* parameters), 0 elsewhere", on_demand=True),
        Output("confidence", "mono8", lambda f, s: f.confidence, "max class probability x 255"),
        Output("overlay", "rgb8", lambda f, s: overlay(f.rgb, f.labels, s.palette, s.overlay_alpha),
               "class colours blended over the image (overlay_alpha)", on_demand=True),
        Output("camera_info", "CameraInfo", _camera_info, "the camera's <ns>/camera_info paired by stamp, "
               "scaled to the outputs' size, with their header", on_demand=True, kind="camera_info"),
        _compressed("labels", "png", "labels as lossless PNG (compressed_png_level)"),
        _compressed("confidence", "png", "confidence as lossless PNG"),
        _compressed("drivable_mask", "png", "drivable_mask as lossless PNG"),
        _compressed("overlay", "jpeg", "overlay as JPEG (compressed_jpeg_quality)"),
        Output("labels_rle", "rle", _rle, "labels run-length encoded for Autoware's segmentation_pointcloud_fusion "
               "((uint8 id, int32 run) pairs, row-major; height and width of the labels)", on_demand=True,
               kind="rle", source="labels"),
    )
}


@dataclass
class BatchResult:
    """Per frame, the outputs built (name -> array, EncodedImage, RunLengthLabels, CameraGeometry/None); timings."""

    outputs: list[dict[str, Any]]
    segment_ms: float  # the segment() call: preprocessing and network
    outputs_ms: float  # building the outputs of all frames (resizes to the output size included)


class FramePipeline:
    """Segment batches of RGB frames and build the wanted outputs of each (see the module docstring)."""

    def __init__(self, segmenter: Any) -> None:
        self.segmenter = segmenter

    def run(self, frames: Sequence[np.ndarray], wanted: Sequence[Iterable[str]],
            settings: FrameSettings, cameras: Sequence[CameraGeometry | None] | None = None) -> BatchResult:
        """Outputs of each frame: ``wanted[i]`` names the outputs to build for ``frames[i]``.

        ``cameras[i]`` is the intrinsics of ``frames[i]`` (for the ``camera_info`` output), if known.
        Errors of the segmenter propagate (the caller counts them); an unknown output name is a
        ``KeyError`` naming it.
        """
        if len(frames) != len(wanted):
            raise ValueError(f"{len(frames)} frames but {len(wanted)} output sets")
        cameras = [None] * len(frames) if cameras is None else list(cameras)
        if len(cameras) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(cameras)} camera geometries")
        start = time.perf_counter()
        results = self.segmenter.segment(list(frames), resolution="model")
        segmented = time.perf_counter()
        outputs = []
        for rgb, result, names, camera in zip(frames, results, wanted, cameras, strict=True):
            size = rgb.shape[:2] if settings.resolution == "input" else result.labels.shape
            frame = Frame(rgb, result.labels, result.confidence, size, settings, camera)
            built: dict[str, Any] = {}
            outputs.append({name: build_output(name, frame, settings, built) for name in names})
        done = time.perf_counter()
        return BatchResult(outputs, (segmented - start) * 1e3, (done - segmented) * 1e3)


def navigation_labels(labels: np.ndarray, confidence: np.ndarray, settings: FrameSettings) -> np.ndarray:
    """The labels every output shows: unknown (255) below ``min_confidence``, then the class map."""
    labels = mark_unknown(labels, confidence, settings.min_confidence)
    return labels if settings.class_map is None else settings.class_map.apply(labels)


def build_output(name: str, frame: Frame, settings: FrameSettings, built: dict[str, Any] | None = None) -> Any:
    """Build one output of ``frame``; ``KeyError`` naming the known outputs for an unknown name.

    ``built`` (name -> value) keeps what was built for this frame, so that a compressed copy reuses
    its source (and the source, when also wanted, is built once).
    """
    if name not in OUTPUTS:
        raise KeyError(f"unknown output {name!r}; outputs: {', '.join(OUTPUTS)}")
    if built is not None and name in built:
        return built[name]
    output = OUTPUTS[name]
    if output.source is None:
        value = output.build(frame, settings)
    else:
        value = output.build(build_output(output.source, frame, settings, built), settings)
    if built is not None:
        built[name] = value
    return value
