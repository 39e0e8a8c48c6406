"""Per-camera accounting: cumulative counters, a recent window that sets the level (no ROS)."""

from __future__ import annotations

from attendseg_ros.runtime.frame_stats import ERROR, OK, WARN, CameraStats


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
