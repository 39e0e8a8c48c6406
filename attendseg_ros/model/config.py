"""AttendSeg's architecture configuration: plain data, no torch (the model file format reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class AttendSegConfig:
    """Architecture hyper-parameters; stored beside trained weights so a checkpoint rebuilds its model."""

    num_classes: int = 11
    stem_channels: int = 24
    channels: tuple[int, int, int] = (80, 112, 144)  # 1/4, 1/8 and 1/32 of the input
    depths: tuple[int, int, int] = (3, 3, 2)
    expansion: float = 3.0
    deep_stride: int = 4  # the large-stride reduction from 1/8 to 1/32
    decoder_channels: tuple[int, int] = (96, 128)  # refinement at 1/8 and at 1/4
    decoder_depths: tuple[int, int] = (1, 2)
    # > 0: a third refinement at 1/2 joins the stem feature (thin structures); 0: the decoder ends at 1/4
    stem_skip_channels: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttendSegConfig:
        data = dict(data)
        for key in ("channels", "depths", "decoder_channels", "decoder_depths"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)
