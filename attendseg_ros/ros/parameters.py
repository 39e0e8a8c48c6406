"""Parameters of the segmentation node: declared once with descriptors, validated, read into settings.

Every parameter is declared with a :class:`ParameterDescriptor` (description, read-only flag,
ranges) that rclpy enforces on declaration and on every set and that ``ros2 param describe``
shows. Read-only ones (model, backend, topics, QoS, bond) are fixed when the node starts; the
others (drivable classes and cleanup, overlay alpha, which outputs publish, output resolution,
min_confidence, input_timeout, compression) change live through ``ros2 param set`` after
:func:`validate` accepts them, except ``class_map``, which changes only while the node is
unconfigured (it is loaded at configure, against the model's classes). ``config/attendseg.yaml``
lists them all with these defaults; docs/navigation.md explains the navigation ones.

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
from rclpy.expand_topic_name import expand_topic_name
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.validate_full_topic_name import validate_full_topic_name

from .. import registry
from ..data.classes import ClassTable
from ..interop.class_map import ClassMapError, load_class_map
from ..interop.compression import JPEG_QUALITY, PNG_LEVEL
from ..runtime.pipeline import OUTPUTS
from ..runtime.topics import output_prefix, output_topic
from .bond import HEARTBEAT_PERIOD

PRECISIONS = ("", *registry.PRECISIONS)
RESOLUTIONS = ("input", "model")
RELIABILITIES = ("best_effort", "reliable")
DEFAULT = "default"  # the one item of a list parameter that asks for the model's/backend's default
MAX_IMAGE_PIXELS = 8192 * 4096  # 32 MP: a 10000x10000 PNG of 114 KB would otherwise decode to 300 MB


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

def _switches() -> dict[str, list[str]]:
    """``publish_*`` parameter -> the outputs it switches (the compressed copies share one)."""
    switches: dict[str, list[str]] = {}
    for output in OUTPUTS.values():
        switches.setdefault(output.parameter, []).append(output.name)
    return switches


def _switch_description(names: list[str]) -> str:
    outputs = [OUTPUTS[name] for name in names]
    what = "; ".join(f"<ns>/segmentation/{o.name} ({o.encoding}: {o.description})" for o in outputs)
    on_demand = all(o.on_demand for o in outputs)
    return f"Publish {what}" + ("; built only while subscribed." if on_demand else ".")


SPECS: tuple[Spec, ...] = (
    # Model (fixed once configured).
    Spec("model", "", _S, "Model file (.onnx for onnxruntime/openvino, .safetensors for torch/tensorrt) with its "
         ".json sidecar beside it; empty = the embedded default model.", read_only=True),
    Spec("backend", registry.DEFAULT_BACKEND, _S, f"Inference backend; {registry.AUTO} = the faster of "
         f"{' and '.join(registry.AUTO_CANDIDATES)} on this CPU, measured at configure (about 2 s, logged), else "
         f"{registry.DEFAULT_BACKEND}.", read_only=True, choices=registry.BACKEND_CHOICES),
    Spec("precision", "", _S, "Precision; empty = the backend's default (int8 for onnxruntime's default model).",
         read_only=True, choices=PRECISIONS),
    Spec("device", "", _S, "Device the backend runs on: cpu, cuda or cuda:N (openvino also its own: GPU, NPU, "
         "AUTO); empty = the backend's default "
         f"({', '.join(f'{b.name}: {b.default_device}' for b in registry.BACKENDS.values())}).", read_only=True),
    Spec("threads", 0, _I, "CPU threads for the backend; 0 = the backend's default.", read_only=True,
         int_range=(0, 256)),
    Spec("backend_options", [DEFAULT], _SA, "Backend-specific options as key=value (e.g. [spin=false] for "
         "onnxruntime); backend.key=value applies to that backend only (with backend auto: "
         f"[onnxruntime.spin=false, openvino.hint=latency]); [{DEFAULT}] = the backend's defaults.", read_only=True),
    # Topics and QoS (fixed once the node starts).
    Spec("camera_topics", ["camera/image_raw"], _SA, "Input image topics; <ns>/image_raw is segmented onto "
         f"<ns>/segmentation/{{{','.join((*OUTPUTS, 'label_info', 'info'))}}}, with <ns>/camera_info as the "
         "camera's intrinsics; no two cameras may share a <ns>. Relative names are in the node's namespace.",
         read_only=True),
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
    Spec("diagnostics_window", 10.0, _F, "Seconds of recent history the /diagnostics level and the *_recent "
         "counts describe (a problem older than this no longer raises the level).", read_only=True,
         float_range=(0.5, 3600.0)),
    Spec("error_throttle_sec", 5.0, _F, "At most one error log per camera topic in this many seconds.",
         read_only=True, float_range=(0.0, 3600.0)),
    Spec("max_image_pixels", MAX_IMAGE_PIXELS, _I, "Largest input image (width x height) the node decodes; "
         "larger frames, compressed ones included (checked from their header before decoding), are rejected.",
         read_only=True, int_range=(1, 2**40)),
    Spec("bond_timeout", 4.0, _F, "With autostart false (a managed node): heartbeat timeout in seconds of the "
         "bond a Nav2 lifecycle manager forms on activate; 0 = no bond (run the manager with bond_timeout: 0.0).",
         read_only=True, float_range=(0.0, 300.0)),
    # Changeable while unconfigured (loaded at configure).
    Spec("class_map", "", _S, "Merge/rename the model's classes for every output: '' = the model's classes; "
         "a name in config/class_maps (navigation, autoware), a .yaml path, or inline YAML '{classes: [...]}'. "
         "Checked at configure; changes only while the node is unconfigured."),
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
    Spec("input_timeout", 1.0, _F, "Seconds without a frame after which a camera that delivered frames is "
         "stalled: ERROR in /diagnostics ('no frame for N s'), in info and in the log, once per stall; before its "
         "first frame a camera is WARN ('waiting for the first frame'); 0 = not watched.", float_range=(0.0, 3600.0)),
    Spec("min_confidence", 0.0, _F, "Pixels whose confidence (max softmax probability) is below this get the "
         "unknown id 255 in labels ('unknown' in label_info, whose threshold it is); 0 = off. Below "
         "1/number of classes it marks nothing.", float_range=(0.0, 1.0)),
    Spec("compressed_png_level", PNG_LEVEL, _I, "zlib level of the PNG outputs (*/compressed but overlay).",
         int_range=(0, 9)),
    Spec("compressed_jpeg_quality", JPEG_QUALITY, _I, "JPEG quality of overlay/compressed.", int_range=(1, 100)),
    Spec("publish_label_info", True, _B, "Publish <ns>/segmentation/label_info (vision_msgs/LabelInfo, reliable, "
         "transient local): the class ids and names of labels and min_confidence as threshold."),
    *(Spec(name, True, _B, _switch_description(names)) for name, names in _switches().items()),
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
    descriptors cannot express: choices, devices, backend options, topic names (see also
    :func:`camera_topics_problem`) and class names (when the model is known).
    """
    spec = SPEC_BY_NAME.get(name)
    if spec is None or value is None:
        return None
    if spec.choices and value not in spec.choices:
        return f"{name}: {value!r} is not one of {list(spec.choices)}"
    if name == "device" and value:
        try:
            registry.check_device(value)
        except ValueError as exc:
            return f"device: {exc}"
    if name == "camera_topics":
        return camera_topics_problem(list(value))
    if name == "backend_options" and list(value) != [DEFAULT]:
        return _backend_options_problem(list(value))
    if name == "bond_timeout" and 0.0 < value <= HEARTBEAT_PERIOD:
        return f"bond_timeout must be 0 (no bond) or above the {HEARTBEAT_PERIOD:g} s heartbeat period, got {value:g}"
    if name == "drivable_classes" and class_names is not None:
        unknown = [c for c in value if c not in class_names]
        if unknown:
            return f"drivable_classes: unknown class names {unknown}; the classes are {list(class_names)}"
    return None


