"""The "Submissions" section: each submission, its result count, how much of it was verified, and its
description."""

from __future__ import annotations

from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.markdown import md_escape, table


def verified_text(collected: Collected, name: str) -> str:
    """The verified column of submission ``name``: how many results were re-run, and the outcome."""
    record = collected.verifications.get(name)
    mine = [e.verified for e in collected.entries if e.submission == name and e.verified is not None]
    if record is None or not mine:
        return "no"
    failed = sum(not v for v in mine)
    outcome = "all within tolerance" if not failed else f"{failed} outside tolerance"
    return f"{len(mine)} of {sum(e.submission == name for e in collected.entries)} re-run, {outcome} " \
           f"({md_escape(record.verified_at[:10])})"


def section(collected: Collected) -> list[str]:
    """The table of submissions, sorted by name."""
    md = ["## Submissions", ""]
    if not collected.submissions:
        return md + ["_None yet._", ""]
    rows = [[md_escape(s.name), sum(e.submission == s.name for e in collected.entries),
             verified_text(collected, s.name), md_escape(s.description)]
            for s in sorted(collected.submissions, key=lambda s: s.name)]
    return md + [table(rows, ["submission", "results", "verified", "description"]),
                 "", "*Verified*: results re-run by `memlocbench verify` from their recorded configs and found "
                 "within its tolerance (see CONTRIBUTING.md); a result edited after verification no longer counts.",
                 ""]
