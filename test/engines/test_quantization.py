"""INT8 settings: the CPU form fuses into integer kernels; the TensorRT form is symmetric."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from attendseg_ros.modelfiles.checkpoint import read_info
from attendseg_ros.modelfiles.export import quantize_int8
from attendseg_ros.modelfiles.tensorrt_rules import check_model


def _optimized_ops(path: Path, tmp_path: Path) -> collections.Counter:
    """Operator counts of the graph onnxruntime actually runs (extended level: portable, no NCHWc)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return collections.Counter(n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node)


def test_default_int8_runs_every_convolution_in_integer_kernels(random_model: dict[str, Path], tmp_path: Path) -> None:
    """The CPU speed depends on it: no convolution or ReLU left in float between (de)quantisation."""
    ops = _optimized_ops(random_model["onnx_int8"], tmp_path)
    convs = sum(1 for n in onnx.load(str(random_model["onnx_fp32"])).graph.node if n.op_type == "Conv")
    # all but the first convolution (it reads the image and stays in float, for accuracy)
    assert ops["QLinearConv"] == convs - 1
    assert ops["Conv"] == 1 and ops["Relu"] == 0
    assert ops["QLinearSigmoid"] > 0 and ops["QLinearMul"] > 0 and ops["QLinearAdd"] > 0


def _conv_weights(path: Path) -> list[np.ndarray]:
    graph = onnx.load(str(path)).graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}
    weights = []
    for conv in (n for n in graph.node if n.op_type == "Conv"):
        source = producers.get(conv.input[1])
        if source is not None and source.op_type == "DequantizeLinear" and source.input[0] in initializers:
            weights.append(initializers[source.input[0]])
    return weights


def test_default_int8_weights_use_seven_bits(random_model: dict[str, Path]) -> None:
    """No VPMADDUBSW saturation on CPUs without VNNI: |w| <= 64, per output channel."""
    weights = _conv_weights(random_model["onnx_int8"])
    assert weights and all(w.dtype == np.int8 for w in weights)
    assert max(int(np.abs(w.astype(int)).max()) for w in weights) <= 64


def test_default_int8_keeps_the_logits_in_float(random_model: dict[str, Path]) -> None:
    graph = onnx.load(str(random_model["onnx_int8"])).graph
    producers = {out: node for node in graph.node for out in node.output}
    argmax = next(n for n in graph.node if n.op_type == "ArgMax")
    logits = producers[argmax.input[0]]
    assert logits.op_type == "Resize"  # float resize, no Quantize/Dequantize pair at full resolution
    stem = next(n for n in graph.node if n.op_type == "Conv" and n.input[0] == "input")
    assert stem.input[1] not in producers  # a float initializer, not a DequantizeLinear output
    # every Shape reads a quantised tensor: no activation is dequantised only for its shape
    shapes = [n for n in graph.node if n.op_type == "Shape"]
    sources = [producers[n.input[0]].op_type for n in shapes if n.input[0] in producers]
    assert shapes and "DequantizeLinear" not in sources


