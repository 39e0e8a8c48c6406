"""Decoders of run-length encoded masks written from Autoware's source, to check what the node publishes.

Both follow ``perception_utils::runLengthDecoder`` of autowarefoundation's ``run_length_encoder.cpp``:
the ``(uint8 value, int32 run)`` pairs that autoware_universe's segmentation_pointcloud_fusion
decodes, and the later variant whose entries also carry ``int32 name length`` + the name. Integers
are read as the C++ ``memcpy`` reads them on x86 and ARM: little-endian. Test-only, not part of the
package; stricter than the C++ (the runs must cover the mask exactly).
"""

from __future__ import annotations

import struct

import numpy as np


def decode_pairs(data: bytes, rows: int, cols: int) -> np.ndarray:
    """Autoware's pair decoder: 5-byte entries, runs filled row-major into a rows x cols mask of zeros."""
    mask = np.zeros(rows * cols, np.uint8)
    index = 0
    for offset in range(0, len(data), 5):
        value = data[offset]
        (length,) = struct.unpack_from("<i", data, offset + 1)
        assert length >= 0 and index + length <= rows * cols, "runs beyond the mask"
        mask[index:index + length] = value
        index += length
    assert index == rows * cols, f"the runs cover {index} of {rows * cols} pixels"
    return mask.reshape(rows, cols)


def decode_named(data: bytes, rows: int, cols: int) -> tuple[np.ndarray, list[str]]:
    """Autoware's named decoder: value, run, name length, name; read while more than 9 bytes remain."""
    mask = np.zeros(rows * cols, np.uint8)
    names: list[str] = []
    offset = index = 0
    while offset + 1 + 4 + 4 < len(data):
        value = data[offset]
        length, name_length = struct.unpack_from("<ii", data, offset + 1)
        offset += 9
        assert name_length >= 0 and offset + name_length <= len(data), "name length exceeds the data"
        names.append(data[offset:offset + name_length].decode())
        offset += name_length
        assert index + length <= rows * cols, "RLE data exceeds mask dimensions"
        mask[index:index + length] = value
        index += length
    assert offset == len(data) and index == rows * cols, (offset, len(data), index)
    return mask.reshape(rows, cols), names
