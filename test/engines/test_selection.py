"""choose_cpu_backend: the consistency rule, and real measurements of the installed engines.

No timing assertions: which engine is faster depends on the CPU. The tests check that the
choice follows the rule from the timings it returns, and every fallback.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from attendseg_ros.engines import CpuBackendChoice, EngineError, choose_cpu_backend, create_segmenter
from attendseg_ros.engines.selection import FALLBACK, consistent_winner

INSTALLED = {"onnxruntime"} | ({"openvino"} if importlib.util.find_spec("openvino") else set())


def test_a_winner_must_be_faster_by_the_margin_in_every_round() -> None:
    assert consistent_winner({"a": [10, 11, 10], "b": [12, 12, 13]}, margin=0.05) == "a"
    assert consistent_winner({"a": [12, 12, 13], "b": [10, 11, 10]}, margin=0.05) == "b"
    # one round the other way round: no consistent winner
    assert consistent_winner({"a": [10, 13, 10], "b": [12, 12, 13]}, margin=0.05) is None
    # faster in every round, but within the margin (noise)
    assert consistent_winner({"a": [10.0, 10.0], "b": [10.3, 10.2]}, margin=0.05) is None
    assert consistent_winner({"a": [10.0, 10.0], "b": [10.3, 10.2]}, margin=0.0) == "a"
    assert consistent_winner({"a": [10.0], "b": [12.0], "c": [9.0]}, margin=0.05) == "c"


def test_winner_edge_cases() -> None:
    assert consistent_winner({"only": [5.0]}) == "only"
    assert consistent_winner({}) is None
    assert consistent_winner({"a": [], "b": []}) is None
    with pytest.raises(ValueError, match="same number of rounds"):
        consistent_winner({"a": [1.0, 2.0], "b": [1.0]})
    with pytest.raises(ValueError, match=r"margin must be in \[0, 1\)"):
        consistent_winner({"a": [1.0]}, margin=1.0)


def test_measures_every_installed_engine_and_follows_the_rule(random_model: dict[str, Path]) -> None:
    choice = choose_cpu_backend(random_model["onnx_int8"], threads=1, trials=3, runs_per_trial=2, warmup=1)
    assert isinstance(choice, CpuBackendChoice)
    assert set(choice.timings_ms) == INSTALLED
    assert all(len(times) == 3 and min(times) > 0 for times in choice.timings_ms.values())
    expected = consistent_winner(choice.timings_ms, 0.05) or FALLBACK
    assert choice.backend == expected
    assert choice.backend in choice.reason


def test_no_consistent_winner_keeps_onnxruntime(random_model: dict[str, Path]) -> None:
    """A margin no engine can meet (99 %) leaves the default."""
    choice = choose_cpu_backend(random_model["onnx_int8"], threads=1, trials=2, runs_per_trial=1, warmup=0,
                                margin=0.99)
    assert choice.backend == "onnxruntime"
    if "openvino" in INSTALLED:
        assert "no engine was 99% faster in all 2 rounds" in choice.reason
    else:
        assert "only onnxruntime could be measured" in choice.reason


def test_an_engine_that_cannot_load_is_left_out(random_model: dict[str, Path]) -> None:
    choice = choose_cpu_backend(random_model["onnx_int8"], threads=1, trials=1, runs_per_trial=1, warmup=0,
                                options={"openvino": {"hint": "no-such-hint"}})
    assert (choice.backend, set(choice.timings_ms)) == ("onnxruntime", {"onnxruntime"})
    assert "openvino left out" in choice.reason
    with pytest.raises(EngineError, match="no CPU engine could load"):
        choose_cpu_backend(random_model["onnx_int8"], candidates=["openvino"], options={"openvino": {"hint": "x"}})


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"not CPU engines: \['torch'\]"):
        choose_cpu_backend(candidates=["onnxruntime", "torch"])
    with pytest.raises(ValueError, match="trials >= 1"):
        choose_cpu_backend(trials=0)


def test_auto_keeps_the_chosen_engine_loaded(random_model: dict[str, Path]) -> None:
    """create_segmenter("auto") is the chosen engine itself, with the measurement that chose it."""
    segmenter = create_segmenter("auto", random_model["onnx_int8"], threads=1)
    try:
        choice = segmenter.selection
        assert choice is not None and segmenter.backend == choice.backend
        assert set(choice.timings_ms) == INSTALLED and choice.runs_per_trial >= 1 and choice.seconds > 0
        assert choice.backend == (consistent_winner(choice.timings_ms, 0.05) or FALLBACK)
        for name, times in choice.timings_ms.items():
            assert choice.summary().count(name) == 1 and len(times) == 3
        result = segmenter.segment([np.zeros((60, 80, 3), np.uint8)], resolution="input")[0]
        assert result.labels.shape == (60, 80)
    finally:
        segmenter.close()
    assert create_segmenter("onnxruntime", random_model["onnx_int8"], threads=1).selection is None


def test_the_budget_lowers_the_runs_per_round(random_model: dict[str, Path]) -> None:
    choice = choose_cpu_backend(random_model["onnx_int8"], threads=1, trials=2, runs_per_trial=1000, warmup=0,
                                budget_s=0.05)
    assert 1 <= choice.runs_per_trial < 1000
    unbounded = choose_cpu_backend(random_model["onnx_int8"], threads=1, trials=1, runs_per_trial=2, warmup=0)
    assert unbounded.runs_per_trial == 2
    with pytest.raises(ValueError, match="budget_s must be > 0"):
        choose_cpu_backend(budget_s=0)


def test_auto_options_per_backend(random_model: dict[str, Path]) -> None:
    """backend.key options go to that engine only; a plain key every engine must take."""
    segmenter = create_segmenter("auto", random_model["onnx_int8"], threads=1,
                                 **{"onnxruntime.spin": False, "openvino.hint": "latency"})
    segmenter.close()
    if "openvino" in INSTALLED:
        with pytest.raises(EngineError, match=r"unknown openvino option\(s\) \['spin'\] for backend auto.*"
                                              r"onnxruntime\.spin=false"):
            create_segmenter("auto", random_model["onnx_int8"], threads=1, spin=False)
