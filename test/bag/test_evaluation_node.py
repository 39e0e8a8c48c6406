"""attendseg-evaluate as its own process over real DDS: pairing, missing frames, final report and JSON."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from attendseg_ros.bag.scoring import Scorer
from attendseg_ros.data import load_class_table
from attendseg_ros.interop import UNKNOWN_ID, load_class_map
from attendseg_ros.msg import EvaluationReport

REPO = Path(__file__).resolve().parents[2]
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
LABELS, TRUTH, REPORT = "/eval_test/segmentation/labels", "/eval_test/labels_gt", "/eval_test/report"
TIMEOUT = 30.0
# Ground truth waits two report periods (0.4 s) for its prediction, and unpaired frames end the test by
# expiring: far more than that wait, so that a slow machine does not expire a frame that will be paired.
PAIR_TIMEOUT = 3.0


def _image(stamp: int, labels: np.ndarray, encoding: str = "mono8", sec: int = 100) -> Image:
    msg = Image(height=labels.shape[0], width=labels.shape[1], encoding=encoding, step=labels.shape[1])
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, stamp
    msg.data = labels.tobytes()
    return msg


def _spin_until(executor: SingleThreadedExecutor, condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + TIMEOUT
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        executor.spin_once(timeout_sec=0.02)
    return value


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}


@contextlib.contextmanager
def _evaluation_node(*parameters: str) -> Iterator[subprocess.Popen]:
    """attendseg-evaluate as its own process with ``-p`` parameters; killed if still running at the end."""
    command = [sys.executable, "-m", "attendseg_ros.ros.evaluation_node", "--ros-args"]
    for parameter in parameters:
        command += ["-p", parameter]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _connect(graph: Any, labels: str, truth: str, report: str) -> tuple[list, Any, Any]:
    """Reports received, and the labels and ground-truth publishers, once the evaluation node is there."""
    node, executor = graph
    reports: list[EvaluationReport] = []
    node.create_subscription(EvaluationReport, report, reports.append, RELIABLE)
    labels_pub = node.create_publisher(Image, labels, RELIABLE)
    truth_pub = node.create_publisher(Image, truth, RELIABLE)
    _spin_until(executor, lambda: labels_pub.get_subscription_count() and truth_pub.get_subscription_count()
                and reports, "the evaluation node's subscriptions and first report")
    return reports, labels_pub, truth_pub


def _final(executor: SingleThreadedExecutor, reports: list, process: subprocess.Popen) -> EvaluationReport:
    """The final report, once the process has ended by itself with status 0."""
    try:
        final = _spin_until(executor, lambda: next((r for r in reports if r.final), None), "the final report")
    except AssertionError as exc:  # say what the node said, to tell a lost report from a node that never ended
        process.kill()
        output = process.communicate()[0] if process.stdout else ""
        raise AssertionError(f"{exc}; the node's output:\n{output}") from None
    assert process.wait(TIMEOUT) == 0, process.stdout.read() if process.stdout else ""
    return final


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
    _, executor = graph
    output = tmp_path / "eval.json"
    with _evaluation_node(f"labels_topic:={LABELS}", f"ground_truth_topic:={TRUTH}", f"report_topic:={REPORT}",
                          "expected_frames:=6", f"pair_timeout:={PAIR_TIMEOUT}", "report_period:=0.2",
                          f"output_json:={output}") as process:
        reports, labels_pub, truth_pub = _connect(graph, LABELS, TRUTH, REPORT)
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
        final = _final(executor, reports, process)

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


def test_a_looped_bag_is_scored_again_and_repeated_stamps_once(graph: Any) -> None:
    """A bag played twice: its second pass is a clock reset and is scored; a repeated stamp is not."""
    _, executor = graph
    with _evaluation_node(f"labels_topic:={LABELS}", f"ground_truth_topic:={TRUTH}", f"report_topic:={REPORT}",
                          "expected_frames:=6", f"pair_timeout:={PAIR_TIMEOUT}", "report_period:=0.2") as process:
        reports, labels_pub, truth_pub = _connect(graph, LABELS, TRUTH, REPORT)
        labels = np.full((6, 8), 3, np.uint8)
        for sec in (101, 102, 103, 103, 101, 102, 103):  # 103 twice, then the bag from its start
            truth_pub.publish(_image(0, labels, sec=sec))
            labels_pub.publish(_image(0, labels, sec=sec))
        final = _final(executor, reports, process)
    assert (final.frames, final.frames_missing, final.frames_duplicate) == (6, 0, 2)  # 103 repeated on each topic
    assert (final.stamps_out_of_order, final.clock_resets) == (2, 2)
    assert final.pixel_accuracy == 1.0


def test_with_a_class_map_the_ground_truth_is_mapped_like_the_labels(graph: Any) -> None:
    """The node's labels are in the class map's table: CamVid ground truth goes through the same LUT."""
    _, executor = graph
    labels, truth, report = "/eval_map/labels", "/eval_map/labels_gt", "/eval_map/report"
    with _evaluation_node(f"labels_topic:={labels}", f"ground_truth_topic:={truth}", f"report_topic:={report}",
                          "class_map:=navigation", "expected_frames:=2", f"pair_timeout:={PAIR_TIMEOUT}",
                          "report_period:=0.2") as process:
        reports, labels_pub, truth_pub = _connect(graph, labels, truth, report)
        navigation = load_class_map("navigation", load_class_table("camvid11"))
        rng = np.random.default_rng(1)
        truths = {s: rng.integers(0, 12, (6, 8), dtype=np.uint8) for s in (1, 2)}  # CamVid ids, 11 = void
        predictions = {s: navigation.apply(rng.integers(0, 11, (6, 8), dtype=np.uint8)) for s in (1, 2)}
        predictions[2][0, :4] = UNKNOWN_ID  # below the node's min_confidence
        for stamp in (1, 2):
            truth_pub.publish(_image(stamp, truths[stamp]))
            labels_pub.publish(_image(stamp, predictions[stamp]))
        final = _final(executor, reports, process)
    expected = Scorer(7)
    for stamp in (1, 2):
        expected.add(navigation.apply(truths[stamp]), predictions[stamp])
    assert final.frames == 2 and final.miou == pytest.approx(expected.report()["miou"])
    assert list(final.class_names) == ["road", "sidewalk", "obstacle", "vehicle", "person", "vegetation", "sky"]
    assert final.pixel_accuracy == pytest.approx(expected.report()["pixel_accuracy"])


@pytest.mark.parametrize(("parameter", "named"), [("classes:=no_such_table", "no_such_table"),
                                                  ("class_map:=nav", "no class map named 'nav'")])
def test_bad_parameter_exits_with_one_line(parameter: str, named: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "attendseg_ros.ros.evaluation_node", "--ros-args", "-p", parameter],
        env=_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert result.returncode == 2
    assert "attendseg-evaluate: error:" in result.stderr and named in result.stderr
    assert "Traceback" not in result.stderr
