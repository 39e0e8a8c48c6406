"""The segmentation node as its own process, talked to over DDS (real ROS 2, no mocks).

One node process serves two raw cameras for most tests (module-scoped); a second one serves two
compressed cameras with a fixed-batch model, a small image limit and reliable input; short-lived
ones check start-up failures, failed configures and shutdown.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from support import (
    bgr_image,
    camera_frame,
    compressed_image,
    huge_png,
    labels_array,
    latest,
    latest_status,
    stamp_header,
    status_at,
)

from attendseg_ros.data import load_class_table
from attendseg_ros.ros.process import (
    LATCHED,
    NODE_NAME,
    Client,
    NodeProcess,
    diagnostics_values,
    node_command,
    node_env,
)
from attendseg_ros.runtime.drivable import DrivableConfig, drivable_mask
from attendseg_ros.runtime.pipeline import OUTPUTS

CAM_A, CAM_B = "/cam_a/image_raw", "/cam_b/image_raw"
OUT_A, OUT_B = "/cam_a/segmentation", "/cam_b/segmentation"
CLASSES = load_class_table("camvid11")
MODEL, BACKEND = "onnx_fp32", "onnxruntime"
START_TIMEOUT = 60.0
TIMEOUT = 30.0
WINDOW = 2.0  # diagnostics_window of the node processes here
IMAGE_OUTPUTS = {name: output for name, output in OUTPUTS.items() if output.kind == "image"}


def _info_type() -> type:
    from attendseg_ros.msg import SegmentationInfo

    return SegmentationInfo


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(scope="module")
def node_process(random_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    log = tmp_path_factory.mktemp("node") / "node.log"
    process = NodeProcess({
        "model": str(random_model[MODEL]), "backend": BACKEND, "camera_topics": [CAM_A, CAM_B],
        "diagnostics_period": 0.3, "diagnostics_window": WINDOW, "error_throttle_sec": 0.5,
        "backend_options": ["spin=false"], "input_timeout": 0.0,  # liveness: test_liveness_and_stamps.py
    }, log_path=log)
    yield process
    code = process.stop()
    assert code == 0, f"node exited with {code}:\n{log.read_text()}"


@pytest.fixture(scope="module")
def client(node_process: NodeProcess) -> Iterator[Client]:
    client = Client("attendseg_test", watch=node_process)
    info = client.collect(_info_type(), f"{OUT_A}/info", LATCHED)
    try:
        client.spin_until(lambda: info, START_TIMEOUT, "the node's info message")
        _wait_for_readers(client)
        yield client
    finally:
        client.close()


def _wait_for_readers(client: Client) -> None:
    for topic in (CAM_A, CAM_B):
        client.spin_until(lambda t=topic: client.publisher(t).get_subscription_count() > 0, TIMEOUT,
                          f"a reader of {topic}")


@pytest.fixture
def restore_parameters(client: Client) -> Iterator[None]:
    """Whatever a test changes, the shared node gets its defaults back, also when the test fails."""
    yield
    results = client.set_parameters(
        Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, ["Road"]),
        Parameter("drivable_min_region_fraction", Parameter.Type.DOUBLE, 0.001),
        Parameter("drivable_connected_to_bottom", Parameter.Type.BOOL, True),
        Parameter("output_resolution", Parameter.Type.STRING, "input"),
        *(Parameter(name, Parameter.Type.BOOL, True) for name in dict.fromkeys(o.parameter for o in OUTPUTS.values())),
    )
    assert all(r.successful for r in results), [r.reason for r in results]


def _outputs(client: Client, prefix: str) -> dict[str, list]:
    outputs = {name: client.collect(Image, f"{prefix}/{name}") for name in IMAGE_OUTPUTS}
    for name in outputs:
        client.spin_until(lambda n=name: client.node.count_publishers(f"{prefix}/{n}") > 0, TIMEOUT, f"{prefix}/{name}")
    return outputs


def _has(messages: list, sec: int) -> bool:
    return any(m.header.stamp.sec == sec for m in messages)


def test_node_is_active_and_runs_without_torch(client: Client, node_process: NodeProcess) -> None:
    assert client.get_state() == "active"
    # The ONNX Runtime path reads the model file without torch: torch (~200 MB that cleanup could
    # never free) is not even loaded in the node process.
    maps = Path(f"/proc/{node_process.pid}/maps").read_text()
    assert "libtorch" not in maps and "onnxruntime" in maps


def test_deactivate_stops_reading_and_activate_resumes(client: Client) -> None:
    labels = client.collect(Image, f"{OUT_A}/labels")
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_A}/labels") > 0, TIMEOUT, "labels publisher")
    camera = client.publisher(CAM_A)
    assert client.change_state("deactivate")
    client.spin_until(lambda: camera.get_subscription_count() == 0, TIMEOUT, "the node to drop its subscription")
    assert client.change_state("activate")
    client.spin_until(lambda: camera.get_subscription_count() > 0, TIMEOUT, "the node to subscribe again")
    client.publish_until(CAM_A, bgr_image(stamp_header(1500, 0, "cam")), lambda: _has(labels, 1500), TIMEOUT,
                         "labels after activate")


def test_cleanup_then_configure_serves_again(client: Client, node_process: NodeProcess) -> None:
    labels = client.collect(Image, f"{OUT_B}/labels")
    for transition in ("deactivate", "cleanup", "configure", "activate"):
        assert client.change_state(transition), f"{transition}:\n{node_process.tail()}"
    _wait_for_readers(client)
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_B}/labels") > 0, TIMEOUT, "labels publisher")
    client.publish_until(CAM_B, bgr_image(stamp_header(1600, 0, "cam")), lambda: _has(labels, 1600), TIMEOUT,
                         "labels after cleanup and configure")
    log = node_process.log_text()
    for cause in ("deactivating (from active)", "cleaning up (from inactive)", "configuring (from unconfigured)"):
        assert cause in log


def test_outputs_keep_the_header_and_input_size(client: Client) -> None:
    outputs = _outputs(client, OUT_A)
    header = stamp_header(1234, 5678, "cam_a_optical_frame")
    client.publish_until(CAM_A, bgr_image(header), lambda: all(_has(v, 1234) for v in outputs.values()), TIMEOUT,
                         "all outputs of the frame")
    for name, output in IMAGE_OUTPUTS.items():
        out = next(m for m in outputs[name] if m.header.stamp.sec == 1234)
        assert out.header == header, name
        assert (out.height, out.width, out.encoding) == (480, 640, output.encoding), name
        assert len(out.data) == out.step * out.height
    labels = labels_array(next(m for m in outputs["labels"] if m.header.stamp.sec == 1234))
    assert set(np.unique(labels)) <= set(range(CLASSES.num_classes)) | {CLASSES.void_id}
    mask = labels_array(next(m for m in outputs["drivable_mask"] if m.header.stamp.sec == 1234))
    road = DrivableConfig((CLASSES.names.index("Road"),))  # the defaults: Road, cleaned, connected to the bottom
    np.testing.assert_array_equal(mask, drivable_mask(labels, road))


def test_info_reaches_a_late_subscriber(client: Client) -> None:
    late = client.collect(_info_type(), f"{OUT_B}/info", LATCHED)
    info = client.spin_until(lambda: late, TIMEOUT, "the latched info on a late subscription")[-1]
    assert list(info.class_names) == list(CLASSES.names)
    assert bytes(info.palette) == np.asarray(CLASSES.colors, np.uint8).tobytes()
    assert info.void_id == 255  # the unknown id of the labels (vision_msgs' convention), not the dataset's void
    assert list(info.drivable_class_ids) == [CLASSES.names.index("Road")]
    assert (info.model_name, info.backend, info.precision) == ("random", BACKEND, "fp32")
    assert (info.input_height, info.input_width) == (96, 128)


def test_two_cameras_are_both_served(client: Client) -> None:
    labels_a = client.collect(Image, f"{OUT_A}/labels")
    labels_b = client.collect(Image, f"{OUT_B}/labels")
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_B}/labels") > 0, TIMEOUT, "cam_b labels publisher")
    small = camera_frame(240, 320, seed=1)
    msg_a, msg_b = bgr_image(stamp_header(2000, 1, "a")), bgr_image(stamp_header(2000, 2, "b"), small)
    client.publish_until(CAM_A, msg_a, lambda: _has(labels_a, 2000), TIMEOUT, "cam_a")
    client.publish_until(CAM_B, msg_b, lambda: _has(labels_b, 2000), TIMEOUT, "cam_b")
    b = next(m for m in labels_b if m.header.stamp.sec == 2000)
    assert (b.header.frame_id, b.height, b.width) == ("b", 240, 320)
    assert next(m for m in labels_a if m.header.stamp.sec == 2000).header.frame_id == "a"


def _flood(client: Client, topics: dict[str, str], message: Callable[[int], Any], until: Callable[[], bool],
           what: str) -> None:
    """Publish ``message(i)`` on every topic, round after round, until ``until()`` (the node is kept busy,
    so the frames of several cameras wait together)."""
    deadline = time.monotonic() + TIMEOUT
    index = 0
    while not until():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        index += 1
        for topic in topics.values():
            client.publisher(topic).publish(message(index))
        client.spin(0.01)


def test_max_batch_segments_several_cameras_in_one_call(client: Client) -> None:
    """While the worker segments, both cameras' slots fill: the next call takes both (max_batch 4)."""
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    frame = camera_frame(240, 320)
    _flood(client, {CAM_A: CAM_A, CAM_B: CAM_B}, lambda index: bgr_image(stamp_header(2100, index, "cam"), frame),
           lambda: int(latest(diagnostics, CAM_A, "largest_batch")) >= 2, "a call segmenting both cameras")
    assert int(latest(diagnostics, CAM_B, "largest_batch")) == 2


