"""TensorRT's explicit-quantization rules for an ONNX file, checked without TensorRT.

TensorRT builds an INT8 engine from a Q/DQ ONNX file only when the file follows the rules of its
ONNX parser (onnx-tensorrt ``docs/operators.md``, TensorRT's "Working with Quantized Types"):

``opset``                  the default-domain opset is 13 to 17: per-axis Q/DQ needs 13, and 17 is the
                           newest that every TensorRT from 8.5 (JetPack 5) to 11.x (JetPack 7) imports;
``zero-point-type``        every QuantizeLinear/DequantizeLinear zero point is INT8 (no UINT8, no INT32);
``zero-point-nonzero``     every zero point is 0 (symmetric quantisation);
``scale-not-constant``     every scale is a graph constant (initializer or ``Constant``);
``scale-not-positive``     every scale is finite and greater than 0;
``per-axis-activation``    per-axis (vector) scales only on constant weights;
``per-axis-axis``          a per-axis scale runs along axis 0 (output channels of a Conv weight);
``quantized-bias``         no DequantizeLinear on a Conv bias (TensorRT wants the bias in float);
``resize-mode``            Resize ``mode``, ``coordinate_transformation_mode``, ``nearest_mode`` from
                           the operator matrix; no ``antialias``;
``argmax-select-last-index``  ArgMax/ArgMin with ``select_last_index`` 0 (the only value imported);
``unsupported-op``         every node is an operator of the matrix (default ONNX domain);
``conv-not-int8``          every Conv reads DequantizeLinear outputs as its input and its weight, so that
                           TensorRT runs every convolution in INT8.

:func:`check_file` returns every :class:`Violation` (rule, node, message); an empty list means the
file passes. ``attendseg-check-tensorrt FILE...`` is the command.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

OPSET_RANGE = (13, 17)  # 13: per-axis Q/DQ; 17: TensorRT 8.5 stops there (10.x/11.x import up to 20-24)
RESIZE_MODES = frozenset({"nearest", "linear"})
RESIZE_COORDINATE_MODES = frozenset(
    {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
)
RESIZE_NEAREST_MODES = frozenset({"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"})
# Default-domain operators of onnx-tensorrt's support matrix (those a segmentation network can use
# and the rest of the matrix that is marked supported; an operator missing here is reported).
SUPPORTED_OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
    "BatchNormalization", "Cast", "CastLike", "Ceil", "Celu", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace", "DequantizeLinear", "Div", "Dropout", "Einsum",
    "Elu", "Equal", "Erf", "Exp", "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "GatherND",
    "Gelu", "Gemm", "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample",
    "GroupNormalization", "HardSigmoid", "HardSwish", "Identity", "If", "InstanceNormalization", "IsInf", "IsNaN",
    "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "LpNormalization", "LpPool",
    "LRN", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mish", "Mod", "Mul", "Neg", "Not", "Or", "Pad", "Pow",
    "PRelu", "QuantizeLinear", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
    "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape",
    "Resize", "Round", "ScaledTanh", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice",
    "Softmax", "Softplus", "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh",
    "ThresholdedRelu", "Tile", "TopK", "Transpose", "Unsqueeze", "Upsample", "Where", "Xor",
})
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
RULES = (
    "opset", "zero-point-type", "zero-point-nonzero", "scale-not-constant", "scale-not-positive",
    "per-axis-activation", "per-axis-axis", "quantized-bias", "resize-mode", "argmax-select-last-index",
    "unsupported-op", "conv-not-int8",
)


class RulesFileError(ValueError):
    """The file cannot be read as an ONNX model."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: which (a name of :data:`RULES`), where (a node name) and why."""

    rule: str
    node: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: node {self.node!r}: {self.message}"


def load(path: str | Path) -> onnx.ModelProto:
    """The ONNX model at ``path``; :class:`RulesFileError` naming the file otherwise."""
    try:
        return onnx.load(str(path))
    except (DecodeError, OSError, ValueError) as exc:
        raise RulesFileError(f"{path}: not a readable ONNX model ({exc})") from exc


def check_file(path: str | Path) -> list[Violation]:
    """Every TensorRT explicit-quantization rule ``path`` breaks (empty: it passes)."""
    return check_model(load(path))


def format_violations(path: str | Path, violations: list[Violation], limit: int = 20) -> str:
    """A readable summary: counts per rule, then up to ``limit`` violations, one per line."""
    if not violations:
        return f"{path}: follows TensorRT's explicit-quantization rules"
    counts: dict[str, int] = {}
    for violation in violations:
        counts[violation.rule] = counts.get(violation.rule, 0) + 1
    summary = ", ".join(f"{rule} x{count}" for rule, count in counts.items())
    lines = [f"{path}: {len(violations)} violation(s) of TensorRT's explicit-quantization rules ({summary})"]
    lines += [f"  {violation}" for violation in violations[:limit]]
    if len(violations) > limit:
        lines.append(f"  ... and {len(violations) - limit} more")
    return "\n".join(lines)


def check_model(model: onnx.ModelProto) -> list[Violation]:
    """Every rule ``model`` breaks, in graph order within each rule."""
    graph = model.graph
    constants = _constants(graph)
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    violations = _check_opset(model)
    for node in graph.node:
        if node.op_type in QDQ_OPS and node.domain in ("", "ai.onnx"):
            violations += _check_qdq(node, constants, producers, consumers)
    for node in graph.node:
        violations += _check_node(node, producers)
    return violations


