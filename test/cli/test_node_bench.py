"""The node benchmark runs end to end (few frames, random model); its numbers are not checked here."""

from __future__ import annotations

import math
from pathlib import Path

from attendseg_ros.cli.node_bench import run_bench
from attendseg_ros.pipeline import OUTPUTS


def test_node_bench_reports_overhead_and_latency(random_model: dict[str, Path], tmp_path: Path) -> None:
    result = run_bench(str(random_model["onnx_fp32"]), frames=3, repeats=2, options=("spin=false",),
                       log_dir=tmp_path)
    assert result["model"] == "random" and result["resolution"] == "640x480 bgr8"
    outputs = [f"output_{name}" for name in OUTPUTS]
    for stage in ("network", "segment_call", "conversion_bgr8", *outputs, "build_messages", "pipeline_all_outputs"):
        assert result["stages_ms"][stage]["p50"] > 0
    assert math.isfinite(result["overhead_ms"]["node_measured"])
    latency = result["end_to_end"]["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"]
    assert set(result["aims"]) == {"overhead_le_10pct", "latency_le_network_plus_10ms"}
