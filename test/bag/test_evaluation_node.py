"""attendseg-evaluate as its own process over real DDS: pairing, missing frames, final report and JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from attendseg_ros.bag.scoring import Scorer
from attendseg_ros.msg import EvaluationReport

REPO = Path(__file__).resolve().parents[2]
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LABELS, TRUTH, REPORT = "/eval_test/segmentation/labels", "/eval_test/labels_gt", "/eval_test/report"
TIMEOUT = 30.0
# Ground truth waits two report periods (0.4 s) for its prediction, and unpaired frames end the test by
# expiring: far more than that wait, so that a slow machine does not expire a frame that will be paired.
PAIR_TIMEOUT = 3.0


def _image(stamp: int, labels: np.ndarray, encoding: str = "mono8") -> Image:
    msg = Image(height=labels.shape[0], width=labels.shape[1], encoding=encoding, step=labels.shape[1])
    msg.header.stamp.sec, msg.header.stamp.nanosec = 100, stamp
    msg.data = labels.tobytes()
    return msg


def _spin_until(executor: SingleThreadedExecutor, condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        executor.spin_once(timeout_sec=0.02)
    return value


@pytest.fixture
def graph() -> Any:
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("evaluation_node_test", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_pairs_counts_missing_and_writes_the_final_report(graph: Any, tmp_path: Path) -> None:
    node, executor = graph
    output = tmp_path / "eval.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    command = [
        sys.executable, "-m", "attendseg_ros.ros.evaluation_node", "--ros-args",
        "-p", f"labels_topic:={LABELS}", "-p", f"ground_truth_topic:={TRUTH}", "-p", f"report_topic:={REPORT}",
        "-p", "expected_frames:=6", "-p", f"pair_timeout:={PAIR_TIMEOUT}", "-p", "report_period:=0.2",
        "-p", f"output_json:={output}",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        reports: list[EvaluationReport] = []
        node.create_subscription(EvaluationReport, REPORT, reports.append, RELIABLE)
        labels_pub = node.create_publisher(Image, LABELS, RELIABLE)
        truth_pub = node.create_publisher(Image, TRUTH, RELIABLE)
        _spin_until(
            executor,
            lambda: labels_pub.get_subscription_count() and truth_pub.get_subscription_count() and reports,
            "the evaluation node's subscriptions and first report",
        )
        rng = np.random.default_rng(0)
        truths = {s: rng.integers(0, 12, (6, 8), dtype=np.uint8) for s in range(1, 7)}
        predictions = {s: rng.integers(0, 11, (6, 8), dtype=np.uint8) for s in range(1, 7)}
        # complete frames, ground truth first (as `ros2 bag play` + the node). The topics are delivered
        # independently and a prediction handled before its ground truth has no latency to measure, so
        # let two report periods pass before the predictions follow.
        for stamp in (1, 2, 3):
            truth_pub.publish(_image(stamp, truths[stamp]))
        seen = len(reports)
        _spin_until(executor, lambda: len(reports) >= seen + 2, "two more periodic reports")
        for stamp in (1, 2, 3):
            labels_pub.publish(_image(stamp, predictions[stamp]))
        truth_pub.publish(_image(4, truths[4]))  # labels never come
        labels_pub.publish(_image(5, predictions[5]))  # ground truth never comes
        truth_pub.publish(_image(6, truths[6]))
        labels_pub.publish(_image(6, np.repeat(predictions[6][..., None], 3, axis=2), "rgb8"))  # rejected
        final = _spin_until(executor, lambda: next((r for r in reports if r.final), None), "the final report")
        assert process.wait(TIMEOUT) == 0, process.stdout.read() if process.stdout else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    expected = Scorer(11)
    for stamp in (1, 2, 3):
        expected.add(truths[stamp], predictions[stamp])
    want = expected.report()
    assert (final.frames, final.frames_missing) == (3, 3)
    assert final.miou == pytest.approx(want["miou"]) and final.pixel_accuracy == pytest.approx(want["pixel_accuracy"])
    assert len(final.class_names) == len(final.class_iou) == 11 and final.class_names[3] == "Road"
    assert math.isfinite(final.latency_ms_p50) and final.latency_ms_p50 >= 0.0
    written = json.loads(output.read_text())
    assert (written["frames"], written["frames_missing"]) == (3, 3)
    assert written["miou"] == pytest.approx(want["miou"])
    assert written["class_iou"] == pytest.approx(want["class_iou"])


def test_bad_parameter_exits_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    result = subprocess.run(
        [sys.executable, "-m", "attendseg_ros.ros.evaluation_node", "--ros-args", "-p", "classes:=no_such_table"],
        env=env, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "attendseg-evaluate: error:" in result.stderr and "no_such_table" in result.stderr
    assert "Traceback" not in result.stderr
