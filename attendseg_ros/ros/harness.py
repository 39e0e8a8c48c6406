"""Run the segmentation node as its own process and talk to it over DDS from another one.

Used by the demo, the latency benchmark and the tests: :func:`start_node` starts
``python -m attendseg_ros.ros.segmentation_node --ros-args ...`` with the large-data Fast DDS
profile; :class:`Graph` is a client node in its own rclpy Context whose waits all have timeouts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ..resources import config_file
from .image_conversion import array_to_image

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding attendseg_ros/
NODE = "attendseg_segmentation"
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def dds_profile() -> str:
    """The shipped Fast DDS profile for large images (config/fastdds_large_data.xml)."""
    return str(config_file("fastdds_large_data.xml"))


def node_env() -> dict[str, str]:
    """Environment of the node process: this one's ROS domain, the large-data DDS profile, this package."""
    env = dict(os.environ)
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = dds_profile()
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start_node(log_path: Path | None, *ros_args: str) -> subprocess.Popen:
    """``python -m attendseg_ros.ros.segmentation_node --ros-args <ros_args>``, output to ``log_path``."""
    cmd = [sys.executable, "-m", "attendseg_ros.ros.segmentation_node", "--ros-args", *ros_args]
    log = open(log_path, "w") if log_path is not None else None  # noqa: SIM115 - closed by stop_node
    process = subprocess.Popen(cmd, env=node_env(), stdout=log, stderr=subprocess.STDOUT if log else None)
    process.log_file = log  # type: ignore[attr-defined]
    return process


def stop_node(process: subprocess.Popen, timeout: float = 20.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # as Ctrl-C
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.log_file is not None:  # type: ignore[attr-defined]
        process.log_file.close()  # type: ignore[attr-defined]
    return process.returncode


def stamp_header(sec: int, nanosec: int, frame_id: str) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


class Graph:
    """A test-side node in its own Context; everything waits with a timeout, spinning meanwhile."""

    def __init__(self, name: str = "attendseg_test") -> None:
        # Large results (overlays) need the large-data profile on this side too. Fast DDS reads it
        # once per process, at the first participant: a process that made one before keeps its own.
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", dds_profile())
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.publishers: dict[str, Any] = {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def spin_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def collect(self, msg_type: type, topic: str, qos: QoSProfile = RELIABLE) -> list:
        """Subscribe and return the list that received messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def publisher(self, topic: str) -> Any:
        if topic not in self.publishers:
            self.publishers[topic] = self.node.create_publisher(Image, topic, qos_profile_sensor_data)
        return self.publishers[topic]

    def publish_until(self, topic: str, msg: Any, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """Publish ``msg`` (best effort) and again every 2 s until ``condition`` holds."""
        publisher = self.publisher(topic) if isinstance(msg, Image) else self.publishers[topic]
        deadline = time.monotonic() + timeout
        while True:
            publisher.publish(msg)
            try:
                return self.spin_until(condition, min(2.0, max(deadline - time.monotonic(), 0.1)), what)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def set_parameters(self, *params: Parameter, node: str = NODE, timeout: float = 20.0) -> list:
        client = self.node.create_client(SetParameters, f"/{node}/set_parameters")
        try:
            self.spin_until(client.service_is_ready, timeout, f"/{node}/set_parameters")
            future = client.call_async(SetParameters.Request(parameters=[p.to_parameter_msg() for p in params]))
            self.spin_until(future.done, timeout, "the set_parameters response")
            return list(future.result().results)
        finally:
            self.node.destroy_client(client)


def camera_frame(height: int = 480, width: int = 640, seed: int = 0) -> np.ndarray:
    """A smooth synthetic BGR frame (sky-ish top, grey bottom) with some texture."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width, 3), np.uint8)
    frame[: height // 2] = (200, 160, 120)
    frame[height // 2 :] = (90, 90, 90)
    noise = rng.integers(0, 40, (-(-height // 8), -(-width // 8), 3), dtype=np.uint8)
    return frame + np.kron(noise, np.ones((8, 8, 1), np.uint8))[:height, :width]


def bgr_image(header: Header, frame: np.ndarray | None = None) -> Image:
    return array_to_image(camera_frame() if frame is None else frame, header, encoding="bgr8")


def diagnostics_values(array: Any, topic: str) -> dict[str, str] | None:
    for status in array.status:
        if status.name.endswith(f": {topic}"):
            return {kv.key: kv.value for kv in status.values}
    return None


def labels_array(msg: Image) -> np.ndarray:
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width)