def test_latency_only_from_stamps_in_the_nodes_clock(client: Client) -> None:
    """A stamp of a few seconds since 1970 (sim time, boot time) gave latency_ms_p50 = 1.8e12 ms."""
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    labels = client.collect(Image, f"{OUT_B}/labels")
    client.spin_until(lambda: latest_status(diagnostics, CAM_B), TIMEOUT, "diagnostics")
    foreign = int(latest(diagnostics, CAM_B, "stamps_not_in_node_clock"))
    client.publish_until(CAM_B, bgr_image(stamp_header(7, 0, "cam"), camera_frame(120, 160)),
                         lambda: _has(labels, 7), TIMEOUT, "labels of the frame stamped 7 s")
    header = stamp_header(0, 0, "cam")
    header.stamp = client.node.get_clock().now().to_msg()
    now = bgr_image(header, camera_frame(120, 160))
    client.publish_until(CAM_B, now, lambda: _has(labels, header.stamp.sec), TIMEOUT, "labels of a frame stamped now")
    client.spin_until(lambda: int(latest(diagnostics, CAM_B, "stamps_not_in_node_clock")) > foreign
                      and latest(diagnostics, CAM_B, "latency_ms_p50") != "nan", TIMEOUT, "both frames counted")
    assert 0 < float(latest(diagnostics, CAM_B, "latency_ms_p99")) < 60_000
    assert float(latest(diagnostics, CAM_B, "node_latency_ms_p99")) > 0


