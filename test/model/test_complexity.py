"""The MAC counter on networks whose counts are known by hand, and the supported-op check."""

from __future__ import annotations

import torch
from torch import nn

from attendseg_ros.model import create_model
from attendseg_ros.model.complexity import count_macs, count_params, unsupported_ops
from attendseg_ros.modelfiles.export import export_onnx


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)  # 10*10 outputs * 8 * 27
        self.depthwise = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)  # 5*5 * 8 * 9
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)  # 4 * 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.depthwise(torch.relu(self.conv(x)))), 1))


def test_mac_count_of_a_known_network() -> None:
    assert count_macs(Small(), torch.zeros(1, 3, 10, 10)) == 10 * 10 * 8 * 27 + 5 * 5 * 8 * 9 + 4 * 8
    assert count_macs(Small(), torch.zeros(2, 3, 10, 10)) == 2 * (10 * 10 * 8 * 27 + 5 * 5 * 8 * 9 + 4 * 8)
    assert count_params(Small()) == 8 * 27 + (8 * 9 + 8) + (8 * 4 + 4)


def test_attendseg_uses_only_jetson_and_onnx_operations() -> None:
    assert unsupported_ops(create_model().eval(), torch.zeros(1, 3, 64, 64)) == set()


def test_an_unsupported_operation_is_reported() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.GELU())
    assert unsupported_ops(model, torch.zeros(1, 3, 8, 8)) == {"GELU"}


# ONNX ops of the exported graph: the network's, the dynamic-batch shape plumbing and the
# post-processing (argmax, max, exp-sum for the confidence, uint8 casts).
ALLOWED_ONNX_OPS = {
    "Conv",
    "Relu",
    "Clip",
    "Sigmoid",
    "MaxPool",
    "AveragePool",
    "Add",
    "Mul",
    "Concat",
    "Resize",
    "Shape",
    "Gather",
    "Slice",
    "Unsqueeze",
    "Constant",
    "Cast",
    "Identity",
    "Softmax",
    "ArgMax",
    "ReduceMax",
    "Round",
    "Sub",
    "Exp",
    "ReduceSum",
    "Div",
    "Reciprocal",
}


def test_exported_onnx_graph_uses_only_supported_ops(tmp_path) -> None:
    import onnx

    from attendseg_ros.data import load_class_table
    from attendseg_ros.modelfiles.checkpoint import ModelInfo

    model = create_model().eval()
    info = ModelInfo(config=model.config, classes=load_class_table(), input_size=(64, 96))
    graph = onnx.load(str(export_onnx(model, info, tmp_path / "m.onnx"))).graph
    assert {node.op_type for node in graph.node} <= ALLOWED_ONNX_OPS
    assert "BatchNormalization" not in {node.op_type for node in graph.node}  # folded at export