def test_tensorrt_compatible_int8_is_symmetric(random_model: dict[str, Path], camvid_dir: Path, tmp_path: Path) -> None:
    info = read_info(random_model["onnx_fp32"])
    path, calibration = quantize_int8(
        random_model["onnx_fp32"],
        tmp_path / "trt.int8.onnx",
        info,
        camvid_dir,
        count=2,
        method="minmax",
        tensorrt_compatible=True,
    )
    assert calibration.activations == "int8 symmetric"
    graph = onnx.load(str(path)).graph
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    zero_points = [
        initializers[n.input[2]]
        for n in graph.node
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2
    ]
    assert zero_points
    assert all(zp.dtype == np.int8 and not zp.any() for zp in zero_points)  # TensorRT: int8 zero points of 0
    assert max(int(np.abs(w.astype(int)).max()) for w in _conv_weights(path)) == 127  # full 8-bit weights
    assert calibration.layout == "tensorrt" and check_model(onnx.load(str(path))) == []
    producers = {out: node for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(_conv_weights(path)) == len(convs)  # every convolution in INT8, the stem included
    assert all(n.input[2] in initializers and initializers[n.input[2]].dtype == np.float32 for n in convs)  # bias
    for node in (n for n in graph.node if n.op_type in ("Add", "Mul")):  # residual adds, attention gates
        assert [producers[name].op_type for name in node.input] == ["DequantizeLinear"] * 2, node.name
    relus = [n for n in graph.node if n.op_type == "Relu"]
    assert sum(producers[n.input[0]].op_type == "Conv" for n in relus) > len(relus) // 2  # Conv+ReLU fuse
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    labels, _ = session.run(None, {"input": np.zeros((1, 3, *info.input_size), np.float32)})
    assert labels.shape == (1, *info.input_size)


_PEAK_RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from attendseg_ros.modelfiles.checkpoint import read_info
from attendseg_ros.modelfiles.export import quantize_int8
from attendseg_ros.modelfiles.tensorrt_rules import check_model
fp32, camvid, count, out = sys.argv[1:5]
quantize_int8(Path(fp32), Path(out), read_info(Path(fp32)), camvid, count=int(count))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_calibration_memory_does_not_grow_with_frame_count(
    random_model: dict[str, Path], camvid_dir: Path, tmp_path: Path
) -> None:
    """Frames are calibrated two at a time: 12 frames peak about as high as 2 (not 6x the activations)."""
    import subprocess
    import sys

    def peak_mb(count: int) -> int:
        command = [sys.executable, "-c", _PEAK_RSS_SCRIPT, str(random_model["onnx_fp32"]), str(camvid_dir)]
        command += [str(count), str(tmp_path / f"q{count}.onnx")]
        result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=True)
        return int(result.stdout.split()[-1])

    # at 96x128 one frame's activations are ~45 MB: unbounded, 12 frames would add ~450 MB
    assert peak_mb(12) - peak_mb(2) < 150


def test_calibration_reader_slices_cover_every_frame(random_model: dict[str, Path], camvid_dir: Path) -> None:
    from attendseg_ros.data.camvid import CamVid
    from attendseg_ros.modelfiles.export import _CalibrationReader, calibration_stride

    assert calibration_stride(32) == 2 and calibration_stride(33) == 1 and calibration_stride(1) == 1
    info = read_info(random_model["onnx_fp32"])
    reader = _CalibrationReader(CamVid(camvid_dir, "val"), [0, 5, 9], info)
    assert len(reader) == 3
    reader.set_range(1, 3)
    batches = [reader.get_next(), reader.get_next(), reader.get_next()]
    assert batches[2] is None and all(b["input"].shape == (1, 3, 96, 128) for b in batches[:2])


def test_full_eight_bit_weights_on_request(random_model: dict[str, Path], camvid_dir: Path, tmp_path: Path) -> None:
    """``weight_bits=8`` (VNNI/AMX CPUs): the CPU form with the full int8 weight range, recorded as such."""
    info = read_info(random_model["onnx_fp32"])
    path, calibration = quantize_int8(
        random_model["onnx_fp32"], tmp_path / "w8.int8.onnx", info, camvid_dir, count=2, method="minmax",
        weight_bits=8,
    )
    weights = _conv_weights(path)
    assert max(int(np.abs(w.astype(int)).max()) for w in weights) == 127
    assert calibration.weights == "int8 symmetric, per output channel"
    assert calibration.activations == "uint8 asymmetric"  # still the CPU form
    default = json.loads(random_model["onnx_int8"].with_suffix(".calibration.json").read_text())
    assert default["weights"].endswith("7-bit range")


def test_weight_bits_must_be_seven_or_eight(random_model: dict[str, Path], camvid_dir: Path, tmp_path: Path) -> None:
    info = read_info(random_model["onnx_fp32"])
    with pytest.raises(ValueError, match=r"weight_bits must be 7 \(reduce_range\) or 8 \(full range\), got 4"):
        quantize_int8(random_model["onnx_fp32"], tmp_path / "w4.onnx", info, camvid_dir, count=1, weight_bits=4)