def test_live_drivable_change_takes_effect(client: Client, restore_parameters: None) -> None:
    outputs = _outputs(client, OUT_A)
    info = client.collect(_info_type(), f"{OUT_A}/info", LATCHED)
    client.publish_until(CAM_A, bgr_image(stamp_header(3000, 0, "cam")), lambda: _has(outputs["labels"], 3000),
                         TIMEOUT, "labels")
    labels = labels_array(next(m for m in outputs["labels"] if m.header.stamp.sec == 3000))
    common = int(np.bincount(labels.ravel()).argmax())
    results = client.set_parameters(
        Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, [CLASSES.names[common]]),
        Parameter("drivable_min_region_fraction", Parameter.Type.DOUBLE, 0.0),
        Parameter("drivable_connected_to_bottom", Parameter.Type.BOOL, False),
    )
    assert all(r.successful for r in results), [r.reason for r in results]
    client.spin_until(lambda: any(list(m.drivable_class_ids) == [common] for m in info), TIMEOUT, "the updated info")
    client.publish_until(CAM_A, bgr_image(stamp_header(3001, 0, "cam")),
                         lambda: _has(outputs["labels"], 3001) and _has(outputs["drivable_mask"], 3001), TIMEOUT,
                         "the new mask")
    labels = labels_array(next(m for m in outputs["labels"] if m.header.stamp.sec == 3001))
    mask = labels_array(next(m for m in outputs["drivable_mask"] if m.header.stamp.sec == 3001))
    expected = drivable_mask(labels, DrivableConfig((common,), 0.0, 0.001, False))
    assert expected.any()
    np.testing.assert_array_equal(mask, expected)


