"""Per-camera frame accounting for the node's diagnostics: counters, a recent window, a level. No ROS.

Every frame a camera sends ends in exactly one counter: ``processed``, ``dropped_stale`` (replaced
by a newer frame before the worker took it), ``rejected`` (could not be decoded or is too large),
``inference_failures`` (the segmenter raised); ``lost`` counts frames DDS reported lost before
they reached the node, ``incompatible_qos`` publishers that can never deliver. While the
``camera_info`` output has a subscriber, ``camera_info_missing`` counts frames published without
it (no usable CameraInfo from the camera) and ``camera_info_inexact`` frames paired with a
CameraInfo of another stamp (the newest one). Counters are
cumulative; :meth:`CameraStats.report` also gives each problem counter over the last ``window``
seconds, and the level describes that window only: a rejected frame raises WARN for ``window``
seconds, not forever. Callers serialise access (the node holds its lock).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2
COUNTERS = (
    "received", "processed", "dropped_stale", "rejected", "inference_failures", "lost", "incompatible_qos",
    "publish_errors", "camera_info_missing", "camera_info_inexact",
)
PROBLEMS = ("rejected", "inference_failures", "lost", "incompatible_qos", "publish_errors", "camera_info_missing")
_PROBLEM_WORDS = {
    "rejected": "rejected",
    "inference_failures": "inference failures",
    "lost": "lost before the node",
    "incompatible_qos": "incompatible publishers",
    "publish_errors": "publish errors",
    "camera_info_missing": "frames without camera_info",
}
SAMPLES = 300  # most recent frames the timing percentiles cover
STAMP_AGE_MAX_S = 60.0  # a header stamp further from the node's clock is not in its time base


@dataclass
class Report:
    """What :meth:`CameraStats.report` gives: a level, a one-line message and key/value strings."""

    level: int
    message: str
    values: dict[str, str]


@dataclass
class CameraStats:
    """Counters and recent timings of one camera topic (see the module docstring)."""

    topic: str
    window_s: float = 10.0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    last_reason: dict[str, str] = field(default_factory=dict)
    qos_problem: str = ""  # set by an incompatible publisher, cleared when frames arrive again
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=SAMPLES))  # header stamp -> published
    node_ms: deque = field(default_factory=lambda: deque(maxlen=SAMPLES))  # received by the node -> published
    network_ms: deque = field(default_factory=lambda: deque(maxlen=SAMPLES))
    overhead_ms: deque = field(default_factory=lambda: deque(maxlen=SAMPLES))
    foreign_stamps: int = 0  # frames whose stamp is not in the node's clock (no stamp latency for them)
    last_batch: int = 0
    largest_batch: int = 0
    output_size: tuple[int, int] = (0, 0)
    started: float = field(default_factory=time.monotonic)
    _history: deque = field(default_factory=deque)  # (monotonic time, counts): the start, then each report

    def __post_init__(self) -> None:
        self._history.append((self.started, dict.fromkeys(COUNTERS, 0)))

    def count(self, counter: str, amount: int = 1, reason: str | None = None) -> None:
        self.counts[counter] += amount
        if reason:
            self.last_reason[counter] = reason
        if counter == "received":
            self.qos_problem = ""

    def processed(self, network_ms: float, overhead_ms: float, batch: int, node_ms: float,
                  stamp_age_s: float | None) -> None:
        """One frame published: its timings; ``stamp_age_s`` is the node clock minus the header stamp."""
        self.counts["processed"] += 1
        self.network_ms.append(network_ms)
        self.overhead_ms.append(overhead_ms)
        self.node_ms.append(node_ms)
        self.last_batch = batch
        self.largest_batch = max(self.largest_batch, batch)
        if stamp_age_s is not None and -1.0 <= stamp_age_s <= STAMP_AGE_MAX_S:
            self.latency_ms.append(stamp_age_s * 1e3)
        elif stamp_age_s is not None:
            self.foreign_stamps += 1

    def report(self, now: float) -> Report:
        """Counters, the window's problem counts and rates since the previous report, and the level."""
        counts = dict(self.counts)
        previous = self._history[-1]
        self._history.append((now, counts))
        while len(self._history) > 1 and self._history[1][0] <= now - self.window_s:
            self._history.popleft()
        start = self._history[0][1]  # the counts ``window_s`` ago (or at the start)
        recent = {name: counts[name] - start[name] for name in COUNTERS}
        period = max(now - previous[0], 1e-6)
        level, message = self._level(counts, recent, period, previous[1])
        values = {
            "received_fps": f"{(counts['received'] - previous[1]['received']) / period:.2f}",
            "processed_fps": f"{(counts['processed'] - previous[1]['processed']) / period:.2f}",
            **{name: str(value) for name, value in counts.items()},
            **{f"{name}_recent": str(recent[name]) for name in PROBLEMS},
            "window_s": f"{self.window_s:g}",
            "last_reject_reason": self.last_reason.get("rejected", ""),
            "last_inference_error": self.last_reason.get("inference_failures", ""),
            "last_camera_info_problem": self.last_reason.get("camera_info_missing", ""),
            "network_ms": _median(self.network_ms),
            "node_overhead_ms": _median(self.overhead_ms),
            "node_latency_ms_p50": _percentile(self.node_ms, 50),
            "node_latency_ms_p99": _percentile(self.node_ms, 99),
            "latency_ms_p50": _percentile(self.latency_ms, 50),
            "latency_ms_p99": _percentile(self.latency_ms, 99),
            "stamps_not_in_node_clock": str(self.foreign_stamps),
            "batch_size": str(self.last_batch),
            "largest_batch": str(self.largest_batch),
            "output_size": f"{self.output_size[1]}x{self.output_size[0]}",
        }
        return Report(level, message, values)

    def _level(self, counts: dict[str, int], recent: dict[str, int], period: float,
               previous: dict[str, int]) -> tuple[int, str]:
        problems = [f"{recent[name]} {_PROBLEM_WORDS[name]}" for name in PROBLEMS if recent[name]]
        last = next((self.last_reason[name] for name in ("inference_failures", "rejected", "lost", "incompatible_qos",
                                                           "publish_errors", "camera_info_missing")
                     if recent[name] and self.last_reason.get(name)), "")
        if self.qos_problem:
            return WARN, self.qos_problem
        if recent["inference_failures"] and not recent["processed"]:
            return ERROR, f"every frame failed in the last {self.window_s:g} s: {last}"
        if problems:
            text = f"{', '.join(problems)} in the last {self.window_s:g} s"
            return WARN, f"{text}; last: {last}" if last else text
        if counts["received"] == 0:
            return OK, f"waiting for images on {self.topic}"
        fps = (counts["processed"] - previous["processed"]) / period
        return OK, f"{fps:.1f} fps"


def _median(values: deque) -> str:
    return _percentile(values, 50)


def _percentile(values: deque, q: float) -> str:
    if not values:
        return "nan"
    value = float(np.percentile(np.asarray(values, float), q))
    return f"{value:.2f}" if math.isfinite(value) else "nan"
