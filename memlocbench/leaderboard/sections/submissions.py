"""The "Submissions" section: each submission, its result count, how much of it was verified, a link to its
own page (``submission_pages``) and its description."""

from __future__ import annotations

from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.filing import SubmissionMeta
from memlocbench.leaderboard.markdown import md_escape, table
from memlocbench.leaderboard.verification_record import STANDARD

#: the file name of a submission's own page, in its folder beside the page (``submission_pages``)
PAGE = "README.md"
INTRO = ("Who submitted what, and how much of it `memlocbench verify` re-ran; each submission's page holds what the "
         "tables above leave out as the same on every row (machines, software, profiles, compute) and the "
         "submitters' notes.")
NOTE = ("*Verified*: results (method or analysis) whose file, byte for byte (its sha256), `memlocbench verify` "
        "re-ran from its recorded config, task, model and method or analysis, with the re-run's numbers within "
        f"the standard tolerance ({STANDARD.text()}). The page checks this again on every rebuild from the "
        "numbers the re-run recorded, never from the record's own verdict; a result edited after verification, "
        "or one verify could not re-run, does not count as verified (see CONTRIBUTING.md).")


def _marks(collected: Collected, name: str) -> list[bool | None]:
    """The verified mark of each result (method and analysis) of submission ``name``."""
    return ([e.verified for e in collected.entries if e.submission == name]
            + [a.verified for a in collected.analyses if a.submission == name])


def verified_text(collected: Collected, name: str) -> str:
    """The verified column of submission ``name``: how many results were re-run, and the outcome."""
    marks = _marks(collected, name)
    rerun = [m for m in marks if m is not None]
    if not rerun:
        return "no"
    failed = sum(not m for m in rerun)
    outcome = "all within tolerance" if not failed else f"{failed} outside tolerance"
    record = collected.verifications.get(name)
    when = f" ({md_escape(record.verified_at[:10])})" if record is not None else ""
    return f"{len(rerun)} of {len(marks)} re-run, {outcome}{when}"


def _count(collected: Collected, name: str) -> str:
    methods = sum(e.submission == name for e in collected.entries)
    analyses = sum(a.submission == name for a in collected.analyses)
    return f"{methods}" + (f" + {analyses} analyses" if analyses else "")


def _page(collected: Collected, s: SubmissionMeta, submissions_rel: str | None) -> str:
    """The link to the submission's own page (none for a local results folder, or without pages)."""
    if submissions_rel is None or s.name in collected.local:
        return ""
    return f"[page]({submissions_rel}/{s.slug}/{PAGE})"


def section(collected: Collected, submissions_rel: str | None = None) -> list[str]:
    """The table of submissions, sorted by name; ``submissions_rel``: the folder of the submission pages
    relative to the page (None: no links)."""
    md = ["## Submissions", "", INTRO, ""]
    if not collected.submissions:
        return md + ["_None yet._", ""]
    rows = [[md_escape(s.name), _count(collected, s.name), verified_text(collected, s.name),
             _page(collected, s, submissions_rel), md_escape(s.description)]
            for s in sorted(collected.submissions, key=lambda s: s.name)]
    return md + [table(rows, ["submission", "results", "verified", "page", "description"]), "", NOTE, ""]