def test_publish_switches_turn_outputs_off_and_on(client: Client, restore_parameters: None) -> None:
    outputs = _outputs(client, OUT_B)
    off = ("confidence", "overlay")
    results = client.set_parameters(*(Parameter(f"publish_{n}", Parameter.Type.BOOL, False) for n in off))
    assert all(r.successful for r in results)
    client.publish_until(CAM_B, bgr_image(stamp_header(3100, 0, "cam"), camera_frame(120, 160)),
                         lambda: _has(outputs["labels"], 3100) and _has(outputs["drivable_mask"], 3100), TIMEOUT,
                         "labels and mask with confidence and overlay off")
    client.spin(0.3)  # a late message of a switched-off output would arrive with its siblings
    assert not any(_has(outputs[n], 3100) for n in off)
    results = client.set_parameters(Parameter("publish_confidence", Parameter.Type.BOOL, True))
    assert all(r.successful for r in results)
    client.publish_until(CAM_B, bgr_image(stamp_header(3101, 0, "cam"), camera_frame(120, 160)),
                         lambda: _has(outputs["confidence"], 3101), TIMEOUT, "confidence switched back on")


def test_invalid_and_read_only_parameters_are_refused(client: Client) -> None:
    (model,) = client.set_parameters(Parameter("model", Parameter.Type.STRING, "/other.onnx"))
    assert not model.successful and "read-only" in model.reason
    (backend,) = client.set_parameters(Parameter("backend", Parameter.Type.STRING, "torch"))
    assert not backend.successful and "read-only" in backend.reason
    (unknown,) = client.set_parameters(Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, ["Lava"]))
    assert not unknown.successful and "Lava" in unknown.reason and "Road" in unknown.reason
    (alpha,) = client.set_parameters(Parameter("overlay_alpha", Parameter.Type.DOUBLE, 2.0))
    assert not alpha.successful
    (resolution,) = client.set_parameters(Parameter("output_resolution", Parameter.Type.STRING, "huge"))
    assert not resolution.successful and "input" in resolution.reason


def test_output_resolution_model_is_live(client: Client, restore_parameters: None) -> None:
    labels = client.collect(Image, f"{OUT_A}/labels")
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_A}/labels") > 0, TIMEOUT, "labels publisher")
    (result,) = client.set_parameters(Parameter("output_resolution", Parameter.Type.STRING, "model"))
    assert result.successful
    client.publish_until(CAM_A, bgr_image(stamp_header(3500, 0, "cam")), lambda: _has(labels, 3500), TIMEOUT, "labels")
    out = next(m for m in labels if m.header.stamp.sec == 3500)
    assert (out.height, out.width) == (96, 128)


def _bad_images() -> list[tuple[str, Image]]:
    depth = Image(height=4, width=4, encoding="16UC1", step=8, header=stamp_header(4000, 1, "cam"))
    depth.data = bytes(32)
    empty = Image(height=0, width=0, encoding="rgb8", step=0, header=stamp_header(4000, 2, "cam"))
    short = Image(height=4, width=4, encoding="rgb8", step=12, header=stamp_header(4000, 3, "cam"))
    short.data = bytes(47)
    return [("unsupported encoding", depth), ("zero-sized", empty), ("data length", short)]


def test_rejected_inputs_are_counted_and_warn_only_while_recent(client: Client, node_process: NodeProcess) -> None:
    """Every rejected frame is counted; the WARN describes the recent window, it does not stay forever."""
    labels = client.collect(Image, f"{OUT_B}/labels")
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_B}/labels") > 0, TIMEOUT, "labels publisher")
    # a count to compare with: before the first status arrives, latest() says -1 and any status would pass
    client.spin_until(lambda: latest_status(diagnostics, CAM_B), TIMEOUT, "a first status about the camera")
    for reason, bad in _bad_images():
        before = int(latest(diagnostics, CAM_B, "rejected"))
        client.publish_until(CAM_B, bad, lambda b=before: int(latest(diagnostics, CAM_B, "rejected")) > b, TIMEOUT,
                             f"the {reason} frame to be counted as rejected")
        assert reason in latest(diagnostics, CAM_B, "last_reject_reason")
    status = client.spin_until(lambda: latest_status(diagnostics, CAM_B), TIMEOUT, "a status")
    assert status.level == DiagnosticStatus.WARN and "rejected" in status.message, status.message
    client.spin_until(lambda: "rejected a frame on /cam_b/image_raw: unsupported encoding '16UC1'"
                      in node_process.log_text(), TIMEOUT, "the error naming the reason in the node's log")
    good = bgr_image(stamp_header(4001, 0, "cam"), camera_frame(120, 160))
    client.publish_until(CAM_B, good, lambda: _has(labels, 4001), TIMEOUT, "labels of the good frame after the bad")
    assert not _has(labels, 4000)
    rejected = int(latest(diagnostics, CAM_B, "rejected"))
    ok = client.spin_until(lambda: status_at(diagnostics, CAM_B, DiagnosticStatus.OK), WINDOW + TIMEOUT,
                           "the level back to OK once the rejections are older than the window")
    values = {kv.key: kv.value for kv in ok.values}
    assert int(values["rejected"]) == rejected >= 3 and values["rejected_recent"] == "0"


