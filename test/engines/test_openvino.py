"""The openvino backend: agreement with onnxruntime on real frames, batches, options and errors.

The output contract (shapes, dtypes, resolutions) runs in test_segmenters.py over every backend.
Skipped only when openvino is not installed (``pip install openvino``; the [test] extra has it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ov = pytest.importorskip("openvino")

from attendseg_ros.engines import EngineError, Segmentation, create_segmenter  # noqa: E402
from attendseg_ros.engines.base import Segmenter  # noqa: E402
from attendseg_ros.modelfiles.sidecar import read_info  # noqa: E402


def _label_agreement(a: list[Segmentation], b: list[Segmentation]) -> float:
    """Fraction of pixels with the same label, over all frames."""
    equal = sum(int((x.labels == y.labels).sum()) for x, y in zip(a, b, strict=True))
    return equal / sum(x.labels.size for x in a)


@pytest.fixture(scope="module")
def trained_fp32_onnx(trained_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded FP32 weights exported to ONNX by the package's export code (as attendseg-export does)."""
    from attendseg_ros.modelfiles.checkpoint import load_model
    from attendseg_ros.modelfiles.export import export_onnx

    network, info = load_model(trained_model["safetensors"])
    return export_onnx(network, info, tmp_path_factory.mktemp("fp32") / "attendseg_camvid11.fp32.onnx")


@pytest.fixture(scope="module")
def trained_int8_pair(trained_model: dict[str, Path]) -> Iterator[tuple[Segmenter, Segmenter]]:
    ort_seg = create_segmenter("onnxruntime", trained_model["onnx_int8"], threads=1)
    ov_seg = create_segmenter("openvino", trained_model["onnx_int8"], threads=1)
    yield ort_seg, ov_seg
    ort_seg.close()
    ov_seg.close()


def test_int8_labels_agree_with_onnxruntime_on_camvid(
    trained_int8_pair: tuple[Segmenter, Segmenter], val_frames: list[np.ndarray]
) -> None:
    """Two INT8 implementations of the shipped QDQ model: >= 98 % of pixels labelled alike."""
    ort_seg, ov_seg = trained_int8_pair
    assert (ort_seg.precision, ov_seg.precision) == ("int8", "int8")
    at_model = _label_agreement(ort_seg.segment(val_frames), ov_seg.segment(val_frames))
    at_input = _label_agreement(ort_seg.segment(val_frames, "input"), ov_seg.segment(val_frames, "input"))
    assert at_model >= 0.98
    assert at_input >= 0.98


def test_fp32_labels_agree_with_onnxruntime_on_camvid(trained_fp32_onnx: Path, val_frames: list[np.ndarray]) -> None:
    ort_seg = create_segmenter("onnxruntime", trained_fp32_onnx, threads=1)
    ov_seg = create_segmenter("openvino", trained_fp32_onnx, threads=1)
    assert ov_seg.precision == "fp32" and ov_seg.config["INFERENCE_PRECISION_HINT"] == "f32"
    ort_results, ov_results = ort_seg.segment(val_frames), ov_seg.segment(val_frames)
    assert _label_agreement(ort_results, ov_results) >= 0.999
    # FP32 in both: the confidence (max probability x 255) differs by at most rounding
    pairs = zip(ort_results, ov_results, strict=True)
    assert np.mean([np.abs(x.confidence.astype(int) - y.confidence.astype(int)) <= 1 for x, y in pairs]) >= 0.999


def test_int8_agrees_with_fp32_torch(trained_model: dict[str, Path], val_frames: list[np.ndarray],
                                     trained_int8_pair: tuple[Segmenter, Segmenter]) -> None:
    """OpenVINO's INT8 kernels keep the trained model's labels (as onnxruntime's do, test_segmenters)."""
    fp32 = create_segmenter("torch", trained_model["safetensors"])
    assert _label_agreement(fp32.segment(val_frames), trained_int8_pair[1].segment(val_frames)) >= 0.98


def test_default_models(trained_model: dict[str, Path]) -> None:
    """No model: the embedded INT8 ONNX; precision fp32: the embedded weights, exported on the fly."""
    int8 = create_segmenter("openvino")
    assert (int8.backend, int8.precision, int8.path) == ("openvino", "int8", trained_model["onnx_int8"])
    fp32 = create_segmenter("openvino", precision="fp32")
    folder = fp32.path.parent
    shipped = read_info(trained_model["safetensors"]).input_size  # the sidecar's, whatever size ships
    assert fp32.precision == "fp32" and fp32.input_size == int8.input_size == tuple(shipped)
    assert folder.is_dir()
    fp32.close()
    assert not folder.exists()  # the temporary export is removed on close


