"""Class tables (names, palette, void id, drivable classes): data kept in config/, loaded here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..resources import config_file
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


def load_classes_yaml(path: str | Path) -> tuple[ClassTable, Normalization | None]:
    """Read a dataset's ``classes.yaml``: the class table and, when it gives ``mean``/``std``, the normalisation.

    Format: ``ignore_index`` (default 255: neither scored nor trained on), ``classes`` (index =
    position; each ``{name, color: [r, g, b]}``, or a plain name, which gets a colour of the PASCAL
    VOC palette), optional ``drivable`` (class names), optional ``name`` (default: the folder's
    name), optional ``mean`` and ``std`` (three numbers each, RGB, pixel values scaled to 0-1).
    ``ValueError`` naming the file and the field on anything missing or malformed.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: class table not found (a classes.yaml lists the classes)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the class table ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with a `classes` list, got {type(data).__name__}")
    entries = data.get("classes")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: `classes` must be a non-empty list of {{name, color: [r, g, b]}}")
    ignore = data.get("ignore_index", 255)
    if isinstance(ignore, bool) or not isinstance(ignore, int) or not len(entries) <= ignore <= 255:
        raise ValueError(f"{path}: `ignore_index` must be an integer within [{len(entries)}, 255] (above every "
                         f"class id; masks are uint8), got {ignore!r}")
    names, colors = [], []
    for index, entry in enumerate(entries):
        entry = {"name": entry} if isinstance(entry, str) else entry
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip() or name in names:
            raise ValueError(f"{path}: classes[{index}]: `name` must be a non-empty string not used before, "
                             f"got {entry!r}")
        color = entry.get("color")
        if color is None:  # the PASCAL VOC palette: the bits of the index spread over r, g and b
            color = [sum(((index >> (3 * k + c)) & 1) << (7 - k) for k in range(8)) for c in range(3)]
        if not isinstance(color, list) or len(color) != 3 or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color):
            raise ValueError(f"{path}: classes[{index}] ({name!r}): `color` must be three integers within "
                             f"[0, 255] (RGB), got {color!r}")
        names.append(name)
        colors.append(tuple(color))
    drivable = data.get("drivable", [])
    if not isinstance(drivable, list) or not all(isinstance(n, str) for n in drivable):
        raise ValueError(f"{path}: `drivable` must be a list of class names, got {drivable!r}")
    unknown = [n for n in drivable if n not in names]
    if unknown:
        raise ValueError(f"{path}: `drivable` names {unknown}, which are not classes; the classes are {names}")
    stats = {}
    for key in ("mean", "std"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) != 3 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1 for v in value):
            raise ValueError(f"{path}: `{key}` must be three numbers within [0, 1] (RGB, for pixels scaled to 0-1; "
                             f"divide 0-255 values by 255), got {value!r}")
        stats[key] = tuple(float(v) for v in value)
    if len(stats) == 1:
        raise ValueError(f"{path}: give both `mean` and `std`, or neither (ImageNet's are the default)")
    if stats and min(stats["std"]) <= 0:
        raise ValueError(f"{path}: `std` must be above 0, got {list(stats['std'])}")
    table = ClassTable(str(data.get("name") or path.resolve().parent.name), tuple(names), tuple(colors), ignore,
                       drivable=tuple(drivable))
    return table, Normalization(stats["mean"], stats["std"]) if stats else None
