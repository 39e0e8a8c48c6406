"""attendseg-evaluate-bag: offline and closed-loop results equal the folder evaluation of the same frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attendseg_ros.bag.convert import dataset_to_bag
from attendseg_ros.bag.io import GT_TOPIC, IMAGE_TOPIC, IMAGE_TYPE, BagWriter, image_message
from attendseg_ros.bag.scoring import STREAM_REPORT_KEYS
from attendseg_ros.cli import dataset_to_bag as dataset_to_bag_cli
from attendseg_ros.cli import evaluate_bag as evaluate_bag_cli
from attendseg_ros.cli.evaluate_bag import evaluate_bag
from attendseg_ros.data.camvid import CamVid
from attendseg_ros.engines import create_segmenter
from attendseg_ros.training.evaluation import evaluate

FRAMES = 4
MODEL, BACKEND = "onnx_fp32", "onnxruntime"
ACCURACY_KEYS = ("pixel_accuracy", "mean_class_accuracy", "miou")


@pytest.fixture(scope="module")
def val_bags(camvid_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first FRAMES val frames as an mcap bag (rgb8) and a sqlite3 bag (bgr8)."""
    out = tmp_path_factory.mktemp("bags")
    return {
        "mcap": Path(dataset_to_bag(camvid_dir, "val", out / "mcap", storage="mcap", limit=FRAMES)["bag"]),
        "sqlite3": Path(
            dataset_to_bag(camvid_dir, "val", out / "sqlite3", storage="sqlite3", encoding="bgr8", limit=FRAMES)["bag"]
        ),
    }


@pytest.fixture(scope="module")
def folder_report(camvid_dir: Path, random_model: dict[str, Path]) -> dict[str, object]:
    """attendseg_ros.training.evaluation.evaluate over the same frames, one frame per call like the bag modes."""
    dataset = CamVid(camvid_dir, "val")
    dataset.samples = dataset.samples[:FRAMES]
    segmenter = create_segmenter(BACKEND, model=random_model[MODEL])
    try:
        _, report = evaluate(
            lambda frames: np.stack([s.labels for s in segmenter.segment(frames, resolution="input")]),
            dataset,
            batch_size=1,
            progress=False,
        )
    finally:
        segmenter.close()
    return report


def _assert_same_accuracy(report: dict, expected: dict, tolerance: float) -> None:
    for key in ACCURACY_KEYS:
        assert report[key] == pytest.approx(expected[key], abs=tolerance), key
    for got, want in zip(report["class_iou"], expected["class_iou"], strict=True):
        assert (got is None) == (want is None)
        assert got is None or got == pytest.approx(want, abs=tolerance)


def test_offline_equals_the_folder_evaluation(
    val_bags: dict[str, Path], random_model: dict[str, Path], folder_report: dict, tmp_path: Path
) -> None:
    report = evaluate_bag(
        val_bags["mcap"], mode="offline", backend=BACKEND, model=random_model[MODEL],
        json_out=tmp_path / "result.json", report_dir=tmp_path / "report", samples=2, progress=False,
    )
    assert tuple(report) == STREAM_REPORT_KEYS
    _assert_same_accuracy(report, folder_report, 1e-9)
    assert (report["frames"], report["frames_missing"]) == (FRAMES, 0)
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"] and report["fps"] > 0
    assert json.loads((tmp_path / "result.json").read_text()) == report
    written = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert {"report.md", "report.json", "confusion.png", "class_iou.png"} <= set(written)
    assert len([n for n in written if n.startswith("overlay_")]) == 2
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert f"{100 * report['miou']:.2f} %" in markdown and "Bicyclist" in markdown


def test_closed_loop_through_the_node_equals_offline(
    val_bags: dict[str, Path], random_model: dict[str, Path], folder_report: dict, tmp_path: Path
) -> None:
    report = evaluate_bag(
        val_bags["sqlite3"], mode="closed-loop", backend=BACKEND, model=random_model[MODEL], rate="max",
        startup_timeout=90.0, progress=False, report_dir=tmp_path / "report",
    )
    assert (report["frames"], report["frames_missing"]) == (FRAMES, 0)
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "- **precision**: fp32" in markdown and "- **backend**: onnxruntime" in markdown  # what the node ran
    _assert_same_accuracy(report, folder_report, 1e-3)  # the bound: 0.1 point
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p99"] and report["fps"] > 0


