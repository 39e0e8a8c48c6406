"""Class tables (names, palette, void id, drivable classes): data kept in config/, loaded here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..resources import config_file


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
