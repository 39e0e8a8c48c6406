"""`ros2 launch attendseg_ros segment.launch.py` from the installed tree, driven with the real ros2 CLI.

Two robots in one domain: robot1 with two cameras, a parameter file of its own, a backend override
and log level warn; robot2 with its namespace and node parameters as launch arguments (class_map,
min_confidence, input_timeout) over the installed config/attendseg.yaml.
Frames published by the test come back as labels in each robot's namespace and nowhere else; the
parameters are the file's plus the overrides, all of them in `ros2 param dump`; `ros2 lifecycle set`
stops and resumes the output; SIGINT to the launch ends it and every node it started. Unknown or
malformed arguments end the launch with the reason; the README lists exactly `--show-args`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from ament_index_python.packages import get_package_share_directory
from sensor_msgs.msg import Image
from support import bgr_image, camera_frame, stamp_header

from attendseg_ros.ros import parameters

ROBOT1, ROBOT2 = "/robot1/attendseg_segmentation", "/robot2/attendseg_segmentation"
YAML_KEY = "/**/attendseg_segmentation"
CAMERAS = ["front/image_raw", "rear/image_raw"]
# robot1's parameter file changes these from the shipped defaults; the launch then overrides backend
FILE_CHANGES = {"backend": "torch", "threads": 1, "max_batch": 2, "overlay_alpha": 0.25,
                "drivable_min_region_fraction": 0.01, "diagnostics_period": 2.0}
LAUNCH_OVERRIDES = {"backend": "onnxruntime", "camera_topics": CAMERAS}
ROBOT2_ARGUMENTS = {"class_map": "navigation", "min_confidence": 0.05, "input_timeout": 2.5}  # 0.05: marks nothing
START_TIMEOUT = 120.0
README = Path(__file__).resolve().parents[2] / "README.md"


def frame(stamp_sec: int) -> Image:
    """A synthetic 320x240 camera frame stamped ``stamp_sec``."""
    return bgr_image(stamp_header(stamp_sec, 0, "camera"), camera_frame(240, 320))


def stamped(received: list, stamp_sec: int) -> Any:
    """A condition: the message of ``received`` stamped ``stamp_sec`` (None until it came)."""
    return lambda: next((m for m in received if m.header.stamp.sec == stamp_sec), None)


def shipped_parameters() -> dict[str, Any]:
    path = Path(get_package_share_directory("attendseg_ros")) / "config" / "attendseg.yaml"
    return yaml.safe_load(path.read_text())[YAML_KEY]["ros__parameters"]


@pytest.fixture(scope="module")
def robots(ros_domain: Any, launches: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    params_file = tmp_path_factory.mktemp("robot1") / "robot1.yaml"
    params_file.write_text(yaml.safe_dump({YAML_KEY: {"ros__parameters": {**shipped_parameters(), **FILE_CHANGES}}}))
    robot1 = launches("robot1", "attendseg_ros", "segment.launch.py", "namespace:=robot1",
                      f"camera_topics:=[{', '.join(CAMERAS)}]", f"params_file:={params_file}",
                      "backend:=onnxruntime", "log_level:=warn")
    robot2 = launches("robot2", "attendseg_ros", "segment.launch.py", "namespace:=robot2",
                      *(f"{name}:={value}" for name, value in ROBOT2_ARGUMENTS.items()))
    for node in (ROBOT1, ROBOT2):
        ros_domain.wait_for(("lifecycle", "get", node), lambda r: r.stdout.startswith("active"),
                            START_TIMEOUT, f"{node} to become active")
    return {"robot1": robot1, "robot2": robot2}


def test_both_nodes_are_active_in_their_namespaces(ros_domain: Any, robots: dict) -> None:
    nodes = ros_domain.wait_for(("node", "list"), lambda r: {ROBOT1, ROBOT2} <= set(r.stdout.split()), 30.0,
                                "both nodes in `ros2 node list`").stdout.split()
    assert "/attendseg_segmentation" not in nodes
    for node in (ROBOT1, ROBOT2):
        assert ros_domain.run("lifecycle", "get", node).stdout.strip() == "active [3]"


def test_topics_are_in_the_robots_namespaces(ros_domain: Any, robots: dict) -> None:
    expected = {"/robot1/front/image_raw", "/robot1/rear/image_raw", "/robot2/camera/image_raw"} | {
        f"{prefix}/segmentation/{name}"
        for prefix in ("/robot1/front", "/robot1/rear", "/robot2/camera")
        for name in ("labels", "confidence", "drivable_mask", "overlay", "info")
    }
    topics = set(ros_domain.wait_for(("topic", "list"), lambda r: expected <= set(r.stdout.split()), 30.0,
                                     "the namespaced topics").stdout.split())
    outside = sorted(t for t in topics if "segmentation" in t and not t.startswith(("/robot1/", "/robot2/")))
    assert not outside and "/camera/image_raw" not in topics, outside


def test_frames_come_back_as_labels_of_their_own_camera_only(probe: Any, robots: dict) -> None:
    labels = {prefix: probe.collect(Image, f"{prefix}/segmentation/labels")
              for prefix in ("/robot1/front", "/robot1/rear", "/robot2/camera")}
    stamps = {"/robot1/front": 101, "/robot1/rear": 102, "/robot2/camera": 201}
    for prefix, stamp in stamps.items():
        msg = probe.publish_until(f"{prefix}/image_raw", frame(stamp), stamped(labels[prefix], stamp), 60.0,
                                  f"{prefix} labels")
        assert (msg.height, msg.width, msg.encoding) == (240, 320, "mono8")
        assert msg.header.frame_id == "camera"
        classes = np.frombuffer(bytes(msg.data), np.uint8)
        assert classes.size == 240 * 320 and classes.max() < (7 if prefix == "/robot2/camera" else 11)  # the
        # navigation class map's ids on robot2, camvid11's on robot1
    probe.spin(1.0)  # anything that was going to leak to another robot or camera has arrived by now
    for prefix, received in labels.items():
        assert {m.header.stamp.sec for m in received} == {stamps[prefix]}, prefix


def test_parameters_are_the_file_plus_the_overrides_and_dump_is_complete(ros_domain: Any, robots: dict) -> None:
    assert ros_domain.run("param", "get", ROBOT1, "backend").stdout.strip() == "String value is: onnxruntime"
    assert ros_domain.run("param", "get", ROBOT1, "overlay_alpha").stdout.strip() == "Double value is: 0.25"
    expected = {**shipped_parameters(), **FILE_CHANGES, **LAUNCH_OVERRIDES, "drivable_classes": ["Road"]}
    assert set(expected) == {spec.name for spec in parameters.SPECS}
    dumped = yaml.safe_load(ros_domain.run("param", "dump", ROBOT1).stdout)[ROBOT1]["ros__parameters"]
    assert {name: dumped.get(name) for name in expected} == expected
    listed = {line.strip() for line in ros_domain.run("param", "list", ROBOT1).stdout.splitlines()
              if line.strip() and not line.endswith(":")}
    assert set(dumped) == listed  # every declared parameter, including use_sim_time & co.


def test_node_parameters_given_as_launch_arguments_reach_the_node(ros_domain: Any, probe: Any, robots: dict) -> None:
    """`class_map:=navigation` was silently ignored (`ros2 param get` showed it empty)."""
    assert ros_domain.run("param", "get", ROBOT2, "class_map").stdout.strip() == "String value is: navigation"
    assert ros_domain.run("param", "get", ROBOT2, "min_confidence").stdout.strip() == "Double value is: 0.05"
    assert ros_domain.run("param", "get", ROBOT2, "input_timeout").stdout.strip() == "Double value is: 2.5"
    assert ros_domain.run("param", "get", ROBOT1, "class_map").stdout.strip() == "String value is:"
    from attendseg_ros.msg import SegmentationInfo
    from attendseg_ros.ros.process import LATCHED

    info = probe.collect(SegmentationInfo, "/robot2/camera/segmentation/info", LATCHED)
    probe.spin_until(lambda: info, 30.0, "robot2's info")
    assert list(info[-1].class_names) == ["road", "sidewalk", "obstacle", "vehicle", "person", "vegetation", "sky"]


def test_unknown_or_malformed_launch_arguments_end_the_launch_with_the_reason(launches: Any) -> None:
    cases = {
        "class_mapp:=navigation": ["segment.launch.py has no launch argument class_mapp", "class_map, "],
        "min_confidence:=high": ["launch argument min_confidence: 'high' is not a number"],
        "use_compressed:=maybe": ["launch argument use_compressed: 'maybe' is not true or false"],
    }
    for index, (argument, expected) in enumerate(cases.items()):
        launch = launches(f"bad_argument{index}", "attendseg_ros", "segment.launch.py", argument)
        code = launch.process.wait(60)
        output = launch.output()
        assert code != 0 and all(text in output for text in expected), output
        assert "process started" not in output  # no node was started


def test_readme_lists_the_launch_arguments_of_show_args(ros_domain: Any) -> None:
    shown = ros_domain.run("launch", "attendseg_ros", "segment.launch.py", "--show-args").stdout
    arguments = re.findall(r"^    '(\w+)':$", shown, re.MULTILINE)
    section = README.read_text().split("## Run with ros2 launch", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, re.MULTILINE)
    assert arguments and listed == arguments, (listed, arguments)


def test_log_level_argument_reaches_the_node(robots: dict) -> None:
    robots["robot2"].wait_for_output("segmenting /robot2/camera/image_raw; outputs in /robot2/camera/segmentation",
                                     10.0)
    info = [line for line in robots["robot1"].output().splitlines()
            if "[INFO]" in line and "[robot1.attendseg_segmentation]" in line]
    assert not info, info  # log_level:=warn: no info line from robot1's node


def test_lifecycle_deactivate_stops_and_activate_resumes_the_output(
    ros_domain: Any, probe: Any, robots: dict
) -> None:
    labels = probe.collect(Image, "/robot1/front/segmentation/labels")
    probe.publish_until("/robot1/front/image_raw", frame(300), stamped(labels, 300), 60.0, "labels before deactivating")
    assert "Transitioning successful" in ros_domain.run("lifecycle", "set", ROBOT1, "deactivate").stdout
    assert ros_domain.run("lifecycle", "get", ROBOT1).stdout.strip() == "inactive [2]"
    for _ in range(6):
        probe.publisher("/robot1/front/image_raw").publish(frame(301))
        probe.spin(0.5)
    assert 301 not in {m.header.stamp.sec for m in labels}, "labels published while inactive"
    assert "Transitioning successful" in ros_domain.run("lifecycle", "set", ROBOT1, "activate").stdout
    probe.publish_until("/robot1/front/image_raw", frame(302), stamped(labels, 302), 60.0,
                        "labels after activating again")


def test_sigint_ends_the_launch_and_its_node_cleanly(ros_domain: Any, robots: dict) -> None:
    robot1 = robots["robot1"]
    assert robot1.descendants(), "ros2 launch started no process"
    code, alive = robot1.interrupt(30.0)
    assert code == 0, robot1.output()[-3000:]
    assert not alive, f"still running after ros2 launch ended: {[p.cmdline() for p in alive]}"
    assert "process has finished cleanly" in robot1.output()
    ros_domain.wait_for(("node", "list"), lambda r: ROBOT1 not in r.stdout.split(), 30.0,
                        f"{ROBOT1} to leave the graph")
    assert ros_domain.run("lifecycle", "get", ROBOT2).stdout.strip() == "active [3]"  # the other robot runs on


def test_bad_camera_topics_end_the_launch_with_the_reason(launches: Any) -> None:
    launch = launches("bad_topics", "attendseg_ros", "segment.launch.py", "camera_topics:=[1, 2]")
    code = launch.process.wait(60)
    assert code != 0 and "camera_topics must be a list of topic names" in launch.output(), launch.output()
    assert "process started" not in launch.output()  # no node was started
