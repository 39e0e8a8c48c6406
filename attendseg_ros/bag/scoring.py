"""Accumulate one confusion matrix, missing frames and latencies into the evaluation JSON (no ROS)."""

from __future__ import annotations

import math
import time

import numpy as np

from ..interop.unknown import UNKNOWN_ID
from ..metrics import confusion_matrix, summarize
from .pairing import StampPairer

REPORT_KEYS = (
    "pixel_accuracy",
    "mean_class_accuracy",
    "miou",
    "class_iou",
    "frames",
    "frames_missing",
    "frames_duplicate",
    "latency_ms_p50",
    "latency_ms_p99",
    "fps",
)


# StreamEvaluator.report and the bag evaluations: the pairer's stamp-order counters too
STREAM_REPORT_KEYS = (*REPORT_KEYS, "stamps_out_of_order", "clock_resets")


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Scorer:
    """Confusion matrix over paired (ground truth, prediction) frames plus timing.

    ``confusion`` is ``(C, C + 1)``: predictions of the unknown id (the node's ``min_confidence``)
    fill the last column and count as wrong for every class.

    ``fps`` is scored frames per second of wall time from :meth:`start` (or the first frame) to
    the last scored frame; latencies are whatever the caller measures per frame (milliseconds).
    """

    def __init__(self, num_classes: int) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        self.num_classes = num_classes
        self.confusion = np.zeros((num_classes, num_classes + 1), np.int64)
        self.frames = 0
        self.frames_missing = 0
        self.frames_duplicate = 0
        self.latencies_ms: list[float] = []
        self._start: float | None = None
        self._last: float | None = None

    def start(self, now: float | None = None) -> None:
        self._start = time.perf_counter() if now is None else now

    @property
    def started(self) -> bool:
        return self._start is not None

    def add(self, ground_truth: np.ndarray, prediction: np.ndarray, latency_ms: float | None = None) -> None:
        """Score one frame; ``ValueError`` (nothing accumulated) on a shape or class-id mismatch."""
        if ground_truth.shape != prediction.shape:
            raise ValueError(
                f"prediction is {prediction.shape[1::-1] if prediction.ndim >= 2 else prediction.shape} (WxH) but "
                f"ground truth is {ground_truth.shape[1::-1]}"
            )
        self.confusion += confusion_matrix(ground_truth, prediction, self.num_classes, UNKNOWN_ID)
        self.frames += 1
        now = time.perf_counter()
        if self._start is None:
            self._start = now
        self._last = now
        if latency_ms is not None and math.isfinite(latency_ms):
            self.latencies_ms.append(float(latency_ms))

    def add_missing(self, count: int = 1) -> None:
        self.frames_missing += int(count)

    def add_duplicates(self, count: int = 1) -> None:
        """Frames not scored because their stamp repeated an earlier frame's (pairing is by stamp)."""
        self.frames_duplicate += int(count)

    @property
    def elapsed_s(self) -> float:
        if self._start is None or self._last is None:
            return 0.0
        return self._last - self._start

    def report(self, elapsed_s: float | None = None) -> dict[str, object]:
        """The evaluation JSON; undefined values (no frames, no latencies) are ``None``."""
        summary = summarize(self.confusion, frames=self.frames)
        elapsed = self.elapsed_s if elapsed_s is None else elapsed_s
        latencies = np.asarray(self.latencies_ms, np.float64)
        report: dict[str, object] = {
            "pixel_accuracy": _finite_or_none(summary["pixel_accuracy"]),  # type: ignore[arg-type]
            "mean_class_accuracy": _finite_or_none(summary["mean_class_accuracy"]),  # type: ignore[arg-type]
            "miou": _finite_or_none(summary["miou"]),  # type: ignore[arg-type]
            "class_iou": summary["class_iou"],
            "frames": self.frames,
            "frames_missing": self.frames_missing,
            "frames_duplicate": self.frames_duplicate,
            "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies.size else None,
            "latency_ms_p99": float(np.percentile(latencies, 99)) if latencies.size else None,
            "fps": self.frames / elapsed if elapsed > 0 and self.frames else None,
        }
        return report


class StreamEvaluator:
    """Score predictions against ground truth arriving as two streams of (stamp, labels) messages.

    Pairs by stamp (:class:`~attendseg_ros.bag.pairing.StampPairer`, bounded, ``timeout`` seconds);
    frames that lose their partner, and pairs that cannot be scored (wrong size, invalid class id),
    are counted in ``frames_missing``, frames repeating a stamp in ``frames_duplicate``; the report
    adds the pairer's ``stamps_out_of_order`` and ``clock_resets`` (:data:`STREAM_REPORT_KEYS`).
    Latency is prediction arrival minus ground-truth arrival (the ground truth is published together
    with the camera image when a bag is played), None when it came later.
    """

    def __init__(self, num_classes: int, max_pending: int = 100, timeout: float | None = 5.0) -> None:
        self.scorer = Scorer(num_classes)
        self.pairer: StampPairer[tuple[np.ndarray, float], tuple[np.ndarray, float]] = StampPairer(
            max_pending=max_pending, timeout=timeout
        )
        self.rejected = 0
        self.messages = 0
        self.last_message: float | None = None

    def _seen(self, now: float | None) -> float:
        now = time.monotonic() if now is None else now
        self.messages += 1
        self.last_message = now
        if not self.scorer.started:
            self.scorer.start()
        return now

    def add_prediction(self, stamp: int, labels: np.ndarray, now: float | None = None) -> None:
        now = self._seen(now)
        pair = self.pairer.add_left(stamp, (labels, now), now)
        if pair is not None:
            self._score(*pair)

    def add_ground_truth(self, stamp: int, labels: np.ndarray, now: float | None = None) -> None:
        now = self._seen(now)
        pair = self.pairer.add_right(stamp, (labels, now), now)
        if pair is not None:
            self._score(*pair)

    def _score(self, stamp: int, prediction: tuple[np.ndarray, float], truth: tuple[np.ndarray, float]) -> None:
        (predicted, predicted_at), (expected, expected_at) = prediction, truth
        latency = (predicted_at - expected_at) * 1e3 if predicted_at >= expected_at else None
        try:
            self.scorer.add(expected, predicted, latency)
        except ValueError as exc:
            self.rejected += 1
            raise ValueError(f"frame at stamp {stamp} not scored: {exc}") from exc

    def expire(self, now: float | None = None) -> int:
        return self.pairer.expire(now)

    def finish(self) -> None:
        """End of the evaluation: every frame still waiting for its partner is missing."""
        self.pairer.flush()

    @property
    def frames(self) -> int:
        return self.scorer.frames

    @property
    def frames_missing(self) -> int:
        return self.pairer.missing + self.rejected

    def report(self) -> dict[str, object]:
        self.scorer.frames_missing = self.frames_missing
        self.scorer.frames_duplicate = self.pairer.duplicates
        return {**self.scorer.report(), "stamps_out_of_order": self.pairer.stamps_out_of_order,
                "clock_resets": self.pairer.clock_resets}
