"""attendseg-export: files, the FP32/INT8 side-by-side table, embedding as the default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attendseg_ros.cli import export as export_cli
from attendseg_ros.modelfiles.checkpoint import read_info
from attendseg_ros.modelfiles.tensorrt_rules import check_file


def test_export_and_compare(tiny_camvid: Path, random_model: dict[str, Path], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    export_cli.main(["--model", str(random_model["safetensors"]), "--data", str(tiny_camvid), "--out", str(out),
                     "--calib-count", "4", "--input-size", "64", "96", "--name", "tiny", "--evaluate", "val"])
    printed = capsys.readouterr().out
    assert "int8 cpu" in printed and "int8 tensorrt" in printed and "fp32 torch" in printed
    result = json.loads((out / "export.json").read_text())
    assert result["input_size"] == [64, 96] and result["calibration_frames"] == 4
    assert read_info(out / "tiny.int8.onnx").input_size == (64, 96)
    assert read_info(out / "tiny.int8.tensorrt.onnx").input_size == (64, 96)
    assert check_file(out / "tiny.int8.tensorrt.onnx") == []  # both layouts by default; TensorRT's is checked
    assert json.loads((out / "tiny.int8.tensorrt.calibration.json").read_text())["layout"] == "tensorrt"
    assert result["size_bytes"]["int8_onnx"] < result["size_bytes"]["fp32_onnx"] / 2
    assert not list(tmp_path.glob(".export.partial-*")), "the staging folder is removed"
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
                     "--calib-count", "2", "--input-size", "64", "96", "--weight-bits", "8", "--layouts", "cpu"])
    result = json.loads((out / "export.json").read_text())
    assert result["int8_weights"] == {"cpu": "int8 symmetric, per output channel"}
    assert not list(out.glob("*.int8.tensorrt.onnx"))
    with pytest.raises(SystemExit):
        export_cli.main(["--model", "m", "--data", "d", "--out", "o", "--weight-bits", "6"])


@pytest.mark.parametrize(("args", "named"), [
    (["--calib-count", "0"], "argument --calib-count: expected an integer of at least 1, got '0'"),
    (["--input-size", "0", "96"], "argument --input-size"),
    (["--layouts", "gpu"], "argument --layouts: invalid choice"),
])
def test_bad_arguments_are_named_by_argparse(args: list[str], named: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", "m.safetensors", "--data", "d", "--out", str(tmp_path / "o"), *args])
    assert exit_info.value.code == 2 and named in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_out_pointing_at_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "results.txt"
    plain.write_text("keep me")
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", "m.safetensors", "--data", "d", "--out", str(plain)])
    assert exit_info.value.code == 2
    assert f"argument --out: {plain} is a file" in capsys.readouterr().err
    assert plain.read_text() == "keep me"


def test_bad_calibration_data_is_refused_before_writing(random_model: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", str(random_model["safetensors"]), "--data", str(tmp_path / "no_camvid"),
                         "--out", str(out)])
    assert exit_info.value.code == 1 and "no_camvid" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [], "nothing written, not even the output folder"


def test_a_failed_export_leaves_no_half_written_folder(random_model: dict[str, Path], tiny_camvid: Path,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At 32x32 the FP32 export succeeds and calibration then fails (no usable activation range)."""
    out = tmp_path / "export"
    with pytest.raises(SystemExit) as exit_info:
        export_cli.main(["--model", str(random_model["safetensors"]), "--data", str(tiny_camvid), "--out", str(out),
                         "--calib-count", "2", "--input-size", "32", "32"])
    assert exit_info.value.code == 1 and "attendseg-export: error: " in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [], "neither the output folder nor the staging folder (with its FP32 file)"
