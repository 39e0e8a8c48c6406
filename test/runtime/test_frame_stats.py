"""Per-camera accounting: cumulative counters, a recent window that sets the level (no ROS)."""

from __future__ import annotations

from attendseg_ros.runtime.frame_stats import (
    CLOCK_RESET,
    ERROR,
    IN_ORDER,
    NOT_WATCHED,
    OK,
    OUT_OF_ORDER,
    RECEIVING,
    STALLED,
    UNSTAMPED,
    WAITING,
    WARN,
    CameraStats,
    PublisherSequences,
    StampOrder,
)


def test_a_rejected_frame_warns_only_for_the_window() -> None:
    """One rejected frame left the camera's diagnostic at WARN forever."""
    stats = CameraStats("/cam/image_raw", window_s=10.0, started=0.0)
    assert stats.report(1.0).level == OK
    stats.count("received")
    stats.count("rejected", reason="unsupported encoding '16UC1'")
    report = stats.report(2.0)
    assert report.level == WARN and "1 rejected in the last 10 s" in report.message and "16UC1" in report.message
    for now in range(3, 12):
        stats.count("received")
        stats.processed(5.0, 1.0, 1, 6.0, 0.01)
        report = stats.report(float(now))
    assert report.level == WARN  # the rejection reported at t=2 is within 10 s at t=11
    stats.count("received")
    stats.processed(5.0, 1.0, 1, 6.0, 0.01)
    report = stats.report(12.0)
    assert report.level == OK, report.message
    assert report.values["rejected"] == "1" and report.values["rejected_recent"] == "0"


def test_failing_inference_is_an_error_while_nothing_succeeds() -> None:
    stats = CameraStats("/cam/image_raw", window_s=5.0, started=0.0)
    for _ in range(3):
        stats.count("received")
        stats.count("inference_failures", reason="InvalidArgument: batch 2, expected 1")
    report = stats.report(1.0)
    assert report.level == ERROR and "InvalidArgument" in report.message
    assert report.values["inference_failures"] == report.values["inference_failures_recent"] == "3"
    stats.count("received")
    stats.processed(5.0, 1.0, 1, 6.0, None)
    assert stats.report(2.0).level == WARN


def test_latency_only_for_stamps_in_the_nodes_clock() -> None:
    """Stamps from another time base (bag replay, boot time) gave latencies of 1.8e12 ms."""
    stats = CameraStats("/cam/image_raw", started=0.0)
    stats.processed(5.0, 1.0, 1, 7.0, stamp_age_s=0.020)
    stats.processed(5.0, 1.0, 1, 8.0, stamp_age_s=1.8e9)
    stats.processed(5.0, 1.0, 2, 9.0, stamp_age_s=-3600.0)
    values = stats.report(1.0).values
    assert values["latency_ms_p50"] == "20.00" and values["stamps_not_in_node_clock"] == "2"
    assert values["node_latency_ms_p50"] == "8.00" and values["largest_batch"] == "2"


def test_incompatible_publisher_warns_until_frames_arrive() -> None:
    stats = CameraStats("/cam/image_raw", window_s=1.0, started=0.0)
    stats.count("incompatible_qos", reason="RELIABILITY")
    stats.qos_problem = "a publisher offers incompatible QoS (RELIABILITY)"
    assert stats.report(5.0).level == WARN
    assert stats.report(50.0).level == WARN  # still no data: the problem is not history
    stats.count("received")
    assert stats.report(51.0).level == OK


def test_frames_without_camera_info_warn_and_inexact_pairs_are_only_counted() -> None:
    stats = CameraStats("/cam/image_raw", window_s=5.0, started=0.0)
    stats.count("received")
    stats.processed(5.0, 1.0, 1, 6.0, None)
    stats.count("camera_info_inexact")
    report = stats.report(1.0)
    assert report.level == OK and report.values["camera_info_inexact"] == "1"
    stats.count("received")
    stats.processed(5.0, 1.0, 1, 6.0, None)
    stats.count("camera_info_missing", reason="no CameraInfo on /cam/camera_info yet")
    report = stats.report(2.0)
    assert report.level == WARN and "1 frames without camera_info" in report.message
    assert report.values["last_camera_info_problem"] == "no CameraInfo on /cam/camera_info yet"


# ---------------------------------------------------------------- liveness (a fake clock: the times passed in)


def _frame(stats: CameraStats, now: float, stamp_ns: int = 0) -> str:
    verdict = stats.frame_received(now, stamp_ns)
    stats.processed(5.0, 1.0, 1, 6.0, None)
    return verdict


