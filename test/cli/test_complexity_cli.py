"""attendseg-complexity prints the paper's table and a JSON of this implementation."""

from __future__ import annotations

import json

import pytest

from attendseg_ros.cli import complexity


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    complexity.main(["--height", "128", "--width", "128", "--classes", "32", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"params", "macs", "weight_memory_mb_int8", "weight_memory_mb_fp32"}
    assert isinstance(result["params"], int) and isinstance(result["macs"], int)
    # MACs scale with the pixel count (every op is per-pixel up to boundary effects)
    complexity.main(["--height", "256", "--width", "256", "--classes", "32", "--json"])
    larger = json.loads(capsys.readouterr().out)
    assert larger["params"] == result["params"]
    assert larger["macs"] / result["macs"] == pytest.approx(4.0, rel=0.05)


def test_table_has_paper_rows(capsys: pytest.CaptureFixture[str]) -> None:
    complexity.main(["--height", "128", "--width", "128", "--classes", "11"])
    out = capsys.readouterr().out
    for row in ("RefineNet (paper)", "EdgeSegNet (paper)", "AttendSeg (paper)", "AttendSeg (this package)"):
        assert row in out


def test_bad_size_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        complexity.main(["--height", "10"])
    assert ">= 64" in capsys.readouterr().err
