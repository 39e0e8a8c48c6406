"""attendseg-eval: the report, the JSON, the plots, backends agreeing, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attendseg_ros.cli import evaluate as eval_cli


def test_report_json_and_plots(tiny_camvid: Path, random_model: dict[str, Path], tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "val.json"
    eval_cli.main(["--data", str(tiny_camvid), "--split", "val", "--model", str(random_model["onnx_fp32"]),
                   "--json", str(out), "--plots", str(tmp_path / "plots")])
    assert "mIoU" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["frames"] == 4 and len(report["class_iou"]) == 11
    for key in ("pixel_accuracy", "mean_class_accuracy", "miou"):
        assert 0.0 <= report[key] <= 1.0
    assert (report["backend"], report["precision"]) == ("onnxruntime", "fp32")
    plots = {p.name for p in (tmp_path / "plots").iterdir()}
    assert {"confusion.png", "class_iou.png"} <= plots and any(n.startswith("overlay_") for n in plots)


def test_sequences_select_the_drive(tiny_camvid: Path, random_model: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proxy.json"
    eval_cli.main(["--data", str(tiny_camvid), "--split", "train", "--sequences", "0016E5", "--model",
                   str(random_model["onnx_fp32"]), "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["frames"] == 4 and report["split"] == "train:0016E5"
    with pytest.raises(SystemExit) as exit_info:
        eval_cli.main(["--data", str(tiny_camvid), "--split", "train", "--sequences", "0006R0", "--model",
                       str(random_model["onnx_fp32"])])
    assert exit_info.value.code == 1
    assert "0006R0" in capsys.readouterr().err


def test_torch_and_onnx_backends_agree(tiny_camvid: Path, random_model: dict[str, Path]) -> None:
    torch_report = eval_cli.evaluate_model(tiny_camvid, "val", random_model["safetensors"], backend="torch")
    onnx_report = eval_cli.evaluate_model(tiny_camvid, "val", random_model["onnx_fp32"], backend="onnxruntime")
    assert torch_report["pixel_accuracy"] == pytest.approx(onnx_report["pixel_accuracy"], abs=1e-3)
    assert torch_report["miou"] == pytest.approx(onnx_report["miou"], abs=1e-3)


def test_missing_model_is_a_clear_error(tiny_camvid: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        eval_cli.main(["--data", str(tiny_camvid), "--model", str(tmp_path / "nope.onnx")])
    assert exit_info.value.code == 1
    assert "nope" in capsys.readouterr().err


def test_a_missing_label_is_one_line_of_ours(tiny_camvid: Path, random_model: dict[str, Path],
                                                 tmp_path: Path) -> None:
    """OpenCV printed its own warning ('imread_... can't open/read file') before the command's error."""
    import os
    import shutil
    import subprocess
    import sys

    data = tmp_path / "camvid"
    shutil.copytree(tiny_camvid, data)
    broken = sorted((data / "valannot").glob("*.png"))[1]
    broken.unlink()  # the frame's label is missing
    result = subprocess.run(
        [sys.executable, "-m", "attendseg_ros.cli.evaluate", "--data", str(data), "--model",
         str(random_model["onnx_fp32"])], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attendseg-eval: error:") and broken.name in lines[0], result.stderr
