"""Start the segmentation node as its own process and drive it over DDS from this one.

The one way every tool and test does it (the demo, the node benchmark, closed-loop bag
evaluation): :class:`NodeProcess` starts ``python -m attendseg_ros.ros.segmentation_node
--ros-args ...`` with the large-data Fast DDS profile and this package on ``PYTHONPATH``, its output
in a log file, and stops it like Ctrl-C; :class:`Client` is a node in its own rclpy Context whose
waits all have timeouts (and end early, with the node's log, when the node process exits).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import rclpy
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image

from ..resources import config_file

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding attendseg_ros/
NODE_MODULE = "attendseg_ros.ros.segmentation_node"
NODE_NAME = "attendseg_segmentation"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
TRANSITIONS = {
    "configure": Transition.TRANSITION_CONFIGURE,
    "activate": Transition.TRANSITION_ACTIVATE,
    "deactivate": Transition.TRANSITION_DEACTIVATE,
    "cleanup": Transition.TRANSITION_CLEANUP,
    "shutdown": Transition.TRANSITION_UNCONFIGURED_SHUTDOWN,
    "inactive_shutdown": Transition.TRANSITION_INACTIVE_SHUTDOWN,
    "active_shutdown": Transition.TRANSITION_ACTIVE_SHUTDOWN,
}


class NodeProcessError(RuntimeError):
    """The node process exited or never served; the text ends with its log."""


def dds_profile() -> str:
    """The shipped Fast DDS profile for large images (config/fastdds_large_data.xml)."""
    return str(config_file("fastdds_large_data.xml"))


def node_env(profile: bool = True, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a node process: this package on PYTHONPATH and the large-data profile.

    ``profile=False`` leaves FASTDDS_DEFAULT_PROFILES_FILE out (Fast DDS's defaults, as a camera driver
    started without the profile would have).
    """
    env = dict(os.environ)
    if profile:
        env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", dds_profile())
    else:
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def parameter_value(value: object) -> str:
    """A Python value as the text of ``-p name:=<text>``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(parameter_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f"'{value}'" if value else "''"
    return str(value)


def node_command(parameters: Mapping[str, object] | None = None, params_file: str | Path | None = None,
                 name: str | None = None, ros_args: Sequence[str] = (), module: str = NODE_MODULE,
                 python: Sequence[str] = ()) -> list[str]:
    """``python -m <module> --ros-args [--params-file F] [-r __node:=name] -p k:=v ... <ros_args>``."""
    command = [sys.executable, *python, "-m", module, "--ros-args"]
    if params_file is not None:
        command += ["--params-file", str(params_file)]
    if name is not None:
        command += ["-r", f"__node:={name}"]
    for key, value in (parameters or {}).items():
        command += ["-p", f"{key}:={parameter_value(value)}"]
    return [*command, *ros_args]


class NodeProcess:
    """A node as a child process with its output in a log file (a temporary one unless ``log_path``)."""

    def __init__(self, parameters: Mapping[str, object] | None = None, *, params_file: str | Path | None = None,
                 log_path: str | Path | None = None, name: str | None = None, ros_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, module: str = NODE_MODULE,
                 command: Sequence[str] | None = None) -> None:
        self.command = list(command) if command is not None else node_command(
            parameters, params_file, name, ros_args, module)
        self._temporary = log_path is None
        if log_path is None:
            handle, path = tempfile.mkstemp(prefix="attendseg_node_", suffix=".log")
            os.close(handle)
            log_path = path
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=dict(env) if env is not None else node_env())

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def log_text(self) -> str:
        if not self._log.closed:  # after stop() the file is complete (and gone, if temporary)
            self._log.flush()
        if not self.log_path.exists():
            return f"(the log {self.log_path} was temporary and is deleted)"
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise NodeProcessError(f"the node process exited with code {code}; its log ends:\n{self.tail()}")

    def wait(self, timeout: float) -> int:
        """Wait for the process to end by itself; its exit code (``subprocess.TimeoutExpired`` if it does not)."""
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGINT (as Ctrl-C), then kill after ``timeout``; the exit code. A temporary log is deleted."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self._log.closed:
            self._log.close()
            if self._temporary:
                self.log_path.unlink(missing_ok=True)
        return self.process.returncode


class Client:
    """A node in its own Context; everything waits with a timeout, spinning meanwhile.

    With ``watch`` (a :class:`NodeProcess`), every wait fails at once, with the node's log, when that
    process exits. ``domain_id``: a ROS domain other than ``ROS_DOMAIN_ID``'s.
    """

    def __init__(self, name: str = "attendseg_client", watch: NodeProcess | None = None,
                 domain_id: int | None = None) -> None:
        # Large results (overlays) need the large-data profile on this side too. Fast DDS reads it
        # once per process, at the first participant: a process that made one before keeps its own.
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", dds_profile())
        self.watch = watch
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.publishers: dict[str, Any] = {}

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def spin(self, seconds: float) -> None:
        """Handle callbacks for ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.executor.spin_once(timeout_sec=min(left, 0.05))

    def spin_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Spin until ``condition()`` is truthy and return it; ``AssertionError`` naming ``what`` on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if self.watch is not None:
                self.watch.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def subscribe(self, msg_type: type, topic: str, callback: Callable[[Any], None], qos: QoSProfile = RELIABLE) -> Any:
        return self.node.create_subscription(msg_type, topic, callback, qos)

    def collect(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> list:
        """Subscribe and return the list that received messages are appended to."""
        received: list = []
        self.subscribe(msg_type, topic, received.append, qos)
        return received

    def publisher(self, topic: str, msg_type: type = Image, qos: QoSProfile = qos_profile_sensor_data) -> Any:
        """The publisher of ``topic`` (made on first use; sensor-data QoS by default)."""
        if topic not in self.publishers:
            self.publishers[topic] = self.node.create_publisher(msg_type, topic, qos)
        return self.publishers[topic]

    def publish_until(self, topic: str, msg: Any, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Publish ``msg`` on ``topic`` and again every 2 s until ``condition`` holds (best effort may drop it)."""
        publisher = self.publisher(topic, type(msg))
        deadline = time.monotonic() + timeout
        while True:
            publisher.publish(msg)
            try:
                return self.spin_until(condition, min(2.0, max(deadline - time.monotonic(), 0.1)), what)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def _call(self, service_type: type, service: str, request: Any, timeout: float) -> Any:
        client = self.node.create_client(service_type, service)
        try:
            self.spin_until(client.service_is_ready, timeout, service)
            future = client.call_async(request)
            self.spin_until(future.done, timeout, f"the response of {service}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def set_parameters(self, *params: Parameter, node: str = NODE_NAME, timeout: float = 20.0) -> list:
        request = SetParameters.Request(parameters=[p.to_parameter_msg() for p in params])
        return list(self._call(SetParameters, f"/{node.lstrip('/')}/set_parameters", request, timeout).results)

    def change_state(self, transition: str, node: str = NODE_NAME, timeout: float = 60.0) -> bool:
        """Request a lifecycle transition by name (see :data:`TRANSITIONS`); whether it succeeded."""
        request = ChangeState.Request(transition=Transition(id=TRANSITIONS[transition]))
        return bool(self._call(ChangeState, f"/{node.lstrip('/')}/change_state", request, timeout).success)

    def get_state(self, node: str = NODE_NAME, timeout: float = 20.0) -> str:
        return str(self._call(GetState, f"/{node.lstrip('/')}/get_state", GetState.Request(), timeout)
                   .current_state.label)


def diagnostics_values(array: Any, topic: str) -> dict[str, str] | None:
    """The key/values of the status about ``topic`` in a DiagnosticArray (None if it has none)."""
    for status in array.status:
        if status.name.endswith(f": {topic}"):
            return {kv.key: kv.value for kv in status.values}
    return None