def test_parallel_requests_give_the_sequential_results(random_model: dict[str, Path]) -> None:
    """A batch spread over two OpenVINO streams equals the same frames run one by one."""
    frames = np.random.default_rng(3).integers(0, 256, (5, 120, 160, 3), dtype=np.uint8)
    sequential = create_segmenter("openvino", random_model["onnx_int8"], threads=1)
    parallel = create_segmenter("openvino", random_model["onnx_int8"], threads=2, hint="throughput", streams=2)
    assert sequential.requests == 1 and parallel.requests == 2
    assert parallel.config["PERFORMANCE_HINT"] == "THROUGHPUT" and parallel.config["NUM_STREAMS"] == "2"
    for one, many in zip(sequential.segment(list(frames)), parallel.segment(frames), strict=True):
        assert np.array_equal(one.labels, many.labels)
        assert np.array_equal(one.confidence, many.confidence)


def test_concurrent_callers_get_their_own_results(random_model: dict[str, Path]) -> None:
    """Two threads sharing one segmenter (its infer request) each get their own frames' labels."""
    from concurrent.futures import ThreadPoolExecutor

    seg = create_segmenter("openvino", random_model["onnx_int8"], threads=1)
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(2)]
    expected = [seg.segment([frame])[0].labels for frame in frames]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda i: seg.segment([frames[i % 2]])[0].labels, range(16)))
    assert all(np.array_equal(result, expected[i % 2]) for i, result in enumerate(results))


def test_settings_reach_the_compiled_model(random_model: dict[str, Path]) -> None:
    seg = create_segmenter("openvino", random_model["onnx_fp32"], threads=1, hint="LATENCY")
    assert seg.compiled.get_property("INFERENCE_NUM_THREADS") == 1
    assert str(seg.compiled.get_property("PERFORMANCE_HINT")).endswith("LATENCY")
    assert seg.compiled.get_property("INFERENCE_PRECISION_HINT") == ov.Type.f32
    assert seg.compiled.input(0).get_partial_shape().to_shape() == [1, 3, 96, 128]  # static batch 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hint": "fastest"}, r"unknown OpenVINO hint 'fastest'; choose one of latency, throughput"),
        ({"inference_precision": "int4"}, r"unknown OpenVINO inference_precision 'int4'.*f32, bf16, f16"),
        ({"streams": -1}, r"OpenVINO streams must be an integer >= 0"),
        ({"spin": False}, r"unknown openvino option\(s\) \['spin'\].*'hint'"),
    ],
)
def test_bad_options_are_named(random_model: dict[str, Path], options: dict, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        create_segmenter("openvino", random_model["onnx_int8"], **options)


def test_devices(random_model: dict[str, Path]) -> None:
    with pytest.raises(EngineError, match=r"runs on cpu or one of its own devices \(GPU, NPU.*not on device .cuda."):
        create_segmenter("openvino", random_model["onnx_int8"], device="cuda")
    with pytest.raises(EngineError, match=r"threads applies to OpenVINO's CPU device only, not 'AUTO'"):
        create_segmenter("openvino", random_model["onnx_int8"], device="AUTO", threads=2)
    if "NPU" not in ov.Core().available_devices:
        with pytest.raises(EngineError, match=r"OpenVINO .* sees the devices \['CPU'.*not 'NPU'"):
            create_segmenter("openvino", random_model["onnx_int8"], device="NPU")
    seg = create_segmenter("openvino", random_model["onnx_int8"], device="CPU")  # OpenVINO's own name
    assert seg.device == "CPU"


def test_wrong_files_are_named(random_model: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"this model is int8, fp32 was asked for"):
        create_segmenter("openvino", random_model["onnx_int8"], precision="fp32")
    with pytest.raises(EngineError, match="openvino runs int8 only from a quantised"):
        create_segmenter("openvino", random_model["safetensors"], precision="int8")
    with pytest.raises(EngineError, match=r"the openvino backend needs an \.onnx file"):
        create_segmenter("openvino", random_model["onnx_int8"].with_suffix(".json"))
    lonely = tmp_path / "lonely.onnx"
    shutil.copyfile(random_model["onnx_int8"], lonely)
    with pytest.raises(EngineError, match=r"lonely\.json.*not found"):
        create_segmenter("openvino", lonely)
