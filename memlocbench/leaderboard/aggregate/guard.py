"""The memorisation guard on method results: results of models that did not memorise count for nothing;
nor do results whose re-run by `memlocbench verify` lay outside the standard tolerance."""

from __future__ import annotations

import dataclasses

from memlocbench.leaderboard.collect import Collected, Entry
from memlocbench.results.run_result import Result


def memorised(r: Result) -> bool:
    """The memorisation guard: results of models that did not memorise are left out of every
    mean, ranking and correlation (a result without statistics counts)."""
    return r.memorisation_guard is None or r.memorisation_guard.memorised


def excluded(entries: list[Entry]) -> list[Entry]:
    """The entries the guard leaves out."""
    return [e for e in entries if not memorised(e.result)]


def failed_verification(entries: list[Entry]) -> list[Entry]:
    """The entries whose re-run by `memlocbench verify` lies outside the standard tolerance."""
    return [e for e in entries if e.verified is False]


def reproduced(collected: Collected) -> Collected:
    """``collected`` without the results (method and analysis) whose re-run by `memlocbench verify` lies
    outside the standard tolerance: like those the guard leaves out, they enter no mean, ranking,
    correlation or figure (All results lists them, marked FAILED)."""
    return dataclasses.replace(collected, entries=[e for e in collected.entries if e.verified is not False],
                               analyses=[a for a in collected.analyses if a.verified is not False])
