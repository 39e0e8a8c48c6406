"""``attendseg-evaluate``: score a labels topic against a ground-truth topic, live.

Subscribes to predicted labels (``labels_topic``, mono8 class ids, e.g. the segmentation node's
``<ns>/segmentation/labels``) and ground truth (``ground_truth_topic``, mono8, e.g. a bag's
``/camera/labels_gt`` played with ``ros2 bag play``), pairs them by header stamp, accumulates one
confusion matrix with the shared metrics and publishes ``attendseg_ros/msg/EvaluationReport``
every ``report_period`` seconds and once more at the end (``final: true``). The end comes after
``expected_frames`` frames, after ``idle_timeout`` seconds without messages, or on shutdown; the
final report is also written to ``output_json``. Frames whose partner does not arrive within
``pair_timeout`` are counted in ``frames_missing``. Stamp order follows the segmentation node's rules:
a frame repeating a stamp on its topic is not scored again (``frames_duplicate``), stamps not later
than the previous one on their topic count in ``stamps_out_of_order``, and a jump back of more than a
second (a bag played in a loop) counts in ``clock_resets`` and pairing starts over; both are logged.

With ``class_map`` (the segmentation node's parameter of the same name), predictions are in the
class map's table: the ground truth goes through the same lookup table (its void becomes the
unknown id 255 and is ignored) and the report lists the target classes. Predicted unknown pixels
(255, the node's ``min_confidence``) count as misses.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from ..bag.scoring import StreamEvaluator
from ..data.classes import ClassTable, load_class_table
from ..interop.class_map import ClassMap, load_class_map
from ..msg import EvaluationReport
from ..runtime.image_conversion import ImageConversionError, image_to_labels
from .messages import stamp_ns, wait_for_acknowledgement
from .parameters import Spec

_S, _B, _I, _F = (
    ParameterType.PARAMETER_STRING,
    ParameterType.PARAMETER_BOOL,
    ParameterType.PARAMETER_INTEGER,
    ParameterType.PARAMETER_DOUBLE,
)
FINAL_ACK_TIMEOUT = 5.0  # seconds to wait for report subscribers to acknowledge the final report

SPECS: tuple[Spec, ...] = (
    Spec("labels_topic", "/camera/segmentation/labels", _S, "Predicted labels (mono8 class ids).", read_only=True),
    Spec("ground_truth_topic", "/camera/labels_gt", _S, "Ground-truth labels (mono8, void = the class table's "
         "void id).", read_only=True),
    Spec("report_topic", "evaluation/report", _S, "Where attendseg_ros/msg/EvaluationReport is published.",
         read_only=True),
    Spec("classes", "camvid11", _S, "Class table of the model and the ground truth: a name in config/ "
         "(camvid11, camvid32) or a YAML path.", read_only=True),
    Spec("class_map", "", _S, "The segmentation node's class_map (its labels are in that table): '' = none; a "
         "name in config/class_maps, a .yaml path or inline YAML. The ground truth is mapped the same way.",
         read_only=True),
    Spec("reliability", "reliable", _S, "QoS reliability of both subscriptions (a reliable subscription does not "
         "match best-effort publishers).", read_only=True, choices=("reliable", "best_effort")),
    Spec("queue_depth", 50, _I, "QoS history depth of both subscriptions.", read_only=True, int_range=(1, 1000)),
    Spec("report_period", 1.0, _F, "Seconds between intermediate reports.", read_only=True,
         float_range=(0.05, 3600.0)),
    Spec("pair_timeout", 5.0, _F, "Seconds a frame waits for its partner before it counts as missing.",
         read_only=True, float_range=(0.01, 3600.0)),
    Spec("max_pending", 100, _I, "Most unpaired frames held per topic; older ones count as missing.",
         read_only=True, int_range=(1, 100000)),
    Spec("expected_frames", 0, _I, "End after this many frames (scored + missing); 0 = no limit.", read_only=True,
         int_range=(0, 2**31 - 1)),
    Spec("idle_timeout", 0.0, _F, "End this many seconds after the last message (once one came); 0 = never.",
         read_only=True, float_range=(0.0, 86400.0)),
    Spec("output_json", "", _S, "Write the final report as JSON here; empty = do not write.", read_only=True),
    Spec("shutdown_on_final", True, _B, "Exit the process after the final report (ends a launch).",
         read_only=True),
)


class EvaluationNode(Node):
    """Pairs labels with ground truth by stamp and publishes running accuracy reports."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("attendseg_evaluate", **kwargs)
        for spec in SPECS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        value = {spec.name: self.get_parameter(spec.name).value for spec in SPECS}
        for spec in SPECS:
            if spec.choices and value[spec.name] not in spec.choices:
                raise ValueError(f"parameter {spec.name}: {value[spec.name]!r} is not one of {list(spec.choices)}")
        self.class_map: ClassMap = load_class_map(value["class_map"], load_class_table(value["classes"]))
        self.classes: ClassTable = self.class_map.table()  # what the labels are scored in
        self.evaluator = StreamEvaluator(
            len(self.classes.names), max_pending=value["max_pending"], timeout=value["pair_timeout"]
        )
        self.expected_frames = int(value["expected_frames"])
        self.idle_timeout = float(value["idle_timeout"])
        self.output_json = str(value["output_json"])
        self.shutdown_on_final = bool(value["shutdown_on_final"])
        self.finished = False
        self._last_error = 0.0
        self.invalid_messages = 0
        reliable = value["reliability"] == "reliable"
        reliability = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=value["queue_depth"], reliability=reliability)
        self.report_publisher = self.create_publisher(EvaluationReport, value["report_topic"], 10)
        self.create_subscription(Image, value["labels_topic"], self._on_labels, qos)
        # Ground truth is subscribed to only once a labels publisher is known here: a player that waits
        # for its subscribers (attendseg-play-bag --wait-for-subscribers) then starts only when labels
        # can reach this node too; before, the first frames' labels could be lost to slow discovery.
        self._labels_topic = value["labels_topic"]
        self._ground_truth = (value["ground_truth_topic"], qos)
        self._connect_timer = self.create_timer(0.1, self._connect_ground_truth)
        self.create_timer(value["report_period"], self._on_timer)
        self.get_logger().info(
            f"scoring {value['labels_topic']} against {value['ground_truth_topic']} "
            f"({len(self.classes.names)} classes of {self.classes.name})"
        )

    def _connect_ground_truth(self) -> None:
        if self.count_publishers(self._labels_topic) == 0:
            return
        self.destroy_timer(self._connect_timer)
        topic, qos = self._ground_truth
        self.create_subscription(Image, topic, self._on_ground_truth, qos)
        self.get_logger().info(f"{self._labels_topic} has a publisher: subscribed to {topic}")

    def _receive(self, msg: Image, what: str) -> tuple[int, np.ndarray] | None:
        if self.finished:
            return None
        try:
            labels = image_to_labels(msg)
        except ImageConversionError as exc:  # not counted here: its partner will count as missing
            self.invalid_messages += 1
            self._error(f"{what} at stamp {msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d} rejected: {exc}")
            return None
        return stamp_ns(msg), labels

    def _on_labels(self, msg: Image) -> None:
        received = self._receive(msg, "labels")
        if received is not None:
            self._add(self.evaluator.add_prediction, *received)

    def _on_ground_truth(self, msg: Image) -> None:
        received = self._receive(msg, "ground truth")
        if received is not None:
            stamp, labels = received
            self._add(self.evaluator.add_ground_truth, stamp, self.class_map.apply(labels))

    def _add(self, add: Callable[[int, np.ndarray], None], stamp: int, labels: np.ndarray) -> None:
        pairer = self.evaluator.pairer
        before = (pairer.stamps_out_of_order, pairer.clock_resets)
        try:
            add(stamp, labels)
        except ValueError as exc:
            self._error(str(exc))
        self._log_stamp_order(stamp, before)
        self._check_end()

    def _log_stamp_order(self, stamp: int, before: tuple[int, int]) -> None:
        pairer = self.evaluator.pairer
        at = f"{stamp // 10**9}.{stamp % 10**9:09d}"
        if pairer.clock_resets > before[1]:
            self.get_logger().warning(f"stamp {at} is more than 1 s before the previous one on its topic (a bag played "
                                      "in a loop or a reset clock): pairing starts over",
                                      throttle_duration_sec=5.0)
        elif pairer.stamps_out_of_order > before[0]:
            self.get_logger().warning(f"stamp {at} is not later than the previous one on its topic "
                                      f"({pairer.stamps_out_of_order} out of order so far)", throttle_duration_sec=5.0)

    def _error(self, text: str) -> None:
        now = time.monotonic()
        if now - self._last_error >= 5.0:
            self._last_error = now
            self.get_logger().error(text)

    def _check_end(self) -> None:
        done = self.evaluator.frames + self.evaluator.frames_missing
        if self.expected_frames and done >= self.expected_frames:
            self.get_logger().info(f"all {self.expected_frames} expected frames seen")
            self.finish()

    def _on_timer(self) -> None:
        if self.finished:
            return
        self.evaluator.expire()
        last = self.evaluator.last_message
        if self.idle_timeout > 0 and last is not None and time.monotonic() - last > self.idle_timeout:
            self.get_logger().info(f"no message for {self.idle_timeout:.1f} s: ending the evaluation")
            self.finish()
            return
        self._check_end()
        if not self.finished:
            self.publish_report(final=False)

    def report(self) -> dict[str, object]:
        return self.evaluator.report()

    def publish_report(self, final: bool) -> None:
        report = self.report()
        msg = EvaluationReport()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.final = final
        msg.frames = int(report["frames"])  # type: ignore[call-overload]
        msg.frames_missing = int(report["frames_missing"])  # type: ignore[call-overload]
        msg.frames_duplicate = int(report["frames_duplicate"])  # type: ignore[call-overload]
        msg.stamps_out_of_order = int(report["stamps_out_of_order"])  # type: ignore[call-overload]
        msg.clock_resets = int(report["clock_resets"])  # type: ignore[call-overload]

        def number(key: str) -> float:
            value = report.get(key)
            return math.nan if value is None else float(value)  # type: ignore[arg-type]

        msg.pixel_accuracy = number("pixel_accuracy")
        msg.mean_class_accuracy = number("mean_class_accuracy")
        msg.miou = number("miou")
        msg.class_names = list(self.classes.names)
        msg.class_iou = [math.nan if v is None else float(v) for v in report["class_iou"]]  # type: ignore[attr-defined]
        msg.latency_ms_p50 = number("latency_ms_p50")
        msg.latency_ms_p99 = number("latency_ms_p99")
        msg.fps = number("fps")
        self.report_publisher.publish(msg)

    def finish(self) -> dict[str, object]:
        """Count what is still unpaired as missing, publish the final report, write the JSON."""
        if self.finished:
            return self.report()
        self.evaluator.finish()
        self.finished = True
        report = self.report()
        if self.output_json:
            path = Path(self.output_json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        if rclpy.ok(context=self.context):
            self.publish_report(final=True)
            # The process usually exits right after this: a reliable subscriber whose copy was lost would
            # never get the final report once the publisher is gone, so wait for every acknowledgement.
            wait_for_acknowledgement(self.report_publisher, FINAL_ACK_TIMEOUT, self.get_logger(), "final report")
        self.get_logger().info(
            f"final: {report['frames']} frames, {report['frames_missing']} missing, miou {report['miou']}"
            + (f", written to {self.output_json}" if self.output_json else "")
        )
        return report


def main(args: list[str] | None = None) -> None:
    rclpy.init(args=args)
    node = None
    try:
        try:
            node = EvaluationNode()
        except (ValueError, OSError) as exc:  # bad parameters (class_map included): one line, no traceback
            print(f"attendseg-evaluate: error: {exc}", file=sys.stderr)
            rclpy.try_shutdown()
            sys.exit(2)
        while rclpy.ok() and not (node.finished and node.shutdown_on_final):
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C (launch forwards one) must not cut this short
        if node is not None:
            node.finish()
            node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
