"""attendseg-bench: the documented result keys, compare ratios, batch sweep, CLI JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attendseg_ros.cli.bench import benchmark, compare, format_table, main, parse_spec, run, sweep

DOCUMENTED_KEYS = {
    "latency_ms_p50", "latency_ms_p99", "fps", "peak_rss_mb", "backend", "precision", "height", "width", "batch",
    "preprocess_ms_p50", "network_ms_p50", "resize_to_input_ms_p50",
}


def test_benchmark_returns_the_documented_keys(random_model: dict[str, Path]) -> None:
    result = benchmark("onnxruntime", model=random_model["onnx_int8"], height=100, width=150, batch=2,
                       iters=3, warmup=1, threads=1)
    assert set(result) >= DOCUMENTED_KEYS
    assert (result["backend"], result["precision"], result["height"], result["width"], result["batch"]) == (
        "onnxruntime", "int8", 100, 150, 2)
    assert (result["input_height"], result["input_width"]) == (96, 128)
    assert 0 < result["latency_ms_p50"] <= result["latency_ms_p99"]
    assert result["fps"] > 0 and result["peak_rss_mb"] > 10
    stages = result["preprocess_ms_p50"] + result["network_ms_p50"] + result["resize_to_input_ms_p50"]
    assert stages == pytest.approx(result["latency_ms_p50"], rel=0.5)
    json.dumps(result)  # JSON-serialisable


def test_model_resolution_skips_the_resize(random_model: dict[str, Path]) -> None:
    result = benchmark("torch", model=random_model["safetensors"], height=96, width=128, iters=2, warmup=0,
                       resolution="model")
    assert result["resize_to_input_ms_p50"] < 0.5


def test_parse_spec() -> None:
    assert parse_spec("onnxruntime:int8") == ("onnxruntime", "int8", None)
    assert parse_spec("torch") == ("torch", None, None)
    assert parse_spec("torch:fp32@m.safetensors") == ("torch", "fp32", "m.safetensors")


def test_compare_gives_ratios_against_the_first(random_model: dict[str, Path]) -> None:
    specs = [f"torch:fp32@{random_model['safetensors']}", f"onnxruntime:int8@{random_model['onnx_int8']}"]
    result = compare(specs, height=96, width=128, iters=2, warmup=1, threads=1)
    first, second = result["runs"]
    assert result["baseline"] == specs[0]
    assert first["speedup_vs_first"] == 1.0
    assert second["speedup_vs_first"] == pytest.approx(first["latency_ms_p50"] / second["latency_ms_p50"])
    table = format_table(result["runs"])
    assert "speedup" in table and specs[1] in table


def test_batch_sweep(random_model: dict[str, Path]) -> None:
    result = sweep([1, 3], backend="onnxruntime", model=random_model["onnx_int8"], height=96, width=128,
                   iters=1, warmup=0)
    assert [r["batch"] for r in result["runs"]] == [1, 3]


def test_cli_writes_json(random_model: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    result = run(["--backend", "onnxruntime", "--model", str(random_model["onnx_int8"]), "--height", "96",
                  "--width", "128", "--iters", "2", "--warmup", "0", "--threads", "1", "--json", str(out),
                  "--option", "spin=false"])
    assert json.loads(out.read_text()) == result
    assert set(result) >= DOCUMENTED_KEYS
    assert "p50 ms" in capsys.readouterr().out


def test_cli_rejects_bad_options() -> None:
    with pytest.raises(SystemExit):
        run(["--option", "no-equals-sign"])
    with pytest.raises(ValueError, match="iters >= 1"):
        benchmark(iters=0)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--backend", "tensorrt"], "torch2trt"),
        (["--backend", "tensorrt", "--device", "cpu"], "runs on cuda only"),
        (["--device", "cuda"], "CUDAExecutionProvider"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_a_backend_that_cannot_run_here_is_one_line(args: list[str], reason: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    """It printed two tracebacks instead."""
    import onnxruntime

    if "cuda" in args and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has CUDA for onnxruntime")
    if "tensorrt" in args and "--device" not in args:
        try:
            import torch2trt  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("torch2trt is installed here")
    assert main([*args, "--iters", "1", "--warmup", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attendseg-bench: error: ") and reason in err[0], err
