"""Aggregation over model seeds: which seeds are complete, the mean ± sd over them, and the seeds column."""

from __future__ import annotations

import statistics
from typing import Callable

from memlocbench.leaderboard.markdown import mean_sd
from memlocbench.results.run_result import Result


def model_seed(r: Result) -> int:
    """The result's model seed (0 where it has none)."""
    return r.seeds.get("model_seed", 0)


def _unit(r: Result) -> tuple[str, tuple[int, ...]]:
    """What a seed must cover: the task and the control placement (the neuron track has none)."""
    return r.task.name, tuple(getattr(r.control, "placement", None) or ())


def complete_seeds(rs: list[Result]) -> tuple[list[int], list[int]]:
    """The model seeds of ``rs`` that cover every (task, placement) of ``rs``, and the others.

    Each seed's value is the mean over its results, so seeds are comparable only over the same tasks and
    placements: a seed that lacks some (a grid still running) would mix task differences into the spread
    over seeds and give its tasks more weight in the mean. Such a seed is left out of the means."""
    units = {_unit(r) for r in rs}
    covered: dict[int, set] = {}
    for r in rs:
        covered.setdefault(model_seed(r), set()).add(_unit(r))
    complete = sorted(s for s, u in covered.items() if u == units)
    return complete, sorted(set(covered) - set(complete))


def over_seeds(rs: list[Result], value: Callable[[Result], float], digits: int = 2) -> str:
    """mean ± sd of ``value`` over the complete model seeds (each seed's value: the mean over its
    results). When no seed covers every task and placement: the mean over all results, with no ±."""
    complete, _ = complete_seeds(rs)
    if not complete:
        return f"{statistics.fmean(value(r) for r in rs):.{digits}f}"
    return mean_sd([statistics.fmean(value(r) for r in rs if model_seed(r) == s) for s in complete], digits)


def in_means(rs: list[Result]) -> list[Result]:
    """The results that the means use: those of the complete seeds (all of them when there is none)."""
    complete, _ = complete_seeds(rs)
    return [r for r in rs if model_seed(r) in complete] if complete else rs


def seeds_text(rs: list[Result]) -> str:
    """The seeds column: the seeds in the means, and why any other is not."""
    complete, left_out = complete_seeds(rs)
    if not complete:
        return ", ".join(map(str, left_out)) + (" (no seed covers every task and placement: pooled, no ±)"
                                                 if len(left_out) > 1 else "")
    return ", ".join(map(str, complete)) + (f" ({', '.join(map(str, left_out))}: incomplete, not in the means)"
                                            if left_out else "")
