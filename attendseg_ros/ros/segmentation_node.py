"""Lifecycle node segmenting camera images with AttendSeg (through the engines interface).

For every input ``<ns>/image_raw`` it publishes, in ``<ns>/segmentation/``: ``labels`` (mono8 class
ids), ``drivable_mask`` (mono8 0/255), ``confidence`` (mono8), ``overlay`` (rgb8, only while
subscribed) and ``info`` (latched SegmentationInfo). Outputs carry the input header unchanged.

Subscription callbacks only store the message in a one-frame slot per camera (a newer frame
replaces an unprocessed one, counted as dropped); a worker thread takes the newest frame of every
camera that has one, segments them in one call and publishes. ``configure`` loads the model,
``activate`` subscribes and starts the worker; with ``autostart`` (default) ``main`` does both.

``/diagnostics`` (every ``diagnostics_period``) has one status per camera with: received_fps,
processed_fps, received, processed, dropped_stale (frames replaced by a newer one before being
processed), rejected and last_reject_reason, publish_errors, network_ms (the ``segment()`` call:
preprocessing, network, resize to the output size), node_overhead_ms (conversion, mask, overlay,
publishing per frame), latency_ms_p50/p99 (stamp to published, over the last 300 frames).
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import CompressedImage, Image

from ..visualize import overlay
from . import parameters
from .drivable import DrivableConfig, drivable_mask
from .image_conversion import ImageConversionError, array_to_image, compressed_to_rgb, image_to_rgb

RCLError = _rclpy.RCLError
NODE_NAME = "attendseg_segmentation"
LATENCY_WINDOW = 300  # most recent frames the latency percentiles cover


def output_prefix(input_topic: str) -> str:
    """``/cam/front/image_raw`` -> ``/cam/front/segmentation`` (relative names stay relative)."""
    if "/" not in input_topic:
        return "segmentation"
    namespace = input_topic.rsplit("/", 1)[0]
    return f"{namespace}/segmentation" if namespace else "/segmentation"


def _qos(reliability: str, depth: int, latched: bool = False) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


def _stamp_seconds(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


@dataclass
class Camera:
    """One input topic: its outputs, its newest unprocessed frame and its statistics."""

    topic: str
    prefix: str
    logger: Any
    subscription: Subscription | None = None
    publishers: dict[str, Publisher] = field(default_factory=dict)
    pending: Any = None  # newest unprocessed message (guarded by the node's condition)
    waiting_since: float = 0.0  # when the slot last went from empty to full (monotonic)
    received: int = 0
    processed: int = 0
    dropped: int = 0
    rejected: int = 0
    publish_errors: int = 0
    last_reject_reason: str = ""
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    network_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    overhead_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    last_counts: tuple[int, int] = (0, 0)  # received, processed at the previous diagnostics
    output_size: tuple[int, int] = (0, 0)


class SegmentationNode(LifecycleNode):
    """Managed node: configure = load the model, activate = subscribe and segment."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._segmenter: Any = None
        self._palette = np.zeros((256, 3), np.uint8)  # the model's class colours, set on configure
        self._class_names: tuple[str, ...] | None = None
        self._cameras: list[Camera] = []
        self._condition = threading.Condition()
        self._stop = False
        self._worker: threading.Thread | None = None
        self._info_publishers: list[Publisher] = []
        self._diagnostics_publisher: Publisher | None = None
        self._diagnostics_timer: Any = None
        self._last_diagnostics = time.monotonic()
        self.add_on_set_parameters_callback(self._validate_parameters)
        parameters.declare(self)
        self.static = parameters.read_static(self)
        self.live = parameters.read_live(self)
        if hasattr(self, "add_post_set_parameters_callback"):  # Iron and newer; Humble applies in on-set
            self.add_post_set_parameters_callback(self._apply_parameters)

    # ---------------------------------------------------------------- parameters
    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            reason = parameters.validate(param.name, param.value, self._class_names)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if not hasattr(self, "add_post_set_parameters_callback"):
            self._apply_parameters(params)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        if not hasattr(self, "live"):  # declarations during __init__
            return
        self.live = self.live.updated(params)
        if any(p.name == "drivable_classes" for p in params) and self._segmenter is not None:
            self.get_logger().info(f"drivable classes: {list(self.live.drivable_classes or ())}")
            self._publish_info()

    def _drivable_config(self, live: parameters.LiveSettings) -> DrivableConfig:
        ids = tuple(self._class_names.index(n) for n in (live.drivable_classes or ()))  # type: ignore[union-attr]
        return DrivableConfig(ids, live.drivable_min_region_fraction, live.drivable_max_hole_fraction,
                              live.drivable_connected_to_bottom)

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from ..engines import EngineError, create_segmenter  # the node's only model dependency

        static = self.static
        what = static.model or "the embedded default model"
        self.get_logger().info(
            f"loading {what} with backend {static.backend} on {static.device}"
            + (" (building a TensorRT engine can take several minutes)" if static.backend == "tensorrt" else "")
        )
        start = time.monotonic()
        loaded = threading.Event()
        threading.Thread(target=self._log_loading, args=(loaded, start), daemon=True).start()
        try:
            self._segmenter = create_segmenter(
                backend=static.backend, model=static.model or None, precision=static.precision or None,
                device=static.device, threads=static.threads, **parameters.backend_options(static.backend_options),
            )
        except (EngineError, OSError, ValueError, TypeError) as exc:  # TypeError: an unknown backend option
            self.get_logger().error(f"cannot load the model: {exc}")
            return TransitionCallbackReturn.FAILURE
        finally:
            loaded.set()
        info = self._segmenter.info
        self._class_names = tuple(info.classes.names)
        self._palette = info.classes.palette()
        self.get_logger().info(
            f"model {info.name} loaded in {time.monotonic() - start:.1f} s: backend {self._segmenter.backend}, "
            f"precision {self._segmenter.precision}, input {info.input_size[1]}x{info.input_size[0]}, "
            f"{len(self._class_names)} classes"
        )
        drivable = self.live.drivable_classes
        if drivable is None:
            drivable = tuple(info.classes.drivable)
        result = self.set_parameters([Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, list(drivable))])[0]
        if not result.successful:
            self.get_logger().error(f"invalid drivable_classes: {result.reason}")
            self._release()
            return TransitionCallbackReturn.FAILURE
        self.live = parameters.read_live(self)

        out_qos = _qos(static.output_reliability, static.output_depth)
        for index, name in enumerate(static.camera_topics):
            topic = self.resolve_topic_name(name, only_expand=True)  # relative names: in the node's namespace
            prefix = output_prefix(topic)
            camera = Camera(topic, prefix, self.get_logger().get_child(f"camera{index}"))
            for name in ("labels", "drivable_mask", "confidence", "overlay"):
                camera.publishers[name] = self.create_lifecycle_publisher(Image, f"{prefix}/{name}", out_qos)
            self._cameras.append(camera)
            self._info_publishers.append(
                self.create_publisher(_segmentation_info_type(), f"{prefix}/info", _qos("reliable", 1, latched=True))
            )
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publish_info()
        return TransitionCallbackReturn.SUCCESS

    def _log_loading(self, loaded: threading.Event, start: float) -> None:
        """Say every 15 s that the model is still loading, so a long engine build does not look like a hang."""
        while not loaded.wait(15.0):
            self.get_logger().info(f"still loading the model ({time.monotonic() - start:.0f} s)...")

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        static = self.static
        in_qos = _qos(static.input_reliability, static.input_depth)
        msg_type = CompressedImage if static.use_compressed else Image
        for camera in self._cameras:
            topic = f"{camera.topic}/compressed" if static.use_compressed else camera.topic
            camera.subscription = self.create_subscription(
                msg_type, topic, functools.partial(self._on_image, camera), in_qos
            )
        self._stop = False
        self._worker = threading.Thread(target=self._work, name="attendseg_worker", daemon=True)
        self._worker.start()
        self._last_diagnostics = time.monotonic()
        self._diagnostics_timer = self.create_timer(static.diagnostics_period, self._publish_diagnostics)
        topics = ", ".join(f"{c.topic}/compressed" if static.use_compressed else c.topic for c in self._cameras)
        self.get_logger().info(f"segmenting {topics}; outputs in {', '.join(c.prefix for c in self._cameras)}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        for camera in self._cameras:
            if camera.subscription is not None:
                self.destroy_subscription(camera.subscription)
                camera.subscription = None
            camera.pending = None  # never serve a frame from before the pause
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_worker()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        for camera in self._cameras:
            if camera.subscription is not None:
                self.destroy_subscription(camera.subscription)
            for publisher in camera.publishers.values():
                self.destroy_lifecycle_publisher(publisher)
        for publisher in self._info_publishers:
            self.destroy_publisher(publisher)
        if self._diagnostics_publisher is not None:
            self.destroy_publisher(self._diagnostics_publisher)
        self._cameras, self._info_publishers, self._diagnostics_publisher = [], [], None
        if self._segmenter is not None:
            self._segmenter.close()
        self._segmenter, self._class_names = None, None

    def _stop_worker(self) -> None:
        with self._condition:
            self._stop = True
            self._condition.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def destroy_node(self) -> None:
        self._stop_worker()
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None
        super().destroy_node()

    # ---------------------------------------------------------------- input
    def _on_image(self, camera: Camera, msg: Image | CompressedImage) -> None:
        """Hand the frame to the worker; an unprocessed older frame of this camera is dropped."""
        with self._condition:
            camera.received += 1
            if camera.pending is not None:
                camera.dropped += 1
            else:
                camera.waiting_since = time.monotonic()
            camera.pending = msg
            self._condition.notify()

    def _take(self) -> list[tuple[Camera, Any]] | None:
        """Wait for new frames; the newest frame of up to max_batch cameras (None when stopping)."""
        with self._condition:
            while not self._stop and not any(c.pending is not None for c in self._cameras):
                self._condition.wait()
            if self._stop:
                return None
            ready = [c for c in self._cameras if c.pending is not None]
            ready.sort(key=lambda c: c.waiting_since)  # the longest-waiting cameras first
            taken = [(c, c.pending) for c in ready[: self.static.max_batch]]
            for camera, _ in taken:
                camera.pending = None
            return taken

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            try:
                self._process(taken)
            except Exception as exc:  # noqa: BLE001 - logged with its traceback; the node keeps serving
                self.get_logger().error(
                    f"processing failed ({type(exc).__name__}: {exc}):\n{traceback.format_exc()}",
                    throttle_duration_sec=self.static.error_throttle_sec,
                )

    # ---------------------------------------------------------------- processing
    def _convert(self, camera: Camera, msg: Any) -> np.ndarray | None:
        try:
            if isinstance(msg, CompressedImage):
                return compressed_to_rgb(msg)
            return image_to_rgb(msg)
        except ImageConversionError as exc:
            camera.rejected += 1
            camera.last_reject_reason = str(exc)
            camera.logger.error(
                f"rejected a frame on {camera.topic}: {exc} ({camera.rejected} rejected so far)",
                throttle_duration_sec=self.static.error_throttle_sec,
            )
            return None

    def _process(self, taken: list[tuple[Camera, Any]]) -> None:
        from ..engines import EngineError

        start = time.perf_counter()
        live = self.live
        batch = [(camera, msg, rgb) for camera, msg in taken if (rgb := self._convert(camera, msg)) is not None]
        if not batch:
            return
        net_start = time.perf_counter()
        try:
            results = self._segmenter.segment([rgb for _, _, rgb in batch], resolution=live.output_resolution)
        except (EngineError, ValueError, RuntimeError) as exc:
            self.get_logger().error(f"inference failed: {exc}", throttle_duration_sec=self.static.error_throttle_sec)
            return
        net_ms = (time.perf_counter() - net_start) * 1e3
        drivable = self._drivable_config(live)
        for (camera, msg, rgb), result in zip(batch, results, strict=True):
            self._publish_outputs(camera, msg, rgb, result, live, drivable, self._palette)
        total_ms = (time.perf_counter() - start) * 1e3
        now = self.get_clock().now().nanoseconds * 1e-9
        overhead = (total_ms - net_ms) / len(batch)
        with self._condition:
            for camera, msg, _ in batch:
                camera.processed += 1
                camera.network_ms.append(net_ms)
                camera.overhead_ms.append(overhead)
                stamp = _stamp_seconds(msg)
                if stamp > 0:
                    camera.latency_ms.append((now - stamp) * 1e3)

    def _publish_outputs(self, camera: Camera, msg: Any, rgb: np.ndarray, result: Any,
                         live: parameters.LiveSettings, drivable: DrivableConfig, palette: np.ndarray) -> None:
        header = msg.header
        pubs = camera.publishers
        camera.output_size = result.labels.shape
        if live.publish_labels:
            self._publish(camera, "labels", array_to_image(result.labels, header))
        if live.publish_drivable_mask and pubs["drivable_mask"].get_subscription_count() > 0:
            self._publish(camera, "drivable_mask", array_to_image(drivable_mask(result.labels, drivable), header))
        if live.publish_confidence:
            self._publish(camera, "confidence", array_to_image(result.confidence, header))
        if live.publish_overlay and pubs["overlay"].get_subscription_count() > 0:
            image = overlay(rgb, result.labels, palette, live.overlay_alpha)
            self._publish(camera, "overlay", array_to_image(image, header))

    def _publish(self, camera: Camera, name: str, msg: Image) -> None:
        try:
            camera.publishers[name].publish(msg)
        except RCLError as exc:  # Fast DDS occasionally fails large reliable writes: count, keep going
            camera.publish_errors += 1
            camera.logger.warning(f"publishing {camera.prefix}/{name} failed: {exc}",
                                  throttle_duration_sec=self.static.error_throttle_sec)

    # ---------------------------------------------------------------- info and diagnostics
    def _publish_info(self) -> None:
        if self._segmenter is None:
            return
        seg = self._segmenter
        info = seg.info
        msg = _segmentation_info_type()()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.model_name = info.name
        msg.backend = seg.backend
        msg.precision = seg.precision
        msg.input_height, msg.input_width = int(info.input_size[0]), int(info.input_size[1])
        msg.class_names = list(info.classes.names)
        msg.palette = np.asarray(info.classes.colors, np.uint8).tobytes()
        msg.void_id = int(info.classes.void_id)
        msg.drivable_class_ids = bytes(info.classes.names.index(n) for n in (self.live.drivable_classes or ()))
        for publisher in self._info_publishers:
            try:
                publisher.publish(msg)
            except RCLError as exc:
                self.get_logger().warning(f"publishing info failed: {exc}")

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        period = max(now - self._last_diagnostics, 1e-6)
        self._last_diagnostics = now
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        for camera in self._cameras:
            with self._condition:
                received, processed = camera.received, camera.processed
                latency = np.asarray(camera.latency_ms, float)
                network = np.asarray(camera.network_ms, float)
                overhead = np.asarray(camera.overhead_ms, float)
            fps_in = (received - camera.last_counts[0]) / period
            fps_out = (processed - camera.last_counts[1]) / period
            camera.last_counts = (received, processed)
            status = DiagnosticStatus(name=f"{self.get_name()}: {camera.topic}",
                                      hardware_id=self.get_fully_qualified_name())
            if camera.rejected and camera.last_reject_reason:
                status.level, status.message = DiagnosticStatus.WARN, f"rejected frames: {camera.last_reject_reason}"
            elif received == 0:
                status.level, status.message = DiagnosticStatus.OK, f"waiting for images on {camera.topic}"
            else:
                status.level, status.message = DiagnosticStatus.OK, f"{fps_out:.1f} fps"
            values = {
                "received_fps": f"{fps_in:.2f}",
                "processed_fps": f"{fps_out:.2f}",
                "received": str(received),
                "processed": str(processed),
                "dropped_stale": str(camera.dropped),
                "rejected": str(camera.rejected),
                "last_reject_reason": camera.last_reject_reason,
                "publish_errors": str(camera.publish_errors),
                "network_ms": _fmt(np.median(network) if network.size else float("nan")),
                "node_overhead_ms": _fmt(np.median(overhead) if overhead.size else float("nan")),
                "latency_ms_p50": _fmt(np.percentile(latency, 50) if latency.size else float("nan")),
                "latency_ms_p99": _fmt(np.percentile(latency, 99) if latency.size else float("nan")),
                "output_size": f"{camera.output_size[1]}x{camera.output_size[0]}",
                "backend": self._segmenter.backend if self._segmenter is not None else "",
            }
            status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
            array.status.append(status)
        if self._diagnostics_publisher is not None:
            try:
                self._diagnostics_publisher.publish(array)
            except RCLError as exc:
                self.get_logger().warning(f"publishing diagnostics failed: {exc}", throttle_duration_sec=10.0)

    def start(self) -> bool:
        """Configure and activate (what autostart does); False if either transition fails."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS


def _fmt(value: float) -> str:
    return f"{value:.2f}"


@functools.cache
def _segmentation_info_type() -> type:
    from attendseg_ros.msg import SegmentationInfo

    return SegmentationInfo


def main(args: list[str] | None = None) -> int:
    """Run the node (``attendseg-segment --ros-args -p camera_topics:=[...] ...``); exit status 1 on failure."""
    rclpy.init(args=args)
    node: SegmentationNode | None = None
    status = 0
    try:
        node = SegmentationNode()
        if node.static.autostart and not node.start():
            node.get_logger().fatal("could not configure and activate the node; see the errors above")
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, ParameterException) as exc:  # bad parameters at start-up
        print(f"{NODE_NAME}: invalid parameters: {exc}", file=sys.stderr)
        status = 1
    finally:
        # Ctrl-C reaches `ros2 launch` and its nodes together and launch then forwards another SIGINT:
        # that second one must not cut the cleanup short (launch still escalates to SIGTERM/SIGKILL).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