def class_map_problem(value: str, classes: ClassTable) -> str | None:
    """Why ``class_map`` ``value`` cannot map the model's ``classes`` (naming the entry), or None."""
    try:
        load_class_map(value, classes)
    except (ClassMapError, OSError) as exc:
        return f"class_map: {exc}"
    return None


def wants_bond(autostart: bool, bond_timeout: float) -> bool:
    """Whether to form a Nav2 bond: only a managed node (no autostart) with a positive timeout."""
    return not autostart and bond_timeout > 0.0


def camera_topics_problem(topics: list[str], node_name: str = "attendseg_segmentation",
                          namespace: str = "/") -> str | None:
    """Why ``topics`` cannot be served by a node ``node_name`` in ``namespace``, naming the topics; or None.

    Every input topic and every output topic derived from it must be a valid ROS name. Relative
    names are expanded in the node's namespace first, so ``camera/image_raw`` and
    ``/camera/image_raw`` in ``/`` are one topic (a duplicate), and no two cameras may share outputs
    (``/cam/image_raw`` and ``/cam/image_rect`` would both publish to ``/cam/segmentation/*``).
    """
    if not topics:
        return "camera_topics must be a non-empty list of topic names, got []"
    problems: list[str] = []
    inputs: dict[str, list[str]] = {}  # expanded input topic -> the names given for it
    for topic in topics:
        for name in (topic, output_topic(topic, next(iter(OUTPUTS)))):
            reason = _topic_name_problem(name, node_name, namespace)
            if reason:
                problems.append(f"{topic!r} is not a valid topic name{'' if name == topic else f' ({name})'}: "
                                f"{reason}")
                break
        else:
            inputs.setdefault(expand_topic_name(topic, node_name, namespace), []).append(topic)
    for expanded, names in inputs.items():
        if len(names) > 1:
            same = "" if len(set(names)) == 1 else f" (all {expanded}, outputs {output_prefix(expanded)}/*)"
            problems.append(f"camera_topics has duplicates: {names}{same}")
    outputs: dict[str, list[str]] = {}
    for expanded, names in inputs.items():
        outputs.setdefault(output_prefix(expanded), []).append(names[0])
    for prefix, names in outputs.items():
        if len(names) > 1:
            problems.append(f"cameras {names} would all publish to {prefix}/*; put each camera in its own namespace")
    return "camera_topics: " + "; ".join(problems) if problems else None


