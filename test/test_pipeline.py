"""The per-frame pipeline with a real engine: outputs built only when wanted, equal to their builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attendseg_ros.data import load_class_table
from attendseg_ros.drivable import DrivableConfig, drivable_mask
from attendseg_ros.engines import create_segmenter
from attendseg_ros.pipeline import OUTPUTS, FramePipeline, FrameSettings
from attendseg_ros.visualize import overlay

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
        assert first[name].ndim == (2 if output.encoding == "mono8" else 3), name


def test_model_resolution_and_unknown_outputs(pipeline: FramePipeline) -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    result = pipeline.run([frame], [["labels", "overlay"]], FrameSettings("model", palette=CLASSES.palette()))
    assert result.outputs[0]["labels"].shape == (96, 128) and result.outputs[0]["overlay"].shape == (96, 128, 3)
    with pytest.raises(KeyError, match="unknown output 'depth'"):
        pipeline.run([frame], [["depth"]], FrameSettings())
    with pytest.raises(ValueError, match="1 frames but 2 output sets"):
        pipeline.run([frame], [["labels"], ["labels"]], FrameSettings())
