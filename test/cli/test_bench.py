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


def test_cpu_summary_names_the_int8_flags() -> None:
    from attendseg_ros.cli.bench import CPU_FLAGS, cpu_flags, cpu_summary

    flags = cpu_flags()
    assert set(flags) == set(CPU_FLAGS) >= {"avx2", "avx512_vnni", "avx_vnni", "amx_int8"}
    summary = cpu_summary()
    assert summary.startswith("CPU: ")
    assert all(flag in summary for flag in CPU_FLAGS)  # present ones listed, absent ones after "no"
    if Path("/proc/cpuinfo").is_file():
        assert flags == {f: f in Path("/proc/cpuinfo").read_text().split() for f in CPU_FLAGS}


def test_backend_qualified_options() -> None:
    from attendseg_ros.engines import options_for

    options = {"spin": False, "openvino.hint": "throughput", "onnxruntime.optimization": "basic"}
    assert options_for("openvino", options) == {"spin": False, "hint": "throughput"}
    assert options_for("onnxruntime", options) == {"spin": False, "optimization": "basic"}
    assert options_for("torch", None) == {}


def test_agreement_between_specs(random_model: dict[str, Path], camvid_dir: Path) -> None:
    from attendseg_ros.cli.bench import agreement, format_agreement

    int8, fp32 = random_model["onnx_int8"], random_model["onnx_fp32"]
    result = agreement([f"onnxruntime:int8@{int8}", f"onnxruntime@{int8}", f"onnxruntime:fp32@{fp32}"],
                       camvid_dir, frames=3, threads=1)
    assert (result["frames"], result["split"], result["input_size"]) == (3, "val", [96, 128])
    reference, same_file, other = result["runs"]
    assert reference["label_agreement"] == same_file["label_agreement"] == 1.0  # the same model, the same engine
    assert same_file["confidence_within_1"] == 1.0
    assert other["precision"] == "fp32" and 0 < other["label_agreement"] < 1  # random weights: INT8 changes labels
    assert other["min_frame_agreement"] <= other["label_agreement"]
    table = format_agreement(result)
    assert "(reference)" in table and f"{100 * other['label_agreement']:.2f} %" in table
    with pytest.raises(ValueError, match="at least two"):
        agreement(["onnxruntime"], camvid_dir)


def test_cli_agreement_needs_data() -> None:
    with pytest.raises(ValueError, match="--agreement needs --data"):
        run(["--agreement", "onnxruntime:int8", "openvino:int8"])
    with pytest.raises(ValueError, match="one of --compare, --batches and --agreement"):
        run(["--agreement", "onnxruntime", "onnxruntime", "--compare", "onnxruntime"])


def test_compare_openvino_beside_onnxruntime(random_model: dict[str, Path], camvid_dir: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    """Both engines, FP32 and INT8, one table with the CPU line; agreement on real frames from the CLI."""
    pytest.importorskip("openvino")
    fp32, int8 = random_model["onnx_fp32"], random_model["onnx_int8"]
    specs = [f"onnxruntime:fp32@{fp32}", f"onnxruntime:int8@{int8}", f"openvino:fp32@{fp32}", f"openvino:int8@{int8}"]
    result = run(["--compare", *specs, "--height", "96", "--width", "128", "--iters", "1", "--warmup", "0",
                  "--threads", "1", "--option", "onnxruntime.spin=false", "--option", "openvino.hint=latency"])
    printed = capsys.readouterr().out
    assert printed.startswith("CPU: ") and "avx512_vnni" in printed
    assert [(r["backend"], r["precision"]) for r in result["runs"]] == [
        ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8")]
    assert result["runs"][2]["system"]["openvino_config"]["PERFORMANCE_HINT"] == "LATENCY"
    assert all(spec in printed for spec in specs)
    result = run(["--agreement", specs[0], specs[2], "--data", str(camvid_dir), "--frames", "2", "--threads", "1"])
    assert result["runs"][1]["label_agreement"] >= 0.999  # FP32 in both engines
    assert "label agreement with" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--backend", "tensorrt"], "tensorrt is not installed"),
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
            import tensorrt  # noqa: F401
        except ImportError:
            pass
        else:
            pytest.skip("TensorRT is installed here")
    assert main([*args, "--iters", "1", "--warmup", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("attendseg-bench: error: ") and reason in err[0], err
