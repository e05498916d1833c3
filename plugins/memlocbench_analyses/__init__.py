"""memlocbench's built-in analyses (the paper's second question). Each module is its own entry point (plugin)."""

from __future__ import annotations

import difflib
import math
import statistics
from typing import Any, Iterable


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


def at_least(p: dict, key: str, low: float, what: str = "") -> list[str]:
    """A problem if parameter ``key`` is below ``low`` (a finite number: ``ctx.params`` checks the type)."""
    value = p.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= low:
        return []
    return [f"{key} must be >= {low:g}{what}, got {value!r}"]


def unknown_names(names: Any, registered: Iterable[str], kind: str, key: str) -> list[str]:
    """Problems for parameter ``key``: a list of registered ``kind`` names (each named once is enough),
    with the closest registered name suggested for an unknown one."""
    valid = sorted(registered)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return [f"{key} must be a list of {kind} names, got {names!r}"]
    problems = []
    for n in dict.fromkeys(names):
        if n not in valid:
            close = difflib.get_close_matches(n, valid, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{key} names {n!r}, which is no registered {kind}{hint}; registered: "
                            f"{', '.join(valid) or 'none'}")
    return problems
