"""attendseg-export: files, the FP32/INT8 side-by-side table, embedding as the default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attendseg_ros.cli import export as export_cli
from attendseg_ros.modelfiles.checkpoint import read_info


def test_export_and_compare(tiny_camvid: Path, random_model: dict[str, Path], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    export_cli.main(["--model", str(random_model["safetensors"]), "--data", str(tiny_camvid), "--out", str(out),
                     "--calib-count", "4", "--input-size", "64", "96", "--name", "tiny", "--evaluate", "val"])
    printed = capsys.readouterr().out
    assert "int8 onnx" in printed and "fp32 torch" in printed
    result = json.loads((out / "export.json").read_text())
    assert result["input_size"] == [64, 96] and result["calibration_frames"] == 4
    assert read_info(out / "tiny.int8.onnx").input_size == (64, 96)
    assert result["size_bytes"]["int8_onnx"] < result["size_bytes"]["fp32_onnx"] / 2
    rows = {row["model"]: row for row in result["comparison"]["rows"]}
    # the two FP32 paths compute the same network
    assert rows["fp32 torch"]["pixel_accuracy"] == pytest.approx(rows["fp32 onnx"]["pixel_accuracy"], abs=1e-3)


def test_unreadable_model_is_a_clear_error(tiny_camvid: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nope")
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", str(bad), "--data", str(tiny_camvid), "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 1 and "bad" in capsys.readouterr().err


def test_weight_bits_option(tiny_camvid: Path, random_model: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "w8"
    export_cli.main(["--model", str(random_model["safetensors"]), "--data", str(tiny_camvid), "--out", str(out),
                     "--calib-count", "2", "--input-size", "64", "96", "--weight-bits", "8"])
    result = json.loads((out / "export.json").read_text())
    assert result["int8_weights"] == "int8 symmetric, per output channel"
    with pytest.raises(SystemExit):
        export_cli.main(["--model", "m", "--data", "d", "--out", "o", "--weight-bits", "6"])
