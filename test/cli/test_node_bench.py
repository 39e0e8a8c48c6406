"""The node benchmark runs end to end (few frames, random model); its numbers are not checked here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from attendseg_ros.cli.node_bench import DEFAULT_OUTPUTS, format_report, run_bench


def test_node_bench_reports_overhead_and_latency(random_model: dict[str, Path], tmp_path: Path) -> None:
    result = run_bench(str(random_model["onnx_fp32"]), frames=3, repeats=2, options=("spin=false",),
                       log_dir=tmp_path)
    assert result["model"] == "random" and result["resolution"] == "640x480 bgr8"
    outputs = [f"output_{name}" for name in DEFAULT_OUTPUTS]
    steps = ("conversion", "preprocess", "network", *outputs, "messages")
    assert list(result["stages_ms"]) == list(result["steps_pct_of_network"]) == list(steps)
    for step in steps:
        assert result["stages_ms"][step]["p50"] > 0
        pct = result["steps_pct_of_network"][step]
        assert pct == pytest.approx(100 * result["stages_ms"][step]["p50"] / result["network_ms"])
    assert result["pipeline"]["overhead_ms"] > 0 and result["pipeline"]["overhead_pct_of_network"] > 0
    assert math.isfinite(result["node"]["overhead_ms"]) and math.isfinite(result["node"]["segment_ms"])
    assert "load average" in format_report(result) and "% of the network" in format_report(result)
    assert "avx2" in result["cpu"]
    latency = result["end_to_end"]["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"]
    assert set(result["aims"]) == {"overhead_le_10pct", "latency_le_network_plus_10ms"}
