"""Pick the fastest installed CPU engine for one model by a short measurement (``backend: auto``).

Every candidate engine (:data:`attendseg_ros.registry.AUTO_CANDIDATES`: onnxruntime, openvino)
loads the same model file and runs the network on the same preprocessed frame: a few warm-up runs,
then ``trials`` rounds, each engine timed ``runs_per_trial`` times per round (median kept), the
engines' order alternating from round to round so that a slow spell of the machine does not land
on one engine only. ``budget_s`` bounds the warm-up and the rounds together: fewer runs per round
when the warm-up shows that the engines are slow here (at least one run per round, so a very slow
or busy CPU takes longer).

Consistent winner: an engine whose median is at least ``margin`` (default 5 %) below every
other engine's in EVERY round. Anything less (engines within noise, or rounds disagreeing, as on
a busy machine) keeps :data:`FALLBACK` (onnxruntime). An engine that is not installed or fails
to load the model is left out, with the reason in :attr:`CpuBackendChoice.reason`.
:func:`select_cpu_segmenter` keeps the chosen engine loaded (what ``create_segmenter("auto")``
returns, the choice in its ``selection``); :func:`choose_cpu_backend` only reports the choice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..registry import AUTO_CANDIDATES, DEFAULT_BACKEND
from .base import EngineError, Segmenter

log = logging.getLogger(__name__)

FALLBACK = DEFAULT_BACKEND
BUDGET_S = 2.0  # warm-up and timed rounds of backend: auto, all engines together (loading comes on top)


class CpuBackendChoice(NamedTuple):
    """What :func:`choose_cpu_backend` chose and why.

    ``timings_ms``: per measured engine, its median network time (ms) in each round;
    ``runs_per_trial``: the runs per engine and round actually timed (``budget_s`` may lower it);
    ``seconds``: the whole selection, loading the engines included.
    """

    backend: str
    timings_ms: dict[str, list[float]]
    reason: str
    runs_per_trial: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: each engine's per-round medians, e.g. ``onnxruntime 15.2/15.0/15.4 ms, openvino ...``."""
        return ", ".join(f"{name} {'/'.join(f'{t:.1f}' for t in times)} ms" for name, times in self.timings_ms.items())


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


def choose_cpu_backend(model: str | Path | None = None, threads: int = 0, **settings: Any) -> CpuBackendChoice:
    """Measure the installed candidate engines on ``model`` and return the consistent winner (nothing stays loaded).

    ``settings``: those of :func:`select_cpu_segmenter` (``trials``, ``runs_per_trial``, ``warmup``,
    ``margin``, ``candidates``, ``options``, ``precision``, ``budget_s``), except that ``budget_s``
    defaults to ``None`` here (no bound: every round gets ``runs_per_trial`` runs).
    """
    settings.setdefault("budget_s", None)
    segmenter, choice = select_cpu_segmenter(model, threads=threads, **settings)
    segmenter.close()
    return choice