def _name(node: onnx.NodeProto) -> str:
    return node.name or f"{node.op_type}->{','.join(node.output)}"


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Initializers and ``Constant`` outputs, by tensor name."""
    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attribute.t)
    return values


def _attribute(node: onnx.NodeProto, name: str, default: object) -> object:
    for attribute in node.attribute:
        if attribute.name == name:
            return onnx.helper.get_attribute_value(attribute)
    return default


def _check_opset(model: onnx.ModelProto) -> list[Violation]:
    versions = [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")]
    low, high = OPSET_RANGE
    if not versions:
        return [Violation("opset", "(model)", "the model imports no default-domain opset")]
    if not low <= versions[0] <= high:
        return [Violation("opset", "(model)", f"opset {versions[0]} is outside {low}..{high}")]
    return []


def _check_qdq(
    node: onnx.NodeProto,
    constants: dict[str, np.ndarray],
    producers: dict[str, onnx.NodeProto],
    consumers: dict[str, list[onnx.NodeProto]],
) -> list[Violation]:
    name, found = _name(node), []
    scale = constants.get(node.input[1]) if len(node.input) > 1 else None
    if scale is None:
        found.append(Violation("scale-not-constant", name, f"scale {node.input[1]!r} is computed, not a constant"))
    elif not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        bad = float(np.asarray(scale, np.float64).min()) if scale.size else math.nan
        found.append(Violation("scale-not-positive", name, f"scale {node.input[1]!r} has values <= 0 or not finite "
                                                           f"(smallest {bad:g})"))
    zero_point = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if zero_point is not None:
        if zero_point.dtype != np.int8:
            found.append(Violation("zero-point-type", name, f"zero point {node.input[2]!r} is "
                                                            f"{zero_point.dtype.name.upper()}, not INT8"))
        if np.any(zero_point != 0):
            found.append(Violation("zero-point-nonzero", name, f"zero point {node.input[2]!r} is not 0 "
                                                               f"(asymmetric, value {int(np.ravel(zero_point)[0])})"))
    elif len(node.input) > 2 and node.input[2]:
        found.append(Violation("scale-not-constant", name, f"zero point {node.input[2]!r} is computed"))
    elif node.op_type == "QuantizeLinear":
        found.append(Violation("zero-point-type", name, "no zero point: QuantizeLinear then outputs UINT8"))
    if scale is not None and scale.size > 1:
        weight = node.input[0] in constants or (
            node.op_type == "DequantizeLinear"
            and node.input[0] in producers
            and producers[node.input[0]].op_type == "QuantizeLinear"
            and producers[node.input[0]].input[0] in constants
        )
        if not weight:
            found.append(Violation("per-axis-activation", name, f"per-axis scale on activation {node.input[0]!r}"))
        axis = int(_attribute(node, "axis", 1))  # type: ignore[arg-type]
        if axis != 0:
            found.append(Violation("per-axis-axis", name, f"per-axis scale along axis {axis}, not 0"))
    if node.op_type == "DequantizeLinear":
        for consumer in consumers.get(node.output[0], []):
            if consumer.op_type == "Conv" and len(consumer.input) > 2 and consumer.input[2] == node.output[0]:
                found.append(Violation("quantized-bias", name, f"dequantises the bias of Conv {_name(consumer)!r}"))
    return found


def _check_node(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> list[Violation]:
    name = _name(node)
    if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
        domain = f" (domain {node.domain})" if node.domain not in ("", "ai.onnx") else ""
        return [Violation("unsupported-op", name, f"{node.op_type}{domain} is not in TensorRT's ONNX operator matrix")]
    if node.op_type == "Resize":
        return list(_check_resize(node))
    if node.op_type in ("ArgMax", "ArgMin") and int(_attribute(node, "select_last_index", 0)) != 0:  # type: ignore
        return [Violation("argmax-select-last-index", name, "select_last_index=1; TensorRT takes only 0")]
    if node.op_type == "Conv":
        missing = [
            role for role, index in (("input", 0), ("weight", 1))
            if index >= len(node.input)
            or node.input[index] not in producers
            or producers[node.input[index]].op_type != "DequantizeLinear"
        ]
        if missing:
            return [Violation("conv-not-int8", name, f"its {' and '.join(missing)} not read from DequantizeLinear: "
                                                     "this convolution would run in float")]
    return []


def _check_resize(node: onnx.NodeProto) -> Iterable[Violation]:
    name = _name(node)

    def text(attribute: str, default: str) -> str:
        value = _attribute(node, attribute, default)
        return value.decode() if isinstance(value, bytes) else str(value)

    for attribute, default, allowed in (
        ("mode", "nearest", RESIZE_MODES),
        ("coordinate_transformation_mode", "half_pixel", RESIZE_COORDINATE_MODES),
        ("nearest_mode", "round_prefer_floor", RESIZE_NEAREST_MODES),
    ):
        value = text(attribute, default)
        if value not in allowed:
            yield Violation("resize-mode", name, f"{attribute}={value!r}; TensorRT takes {sorted(allowed)}")
    if int(_attribute(node, "antialias", 0)):  # type: ignore[arg-type]
        yield Violation("resize-mode", name, "antialias=1 is not supported by TensorRT")
