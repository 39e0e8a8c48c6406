"""Class tables (names, palette, void id, drivable classes): data kept in config/, loaded here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..resources import config_file
from .errors import DatasetError
from .preprocessing import Normalization


@dataclass(frozen=True)
class ClassTable:
    """Names and RGB colours of the trained classes; ``void_id`` marks unlabelled pixels."""

    name: str
    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    void_id: int
    void_color: tuple[int, int, int] = (0, 0, 0)
    drivable: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.names) != len(self.colors):
            raise ValueError(f"class table {self.name!r}: {len(self.names)} names but {len(self.colors)} colours")
        if self.void_id < len(self.names):
            raise ValueError(f"class table {self.name!r}: void id {self.void_id} collides with a class id")
        unknown = set(self.drivable) - set(self.names)
        if unknown:
            raise ValueError(f"class table {self.name!r}: drivable classes {sorted(unknown)} are not class names")

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def ids(self, names: list[str] | tuple[str, ...]) -> list[int]:
        """Class ids for ``names``; ``ValueError`` naming the valid names for an unknown one."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"unknown class names {unknown}; valid names: {list(self.names)}")
        return [self.names.index(n) for n in names]

    def palette(self) -> np.ndarray:
        """``(256, 3)`` uint8 lookup table: class id -> RGB; void and unused ids map to ``void_color``."""
        lut = np.tile(np.asarray(self.void_color, np.uint8), (256, 1))
        lut[: self.num_classes] = np.asarray(self.colors, np.uint8)
        return lut

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "void_id": self.void_id,
            "void_color": list(self.void_color),
            "drivable": list(self.drivable),
            "classes": [{"name": n, "color": list(c)} for n, c in zip(self.names, self.colors, strict=False)],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassTable:
        try:
            return cls(
                name=str(data["name"]),
                names=tuple(str(c["name"]) for c in data["classes"]),
                colors=tuple(tuple(int(v) for v in c["color"]) for c in data["classes"]),  # type: ignore[misc]
                void_id=int(data["void_id"]),
                void_color=tuple(int(v) for v in data.get("void_color", (0, 0, 0))),  # type: ignore[arg-type]
                drivable=tuple(str(n) for n in data.get("drivable", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed class table: missing or wrong field {exc}") from exc


def load_class_table(name_or_path: str | Path = "camvid11") -> ClassTable:
    """Load a class table by name (``camvid11``, ``camvid32`` in config/) or from a YAML path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = config_file(f"{name_or_path}.yaml")
    with open(path, encoding="utf-8") as handle:
        return ClassTable.from_dict(yaml.safe_load(handle))


CLASSES_YAML_KEYS = ("name", "ignore_index", "ignore_color", "classes", "drivable", "mean", "std")


def load_classes_yaml(path: str | Path) -> tuple[ClassTable, Normalization | None]:
    """A dataset's ``classes.yaml``: its class table (``void_id`` = ``ignore_index``) and normalisation.

    Fields: ``classes: [{name, color: [r, g, b]}, ...]`` (id = position), ``ignore_index`` (default
    255), optional ``drivable: [names]``, ``mean``/``std`` (three fractions each, RGB; both or
    neither; ``None`` when absent), ``name`` (default: the folder's name), ``ignore_color``.
    Raises :class:`DatasetError` naming the file and the field on malformed input.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: class table not found (a folder-layout dataset needs classes.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"{path}: cannot read the class table ({exc})") from exc
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a mapping with a 'classes' list, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - set(CLASSES_YAML_KEYS))
    if unknown:
        raise DatasetError(f"{path}: unknown field(s) {unknown}; known: {list(CLASSES_YAML_KEYS)}")
    entries = data.get("classes")
    if not isinstance(entries, list) or not entries:
        raise DatasetError(f"{path}: 'classes' must be a non-empty list of {{name, color: [r, g, b]}}")
    names: list[str] = []
    colors: list[tuple[int, int, int]] = []
    for index, entry in enumerate(entries):
        where = f"{path}: classes[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "color"}:
            raise DatasetError(f"{where}: expected {{name, color: [r, g, b]}}, got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DatasetError(f"{where}: 'name' must be a non-empty string, got {name!r}")
        if name in names:
            raise DatasetError(f"{where}: class name {name!r} appears twice")
        names.append(name)
        colors.append(_color(entry.get("color"), f"{where}.color"))
    ignore_index = data.get("ignore_index", 255)
    if not isinstance(ignore_index, int) or isinstance(ignore_index, bool) or not 0 <= ignore_index <= 255:
        raise DatasetError(f"{path}: 'ignore_index' must be an integer in [0, 255], got {ignore_index!r}")
    if ignore_index < len(names):
        raise DatasetError(
            f"{path}: 'ignore_index' {ignore_index} is a class id (there are {len(names)} classes, ids "
            f"0-{len(names) - 1}); use a larger value such as 255"
        )
    drivable = data.get("drivable", [])
    if not isinstance(drivable, list) or not all(isinstance(n, str) for n in drivable):
        raise DatasetError(f"{path}: 'drivable' must be a list of class names, got {drivable!r}")
    missing = [n for n in drivable if n not in names]
    if missing:
        raise DatasetError(f"{path}: 'drivable' names {missing}, which are not classes; classes: {names}")
    table = ClassTable(
        name=str(data.get("name") or path.parent.name or "dataset"),
        names=tuple(names),
        colors=tuple(colors),
        void_id=ignore_index,
        void_color=_color(data.get("ignore_color", [0, 0, 0]), f"{path}: ignore_color"),
        drivable=tuple(drivable),
    )
    return table, _normalization(data.get("mean"), data.get("std"), path)


def _color(value: Any, where: str) -> tuple[int, int, int]:
    valid = isinstance(value, (list, tuple)) and len(value) == 3
    if valid and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise DatasetError(f"{where}: expected [r, g, b] integers in [0, 255], got {value!r}")


def _normalization(mean: Any, std: Any, path: Path) -> Normalization | None:
    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise DatasetError(f"{path}: give both 'mean' and 'std' (three numbers each, RGB), or neither")
    values = {}
    for field_name, value in (("mean", mean), ("std", std)):
        numeric = isinstance(value, (list, tuple)) and len(value) == 3
        if not numeric or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise DatasetError(f"{path}: '{field_name}' must be three numbers (RGB), got {value!r}")
        if any(v > 1.0 for v in value) or any(v < 0.0 for v in value):
            raise DatasetError(
                f"{path}: '{field_name}' is in fractions of 255 (ImageNet: mean [0.485, 0.456, 0.406], "
                f"std [0.229, 0.224, 0.225]), got {value!r}"
            )
        values[field_name] = tuple(float(v) for v in value)
    if any(v == 0.0 for v in values["std"]):
        raise DatasetError(f"{path}: 'std' must be greater than 0, got {list(values['std'])}")
    return Normalization(values["mean"], values["std"])  # type: ignore[arg-type]
