"""Bring your own model: wrap a segmentation ONNX graph trained elsewhere into this package's model file.

:func:`import_onnx` takes an ONNX file with one image input and a segmentation output, and writes
``OUT/<name>.onnx`` + ``OUT/<name>.json`` that every ONNX engine (onnxruntime, openvino), and so
the node, ``attendseg-eval``, ``attendseg-bench`` and the bag evaluation, runs like an exported
AttendSeg model:

- input: the one non-constant graph input, 4-D float with 3 channels, NCHW (NHWC gets a Transpose
  in front); renamed ``input``, float32 ``(N, 3, H, W)``. A dynamic height/width is fixed to
  ``input_size``; a fixed one must equal it. The batch axis is made dynamic when the graph runs
  that way, else it stays 1.
- output (the first graph output, or ``output``): logits, float ``(N, C, h, w)`` at any resolution
  with C = the number of classes; or class ids, integer ``(N, h, w)`` or ``(N, 1, h, w)``.
- appended post-processing, in ONNX, like the exported AttendSeg graph: logits are resized
  bilinearly to ``(H, W)`` when ``(h, w)`` differs, then ``labels`` = ArgMax over C and
  ``confidence`` = 255 / sum(exp(logits - max)) (the top softmax probability x 255), both uint8
  ``(N, H, W)``. Class ids outside the table become 255 (unknown), are resized nearest-neighbour,
  and get a confidence of 255. Other outputs (auxiliary heads) and the nodes only they need are dropped.

The result is checked with ``onnx.checker`` and run in onnxruntime on a zero frame before anything
is written. Every refusal is a :class:`ModelImportError` naming the file and the mismatch.
The user's files are only read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

from ..data.classes import ClassTable, load_classes_yaml
from ..data.preprocessing import Normalization
from .sidecar import (
    IMPORTED_ONNX,
    INPUT_NAME,
    OUTPUT_NAMES,
    ModelFileError,
    ModelInfo,
    graph_num_classes,
    value_dims,
    write_info,
)

MIN_OPSET = 11  # Resize with coordinate_transformation_mode, Round, ArgMax over an axis
OUTPUT_KINDS = ("logits", "class_ids")
_FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE)
_PREFIX = "attendseg_import/"  # names of the nodes and tensors this module adds


class ModelImportError(ModelFileError):
    """The ONNX file cannot be wrapped: unreadable, not an image segmentation model, or not matching the classes."""


@dataclass(frozen=True)
class ImportedModel:
    """What :func:`import_onnx` wrote and what it found."""

    path: Path  # OUT/<name>.onnx (its sidecar beside it)
    info: ModelInfo
    output_kind: str  # one of OUTPUT_KINDS
    output_size: tuple[int, int]  # (h, w) of the source model's output at the fixed input size
    dynamic_batch: bool
    warnings: tuple[str, ...] = field(default_factory=tuple)


def import_onnx(
    onnx_path: str | Path,
    classes: str | Path,
    out_dir: str | Path,
    input_size: tuple[int, int] | None = None,
    normalization: Normalization | None = None,
    name: str | None = None,
    output: str | None = None,
) -> ImportedModel:
    """Wrap ``onnx_path`` with this package's post-processing; write ``out_dir/<name>.onnx`` and its sidecar.

    ``classes``: a ``classes.yaml`` (:func:`attendseg_ros.data.classes.load_classes_yaml`), whose
    order is the model's class ids. ``input_size``: ``(height, width)``, needed when the model's
    input size is dynamic. ``normalization``: the mean/std the model was trained with (default:
    the yaml's, else ImageNet's). ``name``: the file name (default: the ONNX file's stem).
    ``output``: which graph output holds the segmentation (default: the first).
    """
    source = Path(onnx_path)
    try:
        table, yaml_normalization = load_classes_yaml(classes)
    except ValueError as exc:
        raise ModelImportError(str(exc)) from exc
    normalization = _checked_normalization(normalization or yaml_normalization or Normalization())
    name = name or source.name.removesuffix(".onnx")
    if not name or "/" in name or os.sep in name or name.startswith("."):
        raise ModelImportError(f"--name {name!r}: a file name without folders is needed")
    if input_size is not None and (len(input_size) != 2 or min(input_size) < 1):
        raise ModelImportError(f"input size {input_size}: height and width must be at least 1")
    out_dir = Path(out_dir)
    target = out_dir / f"{name}.onnx"
    if target.resolve() == source.resolve():
        raise ModelImportError(f"{target}: would overwrite the source model; choose another --out or --name")

    model = _load(source)
    opset = _opset(model, source)
    graph = model.graph
    del graph.value_info[:]  # shapes of the old input size; inferred again at the end
    image = _image_input(graph, source)
    layout = "NCHW" if value_dims(image)[1] == 3 else "NHWC"
    size = _fix_size(image, layout, input_size, source)
    outputs = [o.name for o in graph.output]
    chosen = output or outputs[0]
    if chosen not in outputs:
        raise ModelImportError(f"{source}: no output named {chosen!r}; the outputs are {outputs}")
    probe = _probe(model, image, layout, size, chosen, source)
    kind = _output_kind(probe, chosen, table, source)
    warnings = _probe_warnings(probe, kind)
    out_size = (int(probe.shape[-2]), int(probe.shape[-1]))

    source_input = image.name
    dtype = image.type.tensor_type.elem_type
    direct = layout == "NCHW" and dtype == TensorProto.FLOAT  # the image input becomes ours as it is
    moved = _free_names(graph, (INPUT_NAME, *OUTPUT_NAMES), keep=source_input if direct else None)
    segmentation = moved.get(chosen, chosen)
    image_name = image.name  # renamed when it clashed with ours
    graph.input.remove(image)
    graph.input.insert(0, helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, *size]))
    front: list[onnx.NodeProto] = []
    if direct:
        _rename(graph, image_name, INPUT_NAME)
    else:
        tensor = INPUT_NAME
        if layout == "NHWC":
            front.append(helper.make_node("Transpose", [tensor], [_PREFIX + "nhwc"], perm=[0, 2, 3, 1],
                                          name=_PREFIX + "to_nhwc"))
            tensor = _PREFIX + "nhwc"
        if dtype != TensorProto.FLOAT:
            front.append(helper.make_node("Cast", [tensor], [_PREFIX + "cast"], to=dtype, name=_PREFIX + "cast"))
            tensor = _PREFIX + "cast"
        front.append(helper.make_node("Identity", [tensor], [image_name], name=_PREFIX + "image"))
    for index, node in enumerate(front):
        graph.node.insert(index, node)

    post = (_logits_post(segmentation, probe, size, opset) if kind == "logits"
            else _class_id_post(segmentation, probe, size, table, opset))
    graph.node.extend(post)
    del graph.output[:]
    graph.output.extend(helper.make_tensor_value_info(n, TensorProto.UINT8, ["batch", *size]) for n in OUTPUT_NAMES)
    _prune(graph)
    dynamic_batch = _settle_batch(model, size, source)
    if not dynamic_batch:
        warnings.append("the model runs one frame per call (its graph fixes the batch to 1): set the node's "
                        "max_batch to 1, or re-export the model with a dynamic batch axis")
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    scored = graph_num_classes(model)  # what the engines check at load time (a class-id graph's own ArgMax)
    if scored is not None and scored != table.num_classes:
        raise ModelImportError(f"{source}: the model predicts {scored} classes (its ArgMax chooses among {scored}) "
                               f"but {table.name!r} lists {table.num_classes}")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelImportError(f"{source}: the wrapped graph does not pass onnx.checker: {exc}") from exc

    info = ModelInfo(
        config=None,
        classes=table,
        input_size=size,
        normalization=normalization,
        name=name,
        architecture=IMPORTED_ONNX,
        imported={
            "source": str(source.resolve()),
            "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
            "classes_file": str(Path(classes).resolve()),
            "input": {"name": source_input, "layout": layout, "type": helper.tensor_dtype_to_np_dtype(dtype).name},
            "output": {"name": chosen, "kind": kind, "size": list(out_size),
                       **({"channels": int(probe.shape[1])} if kind == "logits" else {})},
            "opset": opset,
            "batch": "dynamic" if dynamic_batch else 1,
            "warnings": list(warnings),
        },
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    onnx.save(model, str(partial))
    os.replace(partial, target)
    write_info(target.with_suffix(".json"), info)
    return ImportedModel(target, info, kind, out_size, dynamic_batch, tuple(warnings))


def _checked_normalization(normalization: Normalization) -> Normalization:
    mean, std = tuple(normalization.mean), tuple(normalization.std)
    if len(mean) != 3 or len(std) != 3:
        raise ModelImportError(f"mean and std need three values each (R G B), got {list(mean)} and {list(std)}")
    if not all(0.0 <= m <= 1.0 for m in mean) or not all(0.0 < s <= 1.0 for s in std):
        raise ModelImportError(
            f"mean {list(mean)} / std {list(std)}: give them for pixels scaled to 0-1 (mean within [0, 1], std within "
            f"(0, 1]); for 0-255 values divide by 255, e.g. --mean 0.485 0.456 0.406 --std 0.229 0.224 0.225"
        )
    return Normalization(mean, std)  # type: ignore[arg-type]


def _load(path: Path) -> onnx.ModelProto:
    if not path.is_file():
        raise ModelImportError(f"{path}: ONNX file not found")
    try:
        model = onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise ModelImportError(f"{path}: not a readable ONNX model ({exc})") from exc
    if not model.graph.node or not model.graph.output:
        raise ModelImportError(f"{path}: not a readable ONNX model (no graph nodes or outputs)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ModelImportError(f"{path}: not a valid ONNX model: {exc}") from exc
    return model


def _opset(model: onnx.ModelProto, path: Path) -> int:
    version = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if version < MIN_OPSET:
        raise ModelImportError(f"{path}: ONNX opset {version} is too old; re-export the model with opset "
                               f"{MIN_OPSET} or newer")
    return version


def _image_input(graph: onnx.GraphProto, path: Path) -> onnx.ValueInfoProto:
    constants = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise ModelImportError(f"{path}: not an image model: {len(inputs)} inputs {[i.name for i in inputs]}; an "
                               "importable model has a single image input (N, 3, H, W)")
    image = inputs[0]
    tensor = image.type.tensor_type
    dims = value_dims(image)
    if not image.type.HasField("tensor_type") or len(dims) != 4:
        raise ModelImportError(f"{path}: not an image model: input {image.name!r} has shape {dims}; an importable "
                               "model takes one image, (N, 3, H, W) or (N, H, W, 3)")
    if tensor.elem_type not in _FLOAT_TYPES:
        raise ModelImportError(f"{path}: input {image.name!r} is {TensorProto.DataType.Name(tensor.elem_type)}; an "
                               "importable model takes a float image (normalised with --mean/--std)")
    if dims[1] != 3 and dims[3] != 3:
        raise ModelImportError(f"{path}: not an RGB image model: input {image.name!r} has shape {dims}, with 3 "
                               "channels neither on axis 1 (NCHW) nor on axis 3 (NHWC)")
    return image


def _fix_size(image: onnx.ValueInfoProto, layout: str, input_size: tuple[int, int] | None,
              path: Path) -> tuple[int, int]:
    """Set the input's height and width (``input_size``, needed when dynamic); returns ``(H, W)``."""
    axes = (2, 3) if layout == "NCHW" else (1, 2)
    dims = image.type.tensor_type.shape.dim
    fixed = [dims[a].dim_value if dims[a].HasField("dim_value") and dims[a].dim_value > 0 else None for a in axes]
    if input_size is None:
        if None in fixed:
            raise ModelImportError(f"{path}: input {image.name!r} has a dynamic size {value_dims(image)}: pass "
                                   "--input-size H W (the size the model was trained at)")
        return fixed[0], fixed[1]  # type: ignore[return-value]
    wanted = (int(input_size[0]), int(input_size[1]))
    clash = [f"{'height' if i == 0 else 'width'} {f}" for i, f in enumerate(fixed) if f is not None and f != wanted[i]]
    if clash:
        raise ModelImportError(f"{path}: input {image.name!r} is fixed at {value_dims(image)} ({', '.join(clash)}); it "
                               f"cannot be set to {wanted[0]}x{wanted[1]}: leave --input-size out, or re-export the "
                               "model with a dynamic or that size")
    for axis, value in zip(axes, wanted, strict=True):
        dims[axis].Clear()
        dims[axis].dim_value = value
    return wanted


def _session(model: onnx.ModelProto) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the probe's own errors are reported; no onnxruntime warnings on stderr
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _probe(model: onnx.ModelProto, image: onnx.ValueInfoProto, layout: str, size: tuple[int, int], output: str,
           path: Path) -> np.ndarray:
    """The chosen output of the source model on one zero frame of the fixed size."""
    shape = [1, 3, *size] if layout == "NCHW" else [1, *size, 3]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(image.type.tensor_type.elem_type)
    try:
        session = _session(model)
        return session.run([output], {image.name: np.zeros(shape, dtype)})[0]
    except Exception as exc:  # onnxruntime's errors derive from Exception only
        raise ModelImportError(f"{path}: onnxruntime cannot run the model on a {size[0]}x{size[1]} input "
                               f"({_first_line(exc)}); choose an --input-size the model accepts (often a "
                               "multiple of 32) or the size it was exported at") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:400] if text else type(exc).__name__


