"""TensorRT's explicit-quantization rules: the shipped files, each rule on a small graph, the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from attendseg_ros.cli import check_tensorrt
from attendseg_ros.modelfiles.tensorrt_rules import RULES, check_file, check_model
from attendseg_ros.resources import weights_dir

WEIGHTS = weights_dir()


def _tensorrt_ready_files() -> list[Path]:
    """Every shipped INT8 .onnx whose calibration record says it is the TensorRT layout."""
    files = []
    for path in sorted(WEIGHTS.glob("*.onnx")):
        record = path.with_suffix(".calibration.json")
        if record.is_file() and json.loads(record.read_text()).get("layout") == "tensorrt":
            files.append(path)
    return files


def test_a_tensorrt_ready_file_is_shipped() -> None:
    assert _tensorrt_ready_files(), f"no INT8 .onnx in {WEIGHTS} claims the tensorrt layout"


@pytest.mark.parametrize("path", _tensorrt_ready_files(), ids=lambda p: p.name)
def test_shipped_tensorrt_files_follow_the_rules(path: Path) -> None:
    violations = check_file(path)
    assert violations == [], "\n".join(map(str, violations[:20]))


@pytest.mark.parametrize("path", _tensorrt_ready_files(), ids=lambda p: p.name)
def test_shipped_tensorrt_files_import_only_the_default_domain_at_opset_17(path: Path) -> None:
    model = onnx.load(str(path), load_external_data=False)
    assert [(entry.domain, entry.version) for entry in model.opset_import] == [("", 17)]


def test_unused_opset_imports_are_dropped() -> None:
    from attendseg_ros.modelfiles.export import drop_unused_opset_imports

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    assert drop_unused_opset_imports(model) == 1
    assert [entry.domain for entry in model.opset_import] == [""]


def test_the_cpu_layout_file_breaks_the_rules_it_is_known_to_break() -> None:
    """onnxruntime's CPU layout: uint8 and asymmetric zero points, int32 bias DQ, the stem conv in float."""
    violations = check_file(WEIGHTS / "attendseg_camvid11.int8.onnx")
    rules = {v.rule for v in violations}
    assert rules == {"zero-point-type", "zero-point-nonzero", "quantized-bias", "conv-not-int8"}
    stem = [v for v in violations if v.rule == "conv-not-int8"]
    assert len(stem) == 1 and "weight" in stem[0].message and stem[0].node
    assert all(v.node and v.message for v in violations)


# --- one rule at a time, on a Q/DQ convolution graph ---------------------------------------------


def _qdq_conv(
    *,
    opset: int = 17,
    act_zero_point: np.ndarray | None = None,
    weight_scale: np.ndarray | None = None,
    weight_axis: int = 0,
    act_scale: np.ndarray | None = None,
    computed_scale: bool = False,
    quantized_bias: bool = False,
    float_weight: bool = False,
    extra_nodes: tuple[onnx.NodeProto, ...] = (),
) -> onnx.ModelProto:
    """x -Q/DQ-> Conv(W via DQ, bias) -> y, plus ``extra_nodes`` reading ``y``: a file that passes by default."""
    zero = act_zero_point if act_zero_point is not None else np.array(0, np.int8)
    scale = act_scale if act_scale is not None else np.array(0.05, np.float32)
    inits = [
        numpy_helper.from_array(scale, "x_scale"),
        numpy_helper.from_array(zero, "x_zp"),
        numpy_helper.from_array(np.ones((4, 3, 1, 1), np.int8), "w_q"),
        numpy_helper.from_array(weight_scale if weight_scale is not None else np.full(4, 0.1, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zp"),
        numpy_helper.from_array(np.zeros(4, np.float32), "bias"),
        numpy_helper.from_array(np.ones((4, 3, 1, 1), np.float32), "w_float"),
        numpy_helper.from_array(np.zeros(4, np.int32), "bias_q"),
        numpy_helper.from_array(np.full(4, 0.005, np.float32), "bias_scale"),
        numpy_helper.from_array(np.zeros(4, np.int32), "bias_zp"),
    ]
    nodes = []
    scale_name = "x_scale"
    if computed_scale:
        nodes.append(helper.make_node("Abs", ["x_scale"], ["x_scale_abs"], name="scale_abs"))
        scale_name = "x_scale_abs"
    nodes += [
        helper.make_node("QuantizeLinear", ["x", scale_name, "x_zp"], ["x_q"], name="x_quantize"),
        helper.make_node("DequantizeLinear", ["x_q", scale_name, "x_zp"], ["x_dq"], name="x_dequantize"),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w_dq"], name="w_dequantize",
                         axis=weight_axis),
    ]
    bias = "bias"
    if quantized_bias:
        nodes.append(helper.make_node("DequantizeLinear", ["bias_q", "bias_scale", "bias_zp"], ["bias_dq"],
                                      name="bias_dequantize", axis=0))
        bias = "bias_dq"
    nodes.append(helper.make_node("Conv", ["x_dq", "w_float" if float_weight else "w_dq", bias], ["y"], name="conv"))
    nodes += list(extra_nodes)
    outputs = [helper.make_tensor_value_info(n.output[0], TensorProto.FLOAT, None) for n in extra_nodes] or [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])
    ]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _resize(**attributes: object) -> onnx.NodeProto:
    return helper.make_node("Resize", ["y", "", "resize_scales"], ["z"], name="resize", **attributes)


