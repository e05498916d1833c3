"""memlocbench's built-in analyses (the paper's second question). Each module is its own entry point (plugin)."""

from __future__ import annotations

import statistics
from typing import Iterable


def mean_defined(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are not None (None if there are none): events that never happen
    are left out of averages."""
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def sd_defined(values: Iterable[float | None]) -> float | None:
    """The sample standard deviation of the values that are not None (None with fewer than two): the
    spread over model seeds beside a mean."""
    values = [v for v in values if v is not None]
    return statistics.stdev(values) if len(values) > 1 else None


def summary_mismatches(summary: dict, recomputed: dict, source: str) -> list[str]:
    """Problems where ``summary`` differs from the values ``recomputed`` from ``source``."""
    return [f"summary.{k} is {summary.get(k)}, but the {source} give {v}" for k, v in recomputed.items()
            if (v is None) != (summary.get(k) is None) or (v is not None and abs(v - summary[k]) > 1e-9)]