def test_a_second_node_with_the_same_name_is_warned_about(client: Client, node_process: NodeProcess) -> None:
    twin = rclpy.create_node(NODE_NAME, context=client.context)
    try:
        client.spin_until(lambda: f"2 nodes named /{NODE_NAME} run in ROS domain" in node_process.log_text(),
                          TIMEOUT, "the node's warning about a second node with its name")
    finally:
        twin.destroy_node()


LOSSY_PUBLISHER = """
import sys, time
import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("lossy_camera")
publisher = node.create_publisher(Image, sys.argv[1], qos_profile_sensor_data)
msg = Image(height=1500, width=2000, encoding="bgr8", step=6000)
msg.data = bytes(1500 * 6000)
deadline = time.monotonic() + 20
while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
    rclpy.spin_once(node, timeout_sec=0.1)
for index in range(int(sys.argv[2])):
    msg.header.stamp.sec = 5000 + index
    publisher.publish(msg)
    rclpy.spin_once(node, timeout_sec=0.1)
node.destroy_node()
rclpy.try_shutdown()
"""


def test_frames_lost_before_the_node_are_counted(client: Client) -> None:
    """9 MB frames from a camera without the large-data profile never arrive: DDS reports them lost."""
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    client.spin_until(lambda: latest_status(diagnostics, CAM_B), TIMEOUT, "diagnostics")
    camera = subprocess.Popen([sys.executable, "-c", LOSSY_PUBLISHER, CAM_B, "12"], env=node_env(profile=False))
    try:
        client.spin_until(lambda: int(latest(diagnostics, CAM_B, "lost")) > 0, TIMEOUT,
                          "the node to count frames lost in transport")
    finally:
        camera.wait(TIMEOUT)
    status = latest_status(diagnostics, CAM_B)
    assert status.level == DiagnosticStatus.WARN and "lost before the node" in status.message, status.message


def _accounted(values: dict[str, str] | None) -> bool:
    """Every frame received ended processed, dropped (stale, repeated stamp), rejected or failed (none waits)."""
    if not values:
        return False
    ends = ("processed", "dropped_stale", "dropped_duplicate", "rejected", "inference_failures")
    return int(values["received"]) == sum(int(values[key]) for key in ends)


def test_overload_keeps_results_fresh(client: Client) -> None:
    """Frames far faster than the node segments: it drops stale ones instead of queueing a backlog.

    Checked by counts, not wall-clock thresholds: frames were dropped, every frame is accounted for
    once the node is idle again, results come in stamp order, and the newest frame is served. Every
    frame published is either received or counted in not_received (replaced in the node's depth-1
    DDS queue before it took it: the publisher's sequence numbers have a gap).
    """
    labels = client.collect(Image, f"{OUT_A}/labels")
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    client.spin_until(lambda: client.node.count_publishers(f"{OUT_A}/labels") > 0, TIMEOUT, "labels publisher")
    client.spin_until(lambda: int(latest(diagnostics, CAM_A, "dropped_stale")) >= 0, TIMEOUT, "diagnostics")
    frame = camera_frame()
    # the node knows this publisher (its sequence numbers) and is idle before the burst
    client.publish_until(CAM_A, bgr_image(stamp_header(5999, 0, "cam"), frame), lambda: _has(labels, 5999), TIMEOUT,
                         "labels before the burst")
    seen = len(diagnostics)  # a status published after the labels counts the warm-up frame
    client.spin_until(lambda: len(diagnostics) > seen + 1 and _accounted(diagnostics_values(diagnostics[-1], CAM_A)),
                      TIMEOUT, "an idle node")
    dropped_before = int(latest(diagnostics, CAM_A, "dropped_stale"))
    sent_before = int(latest(diagnostics, CAM_A, "received")) + int(latest(diagnostics, CAM_A, "not_received"))
    published = 0
    start = time.monotonic()
    while time.monotonic() - start < 3.0:  # far faster than the node can segment
        published += 1
        client.publisher(CAM_A).publish(bgr_image(stamp_header(6000, published, "cam"), frame))
    last = published
    client.spin_until(lambda: any(m.header.stamp.nanosec == last for m in labels if m.header.stamp.sec == 6000),
                      TIMEOUT, "the result of the newest frame")
    client.spin_until(lambda: int(latest(diagnostics, CAM_A, "dropped_stale")) > dropped_before, TIMEOUT,
                      "frames counted as dropped")
    client.spin_until(lambda: _accounted(diagnostics_values(diagnostics[-1], CAM_A)), TIMEOUT,
                      "every frame of the burst processed or dropped")
    client.spin_until(lambda: int(latest(diagnostics, CAM_A, "received")) + int(latest(diagnostics, CAM_A,
                      "not_received")) == sent_before + published, TIMEOUT, "every frame published received or "
                      f"counted as not received ({published} published)")
    served = [m.header.stamp.nanosec for m in labels if m.header.stamp.sec == 6000]
    assert len(served) < published, f"{len(served)} results for {published} frames"
    assert served == sorted(served), "results out of order"


