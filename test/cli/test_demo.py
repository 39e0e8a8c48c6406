"""attendseg-demo end to end on two CamVid frames with the random model (node process + DDS)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from attendseg_ros.cli.demo import accuracy_note, find_camvid, main


def test_demo_writes_overlays_and_summary(random_model: dict[str, Path], camvid_dir: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo_out"
    code = main(["--camvid", str(camvid_dir), "--frames", "2", "--model", str(random_model["onnx_fp32"]),
                 "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 2 and summary["model"] == "random" and summary["backend"] == "onnxruntime"
    assert summary["fps"] > 0 and 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    assert abs(sum(summary["class_histogram"].values()) - 1.0) < 0.01
    assert 0.0 <= summary["pixel_accuracy"] <= 1.0
    assert summary["accuracy_note"] == "this model's sidecar does not say what it was trained on"
    overlays = sorted(out.glob("overlay_*.png"))
    assert len(overlays) == 2
    image = cv2.imread(str(overlays[0]))
    assert image.shape == (360, 480, 3)  # the CamVid frame's size: outputs are at the input resolution
    assert "fps" in capsys.readouterr().out


def test_find_camvid(camvid_dir: Path, tmp_path: Path) -> None:
    assert find_camvid(camvid_dir) == camvid_dir
    with pytest.raises(FileNotFoundError, match="val"):
        find_camvid(tmp_path)


def test_the_shipped_models_val_accuracy_is_called_fit() -> None:
    note = accuracy_note(None, "onnxruntime")
    assert note.startswith("val is training data of this model (trained on CamVid train + val)"), note
