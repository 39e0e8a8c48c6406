"""`ros2 launch attendseg_ros evaluate.launch.py` on a small CamVid bag, from the installed tree.

The launch plays the bag with its default player (here the package's attendseg-play-bag: no rosbag2
in a venv), ends by itself, writes the JSON, and its accuracy equals `attendseg-evaluate-bag` on the
same bag. A player that dies ends the launch at once with an error naming it and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attendseg_ros.bag.convert import dataset_to_bag

FRAMES = 4
ACCURACY_KEYS = ("frames", "frames_missing", "pixel_accuracy", "mean_class_accuracy", "miou", "class_iou")


@pytest.fixture(scope="module")
def bag(camvid_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first FRAMES val frames, recorded 0.5 s apart."""
    out = tmp_path_factory.mktemp("evaluate_launch") / "val4"
    return Path(dataset_to_bag(camvid_dir, "val", out, rate=2.0, limit=FRAMES)["bag"])


def _run_to_the_end(launch: Any, timeout: float) -> tuple[int, list]:
    """Wait for the launch to end by itself; its exit status and the processes it left running."""
    import psutil

    launch.wait_for_output("process started", 60.0)
    children = launch.descendants()
    code = launch.process.wait(timeout)
    _, alive = psutil.wait_procs(children, timeout=5.0)
    return code, alive


def test_evaluation_ends_by_itself_and_equals_evaluate_bag(
    ros_domain: Any, launches: Any, bag: Path, tmp_path: Path
) -> None:
    result = tmp_path / "launch.json"
    # At half speed (a frame a second) the node serves every frame even on a loaded 2-core machine.
    # No play_delay: the package player waits until the node and the evaluation have subscribed.
    launch = launches("evaluate", "attendseg_ros", "evaluate.launch.py", f"bag:={bag}", f"output_json:={result}",
                      f"expected_frames:={FRAMES}", "play_delay:=0", "rate:=0.5")
    code, alive = _run_to_the_end(launch, 180.0)
    output = launch.output()
    assert code == 0, output[-4000:]
    assert not alive, [p.cmdline() for p in alive]
    assert "[attendseg_play_bag]: played 8 messages" in output  # the images and their ground truth
    report = json.loads(result.read_text())
    assert (report["frames"], report["frames_missing"]) == (FRAMES, 0)

    reference = tmp_path / "evaluate_bag.json"
    ros_domain.run("run", "attendseg_ros", "attendseg-evaluate-bag", str(bag), "--json", str(reference),
                   timeout=240.0)
    expected = json.loads(reference.read_text())
    assert {k: report[k] for k in ACCURACY_KEYS} == {k: expected[k] for k in ACCURACY_KEYS}


def test_a_dying_player_ends_the_launch_with_an_error(launches: Any, tmp_path: Path) -> None:
    launch = launches("dying_player", "attendseg_ros", "evaluate.launch.py", f"bag:={tmp_path / 'no_such_bag'}",
                      "player:=package", "play_delay:=0")
    code, alive = _run_to_the_end(launch, 120.0)
    output = launch.output()
    assert code == 1, output[-4000:]
    assert not alive, [p.cmdline() for p in alive]
    assert "attendseg-play-bag: error: " in output and "no_such_bag: does not exist" in output
    assert "[ERROR] [launch]: " in output and "exited with code 1 before the evaluation finished" in output
