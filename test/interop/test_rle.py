"""labels_rle's encoding against decoders written from Autoware's perception_utils source (test/autoware_rle.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from autoware_rle import decode_named, decode_pairs

from attendseg_ros.data.camvid import read_rgb
from attendseg_ros.engines import create_segmenter
from attendseg_ros.interop import UNKNOWN_ID, rle
from attendseg_ros.runtime.pipeline import OUTPUTS, FramePipeline, FrameSettings


def _label_images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    blocky = np.kron(rng.integers(0, 11, (6, 8), dtype=np.uint8), np.ones((60, 60), np.uint8))  # 360 x 480
    blocky[200:, :] = 3  # one run over many rows (> 255 and > 65535 pixels)
    blocky[5, 7] = 255  # an unknown pixel
    return [
        blocky,
        rng.integers(0, 256, (17, 23), dtype=np.uint8),  # every value, runs of one
        np.full((1, 1), 9, np.uint8),
        np.full((480, 640), 0, np.uint8),  # one run of 307,200
    ]


@pytest.mark.parametrize("labels", _label_images(), ids=["blocky", "noise", "one_pixel", "uniform"])
def test_both_autoware_formats_decode_to_exactly_the_labels(labels: np.ndarray) -> None:
    names = [f"class_{i}" for i in range(11)]
    pairs = rle.encode(labels)
    np.testing.assert_array_equal(decode_pairs(pairs, *labels.shape), labels)
    values, lengths = rle.runs(labels)
    assert len(pairs) == 5 * len(values) and lengths.sum() == labels.size
    decoded, decoded_names = decode_named(rle.encode(labels, rle.NAMED, names), *labels.shape)
    np.testing.assert_array_equal(decoded, labels)
    assert decoded_names == [names[v] if v < len(names) else "unknown" for v in values.tolist()]


def test_runs_are_maximal_and_row_major() -> None:
    labels = np.array([[1, 1, 2], [2, 2, 1]], np.uint8)
    values, lengths = rle.runs(labels)
    assert values.tolist() == [1, 2, 1] and lengths.tolist() == [2, 3, 1]  # the run of 2 continues on row 2
    assert rle.encode(labels) == bytes([1, 2, 0, 0, 0, 2, 3, 0, 0, 0, 1, 1, 0, 0, 0])


def test_a_last_run_without_a_name_still_decodes() -> None:
    labels = np.array([[0, 0, 4]], np.uint8)
    decoded, names = decode_named(rle.encode(labels, rle.NAMED, ["road", "car", "", "", ""]), 1, 3)
    np.testing.assert_array_equal(decoded, labels)
    assert names == ["road", "unknown"]  # an empty name would end the C++ decoder's loop one entry early


@pytest.mark.parametrize(("labels", "match"), [
    (np.zeros((2, 2), np.int32), "uint8"),
    (np.zeros((2, 2, 1), np.uint8), r"\(height, width\)"),
    (np.zeros((0, 4), np.uint8), "empty"),
])
def test_bad_label_arrays_are_refused_with_the_reason(labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        rle.encode_labels(labels)


def test_an_unknown_format_is_named() -> None:
    with pytest.raises(ValueError, match="unknown run-length format 'zip'; formats: pairs, named"):
        rle.encode(np.zeros((2, 2), np.uint8), "zip")


def test_labels_rle_output_encodes_the_published_labels_at_their_size(camvid_dir: Path) -> None:
    output = OUTPUTS["labels_rle"]
    assert (output.kind, output.source, output.on_demand, output.parameter) == ("rle", "labels", True,
                                                                                "publish_labels_rle")
    frame = read_rgb(sorted((camvid_dir / "val").glob("*.png"))[0])
    small = cv2.resize(frame, (400, 300), interpolation=cv2.INTER_AREA)  # not the model's 360 x 480
    segmenter = create_segmenter("onnxruntime", threads=1)  # the shipped model
    try:
        result = FramePipeline(segmenter).run([small], [["labels", "labels_rle", "confidence"]],
                                              FrameSettings(min_confidence=0.6))
    finally:
        segmenter.close()
    built = result.outputs[0]
    labels, encoded = built["labels"], built["labels_rle"]
    assert (encoded.height, encoded.width, encoded.fmt) == (300, 400, rle.PAIRS)  # the output size
    assert 0 < (labels == UNKNOWN_ID).sum() < labels.size and len(np.unique(labels)) > 3
    np.testing.assert_array_equal(decode_pairs(encoded.data, encoded.height, encoded.width), labels)