def _output_kind(probe: np.ndarray, output: str, table: ClassTable, path: Path) -> str:
    shape = tuple(probe.shape)
    described = f"output {output!r} is {probe.dtype} {shape}"
    if np.issubdtype(probe.dtype, np.floating) and probe.ndim == 4 and shape[1] > 1:
        if shape[1] != table.num_classes:
            hint = (" (it looks channels-last: export logits as (N, C, h, w))"
                    if shape[3] == table.num_classes else "")
            raise ModelImportError(f"{path}: the model predicts {shape[1]} classes ({described}) but "
                                   f"{table.name!r} lists {table.num_classes}{hint}")
        return "logits"
    if np.issubdtype(probe.dtype, np.integer) and (probe.ndim == 3 or (probe.ndim == 4 and shape[1] == 1)):
        return "class_ids"
    raise ModelImportError(f"{path}: not a segmentation model: {described}; expected logits, float (N, C, h, w) with "
                           f"C = {table.num_classes} classes, or class ids, integer (N, h, w) or (N, 1, h, w)")


def _probe_warnings(probe: np.ndarray, kind: str) -> list[str]:
    if kind != "logits":
        return []
    values = probe.astype(np.float64)
    if values.min() >= 0.0 and values.max() <= 1.0 and np.allclose(values.sum(axis=1), 1.0, atol=1e-3):
        return ["the output looks like probabilities (softmax already applied): labels are right, but confidence "
                "assumes logits and comes out too low; export the model without its final softmax"]
    return []


