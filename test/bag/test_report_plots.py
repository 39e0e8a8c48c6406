"""Report plotting: overlays blend known colours; plots and the Markdown report are written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from attendseg_ros.data import load_class_table
from attendseg_ros.engines import model_info, resolve_model
from attendseg_ros.runtime.visualize import overlay
from attendseg_ros.training.report import plot_class_iou, plot_confusion, training_data_note, write_report

CLASSES = load_class_table("camvid11")
PALETTE = CLASSES.palette()


def test_overlay_blends_class_colours() -> None:
    rgb = np.full((4, 6, 3), 100, np.uint8)
    labels = np.zeros((4, 6), np.uint8)
    labels[:, 3:] = 11  # void -> the void colour
    np.testing.assert_array_equal(overlay(rgb, labels, PALETTE, alpha=0.0), rgb)
    full = overlay(rgb, labels, PALETTE, alpha=1.0)
    np.testing.assert_array_equal(full[0, 0], CLASSES.colors[0])
    np.testing.assert_array_equal(full[0, 5], CLASSES.void_color)
    half = overlay(rgb, labels, PALETTE, alpha=0.5)
    np.testing.assert_allclose(half[0, 0], (rgb[0, 0] + np.asarray(CLASSES.colors[0])) / 2, atol=1)


def test_overlay_is_at_the_labels_resolution() -> None:
    rgb = np.zeros((8, 12, 3), np.uint8)
    labels = np.array([[3, 8]], np.uint8)  # model-resolution labels: the frame is resized to 2x1
    out = overlay(rgb, labels, PALETTE, alpha=1.0)
    assert out.shape == (1, 2, 3)
    np.testing.assert_array_equal(out[0, 0], CLASSES.colors[3])
    np.testing.assert_array_equal(out[0, 1], CLASSES.colors[8])


def test_overlay_rejects_ids_without_a_colour() -> None:
    with pytest.raises(ValueError, match="no palette colour"):
        overlay(np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 5, np.uint8), PALETTE[:3])


def test_plots_and_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    confusion = rng.integers(0, 1000, (11, 11))
    ious = [0.5] * 10 + [None]
    assert cv2.imread(str(plot_confusion(confusion, CLASSES.names, tmp_path / "c.png"))) is not None
    assert cv2.imread(str(plot_class_iou(ious, CLASSES.names, tmp_path / "iou.png"))) is not None
    with pytest.raises(ValueError, match="does not match"):
        plot_confusion(confusion[:3], CLASSES.names, tmp_path / "bad.png")
    with_unknown = np.concatenate([confusion, rng.integers(0, 100, (11, 1))], axis=1)  # the Scorer's shape
    unknown_plot = cv2.imread(str(plot_confusion(with_unknown, CLASSES.names, tmp_path / "u.png")))
    assert unknown_plot is not None and unknown_plot.shape[1] > cv2.imread(str(tmp_path / "c.png")).shape[1]
    rgb = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, 11, (6, 8), dtype=np.uint8)
    report = {"pixel_accuracy": 0.75, "mean_class_accuracy": 0.5, "miou": 0.25, "class_iou": ious, "frames": 3,
              "frames_missing": 1, "latency_ms_p50": 12.5, "latency_ms_p99": 20.0, "fps": 40.0}
    markdown = write_report(tmp_path / "r", report, confusion, CLASSES.names, PALETTE, [("a", rgb, labels, labels)])
    text = markdown.read_text()
    assert "| mIoU | 25.00 % |" in text and "| Bicyclist | n/a |" in text and "| frames missing | 1 |" in text
    panel = cv2.imread(str(tmp_path / "r" / "overlay_a.png"))
    assert panel.shape == (6, 24, 3)  # frame | ground truth | prediction


def test_scores_on_the_shipped_models_training_frames_say_so() -> None:
    training = model_info(resolve_model("onnxruntime")).training  # the embedded model: trained on train + val
    for split in ("val", "train"):
        assert training_data_note(training, split).startswith(f"{split} is training data of this model (trained on "
                                                               "CamVid train + val)")
    assert training_data_note(training, "test") is None  # held out
    assert "trained on CamVid train + val" in training_data_note(training)  # a bag: the frames are not known
    left_out = {"config": {"train_splits": ["train", "val"], "exclude_sequences": ["0006R0"]}}
    assert training_data_note(left_out, "train", ["0006R0"]) is None  # the leave-one-drive-out proxy
    assert training_data_note({}, "val") is None  # a sidecar that does not say
