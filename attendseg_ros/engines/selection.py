"""Pick the fastest installed CPU engine for one model by a short measurement (``backend: auto``).

Every candidate engine (onnxruntime, openvino) loads the same model file and runs the network
on the same preprocessed frame: a few warm-up runs, then ``trials`` rounds, each engine timed
``runs_per_trial`` times per round (median kept), the engines' order alternating from round to
round so that a slow spell of the machine does not land on one engine only.

Consistent winner: an engine whose median is at least ``margin`` (default 5 %) below every
other engine's in EVERY round. Anything less (engines within noise, or rounds disagreeing, as on
a busy machine) keeps :data:`FALLBACK` (onnxruntime). An engine that is not installed or fails
to load the model is left out, with the reason in :attr:`CpuBackendChoice.reason`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .base import EngineError

log = logging.getLogger(__name__)

CPU_BACKENDS = ("onnxruntime", "openvino")
FALLBACK = "onnxruntime"


class CpuBackendChoice(NamedTuple):
    """What :func:`choose_cpu_backend` chose and why.

    ``timings_ms``: per measured engine, its median network time (ms) in each round.
    """

    backend: str
    timings_ms: dict[str, list[float]]
    reason: str


def consistent_winner(timings_ms: Mapping[str, Sequence[float]], margin: float = 0.05) -> str | None:
    """The engine at least ``margin`` faster than every other in every round, else ``None``.

    ``timings_ms``: per engine, one time per round (all engines the same number of rounds).
    A single engine wins by default; no engines or no rounds give ``None``.
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    names = list(timings_ms)
    rounds = {len(times) for times in timings_ms.values()}
    if len(rounds) > 1:
        raise ValueError(f"every engine needs the same number of rounds, got {dict(timings_ms)}")
    if not names or rounds == {0}:
        return None
    if len(names) == 1:
        return names[0]
    for name in names:
        mine = timings_ms[name]
        if all(
            mine[r] <= (1 - margin) * timings_ms[other][r]
            for other in names
            if other != name
            for r in range(len(mine))
        ):
            return name
    return None


def choose_cpu_backend(
    model: str | Path | None = None,
    threads: int = 0,
    trials: int = 3,
    runs_per_trial: int = 5,
    warmup: int = 3,
    margin: float = 0.05,
    candidates: Sequence[str] = CPU_BACKENDS,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> CpuBackendChoice:
    """Measure the installed ``candidates`` on ``model`` and return the consistent winner.

    ``model``: an ``.onnx`` file both engines read (``None``: the embedded INT8 model);
    ``threads``: CPU threads for every engine; ``options``: per backend, options for
    :func:`create_segmenter`. Costs about ``(warmup + trials * runs_per_trial)`` network runs per
    engine plus each engine's load time. Raises :class:`EngineError` when no candidate loads.
    """
    from . import create_segmenter, default_model_path

    if trials < 1 or runs_per_trial < 1 or warmup < 0:
        raise ValueError(f"need trials >= 1, runs_per_trial >= 1, warmup >= 0 (got {trials}, {runs_per_trial}, "
                         f"{warmup})")
    unknown = sorted(set(candidates) - set(CPU_BACKENDS))
    if unknown:
        raise ValueError(f"not CPU engines: {unknown}; choose among {list(CPU_BACKENDS)}")
    path = Path(model) if model is not None else default_model_path("onnx")
    segmenters, skipped = {}, []
    try:
        for name in candidates:
            try:
                segmenters[name] = create_segmenter(name, path, threads=threads, **dict((options or {}).get(name, {})))
            except EngineError as exc:
                skipped.append(f"{name} left out: {exc}")
                log.info("auto backend: %s left out: %s", name, exc)
        if not segmenters:
            raise EngineError(f"no CPU engine could load {path}: {'; '.join(skipped)}")
        timings = _measure(segmenters, trials, runs_per_trial, warmup)
    finally:
        for segmenter in segmenters.values():
            segmenter.close()
    winner = consistent_winner(timings, margin)
    medians = ", ".join(f"{name} {np.median(times):.1f} ms" for name, times in timings.items())
    if winner is None:
        backend = FALLBACK if FALLBACK in timings else next(iter(timings))
        reason = f"no engine was {margin:.0%} faster in all {trials} rounds ({medians}): keeping {backend}"
    elif len(timings) == 1:
        backend, reason = winner, f"only {winner} could be measured ({medians})"
    else:
        backend = winner
        reason = f"{winner} was at least {margin:.0%} faster in all {trials} rounds ({medians})"
    if skipped:
        reason += "; " + "; ".join(skipped)
    log.info("auto backend: %s", reason)
    return CpuBackendChoice(backend, timings, reason)


def _measure(segmenters: Mapping[str, Any], trials: int, runs_per_trial: int, warmup: int) -> dict[str, list[float]]:
    """Per engine, the median ``run`` time (ms) in each round; engines alternate their order."""
    from ..data.transforms import preprocess

    first = next(iter(segmenters.values()))
    frame = np.random.default_rng(0).integers(0, 256, (*first.input_size, 3), dtype=np.uint8)
    batch = preprocess(frame, first.input_size, first.info.normalization)
    for segmenter in segmenters.values():
        for _ in range(warmup):
            segmenter.run(batch)
    timings: dict[str, list[float]] = {name: [] for name in segmenters}
    order = list(segmenters)
    for trial in range(trials):
        for name in order if trial % 2 == 0 else reversed(order):
            times = []
            for _ in range(runs_per_trial):
                start = time.perf_counter()
                segmenters[name].run(batch)
                times.append(time.perf_counter() - start)
            timings[name].append(float(np.median(times)) * 1e3)
    return timings
