"""Class maps: merge and rename the model's classes into another table (no ROS).

A class map is a YAML table (``config/class_maps/*.yaml``, a file path, or inline YAML text)::

    name: navigation              # optional; the target table's name
    source: camvid11              # optional; the class table the map was written for (checked)
    classes:                      # the target classes, in id order unless `id` is given
      - {name: road, from: [Road], drivable: true}
      - {name: obstacle, id: 2, color: [128, 0, 0], from: [Building, Pole, Fence]}
    unknown: [SignSymbol]         # optional; source classes sent to the unknown id (255)

Every source class must appear exactly once (in one target's ``from`` or in ``unknown``); a
target's ``id`` defaults to its position in the list and must be unique within [0, 254] (255 is
the unknown id); ``color`` defaults to the colour of its first source class. The map becomes a
uint8[256] lookup table applied to label images (the unknown id always maps to itself), and a
target :class:`ClassTable` for the overlay palette, LabelInfo, SegmentationInfo and the drivable
classes. Without a class map (:func:`identity_class_map`) labels pass unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from ..data.classes import ClassTable
from ..resources import config_dir
from .unknown import UNKNOWN_ID, UNKNOWN_NAME

CLASS_MAP_DIR = "class_maps"  # under config/
_TOP_KEYS = {"name", "source", "description", "classes", "unknown"}
_CLASS_KEYS = {"name", "id", "color", "from", "drivable"}
MAX_TARGET_ID = UNKNOWN_ID - 1


class ClassMapError(ValueError):
    """A class map is malformed or does not fit the model's classes; the text names the entry."""


@dataclass(frozen=True)
class TargetClass:
    """One class of the target table and the source classes merged into it."""

    name: str
    id: int
    color: tuple[int, int, int]
    sources: tuple[str, ...]
    drivable: bool = False


@dataclass(frozen=True)
class ClassMap:
    """The model's class table (``source``) mapped onto ``classes``; see the module docstring."""

    name: str
    source: ClassTable
    classes: tuple[TargetClass, ...]
    unknown_sources: tuple[str, ...] = ()
    identity: bool = False
    lut: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lut = np.arange(256, dtype=np.uint8)
        if not self.identity:
            lut[:] = UNKNOWN_ID
            for target in self.classes:
                lut[list(self.source.ids(target.sources))] = target.id
        lut.flags.writeable = False
        object.__setattr__(self, "lut", lut)

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """Map a uint8 label image (source ids) to target ids; the identity map returns ``labels`` itself."""
        if labels.dtype != np.uint8:
            raise ValueError(f"labels must be uint8, got {labels.dtype}")
        if self.identity:
            return labels
        return cv2.LUT(np.ascontiguousarray(labels), self.lut)

    @property
    def maps_to_unknown(self) -> bool:
        """True when some source class becomes the unknown id (so LabelInfo must list it)."""
        return bool(self.unknown_sources)

    @property
    def drivable(self) -> tuple[str, ...]:
        """Names of the drivable target classes (the default of the node's ``drivable_classes``)."""
        return tuple(t.name for t in self.classes if t.drivable)

    def names_by_id(self) -> dict[int, str]:
        """Target id -> name, ascending ids (what LabelInfo lists)."""
        return {t.id: t.name for t in sorted(self.classes, key=lambda t: t.id)}

    def table(self) -> ClassTable:
        """The target classes as a :class:`ClassTable` (names indexed by id, ``""`` for unused ids).

        Its ``void_id`` is the unknown id: the identity map returns the source table unchanged.
        """
        if self.identity:
            return self.source
        size = max(t.id for t in self.classes) + 1
        names = [""] * size
        colors: list[tuple[int, int, int]] = [(0, 0, 0)] * size
        for target in self.classes:
            names[target.id], colors[target.id] = target.name, target.color
        return ClassTable(self.name, tuple(names), tuple(colors), UNKNOWN_ID, self.source.void_color, self.drivable)


def identity_class_map(source: ClassTable) -> ClassMap:
    """The map that changes nothing: every source class keeps its id, name, colour and drivability."""
    classes = tuple(
        TargetClass(name, index, tuple(color), (name,), name in source.drivable)  # type: ignore[arg-type]
        for index, (name, color) in enumerate(zip(source.names, source.colors, strict=True))
    )
    return ClassMap(source.name, source, classes, identity=True)


def parse_class_map(data: Any, source: ClassTable, origin: str = "class_map") -> ClassMap:
    """Validate a class-map mapping against the model's class table ``source``.

    ``ClassMapError`` names the bad entry (``classes[2] ('vehicle')``) and what is wrong with it.
    """
    if not isinstance(data, Mapping):
        raise ClassMapError(f"{origin}: expected a mapping with a `classes` list, got {type(data).__name__}")
    extra = set(data) - _TOP_KEYS
    if extra:
        raise ClassMapError(f"{origin}: unknown keys {sorted(extra)}; allowed: {sorted(_TOP_KEYS)}")
    written_for = data.get("source")
    if written_for is not None and str(written_for) != source.name:
        raise ClassMapError(f"{origin}: written for class table {written_for!r}, but the model's is {source.name!r}")
    entries = data.get("classes")
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise ClassMapError(f"{origin}: `classes` must be a non-empty list of target classes")
    used: dict[str, str] = {}  # source class -> where it is used
    targets = [_target(entry, index, source, used, origin) for index, entry in enumerate(entries)]
    unknown = _source_names(data.get("unknown", []), source, used, UNKNOWN_NAME, f"{origin}: `unknown`")
    _check_unique(targets, origin)
    missing = [n for n in source.names if n not in used]
    if missing:
        raise ClassMapError(
            f"{origin}: source classes {missing} are not mapped; add each to a target's `from` or to `unknown`"
        )
    name = str(data.get("name") or "class_map")
    return ClassMap(name, source, tuple(targets), tuple(unknown))


