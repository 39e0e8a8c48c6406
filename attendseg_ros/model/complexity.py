"""Architecture and computational complexity measured over the traced graph (torch.fx).

MACs count multiply-accumulates of convolutions and linear layers, the convention of the
AttendSeg/EdgeSegNet tables (fvcore and ptflops count the same): batch norm folds into the
convolution, and element-wise ops, pooling and resizing are not MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

# Operations the Jetson path (torch2trt) and ONNX export both support; see blocks.py.
SUPPORTED_OPS: frozenset[str] = frozenset(
    {
        "Conv2d",
        "BatchNorm2d",
        "ReLU",
        "ReLU6",
        "Sigmoid",
        "MaxPool2d",
        "AvgPool2d",
        "Identity",
        "sigmoid",
        "relu",
        "add",
        "mul",
        "cat",
        "interpolate",
        "max_pool2d",
        "avg_pool2d",
        "getattr",  # tensor.shape, used to size resizes
        "getitem",
    }
)


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int

    @property
    def weight_memory_mb_int8(self) -> float:
        return self.params / 1e6

    @property
    def weight_memory_mb_fp32(self) -> float:
        return self.params * 4 / 1e6

    def to_dict(self) -> dict[str, float | int]:
        return {
            "params": self.params,
            "macs": self.macs,
            "weight_memory_mb_int8": self.weight_memory_mb_int8,
            "weight_memory_mb_fp32": self.weight_memory_mb_fp32,
        }


def trace(model: nn.Module, example: torch.Tensor) -> fx.GraphModule:
    """Symbolically trace ``model`` and annotate every node with its output shape."""
    graph_module = fx.symbolic_trace(model)
    with torch.no_grad():
        ShapeProp(graph_module).propagate(example)
    return graph_module


def _op_name(graph_module: fx.GraphModule, node: fx.Node) -> str:
    if node.op == "call_module":
        return type(graph_module.get_submodule(str(node.target))).__name__
    if node.op in ("call_function", "call_method"):
        target = node.target
        return str(target) if isinstance(target, str) else getattr(target, "__name__", str(target))
    return node.op


def op_set(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Names of every operation the traced model executes (modules by class, functions by name)."""
    graph_module = trace(model, example)
    return {
        _op_name(graph_module, node)
        for node in graph_module.graph.nodes
        if node.op in ("call_module", "call_function", "call_method")
    }


def unsupported_ops(model: nn.Module, example: torch.Tensor) -> set[str]:
    """Operations outside :data:`SUPPORTED_OPS`; empty for an exportable model."""
    return op_set(model, example) - SUPPORTED_OPS


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass on ``example`` (whole batch)."""
    graph_module = trace(model, example)
    macs = 0
    for node in graph_module.graph.nodes:
        if node.op != "call_module":
            continue
        module = graph_module.get_submodule(str(node.target))
        out = node.meta["tensor_meta"].shape
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            per_output = (module.in_channels // module.groups) * kh * kw
            macs += out.numel() * per_output
        elif isinstance(module, nn.Linear):
            macs += out.numel() * module.in_features
    return macs


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure(model: nn.Module, height: int, width: int, batch: int = 1) -> Complexity:
    """Parameters and MACs of ``model`` for one ``batch x 3 x height x width`` forward."""
    was_training = model.training
    model.eval()
    try:
        example = torch.zeros(batch, 3, height, width)
        return Complexity(params=count_params(model), macs=count_macs(model, example))
    finally:
        model.train(was_training)