def select_cpu_segmenter(
    model: str | Path | None = None,
    precision: str | None = None,
    threads: int = 0,
    trials: int = 3,
    runs_per_trial: int = 5,
    warmup: int = 3,
    margin: float = 0.05,
    candidates: Sequence[str] = AUTO_CANDIDATES,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    budget_s: float | None = BUDGET_S,
) -> tuple[Segmenter, CpuBackendChoice]:
    """Measure the installed ``candidates`` on ``model``; the consistent winner, loaded: ``(segmenter, choice)``.

    ``model``: a file every candidate reads (``None``: the embedded INT8 model, or the FP32 weights
    for ``precision="fp32"``); ``threads``: CPU threads for every engine; ``options``: per backend,
    options for :func:`create_segmenter`; ``budget_s``: seconds the warm-up and rounds may take
    (``None``: no bound). Costs about ``(warmup + trials * runs_per_trial)`` network runs per engine
    plus each engine's load time. The other engines are closed; ``segmenter.selection`` is the
    choice. An option an engine does not take is an :class:`EngineError`, not a reason to leave the
    engine out; :class:`EngineError` too when no candidate loads.
    """
    from . import backend_module, create_segmenter, resolve_model

    if trials < 1 or runs_per_trial < 1 or warmup < 0:
        raise ValueError(f"need trials >= 1, runs_per_trial >= 1, warmup >= 0 (got {trials}, {runs_per_trial}, "
                         f"{warmup})")
    if budget_s is not None and budget_s <= 0:
        raise ValueError(f"budget_s must be > 0 (None: no bound), got {budget_s}")
    unknown = sorted(set(candidates) - set(AUTO_CANDIDATES))
    if unknown:
        raise ValueError(f"not CPU engines: {unknown}; choose among {list(AUTO_CANDIDATES)}")
    started = time.perf_counter()
    path = resolve_model(FALLBACK, model, precision)
    segmenters: dict[str, Segmenter] = {}
    skipped: list[str] = []
    try:
        for name in candidates:
            settings = dict((options or {}).get(name, {}))
            try:
                module = backend_module(name)
            except EngineError as exc:  # not installed
                skipped.append(f"{name} left out: {exc}")
                continue
            unknown_options = sorted(set(settings) - set(module.OPTIONS))
            if unknown_options:
                raise EngineError(f"unknown {name} option(s) {unknown_options} for backend auto; {name} takes "
                                  f"{sorted(module.OPTIONS)} (prefix an option with its backend, e.g. "
                                  f"onnxruntime.spin=false, to give it to that backend only)")
            try:
                segmenters[name] = create_segmenter(name, path, precision, threads=threads, **settings)
            except EngineError as exc:
                skipped.append(f"{name} left out: {exc}")
        for reason in skipped:
            log.info("auto backend: %s", reason)
        if not segmenters:
            raise EngineError(f"no CPU engine could load {path}: {'; '.join(skipped)}")
        timings, runs = _measure(segmenters, trials, runs_per_trial, warmup, budget_s)
        backend, reason = _decide(timings, trials, margin)
        chosen = segmenters.pop(backend)
    finally:
        for segmenter in segmenters.values():
            segmenter.close()
    if skipped:
        reason += "; " + "; ".join(skipped)
    choice = CpuBackendChoice(backend, timings, reason, runs, time.perf_counter() - started)
    chosen.selection = choice
    log.info("auto backend: %s (%s; %d run(s) per round, %.1f s)", reason, choice.summary(), runs, choice.seconds)
    return chosen, choice


def _decide(timings: dict[str, list[float]], trials: int, margin: float) -> tuple[str, str]:
    """The backend to use and why, from the per-round medians."""
    winner = consistent_winner(timings, margin)
    medians = ", ".join(f"{name} {np.median(times):.1f} ms" for name, times in timings.items())
    if winner is None:
        backend = FALLBACK if FALLBACK in timings else next(iter(timings))
        return backend, f"no engine was {margin:.0%} faster in all {trials} rounds ({medians}): keeping {backend}"
    if len(timings) == 1:
        return winner, f"only {winner} could be measured ({medians})"
    return winner, f"{winner} was at least {margin:.0%} faster in all {trials} rounds ({medians})"


def _measure(segmenters: Mapping[str, Segmenter], trials: int, runs_per_trial: int, warmup: int,
             budget_s: float | None) -> tuple[dict[str, list[float]], int]:
    """Per engine, the median ``run`` time (ms) in each round (engines alternate their order); and the runs per
    round, lowered from ``runs_per_trial`` so that warm-up and rounds fit ``budget_s`` at the warm-up's pace."""
    from ..data.preprocessing import preprocess

    first = next(iter(segmenters.values()))
    frame = np.random.default_rng(0).integers(0, 256, (*first.input_size, 3), dtype=np.uint8)
    batch = preprocess(frame, first.input_size, first.info.normalization)
    started = time.perf_counter()
    pace = 0.0  # seconds of one run of every engine (one more warm-up run each, timed)
    for segmenter in segmenters.values():
        for _ in range(warmup):
            segmenter.run(batch)
        if budget_s is not None:
            start = time.perf_counter()
            segmenter.run(batch)
            pace += time.perf_counter() - start
    if budget_s is not None:  # what the warm-up left of the budget, at the warm-up's pace
        left = budget_s - (time.perf_counter() - started)
        runs_per_trial = max(1, min(runs_per_trial, int(left / (trials * pace))))
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
    return timings, runs_per_trial