CASES = {
    "passes": ({}, set()),
    "opset 11": ({"opset": 11}, {"opset"}),
    "opset 18": ({"opset": 18}, {"opset"}),
    "uint8 zero point": ({"act_zero_point": np.array(0, np.uint8)}, {"zero-point-type"}),
    "asymmetric": ({"act_zero_point": np.array(3, np.int8)}, {"zero-point-nonzero"}),
    "negative scale": ({"act_scale": np.array(-0.1, np.float32)}, {"scale-not-positive"}),
    "zero weight scale": ({"weight_scale": np.array([0.1, 0, 0.1, 0.1], np.float32)}, {"scale-not-positive"}),
    "computed scale": ({"computed_scale": True}, {"scale-not-constant"}),
    "per-axis activation": ({"act_scale": np.full(3, 0.05, np.float32), "act_zero_point": np.zeros(3, np.int8)},
                            {"per-axis-activation", "per-axis-axis"}),
    "weight axis 1": ({"weight_axis": 1}, {"per-axis-axis"}),
    "int32 bias DQ": ({"quantized_bias": True}, {"quantized-bias", "zero-point-type"}),
    "float weight": ({"float_weight": True}, {"conv-not-int8"}),
    "cubic resize": ({"extra_nodes": (_resize(mode="cubic"),)}, {"resize-mode"}),
    "tf_crop_and_resize": (
        {"extra_nodes": (_resize(mode="linear", coordinate_transformation_mode="tf_crop_and_resize"),)},
        {"resize-mode"},
    ),
    "antialias": ({"extra_nodes": (_resize(mode="linear", antialias=1),)}, {"resize-mode"}),
    "linear resize": ({"extra_nodes": (_resize(mode="linear", coordinate_transformation_mode="half_pixel"),)}, set()),
    "argmax last index": ({"extra_nodes": (helper.make_node("ArgMax", ["y"], ["z"], name="argmax", axis=1,
                                                            select_last_index=1),)}, {"argmax-select-last-index"}),
    "argmax first index": ({"extra_nodes": (helper.make_node("ArgMax", ["y"], ["z"], name="argmax", axis=1),)}, set()),
    "unsupported op": ({"extra_nodes": (helper.make_node("Det", ["y"], ["z"], name="det"),)}, {"unsupported-op"}),
    "contrib op": ({"extra_nodes": (helper.make_node("FusedConv", ["y"], ["z"], name="fused",
                                                     domain="com.microsoft"),)}, {"unsupported-op"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_rule_names_its_violation(case: str) -> None:
    kwargs, expected = CASES[case]
    model = _qdq_conv(**kwargs)
    if any("resize" in n.name for n in kwargs.get("extra_nodes", ())):  # type: ignore[union-attr]
        model.graph.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "resize_scales"))
    violations = check_model(model)
    assert {v.rule for v in violations} == expected, [str(v) for v in violations]
    assert {v.rule for v in violations} <= set(RULES)
    assert all(v.node for v in violations)


# --- the command ---------------------------------------------------------------------------------


def test_command_exit_status_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad, broken = tmp_path / "good.onnx", tmp_path / "bad.onnx", tmp_path / "broken.onnx"
    onnx.save(_qdq_conv(), str(good))
    onnx.save(_qdq_conv(act_zero_point=np.array(5, np.uint8)), str(bad))
    broken.write_bytes(b"not a model")
    assert check_tensorrt.main([str(good)]) == 0
    assert "follows TensorRT's explicit-quantization rules" in capsys.readouterr().out
    report = tmp_path / "report.json"
    assert check_tensorrt.main([str(good), str(bad), "--json", str(report)]) == 1
    printed = capsys.readouterr().out
    assert "zero-point-type: node 'x_quantize'" in printed and "zero-point-nonzero" in printed
    result = json.loads(report.read_text())
    assert result["passes"] is False and [f["passes"] for f in result["files"]] == [True, False]
    assert {v["rule"] for v in result["files"][1]["violations"]} == {"zero-point-type", "zero-point-nonzero"}
    assert check_tensorrt.main([str(broken)]) == 2
    assert "not a readable ONNX model" in capsys.readouterr().out
