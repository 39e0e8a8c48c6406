"""Parameters of the segmentation node: declared once with descriptors, validated, read into settings.

Every parameter is declared with a :class:`ParameterDescriptor` (description, read-only flag,
ranges) that rclpy enforces on declaration and on every set and that ``ros2 param describe``
shows. Read-only ones (model, backend, topics, QoS) are fixed when the node starts; the others
(drivable classes and cleanup, overlay alpha, which outputs publish, output resolution) change live
through ``ros2 param set`` after :func:`validate` accepts them. ``config/attendseg.yaml`` lists them
all with these defaults.

Every parameter is declared WITH a value: rclpy answers a parameter request that includes an unset
parameter with nothing at all, so one unset parameter empties ``ros2 param dump``. Nor can a
parameter file express an empty list (rcl reads ``[]`` as "not set"). The two list parameters whose
natural default is "nothing given" therefore default to ``[default]`` (:data:`DEFAULT`): the model's
drivable classes, the backend's own options; :func:`read_static`/:func:`read_live` turn it into None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

BACKENDS = ("onnxruntime", "torch", "tensorrt")
PRECISIONS = ("", "fp32", "fp16", "int8")
RESOLUTIONS = ("input", "model")
RELIABILITIES = ("best_effort", "reliable")
DEVICES = ("cpu", "cuda")
DEFAULT = "default"  # the one item of a list parameter that asks for the model's/backend's default


@dataclass(frozen=True)
class Spec:
    """One parameter: default, type, description and constraints."""

    name: str
    default: Any
    type: int
    description: str
    read_only: bool = False
    int_range: tuple[int, int] | None = None
    float_range: tuple[float, float] | None = None
    choices: tuple[str, ...] = ()

    def descriptor(self) -> ParameterDescriptor:
        description = self.description
        if self.choices:
            description += f" One of: {', '.join(repr(c) for c in self.choices)}."
        desc = ParameterDescriptor(name=self.name, type=self.type, description=description, read_only=self.read_only)
        if self.choices:
            desc.additional_constraints = f"one of {list(self.choices)}"
        if self.int_range is not None:
            desc.integer_range = [IntegerRange(from_value=self.int_range[0], to_value=self.int_range[1], step=1)]
        if self.float_range is not None:
            desc.floating_point_range = [
                FloatingPointRange(from_value=self.float_range[0], to_value=self.float_range[1], step=0.0)
            ]
        return desc


_S, _B, _I, _F, _SA = (
    ParameterType.PARAMETER_STRING,
    ParameterType.PARAMETER_BOOL,
    ParameterType.PARAMETER_INTEGER,
    ParameterType.PARAMETER_DOUBLE,
    ParameterType.PARAMETER_STRING_ARRAY,
)

SPECS: tuple[Spec, ...] = (
    # Model (fixed once configured).
    Spec("model", "", _S, "Model file (.onnx for onnxruntime, .safetensors for torch/tensorrt) with its .json "
         "sidecar beside it; empty = the embedded default model.", read_only=True),
    Spec("backend", "onnxruntime", _S, "Inference backend.", read_only=True, choices=BACKENDS),
    Spec("precision", "", _S, "Precision; empty = the backend's default (int8 for onnxruntime's default model).",
         read_only=True, choices=PRECISIONS),
    Spec("device", "cpu", _S, "Device the backend runs on.", read_only=True, choices=DEVICES),
    Spec("threads", 0, _I, "CPU threads for the backend; 0 = the backend's default.", read_only=True,
         int_range=(0, 256)),
    Spec("backend_options", [DEFAULT], _SA, "Backend-specific options as key=value (e.g. [spin=false] for "
         f"onnxruntime); [{DEFAULT}] = the backend's defaults.", read_only=True),
    # Topics and QoS (fixed once the node starts).
    Spec("camera_topics", ["camera/image_raw"], _SA, "Input image topics; <ns>/image_raw is segmented onto "
         "<ns>/segmentation/{labels,drivable_mask,confidence,overlay,info}. Relative names are in the node's "
         "namespace.", read_only=True),
    Spec("use_compressed", False, _B, "Subscribe to <topic>/compressed (sensor_msgs/CompressedImage, jpeg/png) "
         "instead of the raw images.", read_only=True),
    Spec("max_batch", 4, _I, "Most cameras segmented in one inference call.", read_only=True, int_range=(1, 64)),
    Spec("input_reliability", "best_effort", _S, "Input QoS reliability (sensor data: best_effort).",
         read_only=True, choices=RELIABILITIES),
    Spec("input_depth", 1, _I, "Input QoS history depth; the node keeps only the newest frame anyway.",
         read_only=True, int_range=(1, 100)),
    Spec("output_reliability", "reliable", _S, "QoS reliability of labels, drivable_mask, confidence, overlay.",
         read_only=True, choices=RELIABILITIES),
    Spec("output_depth", 1, _I, "QoS history depth of the outputs.", read_only=True, int_range=(1, 100)),
    Spec("autostart", True, _B, "Configure and activate on start (standalone use); false waits for a lifecycle "
         "manager.", read_only=True),
    Spec("diagnostics_period", 1.0, _F, "Seconds between /diagnostics messages.", read_only=True,
         float_range=(0.1, 60.0)),
    Spec("error_throttle_sec", 5.0, _F, "At most one error log per camera topic in this many seconds.",
         read_only=True, float_range=(0.0, 3600.0)),
    # Live.
    Spec("output_resolution", "input", _S, "Resolution of the outputs: the input image's or the model's.",
         choices=RESOLUTIONS),
    Spec("drivable_classes", [DEFAULT], _SA, f"Class names counted as drivable; [{DEFAULT}] = the model's class "
         "table default (camvid11: [Road]), which replaces it when the model is loaded."),
    Spec("drivable_min_region_fraction", 0.001, _F, "Drivable regions smaller than this fraction of the image "
         "are removed (specks).", float_range=(0.0, 1.0)),
    Spec("drivable_max_hole_fraction", 0.001, _F, "Enclosed non-drivable holes up to this fraction of the image "
         "are filled.", float_range=(0.0, 1.0)),
    Spec("drivable_connected_to_bottom", True, _B, "Keep only drivable regions touching the bottom image row "
         "(the vehicle's side)."),
    Spec("overlay_alpha", 0.5, _F, "Weight of the class colours in the overlay (0 = image only).",
         float_range=(0.0, 1.0)),
    Spec("publish_labels", True, _B, "Publish <ns>/segmentation/labels."),
    Spec("publish_drivable_mask", True, _B, "Publish <ns>/segmentation/drivable_mask (built only while subscribed)."),
    Spec("publish_confidence", True, _B, "Publish <ns>/segmentation/confidence."),
    Spec("publish_overlay", True, _B, "Publish <ns>/segmentation/overlay (built only while subscribed)."),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
LIVE = tuple(spec.name for spec in SPECS if not spec.read_only)
_DEFAULTABLE = tuple(spec.name for spec in SPECS if spec.default == [DEFAULT])


def declare(node: Node) -> None:
    """Declare every parameter on ``node`` with its default (overrides from --ros-args / YAML apply).

    ``ValueError`` if an override left one without a value (rcl reads an empty list ``[]`` as unset).
    """
    for spec in SPECS:
        if node.declare_parameter(spec.name, spec.default, spec.descriptor()).type_ == Parameter.Type.NOT_SET:
            raise ValueError(
                f"{spec.name} was given without a value: ROS reads an empty list [] as 'not set'; "
                f"give [{DEFAULT}] for the default or list the items"
            )


def validate(name: str, value: Any, class_names: tuple[str, ...] | None = None) -> str | None:
    """The reason ``value`` is not acceptable for parameter ``name``, or None if it is.

    Ranges, types and read-only flags are checked by rclpy from the descriptors; this checks what
    descriptors cannot express: choices, topic lists and class names (when the model is known).
    """
    spec = SPEC_BY_NAME.get(name)
    if spec is None or value is None:
        return None
    if spec.choices and value not in spec.choices:
        return f"{name}: {value!r} is not one of {list(spec.choices)}"
    if name == "camera_topics":
        topics = list(value)
        if not topics or any(not t or t.endswith("/") or " " in t for t in topics):
            return f"camera_topics must be a non-empty list of topic names, got {topics}"
        if len(set(topics)) != len(topics):
            return f"camera_topics has duplicates: {topics}"
    if name == "backend_options" and list(value) != [DEFAULT]:
        bad = [item for item in value if "=" not in item or not item.split("=", 1)[0].strip()]
        if bad:
            return f"backend_options must be key=value items or [{DEFAULT}], got {bad}"
    if name == "drivable_classes" and class_names is not None:
        unknown = [c for c in value if c not in class_names]
        if unknown:
            return f"drivable_classes: unknown class names {unknown}; the model's classes are {list(class_names)}"
    return None


@dataclass(frozen=True)
class StaticSettings:
    """Read-only parameters, fixed for the life of the node."""

    model: str
    backend: str
    precision: str
    device: str
    threads: int
    backend_options: tuple[str, ...] | None
    camera_topics: tuple[str, ...]
    use_compressed: bool
    max_batch: int
    input_reliability: str
    input_depth: int
    output_reliability: str
    output_depth: int
    autostart: bool
    diagnostics_period: float
    error_throttle_sec: float


@dataclass(frozen=True)
class LiveSettings:
    """Parameters that may change while the node runs (a new object per accepted change)."""

    output_resolution: str
    drivable_classes: tuple[str, ...] | None
    drivable_min_region_fraction: float
    drivable_max_hole_fraction: float
    drivable_connected_to_bottom: bool
    overlay_alpha: float
    publish_labels: bool
    publish_drivable_mask: bool
    publish_confidence: bool
    publish_overlay: bool

    def updated(self, parameters: list[Parameter]) -> LiveSettings:
        changes = {p.name: _value(p.name, p.value) for p in parameters if p.name in LIVE}
        return LiveSettings(**{**self.__dict__, **changes})


def _value(name: str, value: Any) -> Any:
    """A parameter value as the settings hold it: lists as tuples, ``[default]`` as None."""
    if isinstance(value, list | tuple):
        return None if name in _DEFAULTABLE and list(value) == [DEFAULT] else tuple(value)
    return value


def _values(node: Node, names: list[str]) -> dict[str, Any]:
    return {name: node.get_parameter(name).value for name in names}


def read_static(node: Node) -> StaticSettings:
    """The read-only settings; ``ValueError`` naming the parameter when one is invalid."""
    values = _values(node, list(StaticSettings.__dataclass_fields__))
    for name, value in values.items():
        reason = validate(name, value)
        if reason:
            raise ValueError(reason)
    return StaticSettings(**{name: _value(name, value) for name, value in values.items()})


def backend_options(items: tuple[str, ...] | None) -> dict[str, Any]:
    """``("spin=false", "optimization=all")`` -> ``{"spin": False, "optimization": "all"}`` (YAML scalars)."""
    options: dict[str, Any] = {}
    for item in items or ():
        key, value = item.split("=", 1)
        options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return options


def read_live(node: Node) -> LiveSettings:
    """The live settings as currently set on ``node``."""
    values = _values(node, list(LiveSettings.__dataclass_fields__))
    return LiveSettings(**{name: _value(name, value) for name, value in values.items()})