def _topic_name_problem(name: str, node_name: str, namespace: str) -> str | None:
    if not name or name != name.strip():
        return "empty or surrounded by spaces"
    try:
        validate_full_topic_name(expand_topic_name(name, node_name, namespace))
    except Exception as exc:  # noqa: BLE001 - rcl reports invalid names as ValueError or InvalidTopicNameException
        return str(exc).split(", at /")[0].replace("\n", " ")
    return None


def _backend_options_problem(items: list[str]) -> str | None:
    bad = [item for item in items if "=" not in item or not item.split("=", 1)[0].strip()]
    if bad:
        return f"backend_options must be key=value items, got {bad}"
    for item in items:
        value = item.split("=", 1)[1]
        try:
            yaml.safe_load(value)
        except yaml.YAMLError as exc:
            return f"backend_options: {item!r}: the value is not a YAML scalar ({str(exc).splitlines()[0]})"
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
    diagnostics_window: float
    error_throttle_sec: float
    max_image_pixels: int
    bond_timeout: float


@dataclass(frozen=True)
class LiveSettings:
    """Parameters that may change while the node runs (a new object per accepted change)."""

    output_resolution: str
    drivable_classes: tuple[str, ...] | None
    drivable_min_region_fraction: float
    drivable_max_hole_fraction: float
    drivable_connected_to_bottom: bool
    overlay_alpha: float
    min_confidence: float
    input_timeout: float
    compressed_png_level: int
    compressed_jpeg_quality: int
    publish_label_info: bool
    class_map: str  # applied at the next configure
    publish: frozenset[str]  # the outputs whose publish_* switch is true

    def updated(self, parameters: list[Parameter]) -> LiveSettings:
        changes: dict[str, Any] = {}
        publish = set(self.publish)
        switches = _switches()
        for param in parameters:
            if param.name not in LIVE:
                continue
            if param.name in switches:
                (publish.update if param.value else publish.difference_update)(switches[param.name])
            else:
                changes[param.name] = _value(param.name, param.value)
        return LiveSettings(**{**self.__dict__, **changes, "publish": frozenset(publish)})


def _value(name: str, value: Any) -> Any:
    """A parameter value as the settings hold it: lists as tuples, ``[default]`` as None."""
    if isinstance(value, list | tuple):
        return None if name in _DEFAULTABLE and list(value) == [DEFAULT] else tuple(value)
    return value


def _values(node: Node, names: list[str]) -> dict[str, Any]:
    return {name: node.get_parameter(name).value for name in names}


def read_static(node: Node) -> StaticSettings:
    """The read-only settings; ``ValueError`` naming the parameter (and topics) when one is invalid."""
    values = _values(node, list(StaticSettings.__dataclass_fields__))
    for name, value in values.items():
        reason = validate(name, value)
        if reason:
            raise ValueError(reason)
    reason = camera_topics_problem(list(values["camera_topics"]), node.get_name(), node.get_namespace())
    if reason:
        raise ValueError(reason)
    try:
        registry.resolve(values["backend"], values["precision"] or None, values["device"] or None)
    except ValueError as exc:
        raise ValueError(f"backend/precision/device: {exc}") from exc
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
    names = [n for n in LiveSettings.__dataclass_fields__ if n != "publish"]
    values = _values(node, names)
    publish = frozenset(name for name, output in OUTPUTS.items() if node.get_parameter(output.parameter).value)
    return LiveSettings(**{name: _value(name, value) for name, value in values.items()}, publish=publish)
