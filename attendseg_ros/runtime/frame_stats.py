"""Per-camera frame accounting for the node's diagnostics: counters, a recent window, a level. No ROS.

Every frame a camera's publishers send ends in exactly one counter: ``not_received`` (it never
reached the node: replaced in the node's one-frame DDS queue while the node was busy, or lost in
transport; counted from gaps in each publisher's sequence numbers, where the middleware reports
them), ``processed``, ``dropped_stale`` (replaced by a newer frame before the worker took it),
``dropped_duplicate`` (its stamp repeats one already published for this camera: not published a
second time), ``rejected`` (could not be decoded or is too large), ``inference_failures`` (the
segmenter raised). ``received`` is every frame that reached the node. ``lost`` counts frames DDS
itself reported lost in transport (a part of ``not_received`` where sequence numbers are reported),
``incompatible_qos`` publishers that can never deliver. ``stamps_out_of_order`` counts frames whose
header stamp is not later than the previous frame's, ``clock_resets`` backward jumps of more than
:data:`CLOCK_RESET_S` (a bag played in a loop, a restarted clock), after which stamp tracking starts
over. While the ``camera_info`` output has a subscriber, ``camera_info_missing`` counts frames
published without it (no usable CameraInfo from the camera) and ``camera_info_inexact`` frames
paired with a CameraInfo of another stamp (the newest one). Counters are cumulative;
:meth:`CameraStats.report` also gives each problem counter over the last ``window`` seconds, and the
level describes that window only: a rejected frame raises WARN for ``window`` seconds, not forever.

Liveness (``input_timeout_s`` > 0, while frames are expected): WARN before the camera's first frame,
ERROR once it has been silent for ``input_timeout_s``, OK again when frames resume;
:meth:`CameraStats.liveness_change` says when that state changes (once per stall, for the log).
Callers serialise access (the node holds its lock) and pass the time (monotonic seconds).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2
COUNTERS = (
    "received", "processed", "dropped_stale", "dropped_duplicate", "rejected", "inference_failures", "not_received",
    "lost", "incompatible_qos", "publish_errors", "camera_info_missing", "camera_info_inexact",
    "stamps_out_of_order", "clock_resets",
)
# Where each frame ends (one of these); ``received`` is the sum of all but not_received (once none waits).
FATES = ("not_received", "processed", "dropped_stale", "dropped_duplicate", "rejected", "inference_failures")
PROBLEMS = ("rejected", "inference_failures", "lost", "incompatible_qos", "publish_errors", "camera_info_missing",
            "stamps_out_of_order", "clock_resets")
_PROBLEM_WORDS = {
    "stamps_out_of_order": "stamps out of order",
    "clock_resets": "clock resets",
    "rejected": "rejected",
    "inference_failures": "inference failures",
    "lost": "lost before the node",
    "incompatible_qos": "incompatible publishers",
    "publish_errors": "publish errors",
    "camera_info_missing": "frames without camera_info",
}
SAMPLES = 300  # most recent frames the timing percentiles cover
STAMP_AGE_MAX_S = 60.0  # a header stamp further from the node's clock is not in its time base
CLOCK_RESET_S = 1.0  # a stamp more than this before the previous one: a bag loop or a clock reset
REMEMBERED_PUBLISHERS = 16  # publishers per camera whose sequence numbers are followed

# What StampOrder.arrived says about a stamp.
IN_ORDER, OUT_OF_ORDER, CLOCK_RESET, UNSTAMPED = "in order", "out of order", "clock reset", "unstamped"
# Liveness states of a camera (CameraStats.liveness).
NOT_WATCHED, WAITING, RECEIVING, STALLED = "not watched", "waiting", "receiving", "stalled"


class StampOrder:
    """The header stamps of one stream in arrival order: out-of-order stamps, clock resets, the last delivered.

    A stamp not later than the previous one is out of order; one more than ``reset_s`` before it is
    a clock reset instead (a bag played in a loop, a restarted clock): tracking starts over from it.
    A zero stamp (never set) is not tracked. ``delivered``/``was_delivered`` remember the stamp last
    delivered (published, paired), so that a repeated stamp is not delivered twice in a row.
    """

    def __init__(self, reset_s: float = CLOCK_RESET_S) -> None:
        if reset_s <= 0:
            raise ValueError(f"reset_s must be positive seconds, got {reset_s}")
        self.reset_ns = int(reset_s * 1e9)
        self.previous: int | None = None
        self.last_delivered: int | None = None
        self.out_of_order = 0
        self.clock_resets = 0

    def arrived(self, stamp_ns: int) -> str:
        """Classify the next stamp: IN_ORDER, OUT_OF_ORDER, CLOCK_RESET or UNSTAMPED (zero), and count it."""
        if stamp_ns == 0:
            return UNSTAMPED
        previous, self.previous = self.previous, stamp_ns
        if previous is None or stamp_ns > previous:
            return IN_ORDER
        if previous - stamp_ns > self.reset_ns:
            self.clock_resets += 1
            return CLOCK_RESET
        self.out_of_order += 1
        return OUT_OF_ORDER

    def delivered(self, stamp_ns: int) -> None:
        if stamp_ns != 0:
            self.last_delivered = stamp_ns

    def was_delivered(self, stamp_ns: int) -> bool:
        """Whether ``stamp_ns`` is the stamp last delivered (a zero stamp never is)."""
        return stamp_ns != 0 and stamp_ns == self.last_delivered


class PublisherSequences:
    """Frames that never reached the node: gaps in the sequence numbers of each publisher of a topic.

    DDS numbers every sample a publisher writes; a frame the node never took (replaced in its
    one-frame queue while the node was busy, or lost in transport) leaves a gap. The first frame
    seen from a publisher starts its count; a number that goes back (a restarted writer) starts it
    again.
    """

    def __init__(self, publishers: int = REMEMBERED_PUBLISHERS) -> None:
        self.publishers = publishers
        self._last: OrderedDict[bytes, int] = OrderedDict()

    def missed(self, publisher: bytes, sequence: int) -> int:
        """How many frames ``publisher`` sent between its previous frame seen here and this one."""
        last = self._last.pop(publisher, None)
        self._last[publisher] = sequence
        while len(self._last) > self.publishers:
            self._last.popitem(last=False)
        return sequence - last - 1 if last is not None and sequence > last else 0

    def clear(self) -> None:
        self._last.clear()


@dataclass(frozen=True)
class Liveness:
    """Whether a camera delivers frames: one of the liveness states, its diagnostic level and a message."""

    state: str
    level: int
    message: str


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
    input_timeout_s: float = 0.0  # silence after which the camera is stalled (ERROR); 0 = not watched
    stamps: StampOrder = field(default_factory=StampOrder)
    sequences: PublisherSequences = field(default_factory=PublisherSequences)
    expecting_since: float | None = None  # when frames became expected (activation); None = not expected
    last_frame: float | None = None  # when the newest frame arrived since then
    last_gap_s: float = 0.0  # the silence the newest frame ended
    _history: deque = field(default_factory=deque)  # (monotonic time, counts): the start, then each report
    _liveness_state: str = ""  # the state liveness_change last returned

    def __post_init__(self) -> None:
        self._history.append((self.started, dict.fromkeys(COUNTERS, 0)))

    def count(self, counter: str, amount: int = 1, reason: str | None = None) -> None:
        self.counts[counter] += amount
        if reason:
            self.last_reason[counter] = reason
        if counter == "received":
            self.qos_problem = ""

    def expect_frames(self, now: float) -> None:
        """Frames are expected from now on (the node activated): liveness waits for a first frame again."""
        self.expecting_since, self.last_frame = now, None
        self.sequences.clear()  # a new subscription: sequence numbers seen before say nothing about it

    def stop_expecting(self) -> None:
        """No frames are expected (the node deactivated): liveness is not watched."""
        self.expecting_since = None

    def frame_received(self, now: float, stamp_ns: int, publisher: bytes | None = None,
                       sequence: int | None = None) -> str:
        """A frame reached the node: count it and what came before it; the verdict on its stamp (StampOrder).

        ``publisher``/``sequence``: the publisher's id and the frame's sequence number where the
        middleware reports them; the gap since that publisher's previous frame is ``not_received``.
        """
        self.count("received")
        if self.last_frame is not None:
            self.last_gap_s = now - self.last_frame
        self.last_frame = now
        if publisher is not None and sequence is not None:
            self.counts["not_received"] += self.sequences.missed(publisher, sequence)
        previous = self.stamps.previous
        verdict = self.stamps.arrived(stamp_ns)
        if verdict == OUT_OF_ORDER:
            self.count("stamps_out_of_order", reason=f"stamp {_seconds(stamp_ns)} after {_seconds(previous)}")
        elif verdict == CLOCK_RESET:
            self.count("clock_resets", reason=f"stamp {_seconds(stamp_ns)} after {_seconds(previous)}")
        return verdict

    def liveness(self, now: float) -> Liveness:
        """NOT_WATCHED (OK), WAITING for a first frame (WARN), RECEIVING (OK) or STALLED (ERROR)."""
        timeout = self.input_timeout_s
        if timeout <= 0 or self.expecting_since is None:
            return Liveness(NOT_WATCHED, OK, "input_timeout is 0: not watched" if timeout <= 0 else "not active")
        if self.last_frame is None:
            return Liveness(WAITING, WARN, f"waiting for the first frame on {self.topic} "
                                           f"({now - self.expecting_since:.1f} s)")
        silent = now - self.last_frame
        if silent >= timeout:
            return Liveness(STALLED, ERROR, f"no frame for {silent:.1f} s on {self.topic} "
                                            f"(input_timeout {timeout:g} s)")
        return Liveness(RECEIVING, OK, f"receiving frames on {self.topic}")

    def liveness_change(self, now: float) -> tuple[str, Liveness] | None:
        """``(previous state, liveness)`` when the state differs from the previous call's, else None."""
        current = self.liveness(now)
        if current.state == self._liveness_state:
            return None
        previous, self._liveness_state = self._liveness_state, current.state
        return previous, current

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
        level, message = self._level(counts, recent, period, previous[1], self.liveness(now))
        silent = now - self.last_frame if self.last_frame is not None else math.nan
        values = {
            "input": self.liveness(now).state,
            "input_timeout_s": f"{self.input_timeout_s:g}",
            "seconds_since_last_frame": f"{silent:.2f}" if math.isfinite(silent) else "nan",
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
               previous: dict[str, int], liveness: Liveness) -> tuple[int, str]:
        if liveness.state == STALLED:
            return liveness.level, liveness.message + (f"; {self.qos_problem}" if self.qos_problem else "")
        problems = [f"{recent[name]} {_PROBLEM_WORDS[name]}" for name in PROBLEMS if recent[name]]
        last = next((self.last_reason[name] for name in ("inference_failures", "rejected", "lost", "incompatible_qos",
                                                           "publish_errors", "camera_info_missing",
                                                           "stamps_out_of_order", "clock_resets")
                     if recent[name] and self.last_reason.get(name)), "")
        if self.qos_problem:
            return WARN, self.qos_problem
        if recent["inference_failures"] and not recent["processed"]:
            return ERROR, f"every frame failed in the last {self.window_s:g} s: {last}"
        if problems:
            text = f"{', '.join(problems)} in the last {self.window_s:g} s"
            return WARN, f"{text}; last: {last}" if last else text
        if liveness.state == WAITING:
            return liveness.level, liveness.message
        if counts["received"] == 0:
            return OK, f"waiting for images on {self.topic}"
        fps = (counts["processed"] - previous["processed"]) / period
        return OK, f"{fps:.1f} fps"


def _seconds(stamp_ns: int | None) -> str:
    return "none" if stamp_ns is None else f"{stamp_ns // 10**9}.{stamp_ns % 10**9:09d}"


def _median(values: deque) -> str:
    return _percentile(values, 50)


def _percentile(values: deque, q: float) -> str:
    if not values:
        return "nan"
    value = float(np.percentile(np.asarray(values, float), q))
    return f"{value:.2f}" if math.isfinite(value) else "nan"
