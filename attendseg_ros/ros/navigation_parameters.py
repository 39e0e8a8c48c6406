"""Parameters of the navigation outputs (issue 12), ready to be added to the node's ``SPECS``.

Declared like every other parameter (:class:`attendseg_ros.ros.parameters.Spec`, rclpy enforces
the ranges); :func:`validate` checks what descriptors cannot (a class map needs the model's class
table, so it is checked at configure). docs/navigation.md lists where each one is used.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import ParameterType

from ..data.classes import ClassTable
from ..interop.class_map import ClassMapError, load_class_map
from ..interop.compression import JPEG_QUALITY, PNG_LEVEL
from .parameters import Spec

_S, _B, _I, _F = (
    ParameterType.PARAMETER_STRING,
    ParameterType.PARAMETER_BOOL,
    ParameterType.PARAMETER_INTEGER,
    ParameterType.PARAMETER_DOUBLE,
)

NAVIGATION_SPECS: tuple[Spec, ...] = (
    Spec("min_confidence", 0.0, _F, "Pixels whose confidence (max softmax probability) is below this get the "
         "unknown id 255 in labels ('unknown' in label_info, whose threshold it is); 0 = off. Below "
         "1/number of classes it marks nothing.", float_range=(0.0, 1.0)),
    Spec("class_map", "", _S, "Merge/rename the model's classes for every output: '' = the model's classes; "
         "a name in config/class_maps (navigation, autoware), a .yaml path, or inline YAML '{classes: [...]}'. "
         "Checked at configure.", read_only=True),
    Spec("publish_label_info", True, _B, "Publish <ns>/segmentation/label_info (vision_msgs/LabelInfo, latched)."),
    Spec("publish_camera_info", True, _B, "Relay <ns>/camera_info on <ns>/segmentation/camera_info, restamped "
         "and scaled to the outputs' size (built only while subscribed)."),
    Spec("publish_compressed", True, _B, "Publish <output>/compressed: PNG for labels, confidence and "
         "drivable_mask, JPEG for overlay (built only while subscribed)."),
    Spec("compressed_png_level", PNG_LEVEL, _I, "zlib level of the PNG outputs.", int_range=(0, 9)),
    Spec("compressed_jpeg_quality", JPEG_QUALITY, _I, "JPEG quality of overlay/compressed.", int_range=(1, 100)),
    Spec("bond_timeout", 4.0, _F, "With autostart false (a managed node): heartbeat timeout in seconds of the "
         "bond a Nav2 lifecycle manager forms on activate; 0 = no bond (run the manager with bond_timeout: 0.0).",
         read_only=True, float_range=(0.0, 300.0)),
)
NAVIGATION_SPEC_BY_NAME = {spec.name: spec for spec in NAVIGATION_SPECS}


def validate(name: str, value: Any, classes: ClassTable | None = None) -> str | None:
    """The reason ``value`` is not acceptable for navigation parameter ``name``, or None.

    ``class_map`` is only checked when the model's class table ``classes`` is known.
    """
    if name == "class_map" and classes is not None:
        try:
            load_class_map(value, classes)
        except (ClassMapError, FileNotFoundError, OSError) as exc:
            return f"class_map: {exc}"
    return None


def wants_bond(autostart: bool, bond_timeout: float) -> bool:
    """Whether to form a Nav2 bond: only a managed node (no autostart) with a positive timeout."""
    return not autostart and bond_timeout > 0.0
