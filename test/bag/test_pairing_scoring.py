"""Stamp pairing and scoring without ROS or bags: every unpaired frame is counted, metrics are shared."""

from __future__ import annotations

import numpy as np
import pytest

from attendseg_ros.bag.pairing import StampPairer
from attendseg_ros.bag.scoring import REPORT_KEYS, STREAM_REPORT_KEYS, Scorer, StreamEvaluator
from attendseg_ros.metrics import confusion_matrix, summarize


def test_pairs_in_any_order_and_counts_both_kinds_of_missing() -> None:
    pairer: StampPairer[str, str] = StampPairer()
    assert pairer.add_left(1, "a1", now=0.0) is None
    assert pairer.add_right(1, "b1", now=0.0) == (1, "a1", "b1")
    assert pairer.add_right(2, "b2", now=0.0) is None
    assert pairer.add_left(2, "a2", now=0.0) == (2, "a2", "b2")
    pairer.add_left(3, "a3", now=0.0)  # its right partner never comes
    pairer.add_right(4, "b4", now=0.0)  # its left partner never comes
    assert pairer.flush() == 2
    assert (pairer.paired, pairer.missing_right, pairer.missing_left, pairer.missing) == (2, 1, 1, 2)


def test_timeout_counts_missing_once_and_ignores_the_late_partner() -> None:
    pairer: StampPairer[str, str] = StampPairer(timeout=1.0)
    pairer.add_left(1, "a1", now=0.0)
    assert pairer.expire(now=0.5) == 0
    assert pairer.expire(now=1.5) == 1
    assert pairer.add_right(1, "late", now=1.6) is None  # already counted: a duplicate, not a second miss
    pairer.flush()
    assert (pairer.missing, pairer.duplicates, pairer.pending) == (1, 1, 0)


def test_bounded_buffer_evicts_the_oldest_as_missing() -> None:
    pairer: StampPairer[int, int] = StampPairer(max_pending=3)
    for stamp in range(5):
        pairer.add_left(stamp, stamp, now=0.0)
    assert pairer.pending_left() == [2, 3, 4]
    assert pairer.missing_right == 2
    assert pairer.add_right(3, 30, now=0.0) == (3, 3, 30)


def test_duplicate_stamp_keeps_the_first() -> None:
    pairer: StampPairer[str, str] = StampPairer()
    pairer.add_left(7, "first", now=0.0)
    pairer.add_left(7, "second", now=0.0)
    assert pairer.add_right(7, "b", now=0.0) == (7, "first", "b")
    assert pairer.add_right(7, "again", now=0.0) is None
    assert pairer.duplicates == 2 and pairer.missing == 0


def test_scorer_report_is_the_shared_summary() -> None:
    rng = np.random.default_rng(0)
    truths = [rng.integers(0, 12, (6, 8), dtype=np.uint8) for _ in range(3)]  # 11 = void, ignored
    predictions = [rng.integers(0, 11, (6, 8), dtype=np.uint8) for _ in range(3)]
    scorer = Scorer(11)
    for truth, prediction, latency in zip(truths, predictions, (10.0, 20.0, 30.0), strict=True):
        scorer.add(truth, prediction, latency)
    scorer.add_missing(2)
    report = scorer.report(elapsed_s=1.5)
    expected = summarize(sum(confusion_matrix(t, p, 11) for t, p in zip(truths, predictions, strict=True)), frames=3)
    assert tuple(report) == REPORT_KEYS
    for key in ("pixel_accuracy", "mean_class_accuracy", "miou", "class_iou", "frames"):
        assert report[key] == expected[key]
    assert report["frames_missing"] == 2
    assert report["latency_ms_p50"] == pytest.approx(20.0)
    assert report["fps"] == pytest.approx(2.0)