def _tensor_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {o.name for o in graph.output} | {t.name for t in graph.initializer}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names - {""}


def _free_names(graph: onnx.GraphProto, reserved: Iterable[str], keep: str | None) -> dict[str, str]:
    """Rename tensors of the source graph that carry one of our I/O names (except ``keep``, the image input).

    Returns the new name of each renamed tensor.
    """
    names = _tensor_names(graph)
    moved = {wanted: _PREFIX + "source/" + wanted for wanted in reserved if wanted in names and wanted != keep}
    for old, new in moved.items():
        _rename(graph, old, new)
    return moved


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Rename tensor ``old`` to ``new`` everywhere in ``graph`` (and where subgraphs read it)."""
    for value in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        if value.name == old:
            value.name = new
    for node in graph.node:
        for slot, name in enumerate(node.input):
            if name == old:
                node.input[slot] = new
        for slot, name in enumerate(node.output):
            if name == old:
                node.output[slot] = new
        for attribute in node.attribute:
            for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                _rename(sub, old, new)


def _const(name: str, values: Any, dtype: Any) -> onnx.NodeProto:
    """A Constant node whose output is the tensor ``name``."""
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(values, dtype)), name=name)


def _node(op: str, inputs: list[str], output: str, **attributes: Any) -> onnx.NodeProto:
    return helper.make_node(op, inputs, [output], name=output, **attributes)


def _reduce(op: str, tensor: str, output: str, opset: int, keepdims: int) -> list[onnx.NodeProto]:
    """``op`` over axis 1: the axes are an input from opset 13 (ReduceSum) / 18 (the others), an attribute before."""
    if opset >= (13 if op == "ReduceSum" else 18):
        return [_const(f"{output}_axes", [1], np.int64),
                _node(op, [tensor, f"{output}_axes"], output, keepdims=keepdims)]
    return [_node(op, [tensor], output, axes=[1], keepdims=keepdims)]


def _resize(tensor: str, output: str, size: tuple[int, int], mode: str) -> list[onnx.NodeProto]:
    """Resize ``(N, C, h, w)`` to ``(N, C, H, W)``: linear (half-pixel, as torch's bilinear) or nearest (floor)."""
    extra = ({"coordinate_transformation_mode": "half_pixel"} if mode == "linear"
             else {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})
    return [
        _node("Shape", [tensor], f"{output}_shape"),
        _const(f"{output}_start", [0], np.int64),
        _const(f"{output}_end", [2], np.int64),
        _node("Slice", [f"{output}_shape", f"{output}_start", f"{output}_end"], f"{output}_nc"),
        _const(f"{output}_hw", list(size), np.int64),
        _node("Concat", [f"{output}_nc", f"{output}_hw"], f"{output}_sizes", axis=0),
        _const(f"{output}_roi", np.zeros(0), np.float32),
        _const(f"{output}_scales", np.zeros(0), np.float32),
        _node("Resize", [tensor, f"{output}_roi", f"{output}_scales", f"{output}_sizes"], output, mode=mode, **extra),
    ]


def _logits_post(logits: str, probe: np.ndarray, size: tuple[int, int], opset: int) -> list[onnx.NodeProto]:
    """labels = argmax over C; confidence = round(255 / sum(exp(logits - max))); at the input size, uint8."""
    p = _PREFIX
    nodes: list[onnx.NodeProto] = []
    tensor = logits
    if probe.dtype != np.float32:
        nodes.append(_node("Cast", [tensor], p + "logits_float", to=TensorProto.FLOAT))
        tensor = p + "logits_float"
    if tuple(probe.shape[-2:]) != tuple(size):
        nodes += _resize(tensor, p + "logits_resized", size, "linear")
        tensor = p + "logits_resized"
    nodes.append(_node("ArgMax", [tensor], p + "argmax", axis=1, keepdims=0))
    nodes.append(_node("Cast", [p + "argmax"], OUTPUT_NAMES[0], to=TensorProto.UINT8))
    nodes += _reduce("ReduceMax", tensor, p + "peak", opset, keepdims=1)
    nodes.append(_node("Sub", [tensor, p + "peak"], p + "shifted"))
    nodes.append(_node("Exp", [p + "shifted"], p + "exp"))
    nodes += _reduce("ReduceSum", p + "exp", p + "sum", opset, keepdims=0)
    nodes.append(_const(p + "full", np.float32(255.0), np.float32))
    nodes.append(_node("Div", [p + "full", p + "sum"], p + "scaled"))
    nodes.append(_node("Round", [p + "scaled"], p + "rounded"))
    nodes.append(_node("Cast", [p + "rounded"], OUTPUT_NAMES[1], to=TensorProto.UINT8))
    return nodes


def _class_id_post(ids: str, probe: np.ndarray, size: tuple[int, int], table: ClassTable,
                   opset: int) -> list[onnx.NodeProto]:
    """labels = the ids (outside [0, C) -> 255, unknown) resized nearest-neighbour; confidence = 255."""
    p = _PREFIX
    nodes = [_node("Cast", [ids], p + "ids", to=TensorProto.INT64)]
    tensor = p + "ids"
    if probe.ndim == 3:  # (N, h, w) -> (N, 1, h, w), the rank Resize and the final squeeze expect
        nodes.append(_const(p + "shape4", [0, 1, *probe.shape[1:]], np.int64))
        nodes.append(_node("Reshape", [tensor, p + "shape4"], p + "ids4"))
        tensor = p + "ids4"
    nodes += [
        _const(p + "zero", np.int64(0), np.int64),
        _const(p + "classes", np.int64(table.num_classes), np.int64),
        _const(p + "unknown", np.int64(255), np.int64),
        _node("Less", [tensor, p + "zero"], p + "negative"),
        _node("Not", [p + "negative"], p + "non_negative"),
        _node("Less", [tensor, p + "classes"], p + "below"),
        _node("And", [p + "non_negative", p + "below"], p + "valid"),
        _node("Where", [p + "valid", tensor, p + "unknown"], p + "mapped"),
        _node("Cast", [p + "mapped"], p + "ids_uint8", to=TensorProto.UINT8),
    ]
    tensor = p + "ids_uint8"
    if tuple(probe.shape[-2:]) != tuple(size):
        nodes += _resize(tensor, p + "ids_resized", size, "nearest")
        tensor = p + "ids_resized"
    nodes += [
        _const(p + "shape3", [0, *size], np.int64),
        _node("Reshape", [tensor, p + "shape3"], OUTPUT_NAMES[0]),
        _node("Shape", [OUTPUT_NAMES[0]], p + "labels_shape"),
        helper.make_node("ConstantOfShape", [p + "labels_shape"], [OUTPUT_NAMES[1]], name=OUTPUT_NAMES[1],
                         value=numpy_helper.from_array(np.array([255], np.uint8))),
    ]
    return nodes


def _prune(graph: onnx.GraphProto) -> None:
    """Drop the nodes, initializers and constant inputs that no graph output needs (auxiliary heads)."""
    needed = {o.name for o in graph.output}
    kept: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if needed & set(node.output):
            kept.append(node)
            needed.update(node.input)
            for attribute in node.attribute:  # tensors of the outer scope read inside subgraphs
                for sub in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
                    needed |= _tensor_names(sub)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    unused = [t for t in graph.initializer if t.name not in needed]
    for tensor in unused:
        graph.initializer.remove(tensor)
    for value in [i for i in graph.input if i.name != INPUT_NAME and i.name not in needed]:
        graph.input.remove(value)


def _settle_batch(model: onnx.ModelProto, size: tuple[int, int], path: Path) -> bool:
    """Keep the batch axis dynamic if the wrapped graph runs two frames at once, else fix it to 1.

    Returns whether it is dynamic. :class:`ModelImportError` when even one frame fails.
    """
    values = [*model.graph.input[:1], *model.graph.output]
    error: Exception | None = None
    for batch in (2, 1):
        for value in values:
            dim = value.type.tensor_type.shape.dim[0]
            dim.Clear()
            if batch == 1:
                dim.dim_value = 1
            else:
                dim.dim_param = "batch"
        try:
            labels, confidence = _session(model).run(list(OUTPUT_NAMES),
                                                     {INPUT_NAME: np.zeros((batch, 3, *size), np.float32)})
        except Exception as exc:  # noqa: BLE001 - onnxruntime's errors derive from Exception only; reported below
            error = exc
            continue
        expected = (batch, *size)
        if labels.shape != expected or confidence.shape != expected or labels.dtype != np.uint8:
            raise ModelImportError(f"{path}: the wrapped model returned labels {labels.dtype} {labels.shape} on a zero "
                                   f"frame, expected uint8 {expected}")
        return batch == 2
    raise ModelImportError(f"{path}: the wrapped model does not run in onnxruntime ({_first_line(error)})") from error
