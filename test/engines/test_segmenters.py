"""Every backend: output contract (shapes, dtypes, resolutions) and agreement with the others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from attendseg_ros.engines import Segmentation, create_segmenter
from attendseg_ros.engines.base import Segmenter

try:
    import openvino  # noqa: F401
except ImportError:
    HAVE_OPENVINO = False
else:
    HAVE_OPENVINO = True
_needs_openvino = pytest.mark.skipif(not HAVE_OPENVINO, reason="openvino is not installed (pip install openvino)")

# (backend, model file key, expected precision); onnxruntime/openvino from safetensors export FP32 on the fly
CPU_CONFIGS = [
    ("onnxruntime", "onnx_fp32", "fp32"),
    ("onnxruntime", "onnx_int8", "int8"),
    ("onnxruntime", "safetensors", "fp32"),
    ("torch", "safetensors", "fp32"),
    pytest.param(("openvino", "onnx_fp32", "fp32"), marks=_needs_openvino),
    pytest.param(("openvino", "onnx_int8", "int8"), marks=_needs_openvino),
    pytest.param(("openvino", "safetensors", "fp32"), marks=_needs_openvino),
]
ODD_SIZES = [(97, 131), (96, 128), (360, 480), (64, 201)]


@pytest.fixture(scope="module", params=CPU_CONFIGS, ids=lambda c: f"{c[0]}-{c[1]}")
def segmenter(request: pytest.FixtureRequest, random_model: dict[str, Path]) -> Iterator[Segmenter]:
    backend, key, _ = request.param
    seg = create_segmenter(backend, random_model[key], threads=1)
    seg.expected_precision = request.param[2]  # type: ignore[attr-defined]
    yield seg
    seg.close()


def _frames(sizes: list[tuple[int, int]], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]


def test_identity(segmenter: Segmenter) -> None:
    assert segmenter.precision == segmenter.expected_precision  # type: ignore[attr-defined]
    assert segmenter.input_size == (96, 128)
    assert segmenter.info.classes.num_classes == 11


def test_model_resolution_for_frames_of_any_size(segmenter: Segmenter) -> None:
    results = segmenter.segment(_frames(ODD_SIZES), resolution="model")
    assert len(results) == len(ODD_SIZES)
    for result in results:
        assert isinstance(result, Segmentation)
        assert result.labels.shape == result.confidence.shape == (96, 128)
        assert result.labels.dtype == result.confidence.dtype == np.uint8
        assert result.labels.max() < 11
        # the max softmax probability of 11 classes is at least 1/11
        assert result.confidence.min() >= int(255 / 11) - 1


def test_input_resolution_returns_each_frame_size(segmenter: Segmenter) -> None:
    frames = _frames(ODD_SIZES)
    at_model = segmenter.segment(frames, resolution="model")
    at_input = segmenter.segment(frames, resolution="input")
    for (h, w), small, full in zip(ODD_SIZES, at_model, at_input, strict=True):
        assert full.labels.shape == full.confidence.shape == (h, w)
        assert full.labels.dtype == full.confidence.dtype == np.uint8
        # nearest-neighbour labels: only classes the model-resolution map has
        assert set(np.unique(full.labels)) <= set(np.unique(small.labels))


def test_a_batch_array_equals_frame_by_frame(segmenter: Segmenter) -> None:
    frames = np.stack(_frames([(120, 160)] * 3, seed=1))
    together = segmenter.segment(frames)
    for frame, result in zip(frames, together, strict=True):
        alone = segmenter.segment([frame])[0]
        assert (alone.labels == result.labels).mean() > 0.999


def test_run_checks_the_batch_shape(segmenter: Segmenter) -> None:
    labels, confidence = segmenter.run(np.zeros((2, 3, 96, 128), np.float32))
    assert labels.shape == confidence.shape == (2, 96, 128)
    with pytest.raises(ValueError, match=r"\(N, 3, 96, 128\)"):
        segmenter.run(np.zeros((1, 3, 64, 64), np.float32))
    assert segmenter.segment([]) == []


def _agreement(a: Segmenter, b: Segmenter, frames: list[np.ndarray]) -> tuple[float, float]:
    """Fraction of equal labels, and of confidences within 1 step, over all pixels."""
    ra, rb = a.segment(frames), b.segment(frames)
    labels = np.mean([(x.labels == y.labels).mean() for x, y in zip(ra, rb, strict=True)])
    close = np.mean([
        (np.abs(x.confidence.astype(int) - y.confidence.astype(int)) <= 1).mean() for x, y in zip(ra, rb, strict=True)
    ])
    return float(labels), float(close)


def test_fp32_backends_agree_on_camvid_frames(random_model: dict[str, Path], val_frames: list[np.ndarray]) -> None:
    torch_seg = create_segmenter("torch", random_model["safetensors"])
    onnx_seg = create_segmenter("onnxruntime", random_model["onnx_fp32"])
    labels, confidence = _agreement(torch_seg, onnx_seg, val_frames)
    assert labels >= 0.999
    assert confidence >= 0.999


def test_trained_fp32_backends_agree(trained_model: dict[str, Path], val_frames: list[np.ndarray]) -> None:
    torch_seg = create_segmenter("torch", trained_model["safetensors"])
    onnx_seg = create_segmenter("onnxruntime", trained_model["safetensors"], precision="fp32")
    labels, _ = _agreement(torch_seg, onnx_seg, val_frames)
    assert labels >= 0.999


def test_trained_int8_agrees_with_fp32(trained_model: dict[str, Path], val_frames: list[np.ndarray]) -> None:
    """INT8 vs FP32 on real frames; meaningful only for trained weights (random ones have no margins)."""
    fp32 = create_segmenter("torch", trained_model["safetensors"])
    int8 = create_segmenter("onnxruntime", trained_model["onnx_int8"])
    assert int8.precision == "int8"
    assert int8.input_size == fp32.input_size
    labels, _ = _agreement(fp32, int8, val_frames)
    assert labels >= 0.98


def test_default_model_is_the_int8_onnx(trained_model: dict[str, Path]) -> None:
    seg = create_segmenter()
    assert (seg.backend, seg.precision) == ("onnxruntime", "int8")
    assert seg.info.classes.num_classes == 11