def test_a_dropped_label_frame_is_missing(camvid_dir: Path, random_model: dict[str, Path], tmp_path: Path) -> None:
    dataset = CamVid(camvid_dir, "val")
    with BagWriter(tmp_path / "bag", storage="sqlite3") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, IMAGE_TYPE)
        for index in range(3):
            rgb, labels = dataset[index]
            stamp = (index + 1) * 100_000_000
            bag.write(IMAGE_TOPIC, image_message(rgb, "rgb8", stamp, "camera"), stamp)
            if index != 1:
                bag.write(GT_TOPIC, image_message(labels, "mono8", stamp, "camera"), stamp)
    report = evaluate_bag(tmp_path / "bag", mode="offline", backend=BACKEND, model=random_model[MODEL], progress=False)
    assert (report["frames"], report["frames_missing"]) == (2, 1)


def test_duplicate_stamps_are_reported(camvid_dir: Path, random_model: dict[str, Path], tmp_path: Path) -> None:
    dataset = CamVid(camvid_dir, "val")
    rgb, labels = dataset[0]
    with BagWriter(tmp_path / "bag", storage="sqlite3") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, IMAGE_TYPE)
        for log_time, stamp in enumerate((100, 100, 200)):  # the second image repeats the first one's stamp
            bag.write(IMAGE_TOPIC, image_message(rgb, "rgb8", stamp, "camera"), log_time)
        for stamp in (100, 200):
            bag.write(GT_TOPIC, image_message(labels, "mono8", stamp, "camera"), stamp)
    report = evaluate_bag(tmp_path / "bag", mode="offline", backend=BACKEND, model=random_model[MODEL], progress=False)
    assert (report["frames"], report["frames_missing"], report["frames_duplicate"]) == (2, 0, 1)
    assert (report["stamps_out_of_order"], report["clock_resets"]) == (1, 0)  # the repeat is not later


def test_stamps_going_back_are_counted_and_a_loop_is_scored_again(
        camvid_dir: Path, random_model: dict[str, Path], tmp_path: Path) -> None:
    dataset = CamVid(camvid_dir, "val")
    rgb, labels = dataset[0]
    # 1.0 s, 0.9 s (out of order), then a loop back to the start (a clock reset): 1.0 s and 0.9 s again
    stamps = (1_000_000_000, 900_000_000, 5_000_000_000, 1_000_000_000)
    with BagWriter(tmp_path / "bag", storage="sqlite3") as bag:
        bag.add_topic(IMAGE_TOPIC, IMAGE_TYPE)
        bag.add_topic(GT_TOPIC, IMAGE_TYPE)
        for log_time, stamp in enumerate(stamps):
            bag.write(IMAGE_TOPIC, image_message(rgb, "rgb8", stamp, "camera"), 2 * log_time)
            bag.write(GT_TOPIC, image_message(labels, "mono8", stamp, "camera"), 2 * log_time + 1)
    report = evaluate_bag(tmp_path / "bag", mode="offline", backend=BACKEND, model=random_model[MODEL], progress=False)
    assert (report["frames"], report["frames_missing"]) == (4, 0)  # the looped frame is scored again
    assert report["stamps_out_of_order"] == 2  # 0.9 s after 1.0 s, on each topic
    assert report["clock_resets"] == 2  # 5.0 s -> 1.0 s, on each topic


def test_cli_truncated_bag_exits_non_zero_with_one_line(
    val_bags: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    import shutil

    bag = tmp_path / "truncated"
    shutil.copytree(val_bags["mcap"], bag)
    (data,) = bag.glob("*.mcap")
    data.write_bytes(data.read_bytes()[:100_000])
    assert evaluate_bag_cli.main([str(bag), "--mode", "offline"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attendseg-evaluate-bag: error: ") and str(bag) in err[0]


def test_cli_converter_refuses_to_overwrite(
    camvid_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--data", str(camvid_dir), "--split", "val", "--out", str(tmp_path / "bag"), "--limit", "1"]
    assert dataset_to_bag_cli.main([*args, "--storage", "sqlite3"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 1
    assert dataset_to_bag_cli.main(args) == 1
    assert "exists already; pass --force" in capsys.readouterr().err
    assert dataset_to_bag_cli.main([*args, "--force"]) == 0
    assert list((tmp_path / "bag").glob("*.mcap")) and not list((tmp_path / "bag").glob("*.db3"))


def test_offline_mode_needs_no_ros(val_bags: dict[str, Path], random_model: dict[str, Path], tmp_path: Path) -> None:
    """The offline path (bag reading, engine, metrics, report) runs without importing rclpy."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from attendseg_ros.cli.evaluate_bag import main\n"
        f"code = main([{str(val_bags['mcap'])!r}, '--mode', 'offline', '--model', {str(random_model[MODEL])!r},"
        f" '--json', {str(tmp_path / 'r.json')!r}])\n"
        "assert code == 0, code\n"
        "ros = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'sensor_msgs', 'std_msgs'))\n"
        "assert not ros, ros\n"
    )
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (repo, os.environ.get("PYTHONPATH"))))}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "r.json").read_text())["frames"] == FRAMES
