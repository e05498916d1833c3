"""The memorisation guard on method results: results of models that did not memorise count for nothing."""

from __future__ import annotations

from memlocbench.leaderboard.collect import Entry
from memlocbench.results.run_result import Result


def memorised(r: Result) -> bool:
    """The memorisation guard: results of models that did not memorise are left out of every
    mean, ranking and correlation (a result without statistics counts)."""
    return r.memorisation_guard is None or r.memorisation_guard.memorised


def excluded(entries: list[Entry]) -> list[Entry]:
    """The entries the guard leaves out."""
    return [e for e in entries if not memorised(e.result)]
