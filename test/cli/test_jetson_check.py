"""attendseg-jetson-check where there is no TensorRT or GPU (here): a clear message, no report, exit status 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from attendseg_ros.cli import jetson_check


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_without_tensorrt_it_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    assert jetson_check.main(["--json", str(report)]) == 2
    error = capsys.readouterr().err
    assert "attendseg-jetson-check: cannot run TensorRT here" in error and "tensorrt is not installed" in error
    assert not report.exists()


def test_jetpack_versions_are_none_off_a_jetson() -> None:
    if Path("/etc/nv_tegra_release").exists():
        pytest.skip("this is a Jetson")
    info = jetson_check.jetson_versions()
    assert info["l4t"] is None and info["machine"]


def test_bad_arguments_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        jetson_check.main(["--max-batch", "0"])
    assert exit_info.value.code == 2 and "argument --max-batch" in capsys.readouterr().err


def test_jetpack_is_read_from_the_l4t_release(tmp_path: Path) -> None:
    if Path("/etc/nv_tegra_release").exists():
        pytest.skip("this is a Jetson: dpkg names the exact JetPack")
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: x\n")
    info = jetson_check.jetson_versions(release)
    assert info["l4t"] == "36.4.3" and info["jetpack"] == "6.x"
