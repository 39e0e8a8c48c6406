"""Lifecycle node segmenting camera images with AttendSeg (through the engines interface).

For every input ``<ns>/image_raw`` it publishes, in ``<ns>/segmentation/``, the outputs of
:data:`attendseg_ros.runtime.pipeline.OUTPUTS` (``labels``, ``drivable_mask``, ``confidence``,
``overlay``, ``camera_info`` and the ``*/compressed`` copies), ``label_info`` (latched
vision_msgs/LabelInfo, when vision_msgs is installed) and ``info`` (latched SegmentationInfo).
Outputs carry the input header unchanged. Pixels below ``min_confidence`` get the unknown id 255
and ``class_map`` renames/merges classes, before any output is built; ``camera_info`` pairs the
camera's ``<ns>/camera_info`` with each frame by stamp (docs/navigation.md).

Subscription callbacks only store the message in a one-frame slot per camera (a newer frame
replaces an unprocessed one, counted as dropped); a worker thread takes the newest frame of up to
``max_batch`` cameras, runs them through :class:`attendseg_ros.runtime.pipeline.FramePipeline` in one
call and publishes. ``configure`` loads the model, ``activate`` subscribes and starts the worker;
with ``autostart`` (default) ``main`` does both. Driven by a lifecycle manager (``autostart:
false``), activate also forms the bond a Nav2 lifecycle manager expects (``bond_timeout``) and
deactivate breaks it. With ``backend: auto``, configure first measures the CPU engines on the model
(a few seconds; :mod:`attendseg_ros.engines.selection`) and logs the timings and the choice;
``info`` and /diagnostics (``backend``, ``backend_selection``) name the engine that runs. Every
transition logs its cause; one that fails logs why (the traceback at debug level), releases what it
made and returns FAILURE. ``shutdown`` ends the process.

``/diagnostics`` (every ``diagnostics_period``) has one status per camera: the counters of
:mod:`attendseg_ros.runtime.frame_stats` (every frame a camera sends ends in exactly one of
not_received, processed, dropped_stale, dropped_duplicate, rejected, inference_failures; plus
frames DDS reported lost, incompatible publishers, stamps out of order and clock resets; frames
without or with an inexactly paired camera_info while it has subscribers), their counts over the
last ``diagnostics_window`` seconds, and the camera's liveness (``input_timeout``: WARN before
its first frame, ERROR once silent that long, logged once per stall and published on ``info``),
which set the level, and timings: network_ms (the ``segment()`` call), node_overhead_ms (conversion, outputs,
publishing per frame), node_latency_ms (frame received -> published) and latency_ms
(header stamp -> published, only for stamps in the node's clock).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import QoSMessageLostInfo, QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import Subscription
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from .. import registry
from ..data.classes import ClassTable
from ..interop.camera_info import CameraGeometry, CameraInfoPairer, image_geometry
from ..interop.class_map import ClassMap, ClassMapError, load_class_map
from ..interop.label_info import label_info_for
from ..interop.unknown import UNKNOWN_ID
from ..runtime.drivable import DrivableConfig
from ..runtime.frame_stats import (
    CLOCK_RESET,
    NOT_WATCHED,
    OUT_OF_ORDER,
    RECEIVING,
    STALLED,
    WAITING,
    CameraStats,
    Liveness,
)
from ..runtime.image_conversion import ImageConversionError, compressed_to_rgb, image_to_rgb, quiet_opencv
from ..runtime.pipeline import OUTPUTS, FramePipeline, FrameSettings
from ..runtime.topics import camera_info_topic, output_prefix
from . import parameters
from .bond import ManagerBond
from .interop import (
    LABEL_INFO_QOS,
    OptionalPackageError,
    camera_geometry,
    label_info_message,
    label_info_type,
    unavailable_outputs,
)
from .messages import message_type, output_message, stamp_ns

RCLError = _rclpy.RCLError
NODE_NAME = "attendseg_segmentation"
NAME_CHECK_PERIOD = 3.0  # seconds between looks for another node with this node's name
CAMERA_INFO_DEPTH = 10  # CameraInfo messages queued per camera (best effort: matches any publisher)
LIVENESS_CHECK_PERIOD = 0.2  # seconds between checks of input_timeout (cheap: a few comparisons)
# rclpy passes MessageInfo (publisher id, sequence number) to a two-argument callback (Iron and newer)
_MESSAGE_INFO = hasattr(Subscription, "CallbackType")
_LEVELS = {0: DiagnosticStatus.OK, 1: DiagnosticStatus.WARN, 2: DiagnosticStatus.ERROR}
_INPUT_STATES = {NOT_WATCHED: 0, WAITING: 1, RECEIVING: 2, STALLED: 3}  # SegmentationInfo.INPUT_*


class TransitionError(RuntimeError):
    """A transition cannot complete for a reason its message names (logged without a traceback)."""


class StartupError(ValueError):
    """The node cannot start; the message names the node (its name as remapped) and the cause."""


def _qos(reliability: str, depth: int, latched: bool = False) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


@dataclass
class Camera:
    """One input topic: its subscription and outputs, its newest unprocessed frame and its statistics."""

    topic: str
    prefix: str
    logger: Any
    stats: CameraStats
    subscription: Subscription | None = None
    publishers: dict[str, Publisher] = field(default_factory=dict)
    info_subscription: Subscription | None = None  # the camera's <ns>/camera_info
    infos: CameraInfoPairer = field(default_factory=CameraInfoPairer)  # its CameraInfo by stamp
    label_info_publisher: Publisher | None = None
    pending: Any = None  # newest unprocessed message (guarded by the node's condition)
    waiting_since: float = 0.0  # when the slot last went from empty to full (monotonic)
    arrived: float = 0.0  # when the pending message arrived (monotonic)


class SegmentationNode(LifecycleNode):
    """Managed node: configure = load the model, activate = subscribe and segment."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        quiet_opencv()  # decoding errors are counted and logged here, throttled; not by OpenCV on stderr
        self._segmenter: Any = None
        self._pipeline: FramePipeline | None = None
        self._palette = np.zeros((256, 3), np.uint8)  # the published classes' colours, set on configure
        self._class_map: ClassMap | None = None  # model classes -> published classes, loaded on configure
        self._table: ClassTable | None = None  # the published class table (after the class map)
        self._class_names: tuple[str, ...] | None = None  # its names (what drivable_classes may name)
        self._drivable_default: tuple[str, ...] | None = None  # drivable_classes as configure filled them in
        self._said_unavailable = False
        self._bond: ManagerBond | None = None
        self._cameras: list[Camera] = []
        self._condition = threading.Condition()
        # One worker thread for the node's life (started at the first activate): threads made anew on
        # every activation each got their own malloc arena, and RSS grew cycle after cycle.
        self._worker: threading.Thread | None = None
        self._serving = False  # the worker takes frames only while active
        self._busy = False  # the worker is processing a batch
        self._closing = False  # the worker ends
        self._info_publishers: list[Publisher] = []
        self._diagnostics_publisher: Publisher | None = None
        self._diagnostics_timer: Any = None
        self._settings: tuple[parameters.LiveSettings, FrameSettings] | None = None
        self._same_name_seen = 1
        self._liveness_timer: Any = None
        self.finished = False  # set by the shutdown transition; main() then ends the process
        self.add_on_set_parameters_callback(self._validate_parameters)
        self._read_parameters()
        self._drivable_class_map = self.live.class_map  # the class_map drivable_classes were last set under
        if hasattr(self, "add_post_set_parameters_callback"):  # Iron and newer; Humble applies in on-set
            self.add_post_set_parameters_callback(self._apply_parameters)
        self._name_timer = self.create_timer(NAME_CHECK_PERIOD, self._check_unique_name)

    # ---------------------------------------------------------------- parameters
    def _read_parameters(self) -> None:
        """Declare and read the parameters; :class:`StartupError` naming this node (as remapped) if invalid."""
        try:
            parameters.declare(self)
            self.static = parameters.read_static(self)
            self.live = parameters.read_live(self)
        except (ValueError, ParameterException) as exc:
            raise StartupError(f"{self.get_fully_qualified_name()}: invalid parameters: {exc}") from exc

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            reason = parameters.validate(param.name, param.value, self._class_names)
            if param.name == "class_map" and self._segmenter is not None:
                reason = ("class_map changes only while the node is unconfigured (deactivate, cleanup, set it, "
                          "configure): it is loaded with the model")
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        if not hasattr(self, "add_post_set_parameters_callback"):
            self._apply_parameters(params)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        if not hasattr(self, "live"):  # declarations during __init__
            return
        self.live = self.live.updated(params)
        names = {p.name for p in params}
        if "drivable_classes" in names:
            self._drivable_class_map = self.live.class_map
        if "input_timeout" in names:
            self._set_input_timeout(self.live.input_timeout)
        if "drivable_classes" in names and self._segmenter is not None:
            self.get_logger().info(f"drivable classes: {list(self.live.drivable_classes or ())}")
            self._publish_info()
        if names & {"min_confidence", "publish_label_info"} and self._segmenter is not None:
            self._sync_label_info()

    def _frame_settings(self) -> tuple[parameters.LiveSettings, FrameSettings]:
        """The live settings and the pipeline settings made from them (rebuilt only when they change)."""
        live = self.live
        if self._settings is None or self._settings[0] is not live:
            drivable = DrivableConfig(self._drivable_ids(live), live.drivable_min_region_fraction,
                                      live.drivable_max_hole_fraction, live.drivable_connected_to_bottom)
            self._settings = (live, FrameSettings(
                live.output_resolution, drivable, self._palette, live.overlay_alpha, live.min_confidence,
                self._class_map, live.compressed_png_level, live.compressed_jpeg_quality))
        return self._settings

    def _drivable_ids(self, live: parameters.LiveSettings) -> tuple[int, ...]:
        """Ids (in the published labels) of the drivable classes."""
        names = self._table.names if self._table is not None else ()
        return tuple(names.index(n) for n in (live.drivable_classes or ()) if n in names)

    # ---------------------------------------------------------------- lifecycle
    def _transition(self, name: str, state: LifecycleState, body: Callable[[], TransitionCallbackReturn],
                    undo: Callable[[], None]) -> TransitionCallbackReturn:
        """Run a transition: log its cause; on any error log why, ``undo`` and return FAILURE.

        rclpy would catch an exception itself and return ERROR without logging anything.
        """
        self.get_logger().info(f"{name} (from {state.label})")
        try:
            return body()
        except Exception as exc:  # noqa: BLE001 - logged with its cause and traceback, then FAILURE
            cause = str(exc) if isinstance(exc, TransitionError) else f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"{name} failed: {cause}")
            self.get_logger().debug(f"{name} failed:\n{traceback.format_exc()}")
            try:
                undo()
            except Exception as undo_exc:  # noqa: BLE001 - keep the first error; report this one too
                self.get_logger().error(f"releasing after the failed {name} failed too: {undo_exc!r}")
            return TransitionCallbackReturn.FAILURE

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("configuring", state, self._configure, self._release)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("activating", state, lambda: self._activate(state), self._deactivate_inputs)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        def body() -> TransitionCallbackReturn:
            self._deactivate_inputs()
            return super(SegmentationNode, self).on_deactivate(state)

        return self._transition("deactivating", state, body, self._deactivate_inputs)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        def body() -> TransitionCallbackReturn:
            self._release()
            return TransitionCallbackReturn.SUCCESS

        return self._transition("cleaning up", state, body, self._release)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        def body() -> TransitionCallbackReturn:
            self._deactivate_inputs()
            self._release()
            self.finished = True
            return TransitionCallbackReturn.SUCCESS

        def undo() -> None:
            self.finished = True  # finalized either way: the process ends

        return self._transition("shutting down", state, body, undo)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        def body() -> TransitionCallbackReturn:
            self._deactivate_inputs()
            self._release()
            self.get_logger().warning("released everything after the error; the node is unconfigured")
            return TransitionCallbackReturn.SUCCESS

        return self._transition("error processing", state, body, lambda: setattr(self, "finished", True))

    def _configure(self) -> TransitionCallbackReturn:
        from ..engines import EngineError, create_segmenter  # the node's only model dependency

        static = self.static
        what = static.model or "the embedded default model"
        notes = {
            "tensorrt": " (building a TensorRT engine can take several minutes)",
            registry.AUTO: f" (measuring {' and '.join(registry.AUTO_CANDIDATES)} on it first, a few seconds)",
        }
        self.get_logger().info(
            f"loading {what} with backend {static.backend} on {static.device or 'its default device'}"
            + notes.get(static.backend, "")
        )
        start = time.monotonic()
        loaded = threading.Event()
        threading.Thread(target=self._log_loading, args=(loaded, start), daemon=True).start()
        try:
            self._segmenter = create_segmenter(
                backend=static.backend, model=static.model or None, precision=static.precision or None,
                device=static.device or None, threads=static.threads,
                **parameters.backend_options(static.backend_options),
            )
        except (EngineError, OSError) as exc:
            raise TransitionError(f"cannot load the model: {exc}") from exc
        finally:
            loaded.set()
        choice = self._segmenter.selection
        if choice is not None:
            self.get_logger().info(
                f"backend {registry.AUTO} chose {choice.backend}: {choice.reason}. Network ms per round: "
                f"{choice.summary()} ({choice.runs_per_trial} run(s) per round; {choice.seconds:.1f} s with loading)"
            )
        self._pipeline = FramePipeline(self._segmenter)
        info = self._segmenter.info
        self.get_logger().info(
            f"model {info.name} loaded in {time.monotonic() - start:.1f} s: backend {self._segmenter.backend}, "
            f"precision {self._segmenter.precision}, input {info.input_size[1]}x{info.input_size[0]}, "
            f"{info.classes.num_classes} classes"
        )
        self._load_class_map(info.classes)
        if not self._said_unavailable:  # once per process: what this installation cannot publish
            self._said_unavailable = True
            for line in unavailable_outputs():
                self.get_logger().warning(line)

        out_qos = _qos(static.output_reliability, static.output_depth)
        info_type = _segmentation_info_type()
        for index, camera_topic in enumerate(static.camera_topics):
            topic = self.resolve_topic_name(camera_topic, only_expand=True)  # relative names: in the node's namespace
            prefix = output_prefix(topic)
            stats = CameraStats(topic, static.diagnostics_window, input_timeout_s=self.live.input_timeout)
            camera = Camera(topic, prefix, self.get_logger().get_child(f"camera{index}"), stats)
            self._cameras.append(camera)
            for name, output in OUTPUTS.items():
                camera.publishers[name] = self.create_lifecycle_publisher(message_type(output), f"{prefix}/{name}",
                                                                          out_qos)
            self._info_publishers.append(self.create_publisher(info_type, f"{prefix}/info",
                                                               _qos("reliable", 1, latched=True)))
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._publish_info()
        self._sync_label_info()
        return TransitionCallbackReturn.SUCCESS

    def _load_class_map(self, classes: ClassTable) -> None:
        """The class map against the model's classes, the published table, and drivable_classes in it.

        drivable_classes that configure filled in (unset by the user) follow the table: a class map
        loaded after a cleanup brings its own drivable classes.
        """
        try:
            self._class_map = load_class_map(self.live.class_map, classes)
        except (ClassMapError, OSError) as exc:
            raise TransitionError(f"invalid class_map: {exc}") from exc
        table = self._table = self._class_map.table()
        self._class_names = tuple(name for name in table.names if name)
        self._palette = table.palette()
        self._settings = None
        if not self._class_map.identity:
            self.get_logger().info(
                f"class map {self._class_map.name}: {classes.num_classes} model classes -> {list(self._class_names)}"
                + (f", {list(self._class_map.unknown_sources)} -> unknown ({UNKNOWN_ID})"
                   if self._class_map.unknown_sources else "")
            )
        current = self.live.drivable_classes
        automatic = current is None or current == self._drivable_default or self._drivable_classes_left_behind(current)
        drivable = tuple(table.drivable) if automatic else current
        result = self.set_parameters([Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, list(drivable))])[0]
        if not result.successful:
            raise TransitionError(f"invalid drivable_classes: {result.reason}. Set drivable_classes to classes of "
                                  f"this table, or to [{parameters.DEFAULT}] for its default")
        self._drivable_default = drivable if automatic else None
        self.live = parameters.read_live(self)
        if not drivable and "drivable_mask" in self.live.publish:
            self.get_logger().warning(
                f"no drivable classes: the class table {table.name!r} names none, so drivable_mask stays empty; set "
                f"drivable_classes to some of {list(self._class_names)} (or `drivable:` in the model's classes.yaml)"
            )

    def _drivable_classes_left_behind(self, current: tuple[str, ...]) -> bool:
        """Whether drivable_classes set under another class_map name classes the new one lacks (then reset).

        Logged as a warning with what they were and what they become.
        """
        if self._drivable_class_map == self.live.class_map or self._table is None:
            return False
        missing = [name for name in current if name not in (self._class_names or ())]
        if missing:
            self.get_logger().warning(
                f"drivable_classes {list(current)} were set for class_map {self._drivable_class_map!r}; "
                f"class_map {self.live.class_map!r} has no {missing}: drivable_classes reset to its default "
                f"{list(self._table.drivable)}"
            )
        return bool(missing)

    def _log_loading(self, loaded: threading.Event, start: float) -> None:
        """Say every 15 s that the model is still loading, so a long engine build does not look like a hang."""
        while not loaded.wait(15.0):
            self.get_logger().info(f"still loading the model ({time.monotonic() - start:.0f} s)...")

    def _activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        static = self.static
        in_qos = _qos(static.input_reliability, static.input_depth)
        msg_type = CompressedImage if static.use_compressed else Image
        for camera in self._cameras:
            topic = f"{camera.topic}/compressed" if static.use_compressed else camera.topic
            events = SubscriptionEventCallbacks(
                message_lost=functools.partial(self._on_message_lost, camera),
                incompatible_qos=functools.partial(self._on_incompatible_qos, camera),
            )
            on_image = functools.partial(self._on_image_with_info if _MESSAGE_INFO else self._on_image, camera)
            camera.subscription = self.create_subscription(msg_type, topic, on_image, in_qos, event_callbacks=events)
            camera.info_subscription = self.create_subscription(
                CameraInfo, camera_info_topic(camera.topic), functools.partial(self._on_camera_info, camera),
                _qos("best_effort", CAMERA_INFO_DEPTH),
            )
        with self._condition:
            self._serving = True
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="attendseg_worker", daemon=True)
            self._worker.start()
        self._diagnostics_timer = self.create_timer(static.diagnostics_period, self._publish_diagnostics)
        self._start_liveness()
        topics = ", ".join(f"{c.topic}/compressed" if static.use_compressed else c.topic for c in self._cameras)
        self.get_logger().info(f"segmenting {topics}; outputs in {', '.join(c.prefix for c in self._cameras)}")
        result = super().on_activate(state)
        if parameters.wants_bond(static.autostart, static.bond_timeout):
            if self._bond is None:
                self._bond = ManagerBond(self, static.bond_timeout)
            self._bond.start()  # logs why not when bondpy is missing
        return result

    def _deactivate_inputs(self) -> None:
        """Stop reading: subscriptions, the worker's serving, diagnostics timer (publishers stay until cleanup)."""
        if self._bond is not None:
            self._bond.stop()  # the manager sees the break at once, as with Nav2's own servers
        self._pause_worker()
        for camera in self._cameras:
            if camera.subscription is not None:
                self.destroy_subscription(camera.subscription)
                camera.subscription = None
            if camera.info_subscription is not None:
                self.destroy_subscription(camera.info_subscription)
                camera.info_subscription = None
            with self._condition:
                if camera.pending is not None:  # never serve a frame from before the pause
                    camera.stats.count("dropped_stale")
                camera.pending = None
        if self._diagnostics_timer is not None:
            self.destroy_timer(self._diagnostics_timer)
            self._diagnostics_timer = None
        self._stop_liveness()

    def _release(self) -> None:
        """Free everything configure made (idempotent: every failure path calls it)."""
        self._deactivate_inputs()
        cameras, self._cameras = self._cameras, []
        for camera in cameras:
            for publisher in camera.publishers.values():
                self.destroy_lifecycle_publisher(publisher)
            camera.publishers.clear()
            if camera.label_info_publisher is not None:
                self.destroy_publisher(camera.label_info_publisher)
                camera.label_info_publisher = None
        publishers, self._info_publishers = self._info_publishers, []
        for publisher in publishers:
            self.destroy_publisher(publisher)
        if self._diagnostics_publisher is not None:
            self.destroy_publisher(self._diagnostics_publisher)
            self._diagnostics_publisher = None
        segmenter, self._segmenter, self._pipeline = self._segmenter, None, None
        self._class_names, self._settings, self._class_map, self._table = None, None, None, None
        if segmenter is not None:
            segmenter.close()
        _return_freed_memory()

    def _pause_worker(self) -> None:
        """Stop serving frames; returns once the worker has finished the batch it is processing."""
        with self._condition:
            self._serving = False
            while self._busy:
                self._condition.wait()

    def _stop_worker(self) -> None:
        with self._condition:
            self._serving, self._closing = False, True
            self._condition.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def destroy_node(self) -> None:
        if self._bond is not None and self.context.ok():  # after an external shutdown nothing can be sent
            self._bond.stop()
        self._stop_worker()
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None
        super().destroy_node()

    def start(self) -> bool:
        """Configure and activate (what autostart does); False if either transition fails."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    # ---------------------------------------------------------------- the ROS graph
    def _check_unique_name(self) -> None:
        """Warn when another node with this name and namespace runs in the domain (both would serve)."""
        name, namespace = self.get_name(), self.get_namespace()
        same = sum(1 for n, ns in self.get_node_names_and_namespaces() if n == name and ns == namespace)
        if same > 1 and same != self._same_name_seen:
            self.get_logger().warning(
                f"{same} nodes named {self.get_fully_qualified_name()} run in ROS domain "
                f"{self.context.get_domain_id()}: each segments every frame and publishes its own results, and "
                "parameters and lifecycle services reach only one of them. Give each a unique name "
                "(--ros-args -r __node:=<name>) or namespace."
            )
        self._same_name_seen = same

    # ---------------------------------------------------------------- input
    def _on_image_with_info(self, camera: Camera, msg: Image | CompressedImage, info: dict[str, Any]) -> None:
        """:meth:`_on_image` with the publisher's id and sequence number (frames that never arrived leave gaps)."""
        sequence = info.get("publication_sequence_number")
        gid = info.get("publisher_gid")
        publisher = bytes(gid["data"]) if isinstance(gid, dict) and "data" in gid else None
        self._on_image(camera, msg, publisher, sequence if isinstance(sequence, int) else None)

    def _on_image(self, camera: Camera, msg: Image | CompressedImage, publisher: bytes | None = None,
                  sequence: int | None = None) -> None:
        """Hand the frame to the worker; an unprocessed older frame of this camera is dropped."""
        with self._condition:
            previous = camera.stats.stamps.previous
            verdict = camera.stats.frame_received(time.monotonic(), stamp_ns(msg), publisher, sequence)
            if camera.pending is not None:
                camera.stats.count("dropped_stale")
            else:
                camera.waiting_since = time.monotonic()
            camera.pending = msg
            camera.arrived = time.monotonic()
            self._condition.notify()
        if verdict in (OUT_OF_ORDER, CLOCK_RESET):
            self._log_stamp_order(camera, verdict, stamp_ns(msg), previous or 0)

    def _log_stamp_order(self, camera: Camera, verdict: str, stamp: int, previous: int) -> None:
        """Say (throttled) that a stamp is not later than the previous one, or that the clock went back."""
        step = (previous - stamp) * 1e-9
        if verdict == CLOCK_RESET:
            camera.logger.warning(
                f"the stamps on {camera.topic} went back {step:.3f} s (a bag played in a loop or a reset clock): "
                "a clock reset; stamp order is tracked again from this frame",
                throttle_duration_sec=self.static.error_throttle_sec,
            )
            return
        with self._condition:
            count = camera.stats.counts["stamps_out_of_order"]
        camera.logger.warning(
            f"frame on {camera.topic} stamped {step * 1e3:.1f} ms {'before' if step else 'the same as'} the previous "
            f"one ({count} out of order so far); a stamp equal to the last published one is not published again",
            throttle_duration_sec=self.static.error_throttle_sec,
        )

    def _on_camera_info(self, camera: Camera, msg: CameraInfo) -> None:
        """Keep the camera's CameraInfo for pairing by stamp (the worker scales it per frame)."""
        camera.infos.add(stamp_ns(msg), msg)

    def _on_message_lost(self, camera: Camera, info: QoSMessageLostInfo) -> None:
        with self._condition:
            camera.stats.count("lost", info.total_count_change, "messages lost in transport (large images over "
                               "best-effort QoS: see the README, 'Large images')")
        camera.logger.warning(
            f"{info.total_count} messages on {camera.topic} lost before reaching the node ({info.total_count_change} "
            "new); large images over best-effort QoS need the large-data Fast DDS profile in the publishing "
            "process, or input_reliability:=reliable",
            throttle_duration_sec=self.static.error_throttle_sec,
        )

    def _on_incompatible_qos(self, camera: Camera, info: QoSRequestedIncompatibleQoSInfo) -> None:
        policy = getattr(info.last_policy_kind, "name", str(info.last_policy_kind)).replace("RMW_QOS_POLICY_", "")
        text = (f"a publisher of {camera.subscription.topic_name if camera.subscription else camera.topic} offers "
                f"QoS incompatible with this node's subscription ({policy}; input_reliability is "
                f"{self.static.input_reliability}): no frame from it can arrive")
        with self._condition:
            camera.stats.count("incompatible_qos", info.total_count_change, text)
            camera.stats.qos_problem = text
        camera.logger.warning(text, throttle_duration_sec=self.static.error_throttle_sec)

    def _take(self) -> list[tuple[Camera, Any, float]] | None:
        """Wait for new frames; the newest frame of up to max_batch cameras (None when the node ends)."""
        with self._condition:
            while not self._closing and not (self._serving and any(c.pending is not None for c in self._cameras)):
                self._condition.wait()
            if self._closing:
                return None
            self._busy = True
            ready = [c for c in self._cameras if c.pending is not None]
            ready.sort(key=lambda c: c.waiting_since)  # the longest-waiting cameras first
            taken = [(c, c.pending, c.arrived) for c in ready[: self.static.max_batch]]
            for camera, _, _ in taken:
                camera.pending = None
            return self._without_repeated_stamps(taken)

    def _without_repeated_stamps(self, taken: list[tuple[Camera, Any, float]]) -> list[tuple[Camera, Any, float]]:
        """Leave out frames whose stamp is the one last published for their camera (counted, logged throttled).

        Called with the condition held.
        """
        kept = []
        for camera, msg, arrived in taken:
            stamp = stamp_ns(msg)
            if not camera.stats.stamps.was_delivered(stamp):
                kept.append((camera, msg, arrived))
                continue
            camera.stats.count("dropped_duplicate")
            camera.logger.warning(
                f"a frame on {camera.topic} repeats the stamp {stamp // 10**9}.{stamp % 10**9:09d} of the last one "
                f"published: not published again ({camera.stats.counts['dropped_duplicate']} so far)",
                throttle_duration_sec=self.static.error_throttle_sec,
            )
        return kept

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            try:
                self._process(taken)
            except Exception as exc:  # noqa: BLE001 - logged with its traceback; the node keeps serving
                if not self.context.ok():  # Ctrl-C/SIGTERM while busy: the publishers went with the context
                    self.get_logger().debug(f"the frame in progress at shutdown was not published: {exc}")
                    continue
                self.get_logger().error(
                    f"processing failed ({type(exc).__name__}: {exc}):\n{traceback.format_exc()}",
                    throttle_duration_sec=self.static.error_throttle_sec,
                )
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    # ---------------------------------------------------------------- processing
    def _convert(self, camera: Camera, msg: Any) -> np.ndarray | None:
        limit = self.static.max_image_pixels
        try:
            if isinstance(msg, CompressedImage):
                return compressed_to_rgb(msg, limit)
            return image_to_rgb(msg, limit)
        except ImageConversionError as exc:
            with self._condition:
                camera.stats.count("rejected", reason=str(exc))
                rejected = camera.stats.counts["rejected"]
            camera.logger.error(f"rejected a frame on {camera.topic}: {exc} ({rejected} rejected so far)",
                                throttle_duration_sec=self.static.error_throttle_sec)
            return None

    def _wanted(self, camera: Camera, live: parameters.LiveSettings) -> list[str]:
        """The outputs to build for this camera now: switched on, and subscribed if built on demand."""
        return [name for name, output in OUTPUTS.items() if name in live.publish
                and (not output.on_demand or camera.publishers[name].get_subscription_count() > 0)]

    def _process(self, taken: list[tuple[Camera, Any, float]]) -> None:
        start = time.perf_counter()
        live, settings = self._frame_settings()
        pipeline = self._pipeline
        batch = [(camera, msg, arrived, rgb) for camera, msg, arrived in taken
                 if (rgb := self._convert(camera, msg)) is not None]
        if not batch or pipeline is None:
            return
        wanted = [self._wanted(c, live) for c, *_ in batch]
        paired = [self._paired_camera(c, msg, rgb) if "camera_info" in names else (None, None)
                  for (c, msg, _, rgb), names in zip(batch, wanted, strict=True)]
        try:
            result = pipeline.run([rgb for *_, rgb in batch], wanted, settings, [g for g, _ in paired])
        except Exception as exc:  # noqa: BLE001 - any engine error: counted per frame, logged, the node keeps serving
            reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            with self._condition:
                for camera, *_ in batch:
                    camera.stats.count("inference_failures", reason=reason)
            self.get_logger().error(
                f"inference failed on a batch of {len(batch)} ({', '.join(c.topic for c, *_ in batch)}): {reason}",
                throttle_duration_sec=self.static.error_throttle_sec,
            )
            self.get_logger().debug(f"inference failed:\n{traceback.format_exc()}")
            return
        for (camera, msg, _, _), outputs, (_, info) in zip(batch, result.outputs, paired, strict=True):
            for name, value in outputs.items():
                message = output_message(OUTPUTS[name], value, msg.header, info)
                if message is not None:
                    self._publish(camera, name, message)
            if "labels" in outputs:
                camera.stats.output_size = outputs["labels"].shape[:2]
        published = time.perf_counter()
        done = time.monotonic()
        now_ns = self.get_clock().now().nanoseconds
        overhead = ((published - start) * 1e3 - result.segment_ms) / len(batch)
        with self._condition:
            for camera, msg, arrived, _ in batch:
                stamp = stamp_ns(msg)
                age = (now_ns - stamp) * 1e-9 if stamp > 0 else None
                camera.stats.processed(result.segment_ms, overhead, len(batch), (done - arrived) * 1e3, age)
                camera.stats.stamps.delivered(stamp)

    def _paired_camera(self, camera: Camera, msg: Any,
                       rgb: np.ndarray) -> tuple[CameraGeometry | None, CameraInfo | None]:
        """The intrinsics of this frame from the camera's CameraInfo of its stamp (else the newest one).

        ``(None, None)`` when there is none usable (none yet, invalid, or of another image size):
        counted in ``camera_info_missing`` with the reason; the frame's other outputs are unaffected.
        """
        topic = camera_info_topic(camera.topic)
        paired = camera.infos.pair(stamp_ns(msg))
        if paired is None:
            problem = f"no CameraInfo received on {topic}"
        else:
            info, exact = paired
            try:
                geometry = image_geometry(camera_geometry(info))
            except ValueError as exc:
                problem = f"invalid CameraInfo on {topic}: {exc}"
            else:
                height, width = rgb.shape[:2]
                if (geometry.width, geometry.height) == (width, height):
                    if not exact:
                        with self._condition:
                            camera.stats.count("camera_info_inexact")
                    return geometry, info
                problem = (f"the CameraInfo on {topic} describes {geometry.width}x{geometry.height} images, "
                           f"not the {width}x{height} image received")
        with self._condition:
            camera.stats.count("camera_info_missing", reason=problem)
        camera.logger.warning(f"no {camera.prefix}/camera_info for this frame: {problem}",
                              throttle_duration_sec=self.static.error_throttle_sec)
        return None, None

    def _publish(self, camera: Camera, name: str, msg: Any) -> None:
        try:
            camera.publishers[name].publish(msg)
        except RCLError as exc:  # Fast DDS occasionally fails large reliable writes: count, keep going
            if not self.context.ok():  # shutting down (Ctrl-C/SIGTERM while busy): nothing to report
                return
            with self._condition:
                camera.stats.count("publish_errors", reason=f"publishing {name}: {exc}")
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
        table = self._table if self._table is not None else info.classes
        msg.class_names = list(table.names)
        msg.palette = np.asarray(table.colors, np.uint8).tobytes()
        msg.void_id = UNKNOWN_ID
        msg.drivable_class_ids = bytes(self._drivable_ids(self.live))
        for camera, publisher in zip(self._cameras, self._info_publishers, strict=False):
            liveness = self._input_status(camera)
            msg.input_state, msg.input_status = _INPUT_STATES[liveness.state], liveness.message
            try:
                publisher.publish(msg)
            except RCLError as exc:
                self.get_logger().warning(f"publishing info failed: {exc}")

    def _sync_label_info(self) -> None:
        """Publish label_info (latched) for every camera, or withdraw it while publish_label_info is off."""
        if self._class_map is None:
            return
        try:
            msg_type = label_info_type()
        except OptionalPackageError:  # said once at configure
            return
        for camera in self._cameras:
            if not self.live.publish_label_info:
                if camera.label_info_publisher is not None:
                    self.destroy_publisher(camera.label_info_publisher)
                    camera.label_info_publisher = None
                continue
            if camera.label_info_publisher is None:
                camera.label_info_publisher = self.create_publisher(msg_type, f"{camera.prefix}/label_info",
                                                                    LABEL_INFO_QOS)
            content = label_info_for(self._class_map, self.live.min_confidence)
            msg = label_info_message(content)
            msg.header.stamp = self.get_clock().now().to_msg()
            try:
                camera.label_info_publisher.publish(msg)
            except RCLError as exc:
                self.get_logger().warning(f"publishing label_info failed: {exc}")

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        backend = self._segmenter.backend if self._segmenter is not None else ""
        choice = self._segmenter.selection if self._segmenter is not None else None
        extra = {"backend_selection": f"{registry.AUTO}: {choice.reason}"} if choice is not None else {}
        for camera in self._cameras:
            with self._condition:
                report = camera.stats.report(now)
            status = DiagnosticStatus(name=f"{self.get_name()}: {camera.topic}",
                                      hardware_id=self.get_fully_qualified_name(),
                                      level=_LEVELS[report.level], message=report.message)
            values = {**report.values, "backend": backend, **extra}
            status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
            array.status.append(status)
        if self._diagnostics_publisher is not None:
            try:
                self._diagnostics_publisher.publish(array)
            except RCLError as exc:
                self.get_logger().warning(f"publishing diagnostics failed: {exc}", throttle_duration_sec=10.0)

    # ---------------------------------------------------------------- liveness (input_timeout)
    def _start_liveness(self) -> None:
        """Frames are expected from now on: each camera waits for a first frame; a timer watches for stalls."""
        now = time.monotonic()
        with self._condition:
            for camera in self._cameras:
                camera.stats.expect_frames(now)
        self._liveness_timer = self.create_timer(LIVENESS_CHECK_PERIOD, self._check_liveness)
        self._check_liveness()

    def _stop_liveness(self) -> None:
        if self._liveness_timer is not None:
            self.destroy_timer(self._liveness_timer)
            self._liveness_timer = None
        with self._condition:
            for camera in self._cameras:
                camera.stats.stop_expecting()
        self._check_liveness()

    def _set_input_timeout(self, seconds: float) -> None:
        with self._condition:
            for camera in self._cameras:
                camera.stats.input_timeout_s = seconds
        self._check_liveness()

    def _check_liveness(self) -> None:
        """Log each camera's liveness change once (a stall, frames again) and publish info with it."""
        now = time.monotonic()
        changed = False
        for camera in self._cameras:
            with self._condition:
                change = camera.stats.liveness_change(now)
                gap = camera.stats.last_gap_s
            if change is None:
                continue
            changed = True
            previous, liveness = change
            if liveness.state == STALLED:
                camera.logger.error(f"{liveness.message}: the camera stopped or its frames no longer reach the node; "
                                    "/diagnostics reports ERROR until frames resume")
            elif liveness.state == RECEIVING and previous == STALLED:
                camera.logger.info(f"frames on {camera.topic} again after {gap:.1f} s without")
            elif liveness.state == RECEIVING and previous == WAITING:
                camera.logger.info(f"first frame on {camera.topic}")
        if changed and self._segmenter is not None:
            self._publish_info()

    def _input_status(self, camera: Camera) -> Liveness:
        with self._condition:
            return camera.stats.liveness(time.monotonic())


def _return_freed_memory() -> None:
    """Hand the heap pages the released model and buffers used back to the OS (glibc's malloc_trim).

    Without it, memory freed by cleanup stays in the allocator's arenas: RSS did not come down.
    """
    libc_name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(libc_name).malloc_trim if libc_name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to do
        trim = None
    if trim is not None:
        trim(0)


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
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if node.static.autostart and not node.start():
            node.get_logger().fatal("could not configure and activate the node; see the errors above")
            return 1
        while rclpy.ok() and not node.finished:
            executor.spin_once(timeout_sec=0.2)
        if node.finished:
            node.get_logger().info("finalized: exiting")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RCLError:
        if rclpy.ok():
            raise
        # SIGINT/SIGTERM shut the context down between rclpy.ok() and spin_once: an ordinary end
    except StartupError as exc:  # bad parameters at start-up; the message names the node
        print(exc, file=sys.stderr)
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
