"""What ``<ns>/segmentation/label_info`` (vision_msgs/LabelInfo) says, as plain data (no ROS).

LabelInfo lists ``(class_id, class_name)`` pairs for the ids that can appear in the published
labels and a ``threshold`` (the confidence below which pixels are unknown, 0-1). Consumers map
names to behaviour: Nav2's semantic segmentation layer looks every listed name up in its
``class_types`` and ignores pixels whose id is not listed. So the content is built from the
class table *after* the class map, and the unknown id is listed exactly when it can occur
(``min_confidence > 0`` or a class map sending classes to unknown).
:func:`attendseg_ros.ros.interop.label_info_message` turns it into the message.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .class_map import ClassMap
from .unknown import UNKNOWN_ID, UNKNOWN_NAME


@dataclass(frozen=True)
class LabelInfoContent:
    """The class list (ascending ids) and threshold of one LabelInfo message."""

    classes: tuple[tuple[int, str], ...]
    threshold: float

    def names_by_id(self) -> dict[int, str]:
        return dict(self.classes)


def label_info_content(
    names_by_id: Mapping[int, str], min_confidence: float = 0.0, unknown_present: bool = False
) -> LabelInfoContent:
    """Build the content from target ids and names plus the unknown entry when it can occur.

    ``ValueError`` for ids outside [0, 254], empty or repeated names, the reserved unknown name,
    or a threshold outside [0, 1].
    """
    if math.isnan(min_confidence) or not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
    seen: set[str] = set()
    entries: list[tuple[int, str]] = []
    for class_id, name in sorted(names_by_id.items()):
        if not 0 <= class_id < UNKNOWN_ID:
            raise ValueError(f"class id {class_id} ({name!r}) is outside [0, {UNKNOWN_ID - 1}]")
        if not name or name in seen or name == UNKNOWN_NAME:
            raise ValueError(f"class {class_id}: name {name!r} is empty, repeated or reserved for the unknown id")
        seen.add(name)
        entries.append((int(class_id), str(name)))
    if min_confidence > 0.0 or unknown_present:
        entries.append((UNKNOWN_ID, UNKNOWN_NAME))
    return LabelInfoContent(tuple(entries), float(min_confidence))


def label_info_for(class_map: ClassMap, min_confidence: float = 0.0) -> LabelInfoContent:
    """The LabelInfo content of labels published through ``class_map`` (identity: the model's table)."""
    return label_info_content(class_map.names_by_id(), min_confidence, class_map.maps_to_unknown)