def test_a_camera_that_stops_is_an_error_until_frames_resume() -> None:
    """A camera streamed, then stopped for 15 s: diagnostics stayed OK ("0.0 fps") the whole time."""
    stats = CameraStats("/cam/image_raw", window_s=10.0, started=0.0, input_timeout_s=1.0)
    stats.expect_frames(0.0)
    report = stats.report(0.5)
    assert report.level == WARN and "waiting for the first frame" in report.message
    assert stats.liveness_change(0.5) == ("", stats.liveness(0.5)) and stats.liveness(0.5).state == WAITING
    for step in range(10):  # 10 Hz for a second
        _frame(stats, 1.0 + step / 10)
    assert stats.report(2.0).level == OK
    assert stats.liveness_change(2.0)[1].state == RECEIVING
    report = stats.report(6.0)  # silent since 1.9
    assert report.level == ERROR and "no frame for 4.1 s" in report.message, report.message
    assert report.values["input"] == STALLED and report.values["seconds_since_last_frame"] == "4.10"
    previous, liveness = stats.liveness_change(6.0)
    assert (previous, liveness.state, liveness.level) == (RECEIVING, STALLED, ERROR)
    assert stats.liveness_change(7.0) is None and stats.liveness_change(20.0) is None  # once per stall
    _frame(stats, 20.5)
    assert stats.report(20.6).level == OK
    previous, liveness = stats.liveness_change(20.6)
    assert (previous, liveness.state) == (STALLED, RECEIVING) and round(stats.last_gap_s, 1) == 18.6


def test_liveness_off_and_inactive_are_not_watched() -> None:
    stats = CameraStats("/cam/image_raw", started=0.0)  # input_timeout_s 0: off
    stats.expect_frames(0.0)
    _frame(stats, 1.0)
    assert stats.report(100.0).level == OK and stats.liveness(100.0).state == NOT_WATCHED
    stats.input_timeout_s = 2.0  # a live change
    assert stats.report(101.0).level == ERROR
    stats.stop_expecting()  # deactivated
    assert stats.report(102.0).level == OK
    stats.expect_frames(103.0)  # activated again: waiting for a first frame, not stalled
    assert stats.liveness(110.0).state == WAITING


# ---------------------------------------------------------------- stamp order


S = 10**9


def test_stamps_out_of_order_and_a_repeated_stamp() -> None:
    """Stamps t, t-0.1, t-0.2, t-0.2, t+0.5: three out of order; the repeat is known as delivered."""
    stats = CameraStats("/cam/image_raw", started=0.0)
    t = 200 * S
    verdicts = []
    for index, stamp in enumerate((t, t - S // 10, t - S // 5, t - S // 5, t + S // 2)):
        verdicts.append(stats.frame_received(float(index), stamp))
        if not stats.stamps.was_delivered(stamp):
            stats.stamps.delivered(stamp)
        else:
            stats.count("dropped_duplicate")
    assert verdicts == [IN_ORDER, OUT_OF_ORDER, OUT_OF_ORDER, OUT_OF_ORDER, IN_ORDER]
    report = stats.report(5.0)
    assert report.values["stamps_out_of_order"] == "3" and report.values["dropped_duplicate"] == "1"
    assert report.level == WARN and "3 stamps out of order" in report.message
    assert "stamp 199.800000000 after 199.800000000" in report.message


def test_a_backward_jump_is_a_clock_reset_and_tracking_starts_over() -> None:
    """The audit's stamps [200, 199, 198, 198, 0, 197, 250, 100]: every one was answered, nothing counted."""
    order = StampOrder(reset_s=1.0)
    verdicts = []
    for stamp in (200, 199, 198, 198, 0, 197, 250, 100, 101):
        verdicts.append(order.arrived(stamp * S))
    assert verdicts == [IN_ORDER, OUT_OF_ORDER, OUT_OF_ORDER, OUT_OF_ORDER, UNSTAMPED, OUT_OF_ORDER, IN_ORDER,
                        CLOCK_RESET, IN_ORDER]  # 200 -> 199 is 1 s back, not more: out of order
    assert (order.out_of_order, order.clock_resets) == (4, 1)


def test_a_looped_bag_keeps_flowing() -> None:
    """A bag played in a loop: the second pass delivers every frame again, even a short bag."""
    for span_s in (10, 0.5):  # a reset (10 s back), or one stamp out of order (0.5 s back)
        order = StampOrder()
        stamps = [S + int(i * span_s * S / 10) for i in range(10)]
        repeats = 0
        for stamp in stamps + stamps:
            order.arrived(stamp)
            repeats += order.was_delivered(stamp)
            order.delivered(stamp)
        assert repeats == 0
        assert (order.clock_resets, order.out_of_order) == ((1, 0) if span_s == 10 else (0, 1))
    assert order.was_delivered(stamps[-1]) and not order.was_delivered(0)


def test_frames_that_never_reached_the_node_are_counted_from_sequence_gaps() -> None:
    stats = CameraStats("/cam/image_raw", started=0.0)
    for sequence in (40, 41, 45, 46, 50):  # the first frame seen starts the count: 3 + 3 missed
        stats.frame_received(0.0, 0, b"camera", sequence)
    stats.frame_received(0.0, 0, b"other", 7)  # a second publisher has its own numbers
    stats.frame_received(0.0, 0, b"other", 9)
    stats.frame_received(0.0, 0, b"camera", 3)  # a restarted writer: counting starts again
    stats.frame_received(0.0, 0, b"camera", 4)
    values = stats.report(1.0).values
    assert (values["not_received"], values["received"]) == ("7", "9")
    assert PublisherSequences(publishers=1).missed(b"a", 5) == 0
