"""Test-only helpers: synthetic camera frames and messages, diagnostics readers, a bond peer process.

Importable from any test (conftest.py puts this folder on sys.path); not part of the package.
"""

from __future__ import annotations

import queue
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from attendseg_ros.ros.messages import array_to_image
from attendseg_ros.ros.process import diagnostics_values
from attendseg_ros.runtime.image_conversion import encode_compressed, image_to_labels

BOND_PEER = Path(__file__).resolve().parent / "ros" / "bond_peer.py"  # a Nav2 lifecycle manager's side of a bond


def stamp_header(sec: int, nanosec: int, frame_id: str) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def camera_frame(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A smooth synthetic BGR frame (sky-ish top, grey bottom) with some texture."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height // 2] = (200, 160, 120)
    frame[height // 2 :] = (90, 90, 90)
    noise = rng.integers(0, 40, (-(-height // 8), -(-width // 8), 3), dtype=np.uint8)
    return frame + np.kron(noise, np.ones((8, 8, 1), np.uint8))[:height, :width]


def bgr_image(header: Header, frame: np.ndarray | None = None) -> Image:
    return array_to_image(camera_frame() if frame is None else frame, header, encoding="bgr8")


def compressed_image(rgb: np.ndarray, header: Header, fmt: str = "jpeg", quality: int = 90) -> CompressedImage:
    msg = CompressedImage(header=header, format=fmt)
    msg.data = encode_compressed(rgb, fmt, quality)
    return msg


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_png(width: int, height: int) -> bytes:
    """A valid greyscale PNG declaring ``width x height`` in about 100 KB of zlib data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes(width)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def labels_array(msg: Image) -> np.ndarray:
    return image_to_labels(msg)


def latest(diagnostics: list, topic: str, key: str, default: str = "-1") -> str:
    """The newest value of ``key`` in the status about ``topic`` among the DiagnosticArrays received."""
    for array in reversed(diagnostics):
        values = diagnostics_values(array, topic)
        if values is not None:
            return values.get(key, default)
    return default


def latest_status(diagnostics: list, topic: str) -> Any:
    """The newest DiagnosticStatus about ``topic`` (None if none came yet)."""
    for array in reversed(diagnostics):
        for status in array.status:
            if status.name.endswith(f": {topic}"):
                return status
    return None


def status_at(diagnostics: list, topic: str, level: bytes) -> Any:
    """The newest status about ``topic`` if it has ``level`` (for spin_until), else None."""
    status = latest_status(diagnostics, topic)
    return status if status is not None and status.level == level else None


class Peer:
    """A Nav2 lifecycle manager's side of a bond (bond_peer.py) in its own process; events arrive on a queue."""

    def __init__(self, bond_id: str, timeout: float = 4.0) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(BOND_PEER), "--id", bond_id, "--timeout", str(timeout)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        self.events: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            self.events.put(line.strip())

    def wait_for(self, event: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                if self.events.get(timeout=left) == event:
                    return
            except queue.Empty:
                break
        output = "".join(self.output)
        raise AssertionError(f"the peer did not report {event!r} within {timeout:.0f} s; output:\n{output}")

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send("exit")
                self.process.wait(10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