def test_scorer_rejects_a_wrong_size_without_accumulating() -> None:
    scorer = Scorer(11)
    with pytest.raises(ValueError, match="ground truth"):
        scorer.add(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    assert scorer.frames == 0 and not scorer.confusion.any()
    report = scorer.report()
    assert report["miou"] is None and report["latency_ms_p50"] is None and report["fps"] is None


def test_stream_evaluator_latency_and_missing() -> None:
    evaluator = StreamEvaluator(11, timeout=1.0)
    truth = np.full((2, 3), 3, np.uint8)
    evaluator.add_ground_truth(1, truth, now=10.0)
    evaluator.add_prediction(1, truth, now=10.25)  # 250 ms after its ground truth
    evaluator.add_prediction(2, truth, now=10.3)  # labels whose ground truth never comes
    evaluator.add_ground_truth(3, truth, now=10.4)  # ground truth whose labels never come
    with pytest.raises(ValueError, match="stamp 4"):
        evaluator.add_ground_truth(4, truth, now=10.5)
        evaluator.add_prediction(4, np.zeros((3, 3), np.uint8), now=10.6)
    evaluator.finish()
    report = evaluator.report()
    assert report["frames"] == 1 and report["frames_missing"] == 3
    assert report["pixel_accuracy"] == 1.0
    assert report["latency_ms_p50"] == pytest.approx(250.0)


def test_scorer_counts_unknown_predictions_as_misses() -> None:
    # The node's min_confidence marks uncertain pixels with the unknown id (255): they are scored
    # as wrong for their ground-truth class, not rejected and not a false positive of any class.
    truth = np.array([[3, 3, 3, 3], [8, 8, 11, 11]], np.uint8)  # 11 = void
    prediction = np.array([[3, 3, 255, 255], [8, 255, 255, 3]], np.uint8)
    evaluator = StreamEvaluator(11, timeout=1.0)
    evaluator.add_ground_truth(1, truth, now=1.0)
    evaluator.add_prediction(1, prediction, now=1.1)
    report = evaluator.report()
    assert evaluator.frames == 1 and evaluator.frames_missing == 0
    assert evaluator.scorer.confusion.shape == (11, 12) and evaluator.scorer.confusion[:, 11].sum() == 3
    assert report["class_iou"][3] == pytest.approx(2 / 4) and report["class_iou"][8] == pytest.approx(1 / 2)
    assert report["pixel_accuracy"] == pytest.approx(3 / 6)


S = 10**9


def test_pairer_counts_stamps_out_of_order_and_a_looped_stream_pairs_again() -> None:
    """Stamps t, t-0.1, t-0.2, t-0.2, t+0.5 on each side; then the stream from its start again (a bag loop)."""
    pairer: StampPairer[str, str] = StampPairer()
    t = 200 * S
    stamps = [t, t - S // 10, t - S // 5, t - S // 5, t + S // 2]
    pairs = []
    for stamp in stamps:
        pairer.add_left(stamp, "image")
        pairs.append(pairer.add_right(stamp, "truth"))
    assert sum(pair is not None for pair in pairs) == 4 and pairer.duplicates == 2  # the repeat, on each side
    assert (pairer.stamps_out_of_order, pairer.clock_resets) == (6, 0)
    for stamp in stamps:  # the stream again, 100 s earlier: a reset on each side, and its frames pair again
        pairer.add_left(stamp - 100 * S, "image")
        pairs.append(pairer.add_right(stamp - 100 * S, "truth"))
    assert sum(pair is not None for pair in pairs) == 8 and pairer.clock_resets == 2 and pairer.missing == 0


def test_stream_evaluator_reports_the_stamp_order() -> None:
    evaluator = StreamEvaluator(11, timeout=1.0)
    truth = np.full((2, 3), 3, np.uint8)
    for sec in (5, 4, 4, 1):  # out of order, repeated, then more than a second back
        evaluator.add_ground_truth(sec * S, truth, now=1.0)
        evaluator.add_prediction(sec * S, truth, now=1.0)
    report = evaluator.report()
    assert tuple(report) == STREAM_REPORT_KEYS
    assert (report["frames"], report["frames_duplicate"]) == (3, 2)
    assert (report["stamps_out_of_order"], report["clock_resets"]) == (4, 2)
