"""Export to ONNX (FP32) and post-training static INT8 quantisation (QDQ, per-channel weights).

The exported graph contains the network *and* its post-processing
(:class:`~attendseg_ros.model.postprocess.LabelsAndConfidence`): input ``input`` float32
``(N, 3, h, w)``; outputs ``labels`` and ``confidence`` uint8 ``(N, h, w)``. INT8 files come in two
layouts (:data:`INT8_LAYOUTS`), both with symmetric int8 weights per output channel in QDQ form:

``cpu`` (``<name>.int8.onnx``): asymmetric uint8 activations (U8S8). onnxruntime then fuses every
convolution, ReLU included, into ``QLinearConv`` and runs ~1.7x faster on x86 than with symmetric
int8 activations, where depthwise convolutions and ReLUs fall back to float between
Dequantize/Quantize pairs. Its weights use a 7-bit range (``reduce_range``): on x86 CPUs without
VNNI (AVX2) onnxruntime multiplies uint8 x int8 with VPMADDUBSW, whose int16 pair sums saturate
with full 8-bit weights; ``weight_bits=8`` writes full 8-bit weights instead, for VNNI/AMX CPUs.
The first convolution (it reads the image) stays in float, the biases are int32 DequantizeLinear
inputs, and every ``Shape`` reads the quantised tensor, so onnxruntime never dequantises an
activation only to read its shape.

``tensorrt`` (``<name>.int8.tensorrt.onnx``): what TensorRT's ONNX parser builds as an explicitly
quantised network (:mod:`.tensorrt_rules` checks it): symmetric int8 activations with zero points
0, per tensor; per-channel (axis 0) full 8-bit weights, depthwise included; float biases; every
convolution, the first included, fed by DequantizeLinear on its input and weight; Q/DQ on both
inputs of every residual Add and Mul. Opset 17.

In both layouts the full-resolution logits resize and the post-processing stay in float.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from ..data.dataset import SegmentationDataset, open_dataset
from ..data.preprocessing import preprocess
from ..model import AttendSeg
from ..model.postprocess import LabelsAndConfidence
from .sidecar import INPUT_NAME, OUTPUT_NAMES, ModelInfo, write_info
from .tensorrt_rules import check_model, format_violations

log = logging.getLogger(__name__)

OPSET = 17
# Post-processing stays in float: quantising argmax/confidence gains nothing and costs accuracy.
# Relu is listed so that the quantiser folds it into the preceding convolution's output range
# (asymmetric activations only), Sigmoid so that onnxruntime runs it as a uint8 lookup table.
QUANTIZED_OP_TYPES = ["Conv", "Relu", "Sigmoid", "Add", "Mul", "MaxPool", "Resize", "Concat"]
INT8_LAYOUTS = ("cpu", "tensorrt")
# The file name of each INT8 layout, after the model name.
INT8_SUFFIXES = {"cpu": ".int8.onnx", "tensorrt": ".int8.tensorrt.onnx"}


class TensorRTRulesError(ValueError):
    """A file meant for TensorRT breaks its explicit-quantization rules (the message lists them)."""


def export_onnx(model: AttendSeg, info: ModelInfo, path: str | Path) -> Path:
    """Write the FP32 ONNX model (dynamic batch, fixed ``info.input_size``) and its sidecar."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wrapped = LabelsAndConfidence(model).eval().cpu()
    example = torch.zeros(1, 3, *info.input_size)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            wrapped,
            (example,),
            str(path),
            opset_version=OPSET,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
        )
    write_info(path.with_suffix(".json"), info)
    return path


@dataclass(frozen=True)
class CalibrationSet:
    """Which frames calibrate the INT8 model, recorded beside it."""

    data: str
    split: str
    frames: tuple[str, ...]
    input_size: tuple[int, int]
    method: str
    activations: str = "uint8 asymmetric"
    weights: str = "int8 symmetric, per output channel, 7-bit range"
    layout: str = "cpu"

    def to_dict(self) -> dict[str, object]:
        return {
            "data": self.data,
            "split": self.split,
            "frames": list(self.frames),
            "input_size": list(self.input_size),
            "method": self.method,
            "activations": self.activations,
            "weights": self.weights,
            "layout": self.layout,
            "preprocessing": "attendseg_ros.data.preprocess (bilinear resize + mean/std of the sidecar)",
        }