def _target(entry: Any, index: int, source: ClassTable, used: dict[str, str], origin: str) -> TargetClass:
    where = f"{origin}: classes[{index}]"
    if not isinstance(entry, Mapping):
        raise ClassMapError(f"{where}: expected a mapping with name and from, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ClassMapError(f"{where}: `name` must be a non-empty string, got {name!r}")
    where = f"{where} ({name!r})"
    extra = set(entry) - _CLASS_KEYS
    if extra:
        raise ClassMapError(f"{where}: unknown keys {sorted(extra)}; allowed: {sorted(_CLASS_KEYS)}")
    if name == UNKNOWN_NAME:
        raise ClassMapError(f"{where}: {UNKNOWN_NAME!r} is reserved for id {UNKNOWN_ID}; list its sources in `unknown`")
    class_id = entry.get("id", index)
    if isinstance(class_id, bool) or not isinstance(class_id, int) or not 0 <= class_id <= MAX_TARGET_ID:
        raise ClassMapError(f"{where}: `id` must be an integer within [0, {MAX_TARGET_ID}], got {class_id!r}")
    sources = _source_names(entry.get("from"), source, used, name, f"{where}: `from`")
    if not sources:
        raise ClassMapError(f"{where}: `from` must list at least one of the model's classes {list(source.names)}")
    color = entry.get("color", source.colors[source.names.index(sources[0])])
    if (
        not isinstance(color, Sequence) or isinstance(color, str) or len(color) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color)
    ):
        raise ClassMapError(f"{where}: `color` must be three integers within [0, 255] (RGB), got {color!r}")
    drivable = entry.get("drivable", False)
    if not isinstance(drivable, bool):
        raise ClassMapError(f"{where}: `drivable` must be true or false, got {drivable!r}")
    return TargetClass(name, class_id, tuple(color), tuple(sources), drivable)  # type: ignore[arg-type]


def _source_names(value: Any, source: ClassTable, used: dict[str, str], target: str, where: str) -> list[str]:
    if value is None:
        value = []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ClassMapError(f"{where}: expected a list of the model's class names, got {value!r}")
    names = [str(v) for v in value]
    unknown = [n for n in names if n not in source.names]
    if unknown:
        raise ClassMapError(f"{where}: unknown source classes {unknown}; the model's classes are {list(source.names)}")
    for name in names:
        if name in used:
            raise ClassMapError(f"{where}: source class {name!r} is already mapped to {used[name]!r}")
        used[name] = target
    return names


def _check_unique(targets: list[TargetClass], origin: str) -> None:
    seen_ids: dict[int, str] = {}
    seen_names: set[str] = set()
    for target in targets:
        if target.name in seen_names:
            raise ClassMapError(f"{origin}: target class name {target.name!r} appears twice")
        seen_names.add(target.name)
        if target.id in seen_ids:
            raise ClassMapError(f"{origin}: id {target.id} is used by both {seen_ids[target.id]!r} and {target.name!r}")
        seen_ids[target.id] = target.name


def class_map_path(name: str) -> Path:
    """``config/class_maps/<name>.yaml`` of a shipped class map; ``FileNotFoundError`` lists the shipped ones."""
    folder = config_dir() / CLASS_MAP_DIR
    path = folder / f"{name}.yaml"
    if not path.is_file():
        shipped = sorted(p.stem for p in folder.glob("*.yaml"))
        raise FileNotFoundError(f"no class map named {name!r}; shipped: {shipped} (or give a .yaml path)")
    return path


def load_class_map(spec: str | Path | Mapping | None, source: ClassTable) -> ClassMap:
    """The class map named by a ``class_map`` parameter value, validated against ``source``.

    ``None``/``""``: identity; a mapping: parsed as is; text starting with ``{``: inline YAML;
    a path ending in .yaml/.yml: that file; anything else: a shipped map in config/class_maps/.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return identity_class_map(source)
    if isinstance(spec, Mapping):
        return parse_class_map(spec, source)
    text = str(spec).strip()
    if text.startswith("{"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ClassMapError(f"class_map: inline YAML does not parse: {exc}") from exc
        return parse_class_map(data, source)
    path = Path(text) if Path(text).suffix in (".yaml", ".yml") else class_map_path(text)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ClassMapError(f"{path}: does not parse as YAML: {exc}") from exc
    return parse_class_map(data, source, origin=str(path))
