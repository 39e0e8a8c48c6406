"""The segmentation node as its own process, talked to over DDS (real ROS 2, no mocks).

One node process serves two cameras for most tests (module-scoped); a second one checks
compressed input, two short-lived ones check that bad start-up parameters exit with a reason.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from attendseg_ros.data import load_class_table
from attendseg_ros.ros.drivable import DrivableConfig, drivable_mask
from attendseg_ros.ros.harness import (
    LATCHED,
    NODE,
    Graph,
    bgr_image,
    camera_frame,
    diagnostics_values,
    labels_array,
    node_env,
    stamp_header,
    start_node,
    stop_node,
)
from attendseg_ros.ros.image_conversion import rgb_to_compressed

CAM_A, CAM_B = "/cam_a/image_raw", "/cam_b/image_raw"
OUT_A, OUT_B = "/cam_a/segmentation", "/cam_b/segmentation"
CLASSES = load_class_table("camvid11")
MODEL, BACKEND = "onnx_fp32", "onnxruntime"
START_TIMEOUT = 60.0
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def node_process(random_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    log = tmp_path_factory.mktemp("node") / "node.log"
    process = start_node(
        log,
        "-p", f"model:={random_model[MODEL]}", "-p", f"backend:={BACKEND}",
        "-p", f"camera_topics:=[{CAM_A},{CAM_B}]",
        "-p", "diagnostics_period:=0.3",
        "-p", "error_throttle_sec:=0.5",
        "-p", "backend_options:=[spin=false]",
    )
    yield process
    code = stop_node(process)
    assert code == 0, f"node exited with {code}:\n{log.read_text()}"


@pytest.fixture(scope="module")
def graph(node_process: subprocess.Popen) -> Iterator[Graph]:
    graph = Graph()
    info = graph.collect(_info_type(), f"{OUT_A}/info", LATCHED)
    try:
        graph.spin_until(lambda: info or node_process.poll() is not None, START_TIMEOUT, "the node's info message")
        assert node_process.poll() is None, "the node process exited during start-up"
        graph.spin_until(lambda: graph.publisher(CAM_A).get_subscription_count() > 0, TIMEOUT, f"a reader of {CAM_A}")
        graph.spin_until(lambda: graph.publisher(CAM_B).get_subscription_count() > 0, TIMEOUT, f"a reader of {CAM_B}")
        yield graph
    finally:
        graph.close()


def _info_type() -> type:
    from attendseg_ros.msg import SegmentationInfo

    return SegmentationInfo


def _outputs(graph: Graph, prefix: str) -> dict[str, list]:
    outputs = {name: graph.collect(Image, f"{prefix}/{name}") for name in ("labels", "drivable_mask", "confidence",
                                                                            "overlay")}
    for name in outputs:
        graph.spin_until(lambda n=name: graph.node.count_publishers(f"{prefix}/{n}") > 0, TIMEOUT, f"{prefix}/{name}")
    return outputs


def test_node_is_active(graph: Graph) -> None:
    client = graph.node.create_client(GetState, f"/{NODE}/get_state")
    graph.spin_until(client.service_is_ready, TIMEOUT, "the lifecycle get_state service")
    future = client.call_async(GetState.Request())
    graph.spin_until(future.done, TIMEOUT, "get_state")
    assert future.result().current_state.label == "active"


def _change_state(graph: Graph, transition: int) -> bool:
    client = graph.node.create_client(ChangeState, f"/{NODE}/change_state")
    try:
        graph.spin_until(client.service_is_ready, TIMEOUT, "the lifecycle change_state service")
        future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
        graph.spin_until(future.done, TIMEOUT, "change_state")
        return future.result().success
    finally:
        graph.node.destroy_client(client)


def test_deactivate_stops_reading_and_activate_resumes(graph: Graph) -> None:
    labels = graph.collect(Image, f"{OUT_A}/labels")
    graph.spin_until(lambda: graph.node.count_publishers(f"{OUT_A}/labels") > 0, TIMEOUT, "labels publisher")
    camera = graph.publisher(CAM_A)
    assert _change_state(graph, Transition.TRANSITION_DEACTIVATE)
    graph.spin_until(lambda: camera.get_subscription_count() == 0, TIMEOUT, "the node to drop its subscription")
    assert _change_state(graph, Transition.TRANSITION_ACTIVATE)
    graph.spin_until(lambda: camera.get_subscription_count() > 0, TIMEOUT, "the node to subscribe again")
    graph.publish_until(CAM_A, bgr_image(stamp_header(1500, 0, "cam")),
                        lambda: any(m.header.stamp.sec == 1500 for m in labels), TIMEOUT, "labels after activate")


def test_outputs_keep_the_header_and_input_size(graph: Graph) -> None:
    outputs = _outputs(graph, OUT_A)
    header = stamp_header(1234, 5678, "cam_a_optical_frame")
    msg = bgr_image(header)
    graph.publish_until(CAM_A, msg, lambda: all(any(m.header.stamp.sec == 1234 for m in v) for v in outputs.values()),
                        TIMEOUT, "all four outputs of the frame")
    for name, encoding in (("labels", "mono8"), ("drivable_mask", "mono8"), ("confidence", "mono8"),
                           ("overlay", "rgb8")):
        out = next(m for m in outputs[name] if m.header.stamp.sec == 1234)
        assert out.header == header, name
        assert (out.height, out.width, out.encoding) == (480, 640, encoding), name
        assert len(out.data) == out.step * out.height
    labels = labels_array(next(m for m in outputs["labels"] if m.header.stamp.sec == 1234))
    assert labels.max() <= CLASSES.void_id
    assert set(np.unique(labels)) <= set(range(CLASSES.num_classes)) | {CLASSES.void_id}
    mask = labels_array(next(m for m in outputs["drivable_mask"] if m.header.stamp.sec == 1234))
    road = DrivableConfig((CLASSES.names.index("Road"),))  # the defaults: Road, cleaned, connected to the bottom
    np.testing.assert_array_equal(mask, drivable_mask(labels, road))


def test_info_reaches_a_late_subscriber(graph: Graph) -> None:
    late = graph.collect(_info_type(), f"{OUT_B}/info", LATCHED)
    info = graph.spin_until(lambda: late, TIMEOUT, "the latched info on a late subscription")[-1]
    assert list(info.class_names) == list(CLASSES.names)
    assert bytes(info.palette) == np.asarray(CLASSES.colors, np.uint8).tobytes()
    assert info.void_id == CLASSES.void_id
    assert list(info.drivable_class_ids) == [CLASSES.names.index("Road")]
    assert (info.model_name, info.backend, info.precision) == ("random", BACKEND, "fp32")
    assert (info.input_height, info.input_width) == (96, 128)


def test_two_cameras_are_both_served(graph: Graph) -> None:
    labels_a = graph.collect(Image, f"{OUT_A}/labels")
    labels_b = graph.collect(Image, f"{OUT_B}/labels")
    graph.spin_until(lambda: graph.node.count_publishers(f"{OUT_B}/labels") > 0, TIMEOUT, "cam_b labels publisher")
    small = camera_frame(240, 320, seed=1)
    msg_a, msg_b = bgr_image(stamp_header(2000, 1, "a")), bgr_image(stamp_header(2000, 2, "b"), small)
    graph.publisher(CAM_B).publish(msg_b)
    graph.publish_until(CAM_A, msg_a, lambda: any(m.header.stamp.sec == 2000 for m in labels_a), TIMEOUT, "cam_a")
    graph.publish_until(CAM_B, msg_b, lambda: any(m.header.stamp.sec == 2000 for m in labels_b), TIMEOUT, "cam_b")
    b = next(m for m in labels_b if m.header.stamp.sec == 2000)
    assert (b.header.frame_id, b.height, b.width) == ("b", 240, 320)
    assert next(m for m in labels_a if m.header.stamp.sec == 2000).header.frame_id == "a"


def test_live_drivable_change_takes_effect(graph: Graph) -> None:
    outputs = _outputs(graph, OUT_A)
    info = graph.collect(_info_type(), f"{OUT_A}/info", LATCHED)
    frame = bgr_image(stamp_header(3000, 0, "cam"))
    graph.publish_until(CAM_A, frame, lambda: any(m.header.stamp.sec == 3000 for m in outputs["labels"]), TIMEOUT,
                        "labels")
    labels = labels_array(next(m for m in outputs["labels"] if m.header.stamp.sec == 3000))
    common = int(np.bincount(labels.ravel()).argmax())
    name = CLASSES.names[common]
    results = graph.set_parameters(
        Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, [name]),
        Parameter("drivable_min_region_fraction", Parameter.Type.DOUBLE, 0.0),
        Parameter("drivable_connected_to_bottom", Parameter.Type.BOOL, False),
    )
    assert all(r.successful for r in results), [r.reason for r in results]
    graph.spin_until(lambda: any(list(m.drivable_class_ids) == [common] for m in info), TIMEOUT, "the updated info")
    frame = bgr_image(stamp_header(3001, 0, "cam"))
    graph.publish_until(CAM_A, frame, lambda: all(any(m.header.stamp.sec == 3001 for m in outputs[k])
                                                  for k in ("labels", "drivable_mask")), TIMEOUT, "the new mask")
    labels = labels_array(next(m for m in outputs["labels"] if m.header.stamp.sec == 3001))
    mask = labels_array(next(m for m in outputs["drivable_mask"] if m.header.stamp.sec == 3001))
    expected = drivable_mask(labels, DrivableConfig((common,), 0.0, 0.001, False))
    assert expected.any()
    np.testing.assert_array_equal(mask, expected)
    # Back to the defaults for the other tests.
    results = graph.set_parameters(
        Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, ["Road"]),
        Parameter("drivable_min_region_fraction", Parameter.Type.DOUBLE, 0.001),
        Parameter("drivable_connected_to_bottom", Parameter.Type.BOOL, True),
    )
    assert all(r.successful for r in results)


def test_invalid_and_read_only_parameters_are_refused(graph: Graph) -> None:
    (model,) = graph.set_parameters(Parameter("model", Parameter.Type.STRING, "/other.onnx"))
    assert not model.successful and "read-only" in model.reason
    (backend,) = graph.set_parameters(Parameter("backend", Parameter.Type.STRING, "torch"))
    assert not backend.successful and "read-only" in backend.reason
    (unknown,) = graph.set_parameters(Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, ["Lava"]))
    assert not unknown.successful and "Lava" in unknown.reason and "Road" in unknown.reason
    (alpha,) = graph.set_parameters(Parameter("overlay_alpha", Parameter.Type.DOUBLE, 2.0))
    assert not alpha.successful
    (resolution,) = graph.set_parameters(Parameter("output_resolution", Parameter.Type.STRING, "huge"))
    assert not resolution.successful and "input" in resolution.reason


def test_output_resolution_model_is_live(graph: Graph) -> None:
    labels = graph.collect(Image, f"{OUT_A}/labels")
    graph.spin_until(lambda: graph.node.count_publishers(f"{OUT_A}/labels") > 0, TIMEOUT, "labels publisher")
    (result,) = graph.set_parameters(Parameter("output_resolution", Parameter.Type.STRING, "model"))
    assert result.successful
    try:
        graph.publish_until(CAM_A, bgr_image(stamp_header(3500, 0, "cam")),
                            lambda: any(m.header.stamp.sec == 3500 for m in labels), TIMEOUT, "labels")
        out = next(m for m in labels if m.header.stamp.sec == 3500)
        assert (out.height, out.width) == (96, 128)
    finally:
        graph.set_parameters(Parameter("output_resolution", Parameter.Type.STRING, "input"))


def _bad_images() -> list[tuple[str, Image]]:
    depth = Image(height=4, width=4, encoding="16UC1", step=8, header=stamp_header(4000, 1, "cam"))
    depth.data = bytes(32)
    empty = Image(height=0, width=0, encoding="rgb8", step=0, header=stamp_header(4000, 2, "cam"))
    short = Image(height=4, width=4, encoding="rgb8", step=12, header=stamp_header(4000, 3, "cam"))
    short.data = bytes(47)
    return [("unsupported encoding", depth), ("zero-sized", empty), ("data length", short)]


def test_rejected_inputs_leave_the_node_serving(graph: Graph, node_process: subprocess.Popen) -> None:
    labels = graph.collect(Image, f"{OUT_B}/labels")
    diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
    graph.spin_until(lambda: graph.node.count_publishers(f"{OUT_B}/labels") > 0, TIMEOUT, "labels publisher")
    for reason, bad in _bad_images():
        before = _latest(diagnostics, CAM_B, "rejected")
        graph.publish_until(CAM_B, bad, lambda b=before: _latest(diagnostics, CAM_B, "rejected") > b, TIMEOUT,
                            f"the {reason} frame to be counted as rejected")
        values = diagnostics_values(diagnostics[-1], CAM_B)
        assert reason in values["last_reject_reason"]
        assert node_process.poll() is None
    log = Path(node_process.log_file.name)
    graph.spin_until(lambda: "rejected a frame on /cam_b/image_raw: unsupported encoding '16UC1'" in log.read_text(),
                     TIMEOUT, "the error naming the reason in the node's log")
    good = bgr_image(stamp_header(4001, 0, "cam"), camera_frame(120, 160))
    graph.publish_until(CAM_B, good, lambda: any(m.header.stamp.sec == 4001 for m in labels), TIMEOUT,
                        "labels of the good frame after the bad ones")
    assert not any(m.header.stamp.sec == 4000 for m in labels)


def _latest(diagnostics: list, topic: str, key: str) -> int:
    for array in reversed(diagnostics):
        values = diagnostics_values(array, topic)
        if values is not None:
            return int(values[key])
    return -1


def test_overload_keeps_results_fresh(graph: Graph) -> None:
    labels = graph.collect(Image, f"{OUT_A}/labels")
    diagnostics = graph.collect(DiagnosticArray, "/diagnostics")
    graph.spin_until(lambda: graph.node.count_publishers(f"{OUT_A}/labels") > 0, TIMEOUT, "labels publisher")
    graph.spin_until(lambda: _latest(diagnostics, CAM_A, "dropped_stale") >= 0, TIMEOUT, "diagnostics")
    dropped_before = _latest(diagnostics, CAM_A, "dropped_stale")
    frame = camera_frame()
    clock = graph.node.get_clock()
    arrivals: list[tuple[float, float]] = []  # (receive time, stamp) in seconds
    seen = 0
    published = 0
    start = time.monotonic()
    while time.monotonic() - start < 4.0:  # far faster than the node can segment
        msg = bgr_image(stamp_header(0, 0, "cam"), frame)
        msg.header.stamp = clock.now().to_msg()
        graph.publisher(CAM_A).publish(msg)
        published += 1
        graph.executor.spin_once(timeout_sec=0.0)
        now = clock.now().nanoseconds * 1e-9
        arrivals += [(now, m.header.stamp.sec + m.header.stamp.nanosec * 1e-9) for m in labels[seen:]]
        seen = len(labels)
    last_stamp = clock.now().nanoseconds * 1e-9
    graph.spin_until(lambda: _latest(diagnostics, CAM_A, "dropped_stale") > dropped_before, TIMEOUT,
                     "frames counted as dropped")
    assert len(arrivals) >= 5, f"only {len(arrivals)} results for {published} frames"
    ages = np.array([recv - stamp for recv, stamp in arrivals])
    late = ages[len(ages) // 2:]
    assert np.median(late) < 1.0, f"results got stale under overload: ages {np.round(late, 3)}"
    assert late.max() < 2.0, f"results got stale under overload: ages {np.round(late, 3)}"
    assert published > 2 * len(arrivals), "the node kept up; the test did not overload it"
    # After the burst the newest frame is served promptly, not a backlog.
    graph.spin_until(lambda: labels and labels[-1].header.stamp.sec + labels[-1].header.stamp.nanosec * 1e-9
                     > last_stamp - 1.0, TIMEOUT, "a result for one of the last frames")


# ---------------------------------------------------------------- other processes


def test_compressed_input(random_model: dict[str, Path], tmp_path: Path) -> None:
    process = start_node(tmp_path / "node.log", "-r", f"__node:={NODE}_compressed",
                         "-p", f"model:={random_model[MODEL]}", "-p", f"backend:={BACKEND}",
                         "-p", "camera_topics:=[/cam_c/image_raw]",
                         "-p", "use_compressed:=true")
    graph = Graph("attendseg_test_compressed")
    try:
        labels = graph.collect(Image, "/cam_c/segmentation/labels")
        publisher = graph.node.create_publisher(CompressedImage, "/cam_c/image_raw/compressed", 1)
        graph.publishers["/cam_c/image_raw/compressed"] = publisher
        graph.spin_until(lambda: publisher.get_subscription_count() > 0 or process.poll() is not None,
                         START_TIMEOUT, "the node's compressed subscription")
        assert process.poll() is None, (tmp_path / "node.log").read_text()
        rgb = camera_frame(200, 300)[:, :, ::-1].copy()
        msg = rgb_to_compressed(rgb, stamp_header(5000, 7, "cam_c"), "png")
        graph.publish_until("/cam_c/image_raw/compressed", msg, lambda: labels, TIMEOUT, "labels of the png frame")
        assert (labels[0].header.stamp.nanosec, labels[0].height, labels[0].width) == (7, 200, 300)
    finally:
        graph.close()
        assert stop_node(process) == 0, (tmp_path / "node.log").read_text()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-p", "output_resolution:=huge"], "output_resolution"),
        (["-p", "model:=/nonexistent/model.onnx"], "cannot load the model"),
    ],
)
def test_bad_start_up_parameters_exit_with_a_reason(args: list[str], expected: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "attendseg_ros.ros.segmentation_node", "--ros-args", *args],
        env=node_env(), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert expected in result.stdout + result.stderr