def calibration_frames(
    data: str | Path, split: str = "train", count: int = 32, seed: int = 0
) -> tuple[SegmentationDataset, list[int]]:
    """A reproducible random subset of ``split`` of the dataset at ``data`` (any layout), spread over it."""
    dataset = open_dataset(data, split)
    rng = np.random.default_rng(seed)
    indices = sorted(rng.choice(len(dataset), size=min(count, len(dataset)), replace=False).tolist())
    return dataset, indices


class _CalibrationReader:
    """onnxruntime CalibrationDataReader over dataset frames, preprocessed one at a time.

    ``set_range`` limits it to a slice of the frames: onnxruntime then calibrates slice by slice
    (``CalibStridedMinMax``, which every calibrator honours) and merges the ranges or
    histograms, so only one slice of activations is in memory at a time.
    """

    def __init__(self, dataset: SegmentationDataset, indices: list[int], info: ModelInfo) -> None:
        self._dataset, self._indices, self._info = dataset, indices, info
        self._pending: Iterator[int] = iter(indices)

    def __len__(self) -> int:
        return len(self._indices)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._pending = iter(self._indices[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        index = next(self._pending, None)
        if index is None:
            return None
        return {INPUT_NAME: preprocess(self._dataset[index][0], self._info.input_size, self._info.normalization)}


def calibration_stride(count: int, largest: int = 2) -> int:
    """Frames per calibration slice: the largest divisor of ``count`` up to ``largest``."""
    return max(d for d in range(1, max(min(largest, count), 1) + 1) if count % d == 0)


def quantize_int8(
    fp32_path: str | Path,
    int8_path: str | Path,
    info: ModelInfo,
    data: str | Path,
    split: str = "train",
    count: int = 32,
    method: str = "percentile",
    *,
    tensorrt_compatible: bool = False,
    frames_per_slice: int = 2,
    weight_bits: int | None = None,
) -> tuple[Path, CalibrationSet]:
    """Static INT8 QDQ quantisation of ``fp32_path`` calibrated on ``count`` frames of ``split``.

    Default: the ``cpu`` layout (uint8 asymmetric activations, the fastest form for onnxruntime on
    x86 CPUs). ``tensorrt_compatible``: the ``tensorrt`` layout (see the module docstring), checked
    against :mod:`.tensorrt_rules` before it is returned (:class:`TensorRTRulesError` if it breaks one).
    ``weight_bits``: 7 (``reduce_range``: |w| <= 64, safe from u8 x s8 saturation on AVX2 CPUs
    without VNNI) or 8 (full range: finer weights where the kernels do not saturate: VNNI/AMX
    CPUs, TensorRT); default 7 for the CPU form, 8 for the TensorRT form. Measured on the shipped
    model (CamVid val mIoU, FP32 62.75 %; AVX2-only AMD EPYC Zen 3): 7-bit 62.56 % onnxruntime,
    62.61 % OpenVINO; 8-bit 62.39 % and 62.44 % (both engines saturate); without integer kernels
    (exact sums, what VNNI computes) 7-bit 62.58 %, 8-bit 62.65 %. So 7 bits everywhere: at most
    0.07 points behind 8 bits on VNNI CPUs, 0.17 ahead on AVX2 ones.
    Memory: a calibrator holds every activation of the frames it has seen (~0.4 GB per 288x384
    frame), so frames are fed in slices of ``frames_per_slice`` and the ranges merged: the peak
    no longer grows with ``count``.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if method not in methods:
        raise ValueError(f"unknown calibration method {method!r}; choose one of {sorted(methods)}")
    if weight_bits is None:
        weight_bits = 8 if tensorrt_compatible else 7
    if weight_bits not in (7, 8):
        raise ValueError(f"weight_bits must be 7 (reduce_range) or 8 (full range), got {weight_bits!r}")
    dataset, indices = calibration_frames(data, split, count)
    int8_path = Path(int8_path)
    int8_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        # The full-resolution logits resize stays in float: quantising its output would add a
        # Quantize/Dequantize pair over N x classes x H x W and round the logits the argmax compares.
        # The first convolution also stays in float: it reads the normalised image (3 channels,
        # ~0.5 % of the MACs) and is the layer whose quantisation flips the most labels
        # (FP32 agreement 95.8 % -> 97.5 % on CamVid val with an early checkpoint, same speed).
        graph = onnx.load(str(prepared))
        # TensorRT: every convolution in INT8, the stem included (the layout's rule).
        candidates = [_logits_producer(graph)] + ([] if tensorrt_compatible else [_input_conv(graph)])
        excluded = [name for name in candidates if name]
        quantize_static(
            str(prepared),
            str(int8_path),
            _CalibrationReader(dataset, indices, info),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8 if tensorrt_compatible else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=weight_bits == 7,  # 7-bit weights: no VPMADDUBSW saturation on AVX2 CPUs
            calibrate_method=methods[method],
            op_types_to_quantize=QUANTIZED_OP_TYPES,
            nodes_to_exclude=excluded,
            extra_options={
                "ActivationSymmetric": tensorrt_compatible,  # TensorRT needs zero points of 0
                "WeightSymmetric": True,
                "QuantizeBias": not tensorrt_compatible,  # TensorRT takes float biases, no int32 DequantizeLinear
                # TensorRT fuses Conv + ReLU + Quantize: a Q/DQ pair between them would split the fusion.
                "OpTypesToExcludeOutputQuantization": ["Conv"] if tensorrt_compatible else [],
                "CalibPercentile": 99.999,
                "CalibStridedMinMax": calibration_stride(len(indices), frames_per_slice),
            },
        )
    model = onnx.load(str(int8_path))
    if tensorrt_compatible:  # TensorRT wants every DequantizeLinear kept in its Q/DQ pair
        drop_unused_opset_imports(model)
        violations = check_model(model)
        if violations:
            raise TensorRTRulesError(format_violations(int8_path, violations))
        onnx.save(model, str(int8_path))
    else:
        _read_shapes_before_dequantize(model)
        onnx.save(model, str(int8_path))
    write_info(int8_path.with_suffix(".json"), info)
    calibration = CalibrationSet(
        data=str(data),
        split=split,
        frames=tuple(dataset.samples[i].image.name for i in indices),
        input_size=info.input_size,
        method=method,
        activations="int8 symmetric" if tensorrt_compatible else "uint8 asymmetric",
        weights="int8 symmetric, per output channel" + (", 7-bit range" if weight_bits == 7 else ""),
        layout="tensorrt" if tensorrt_compatible else "cpu",
    )
    int8_path.with_suffix(".calibration.json").write_text(json.dumps(calibration.to_dict(), indent=2) + "\n")
    return int8_path, calibration


def drop_unused_opset_imports(model: onnx.ModelProto) -> int:
    """Remove the opset imports of domains no node uses (onnxruntime's quantizer declares its own
    ``com.microsoft`` and training domains); returns how many were removed."""
    used = {node.domain for node in model.graph.node} | {""}
    unused = [entry for entry in model.opset_import if entry.domain not in used and entry.domain != "ai.onnx"]
    for entry in unused:
        model.opset_import.remove(entry)
    return len(unused)


def _logits_producer(model: onnx.ModelProto) -> str | None:
    """Name of the node whose output the post-processing's ArgMax reads (the logits resize)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    argmax = [node for node in model.graph.node if node.op_type == "ArgMax"]
    node = producers.get(argmax[-1].input[0]) if argmax else None
    return node.name if node is not None and node.op_type == "Resize" else None


def _input_conv(model: onnx.ModelProto) -> str | None:
    """Name of the convolution that reads the graph input (the stem)."""
    convs = [node for node in model.graph.node if node.op_type == "Conv" and node.input[0] == INPUT_NAME]
    return convs[0].name if convs else None


def _read_shapes_before_dequantize(model: onnx.ModelProto) -> int:
    """Make every ``Shape`` read the quantised tensor instead of its ``DequantizeLinear`` output.

    The exported graph sizes each resize from ``x.shape``; in QDQ form that ``Shape`` reads a
    dequantised activation, and onnxruntime then computes a whole float copy of the tensor (one
    per resize, 28 in AttendSeg) only to read its shape. Same shape, so the rewrite is exact.
    """
    producers = {out: node for node in model.graph.node for out in node.output}
    rewired = 0
    for node in model.graph.node:
        source = producers.get(node.input[0]) if node.op_type == "Shape" else None
        if source is not None and source.op_type == "DequantizeLinear":
            node.input[0] = source.input[0]
            rewired += 1
    read = {name for node in model.graph.node for name in node.input} | {out.name for out in model.graph.output}
    unused = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and not set(n.output) & read]
    for node in unused:
        model.graph.node.remove(node)
    return rewired


def copy_with_sidecar(source: Path, target: Path) -> None:
    """Copy a model file and its sidecar (``x.onnx`` + ``x.json``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    shutil.copyfile(source.with_suffix(".json"), target.with_suffix(".json"))
