"""FP32/INT8 ONNX export: graph contract, QDQ form, calibration record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

from attendseg_ros.model.postprocess import LabelsAndConfidence
from attendseg_ros.modelfiles.checkpoint import load_model, read_info


def _run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})


def test_fp32_onnx_matches_torch(random_model: dict[str, Path]) -> None:
    model, info = load_model(random_model["safetensors"])
    x = np.random.default_rng(0).standard_normal((2, 3, *info.input_size)).astype(np.float32)
    labels, confidence = _run(random_model["onnx_fp32"], x)
    assert labels.dtype == np.uint8 and confidence.dtype == np.uint8 and labels.shape == (2, *info.input_size)
    with torch.no_grad():
        ref_labels, ref_conf = LabelsAndConfidence(model)(torch.from_numpy(x))
    assert (labels == ref_labels.numpy()).mean() > 0.999
    assert np.abs(confidence.astype(int) - ref_conf.numpy().astype(int)).max() <= 1
    assert read_info(random_model["onnx_fp32"]).input_size == info.input_size


def _zero_points(graph: onnx.GraphProto) -> list[np.ndarray]:
    initializers = {i.name: i for i in graph.initializer}
    return [
        numpy_helper.to_array(initializers[n.input[2]])
        for n in graph.node
        if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2 and n.input[2] in initializers
    ]


def test_int8_model_is_per_channel_qdq(random_model: dict[str, Path]) -> None:
    int8 = random_model["onnx_int8"]
    graph = onnx.load(str(int8)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 50
    initializers = {i.name: i for i in graph.initializer}
    zero_points = _zero_points(graph)
    # default (fastest on x86): uint8 asymmetric activations, symmetric int8 weights
    assert any(zp.dtype == np.uint8 for zp in zero_points)
    weight_zero_points = [zp for zp in zero_points if zp.dtype == np.int8]
    assert weight_zero_points and not any(zp.any() for zp in weight_zero_points)
    per_channel = [
        n
        for n in graph.node
        if n.op_type == "DequantizeLinear"
        and n.input[1] in initializers
        and numpy_helper.to_array(initializers[n.input[1]]).ndim == 1
        and numpy_helper.to_array(initializers[n.input[1]]).size > 1
    ]
    assert per_channel, "conv weights must be quantised per output channel"
    assert int8.stat().st_size < 0.5 * random_model["onnx_fp32"].stat().st_size
    labels, _ = _run(int8, np.zeros((1, 3, 96, 128), np.float32))
    assert labels.shape == (1, 96, 128)


def test_calibration_set_is_recorded(random_model: dict[str, Path]) -> None:
    record = json.loads(random_model["onnx_int8"].with_suffix(".calibration.json").read_text())
    assert record["split"] == "train" and len(record["frames"]) == 4
    assert record["input_size"] == [96, 128] and record["method"] == "percentile"
