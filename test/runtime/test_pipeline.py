"""The per-frame pipeline with a real engine: outputs built only when wanted, equal to their builders."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from attendseg_ros.data import load_class_table
from attendseg_ros.engines import create_segmenter
from attendseg_ros.interop import UNKNOWN_ID, CameraGeometry, load_class_map, mark_unknown, scale_geometry
from attendseg_ros.runtime.drivable import DrivableConfig, drivable_mask
from attendseg_ros.runtime.pipeline import OUTPUTS, FramePipeline, FrameSettings
from attendseg_ros.runtime.visualize import overlay

CLASSES = load_class_table("camvid11")


@pytest.fixture(scope="module")
def pipeline(random_model: dict[str, Path]) -> FramePipeline:
    segmenter = create_segmenter("onnxruntime", random_model["onnx_fp32"], threads=1)
    yield FramePipeline(segmenter)
    segmenter.close()


def test_outputs_are_built_only_when_wanted(pipeline: FramePipeline) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), rng.integers(0, 256, (90, 100, 3), dtype=np.uint8)]
    settings = FrameSettings("input", DrivableConfig((CLASSES.names.index("Road"),), 0.0, 0.0, False),
                             CLASSES.palette(), 0.3)
    result = pipeline.run(frames, [list(OUTPUTS), ["labels"]], settings)
    assert list(result.outputs[0]) == list(OUTPUTS) and list(result.outputs[1]) == ["labels"]
    assert result.segment_ms > 0
    first = result.outputs[0]
    expected = pipeline.segmenter.segment(frames[:1], resolution="input")[0]
    np.testing.assert_array_equal(first["labels"], expected.labels)
    np.testing.assert_array_equal(first["confidence"], expected.confidence)
    np.testing.assert_array_equal(first["drivable_mask"], drivable_mask(expected.labels, settings.drivable))
    np.testing.assert_array_equal(first["overlay"], overlay(frames[0], expected.labels, settings.palette, 0.3))
    assert result.outputs[1]["labels"].shape == (90, 100)
    for name, output in OUTPUTS.items():
        if output.kind == "image":
            assert first[name].ndim == (2 if output.encoding == "mono8" else 3), name
    assert first["camera_info"] is None  # no CameraInfo paired with the frame


def test_model_resolution_and_unknown_outputs(pipeline: FramePipeline) -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    result = pipeline.run([frame], [["labels", "overlay"]], FrameSettings("model", palette=CLASSES.palette()))
    assert result.outputs[0]["labels"].shape == (96, 128) and result.outputs[0]["overlay"].shape == (96, 128, 3)
    with pytest.raises(KeyError, match="unknown output 'depth'"):
        pipeline.run([frame], [["depth"]], FrameSettings())
    with pytest.raises(ValueError, match="1 frames but 2 output sets"):
        pipeline.run([frame], [["labels"], ["labels"]], FrameSettings())


def _decode(encoded) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(encoded.data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_unknown_pixels_and_the_class_map_reach_every_output(pipeline: FramePipeline) -> None:
    frame = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    raw = pipeline.segmenter.segment([frame], resolution="input")[0]
    threshold = float(np.median(raw.confidence)) / 255  # about half the pixels fall below it
    navigation = load_class_map("navigation", CLASSES)
    table = navigation.table()
    road = DrivableConfig(tuple(table.ids(["road"])), 0.0, 0.0, False)
    settings = FrameSettings("input", road, table.palette(), 0.5, threshold, navigation, png_level=3)
    wanted = ["labels", "drivable_mask", "confidence", "overlay", "labels/compressed", "drivable_mask/compressed",
              "overlay/compressed"]
    outputs = pipeline.run([frame], [wanted], settings).outputs[0]
    expected = navigation.apply(mark_unknown(raw.labels, raw.confidence, threshold))
    assert 0 < np.count_nonzero(expected == UNKNOWN_ID) < expected.size
    np.testing.assert_array_equal(outputs["labels"], expected)
    np.testing.assert_array_equal(outputs["confidence"], raw.confidence)  # unchanged by the stage
    np.testing.assert_array_equal(outputs["drivable_mask"], drivable_mask(expected, road))
    np.testing.assert_array_equal(outputs["overlay"], overlay(frame, expected, table.palette(), 0.5))
    np.testing.assert_array_equal(_decode(outputs["labels/compressed"]), expected)
    np.testing.assert_array_equal(_decode(outputs["drivable_mask/compressed"]), outputs["drivable_mask"])
    assert outputs["labels/compressed"].format == "mono8; png compressed "
    assert outputs["overlay/compressed"].format == "rgb8; jpeg compressed bgr8"
    alone = pipeline.run([frame], [["labels/compressed"]], settings).outputs[0]
    assert list(alone) == ["labels/compressed"]  # its source is built for it, not published


def test_camera_info_is_the_frames_intrinsics_at_the_output_size(pipeline: FramePipeline) -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    k = [[100.0, 0.0, 79.5], [0.0, 100.0, 59.5], [0.0, 0.0, 1.0]]
    camera = CameraGeometry(160, 120, k, np.hstack([k, np.zeros((3, 1))]))
    result = pipeline.run([frame, frame], [["camera_info"], ["camera_info"]], FrameSettings("model"), [camera, None])
    scaled = result.outputs[0]["camera_info"]
    assert (scaled.width, scaled.height) == (128, 96)  # the model's resolution
    np.testing.assert_allclose(scaled.k, scale_geometry(camera, 128, 96).k)
    assert scaled.k[0, 2] == pytest.approx(63.5)  # the centre stays the centre
    assert result.outputs[1]["camera_info"] is None
    with pytest.raises(ValueError, match="1 camera geometries"):
        pipeline.run([frame, frame], [["labels"], ["labels"]], FrameSettings(), [camera])
def test_outputs_equal_the_full_resolution_definitions(pipeline: FramePipeline) -> None:
    """Resizing once, late, and the drivable mask at the model's resolution change nothing: every output
    equals its definition on the segmenter's input-resolution results (camera-sized frames, default cleanup,
    regions whose size decides whether they are kept)."""
    import cv2

    rng = np.random.default_rng(1)
    frames = [cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (640, 480)) for _ in range(2)]
    frames.append(rng.integers(0, 256, (250, 333, 3), dtype=np.uint8))  # another scale, odd sizes
    # The random model's two most frequent classes stand in for the drivable ones.
    counts = np.bincount(np.concatenate([r.labels.ravel() for r in pipeline.segmenter.segment(frames)]), minlength=2)
    first, second = (int(c) for c in np.argsort(counts)[::-1][:2])
    for config in (DrivableConfig((first,), 0.001, 0.001, True), DrivableConfig((first, second), 0.002, 0.01, False)):
        settings = FrameSettings("input", config, CLASSES.palette(), 0.5)
        result = pipeline.run(frames, [list(OUTPUTS)] * len(frames), settings)
        for frame, outputs in zip(frames, result.outputs, strict=True):
            expected = pipeline.segmenter.segment([frame], resolution="input")[0]
            np.testing.assert_array_equal(outputs["labels"], expected.labels)
            np.testing.assert_array_equal(outputs["confidence"], expected.confidence)
            np.testing.assert_array_equal(outputs["drivable_mask"], drivable_mask(expected.labels, config))
            assert 0 < outputs["drivable_mask"].mean() < 255  # a real mask, not all or nothing
            np.testing.assert_array_equal(outputs["overlay"], overlay(frame, expected.labels, settings.palette, 0.5))