# ---------------------------------------------------------------- a second node: compressed input


CAM_C, CAM_D = "/cam_c/image_raw", "/cam_d/image_raw"
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="module")
def fixed_batch_model(random_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random FP32 model with its batch dimension fixed to 1 (as some exported models are)."""
    graph = onnx.load(str(random_model["onnx_fp32"]))
    for value in [*graph.graph.input, *graph.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = 1
    path = tmp_path_factory.mktemp("fixed") / "fixed.onnx"
    onnx.save(graph, str(path))
    shutil.copyfile(random_model["onnx_fp32"].with_suffix(".json"), path.with_suffix(".json"))
    return path


@pytest.fixture(scope="module")
def compressed_node(fixed_batch_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess({
        "model": str(fixed_batch_model), "camera_topics": [CAM_C, CAM_D], "use_compressed": True,
        "input_reliability": "reliable", "max_image_pixels": MAX_PIXELS, "max_batch": 2,
        "diagnostics_period": 0.3, "diagnostics_window": WINDOW, "error_throttle_sec": 0.5, "input_timeout": 0.0,
    }, name=f"{NODE_NAME}_compressed", log_path=tmp_path_factory.mktemp("compressed") / "node.log")
    yield process
    assert process.stop() == 0, process.log_text()


@pytest.fixture(scope="module")
def compressed_client(compressed_node: NodeProcess) -> Iterator[Client]:
    client = Client("attendseg_test_compressed", watch=compressed_node)
    reliable = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
    try:
        for topic in (CAM_C, CAM_D):
            publisher = client.publisher(f"{topic}/compressed", CompressedImage, reliable)
            client.spin_until(lambda p=publisher: p.get_subscription_count() > 0, START_TIMEOUT,
                              f"the node's subscription to {topic}/compressed")
        yield client
    finally:
        client.close()


def test_compressed_input(compressed_client: Client) -> None:
    labels = compressed_client.collect(Image, "/cam_c/segmentation/labels")
    rgb = camera_frame(200, 300)[:, :, ::-1].copy()
    msg = compressed_image(rgb, stamp_header(5000, 7, "cam_c"), "png")
    compressed_client.publish_until(f"{CAM_C}/compressed", msg, lambda: labels, TIMEOUT, "labels of the png frame")
    assert (labels[0].header.stamp.nanosec, labels[0].height, labels[0].width) == (7, 200, 300)


def test_huge_declared_images_are_rejected_before_decoding(compressed_client: Client,
                                                           compressed_node: NodeProcess) -> None:
    """A 100 KB PNG declaring 10000x10000 took the node from 447 to 1,276 MB; now it is refused unread."""
    diagnostics = compressed_client.collect(DiagnosticArray, "/diagnostics")
    compressed_client.spin_until(lambda: latest_status(diagnostics, CAM_C), TIMEOUT, "diagnostics")
    before = _rss_mb(compressed_node.pid)
    msg = CompressedImage(header=stamp_header(5100, 0, "cam_c"), format="png")
    msg.data = huge_png(10000, 10000)
    compressed_client.publish_until(f"{CAM_C}/compressed", msg,
                                    lambda: "10000x10000" in latest(diagnostics, CAM_C, "last_reject_reason", ""),
                                    TIMEOUT, "the huge image to be rejected")
    assert f"exceeds the limit of {MAX_PIXELS} pixels" in latest(diagnostics, CAM_C, "last_reject_reason")
    assert _rss_mb(compressed_node.pid) - before < 100


def test_broken_compressed_frames_leave_only_the_nodes_own_log(compressed_client: Client,
                                                               compressed_node: NodeProcess) -> None:
    diagnostics = compressed_client.collect(DiagnosticArray, "/diagnostics")
    compressed_client.spin_until(lambda: latest_status(diagnostics, CAM_D), TIMEOUT, "diagnostics")
    before = int(latest(diagnostics, CAM_D, "rejected"))
    for index, data in enumerate([b"\x89PNG\r\n\x1a\n" + bytes(30), b"\xff\xd8\xff" + bytes(30)]):
        msg = CompressedImage(header=stamp_header(5200, index, "cam_d"), format="png")
        msg.data = data
        compressed_client.publish_until(f"{CAM_D}/compressed", msg,
                                        lambda i=index: int(latest(diagnostics, CAM_D, "rejected")) > before + i,
                                        TIMEOUT, "the broken frame to be rejected")
    log = compressed_node.log_text()
    assert "rejected a frame on /cam_d/image_raw" in log
    assert "libpng" not in log and "IHDR chunk shall be first" not in log


def test_inference_failures_are_counted(compressed_client: Client) -> None:
    """The fixed-batch model fails on a batch of two cameras: counted per frame, named, and visible."""
    diagnostics = compressed_client.collect(DiagnosticArray, "/diagnostics")
    labels = compressed_client.collect(Image, "/cam_c/segmentation/labels")
    rgb = camera_frame(120, 160)[:, :, ::-1].copy()
    _flood(compressed_client, {CAM_C: f"{CAM_C}/compressed", CAM_D: f"{CAM_D}/compressed"},
           lambda index: compressed_image(rgb, stamp_header(5300, index, "cam"), "jpeg"),
           lambda: int(latest(diagnostics, CAM_C, "inference_failures")) >= 1, "a failed batch of two frames")
    compressed_client.spin_until(lambda: int(latest(diagnostics, CAM_D, "inference_failures")) >= 1, TIMEOUT,
                                 "the failure counted for the other camera of the batch too")
    assert "InvalidArgument" in latest(diagnostics, CAM_C, "last_inference_error")
    status = latest_status(diagnostics, CAM_C)
    assert status.level in (DiagnosticStatus.WARN, DiagnosticStatus.ERROR) and "inference" in status.message
    # One camera alone is a batch of one, which the model runs: the node kept serving.
    compressed_client.publish_until(f"{CAM_C}/compressed", compressed_image(rgb, stamp_header(5400, 0, "c"), "jpeg"),
                                    lambda: _has(labels, 5400), TIMEOUT, "labels of a frame alone")


def test_incompatible_publisher_is_reported(compressed_client: Client, compressed_node: NodeProcess) -> None:
    """A best-effort camera cannot feed a reliable subscription: no data, so say so in /diagnostics."""
    diagnostics = compressed_client.collect(DiagnosticArray, "/diagnostics")
    best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    quiet = PublisherEventCallbacks(incompatible_qos=lambda info: None)  # rclpy's default one logs, deprecatedly
    compressed_client.node.create_publisher(CompressedImage, f"{CAM_D}/compressed", best_effort, event_callbacks=quiet)
    compressed_client.spin_until(lambda: int(latest(diagnostics, CAM_D, "incompatible_qos")) >= 1, TIMEOUT,
                                 "the incompatible publisher to be counted")
    status = compressed_client.spin_until(lambda: status_at(diagnostics, CAM_D, DiagnosticStatus.WARN), TIMEOUT,
                                          "a WARN")
    assert "RELIABILITY" in status.message and "incompatible" in status.message, status.message


# ---------------------------------------------------------------- start-up and lifecycle failures


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"output_resolution": "huge"}, ["output_resolution"]),
        ({"camera_topics": ["/cam0/9bad/image_raw"]}, ["'/cam0/9bad/image_raw'", "not a valid topic name"]),
        ({"camera_topics": ["/cam/image_raw", "/cam/image_rect"]}, ["'/cam/image_raw'", "'/cam/image_rect'",
                                                                    "/cam/segmentation/*"]),
        ({"backend_options": ["spin=[unclosed"]}, ["backend_options", "spin=[unclosed"]),
        ({"device": "gpu"}, ["device", "cpu, cuda or cuda:N"]),
        ({"backend": "tensorrt", "device": "cpu"}, ["tensorrt backend runs on cuda only, not on device 'cpu'"]),
        ({"model": "/nonexistent/model.onnx"}, ["configuring failed: cannot load the model",
                                                "/nonexistent/model.onnx"]),
        ({"backend_options": ["inter_op_threads=abc"]}, ["configuring failed: TypeError"]),
        ({"class_map": "nav"}, ["configuring failed: invalid class_map", "no class map named 'nav'", "navigation"]),
        ({"class_map": "{classes: [{name: road, from: [Rd]}]}"}, ["classes[0] ('road')", "unknown source classes"]),
        ({"bond_timeout": 0.05}, ["bond_timeout must be 0 (no bond) or above the 0.1 s heartbeat period"]),
    ],
)
def test_bad_start_up_exits_with_the_reason(parameters: dict, expected: list[str]) -> None:
    result = subprocess.run(node_command(parameters), env=node_env(), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    for text in expected:
        assert text in output, output
    assert "Traceback" not in output  # the traceback is logged at debug level only


BLOCKED_MESSAGES = ("import sys; sys.modules['attendseg_ros.msg'] = None; "
                    "from attendseg_ros.ros.segmentation_node import main; sys.exit(main())")


def test_failed_configure_logs_the_cause_releases_everything_and_shutdown_exits(tmp_path: Path) -> None:
    """A configure that fails late (here: the generated messages are missing) used to fail silently and
    leave its publishers and model behind, one set per try; shutdown left the process running."""
    node_name = "attendseg_failing"
    command = [sys.executable, "-c", BLOCKED_MESSAGES, "--ros-args", "-r", f"__node:={node_name}",
               "-p", "autostart:=false", "-p", "camera_topics:=[/cam0/image_raw]", "--log-level", f"{node_name}:=debug"]
    with NodeProcess(command=command, log_path=tmp_path / "node.log") as node, Client("attendseg_test_failing",
                                                                                        watch=node) as client:
        for _ in range(3):
            assert not client.change_state("configure", node=node_name)
        assert client.get_state(node=node_name) == "unconfigured"
        log = node.log_text()
        assert log.count("configuring failed: ModuleNotFoundError") == 3, log
        assert "Traceback" in log  # at debug level, which this node was started with
        client.spin(1.5)  # discovery of any leftover publisher is far quicker than this
        for name in (*OUTPUTS, "label_info", "info"):
            assert client.node.count_publishers(f"/cam0/segmentation/{name}") == 0, name
        assert client.change_state("shutdown", node=node_name)
        assert node.wait(TIMEOUT) == 0
        assert "finalized: exiting" in node.log_text()


def test_backend_auto_measures_logs_and_reports_the_engine_that_runs(random_model: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    """backend:=auto reaches active after measuring the CPU engines; log, info and diagnostics name the choice."""
    import importlib.util

    from attendseg_ros import registry

    installed = [name for name in registry.AUTO_CANDIDATES if importlib.util.find_spec(name) is not None]
    node_name, camera = f"{NODE_NAME}_auto", "/cam_auto/image_raw"
    parameters = {"model": str(random_model["onnx_int8"]), "backend": "auto", "threads": 1,
                  "camera_topics": [camera], "diagnostics_period": 0.3,
                  "backend_options": ["onnxruntime.spin=false", "openvino.hint=latency"]}
    with NodeProcess(parameters, name=node_name, log_path=tmp_path / "node.log") as node, \
            Client("attendseg_test_auto", watch=node) as client:
        info = client.collect(_info_type(), "/cam_auto/segmentation/info", LATCHED)
        diagnostics = client.collect(DiagnosticArray, "/diagnostics")
        labels = client.collect(Image, "/cam_auto/segmentation/labels")
        client.spin_until(lambda: info, START_TIMEOUT, "the node's info message")
        assert client.get_state(node=node_name) == "active"
        chosen = info[-1].backend
        assert chosen in installed
        log = node.log_text()
        line = next((x for x in log.splitlines() if "backend auto chose" in x), None)
        assert line is not None, log
        assert f"backend auto chose {chosen}: " in line and "Network ms per round: " in line
        for name in installed:  # every installed engine was measured: its per-round times are in the line
            assert re.search(rf"{name} [0-9.]+/[0-9.]+/[0-9.]+ ms", line), line
        if len(installed) == 1:
            assert f"only {chosen} could be measured" in line
        else:
            assert "faster in all 3 rounds" in line  # a winner by the margin, or none: onnxruntime kept
        status = client.spin_until(lambda: latest_status(diagnostics, camera), TIMEOUT, "diagnostics about the camera")
        values = {kv.key: kv.value for kv in status.values}
        assert values["backend"] == chosen
        assert values["backend_selection"].startswith("auto: ") and chosen in values["backend_selection"]
        header = stamp_header(7, 0, "auto")
        client.publish_until(camera, bgr_image(header), lambda: _has(labels, 7), TIMEOUT, "labels from auto")
