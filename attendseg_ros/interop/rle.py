"""Run-length encoded label images in the byte format Autoware's segmentation_pointcloud_fusion decodes.

Autoware's ``perception_utils`` (autowarefoundation/autoware_universe, ``run_length_encoder.cpp``) has
known two layouts of the same idea: the mask read row by row (row-major, top row first), each run of
equal ids written as one entry.

- :data:`PAIRS` -- ``uint8 value, int32 run`` (5 bytes per run). This is what current upstream
  decodes: ``perception_utils::runLengthDecoder(data, height, width)`` in
  ``autoware_image_projection_based_fusion/src/segmentation_pointcloud_fusion/node.cpp`` and what
  ``autoware_tensorrt_yolox`` publishes (since August 2024). The node publishes this format.
- :data:`NAMED` -- ``uint8 value, int32 run, int32 name length, name bytes`` (a later
  ``RLEEntry`` variant whose decoder also returns the label names). Offered for consumers built
  against it; not what the fusion node of autoware_universe reads.

Integers are little-endian, as the C++ code writes them with ``memcpy`` on x86 and ARM. The
message that carries the bytes is a ``sensor_msgs/Image`` whose ``height`` and ``width`` are the
mask's (the decoder needs them), ``encoding`` ``mono8`` and ``step`` ``width``, as the YOLOX node
fills it; only ``data`` differs from a plain mono8 image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PAIRS = "pairs"
NAMED = "named"
FORMATS = (PAIRS, NAMED)

_PAIR = np.dtype([("value", "u1"), ("run", "<i4")])  # packed: 5 bytes, as memcpy writes it


@dataclass(frozen=True)
class RunLengthLabels:
    """An encoded label image: the mask's size (what the decoder needs) and the bytes of the runs."""

    height: int
    width: int
    data: bytes
    fmt: str = PAIRS


def runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The runs of a ``(H, W)`` uint8 label image read row-major: ``(values uint8, lengths int64)``.

    A ``ValueError`` names the problem for an empty image, another dtype or another number of
    dimensions.
    """
    if labels.ndim != 2:
        raise ValueError(f"labels must be a (height, width) array, got shape {labels.shape}")
    if labels.dtype != np.uint8:
        raise ValueError(f"labels must be uint8 class ids, got {labels.dtype}")
    if labels.size == 0:
        raise ValueError(f"labels are empty (shape {labels.shape})")
    flat = np.ascontiguousarray(labels).reshape(-1)
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    lengths = np.diff(np.append(starts, flat.size))
    return flat[starts], lengths


def encode(labels: np.ndarray, fmt: str = PAIRS, names: Sequence[str] | None = None) -> bytes:
    """The run-length encoding of ``labels`` (``(H, W)`` uint8) in ``fmt`` (:data:`PAIRS` or :data:`NAMED`).

    ``names[id]`` is the label name written with each run in the :data:`NAMED` format; an id without a
    name (beyond ``names``, or ``names`` None) gets ``"unknown"``, as Autoware's encoder does. An empty
    name is written as ``"unknown"`` too: that decoder reads an entry only while more than its 9 fixed
    bytes remain, so a last run with an empty name would be lost.
    """
    values, lengths = runs(labels)
    if fmt == PAIRS:
        packed = np.empty(values.size, _PAIR)
        packed["value"] = values
        packed["run"] = lengths
        return packed.tobytes()
    if fmt == NAMED:
        names = list(names or ())
        encoded = [((names[v] if v < len(names) else "") or "unknown").encode() for v in range(256)]
        parts = []
        for value, length in zip(values.tolist(), lengths.tolist(), strict=True):
            name = encoded[value]
            parts.append(np.array([(value, length)], _PAIR).tobytes() + len(name).to_bytes(4, "little") + name)
        return b"".join(parts)
    raise ValueError(f"unknown run-length format {fmt!r}; formats: {', '.join(FORMATS)}")


def encode_labels(labels: np.ndarray, fmt: str = PAIRS, names: Sequence[str] | None = None) -> RunLengthLabels:
    """:func:`encode` of ``labels`` together with their height and width."""
    data = encode(labels, fmt, names)  # checks the shape first
    return RunLengthLabels(int(labels.shape[0]), int(labels.shape[1]), data, fmt)
