"""What a navigation stack reads from the node: camera liveness, stamp order, quiet shutdown, start-up errors.

A node process of its own (input_timeout 1 s, diagnostics every 0.2 s), a real rclpy publisher as
the camera. Waits are on conditions (diagnostics, outputs, the node's log), never on fixed sleeps.
"""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from support import bgr_image, camera_frame, latest, latest_status, stamp_header, status_at

from attendseg_ros.ros.process import LATCHED, NODE_NAME, Client, NodeProcess, node_command, node_env

CAM = "/health_cam/image_raw"
OUT = "/health_cam/segmentation"
START_TIMEOUT = 60.0
TIMEOUT = 30.0
FRAME = camera_frame(120, 160)


def _info_type() -> type:
    from attendseg_ros.msg import SegmentationInfo

    return SegmentationInfo


@pytest.fixture(scope="module")
def node(random_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    process = NodeProcess({
        "model": str(random_model["onnx_fp32"]), "camera_topics": [CAM], "input_timeout": 1.0,
        "diagnostics_period": 0.2, "diagnostics_window": 2.0, "error_throttle_sec": 0.0,
        "backend_options": ["spin=false"],
    }, name="attendseg_health", log_path=tmp_path_factory.mktemp("health") / "node.log")
    yield process
    assert process.stop() == 0, process.log_text()


@pytest.fixture(scope="module")
def client(node: NodeProcess) -> Iterator[Client]:
    with Client("attendseg_health_test", watch=node) as client:
        client.spin_until(lambda: client.publisher(CAM).get_subscription_count() > 0, START_TIMEOUT,
                          "the node's subscription")
        yield client


def _publish(client: Client, sec: int, nanosec: int = 0) -> None:
    client.publisher(CAM).publish(bgr_image(stamp_header(sec, nanosec, "cam"), FRAME))


def _stamps(labels: list) -> list[tuple[int, int]]:
    return [(m.header.stamp.sec, m.header.stamp.nanosec) for m in labels]


def test_a_camera_that_stops_is_an_error_until_it_resumes(client: Client, node: NodeProcess) -> None:
    """Streams, stops, resumes: /diagnostics reads WARN (no frame yet), OK, ERROR ("no frame for N s"), OK;
    info says the same; the log says it once per stall."""
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    info = client.collect(_info_type(), f"{OUT}/info", LATCHED)
    waiting = client.spin_until(lambda: status_at(diagnostics, CAM, DiagnosticStatus.WARN), TIMEOUT, "WARN")
    assert "waiting for the first frame" in waiting.message
    client.spin_until(lambda: info and info[-1].input_state == info[-1].INPUT_WAITING, TIMEOUT, "info: waiting")
    labels = client.collect(Image, f"{OUT}/labels")

    def stream(sec: int) -> None:  # a camera at about 10 Hz until the node reports OK
        index = 0
        while not status_at(diagnostics, CAM, DiagnosticStatus.OK):
            index += 1
            _publish(client, sec, index)
            client.spin(0.1)
            assert index < 300, "no OK while streaming"

    stream(100)
    assert labels, "no labels while streaming"
    stalled = client.spin_until(lambda: status_at(diagnostics, CAM, DiagnosticStatus.ERROR), TIMEOUT, "ERROR")
    assert "no frame for" in stalled.message and "input_timeout 1 s" in stalled.message, stalled.message
    client.spin_until(lambda: info[-1].input_state == info[-1].INPUT_STALLED, TIMEOUT, "info: stalled")
    assert "no frame for" in info[-1].input_status
    errors = len(diagnostics)
    client.spin_until(lambda: len(diagnostics) >= errors + 10, TIMEOUT, "ten more diagnostics while silent")
    assert status_at(diagnostics, CAM, DiagnosticStatus.ERROR)  # still silent: still an error
    seconds = float(latest(diagnostics, CAM, "seconds_since_last_frame"))
    assert seconds > 1.0 and f"no frame for {seconds:.1f} s" in latest_status(diagnostics, CAM).message
    assert node.log_text().count(f"on {CAM} (input_timeout 1 s): the camera stopped") == 1  # once per stall

    stream(200)
    client.spin_until(lambda: info[-1].input_state == info[-1].INPUT_RECEIVING, TIMEOUT, "info: receiving")
    client.spin_until(lambda: f"frames on {CAM} again after" in node.log_text(), TIMEOUT, "the log: frames again")
    (result,) = client.set_parameters(Parameter("input_timeout", Parameter.Type.DOUBLE, 0.0), node="attendseg_health")
    assert result.successful, result.reason  # live: 0 switches the watch off
    client.spin_until(lambda: info[-1].input_state == info[-1].INPUT_NOT_WATCHED, TIMEOUT, "info: not watched")
    (result,) = client.set_parameters(Parameter("input_timeout", Parameter.Type.DOUBLE, 1.0), node="attendseg_health")
    assert result.successful, result.reason


def test_stamps_out_of_order_are_counted_and_a_repeated_stamp_is_published_once(
    client: Client, node: NodeProcess
) -> None:
    """Stamps t, t-0.1, t-0.2, t-0.2, t+0.5 s: stamps_out_of_order >= 3, the repeated stamp published once."""
    diagnostics = client.collect(DiagnosticArray, "/diagnostics")
    labels = client.collect(Image, f"{OUT}/labels")
    client.spin_until(lambda: latest_status(diagnostics, CAM), TIMEOUT, "diagnostics")
    out_of_order = int(latest(diagnostics, CAM, "stamps_out_of_order"))
    duplicates = int(latest(diagnostics, CAM, "dropped_duplicate"))
    t = 1000
    sequence = [(t, 0), (t - 1, 900_000_000), (t - 1, 800_000_000), (t - 1, 800_000_000), (t, 500_000_000)]
    for index, stamp in enumerate(sequence):
        _publish(client, *stamp)
        if stamp in sequence[:index]:  # the repeat: wait until it is counted, not published
            client.spin_until(lambda: int(latest(diagnostics, CAM, "dropped_duplicate")) > duplicates, TIMEOUT,
                              "the repeated stamp counted in dropped_duplicate")
        else:
            client.spin_until(lambda s=stamp: s in _stamps(labels), TIMEOUT, f"labels stamped {stamp}")
    client.spin_until(lambda: int(latest(diagnostics, CAM, "stamps_out_of_order")) >= out_of_order + 3, TIMEOUT,
                      "three stamps out of order")
    assert _stamps(labels) == [sequence[0], sequence[1], sequence[2], sequence[4]]  # t-0.2 once
    assert f"frame on {CAM} stamped 100.0 ms before the previous one" in node.log_text()
    assert f"frame on {CAM} stamped 0.0 ms the same as the previous one" in node.log_text()
    status = latest_status(diagnostics, CAM)
    assert status.level == DiagnosticStatus.WARN and "stamps out of order" in status.message, status.message

    resets = int(latest(diagnostics, CAM, "clock_resets"))
    _publish(client, 10)  # a bag played again from its start: a clock reset, and the frame is served
    client.spin_until(lambda: (10, 0) in _stamps(labels), TIMEOUT, "labels after the clock reset")
    client.spin_until(lambda: int(latest(diagnostics, CAM, "clock_resets")) == resets + 1, TIMEOUT, "a clock reset")
    assert f"the stamps on {CAM} went back 990.500 s" in node.log_text()


def test_switching_class_map_resets_drivable_classes_set_for_the_old_map(client: Client, node: NodeProcess) -> None:
    """drivable_classes set live, then class_map changed: configure failed until drivable_classes was reset."""
    name = "attendseg_health"
    info = client.collect(_info_type(), f"{OUT}/info", LATCHED)
    (result,) = client.set_parameters(Parameter("drivable_classes", Parameter.Type.STRING_ARRAY, ["Road", "Pavement"]),
                                      node=name)
    assert result.successful, result.reason
    for transition in ("deactivate", "cleanup"):
        assert client.change_state(transition, node=name), node.tail()
    (result,) = client.set_parameters(Parameter("class_map", Parameter.Type.STRING, "navigation"), node=name)
    assert result.successful, result.reason
    for transition in ("configure", "activate"):
        assert client.change_state(transition, node=name), node.tail()
    assert ("drivable_classes ['Road', 'Pavement'] were set for class_map ''; class_map 'navigation' has no "
            "['Road', 'Pavement']: drivable_classes reset to its default ['road']") in node.log_text()
    client.spin_until(lambda: info and list(info[-1].class_names)[:2] == ["road", "sidewalk"], TIMEOUT, "info")
    assert list(info[-1].drivable_class_ids) == [0]
    for transition in ("deactivate", "cleanup"):  # back to the model's classes for the other tests
        assert client.change_state(transition, node=name)
    (result,) = client.set_parameters(Parameter("class_map", Parameter.Type.STRING, ""), node=name)
    assert result.successful
    for transition in ("configure", "activate"):
        assert client.change_state(transition, node=name), node.tail()
    client.spin_until(lambda: client.publisher(CAM).get_subscription_count() > 0, TIMEOUT, "the subscription")


def test_invalid_drivable_classes_for_the_class_map_say_how_to_fix_it(tmp_path: Path) -> None:
    command = node_command({"class_map": "navigation", "drivable_classes": ["Road"], "camera_topics": [CAM]})
    result = subprocess.run(command, env=node_env(), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "unknown class names ['Road']" in output and "or to [default] for its default" in output, output


def test_start_up_errors_name_the_node_as_renamed() -> None:
    command = node_command({"output_resolution": "huge"}, name="front_segmentation")
    result = subprocess.run(command, env=node_env(), capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "/front_segmentation: invalid parameters:" in output and "output_resolution: 'huge'" in output, output
    assert NODE_NAME not in output, output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_busy_shuts_down_quietly(tmp_path: Path, stop_signal: signal.Signals) -> None:
    """Ctrl-C or SIGTERM while a frame was in progress logged "publisher's context is invalid".

    The embedded model on one thread keeps the node busy (a frame is nearly always in progress).
    """
    camera = "/busy_cam/image_raw"
    parameters = {"camera_topics": [camera], "threads": 1}
    log = tmp_path / "node.log"
    with NodeProcess(parameters, name="attendseg_busy", log_path=log) as process, \
            Client("attendseg_busy_test", watch=process) as client:
        labels = client.collect(Image, "/busy_cam/segmentation/labels")
        client.spin_until(lambda: client.publisher(camera).get_subscription_count() > 0, START_TIMEOUT, "a reader")
        frame = camera_frame(240, 320)
        stop = threading.Event()

        def flood() -> None:  # the camera keeps sending while the node stops
            index = 0
            while not stop.is_set():
                index += 1
                client.publisher(camera).publish(bgr_image(stamp_header(50, index, "cam"), frame))
                stop.wait(0.01)

        client.publish_until(camera, bgr_image(stamp_header(49, 0, "cam"), frame), lambda: labels, TIMEOUT,
                             "the node serving")
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        try:
            client.spin_until(lambda: len(labels) >= 5, TIMEOUT, "the node busy with the flood")
            process.process.send_signal(stop_signal)
            assert process.wait(TIMEOUT) == 0, process.log_text()
        finally:
            stop.set()
            thread.join()
        text = process.log_text()
    for noise in ("context is invalid", "Failed to publish", "processing failed", "Traceback", "[ERROR]"):
        assert noise not in text, text
