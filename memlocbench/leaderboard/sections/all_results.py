"""The "All results" section: a link to ``results.csv`` (one row per result file, ``results_csv``) and a
short count of what it holds, per model and setup."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.guard import memorised
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.markdown import md_escape, table
from memlocbench.results.run_result import Result

INTRO = ("Every result file read, the ones left out of the tables included, is one row of [results.csv](results.csv): "
         "task, model, method or analysis, setup (track and placement), model seed, sizes, M-CoG and the per-layer "
         "profile, the noisy fits and the memorisation guard, the control scores, an analysis' summary, the "
         "verified mark, the submission and the file's path. In short:")
HEADERS = ["model", "setup", "result files", "tasks", "methods or analyses", "left out by the guard",
           "failed verification"]


def _setup(r: Result) -> str:
    return "standard" if r.control is None else f"control: {r.control.track}"


def section(collected: Collected) -> list[str]:
    """The link and one row per (model, setup) and per (model, analysis)."""
    md = ["## All results", ""]
    if not collected.entries and not collected.analyses:
        return md + ["_No results yet._", ""]
    groups: dict[tuple[str, str], list] = {}
    for e in collected.entries:
        groups.setdefault((e.result.model.name, _setup(e.result)), []).append(e)
    for a in collected.analyses:
        groups.setdefault((a.result.model.name, "analyses"), []).append(a)
    rows = []
    for (model, setup), mine in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == "analyses", kv[0][1])):
        analyses = setup == "analyses"
        names = {x.result.analysis.name if analyses else x.result.method.name for x in mine}
        left = sum(not (x.result.memorised if analyses else memorised(x.result)) for x in mine)
        rows.append([md_escape(model), md_escape(setup), len(mine), len({x.result.task.name for x in mine}),
                     len(names), left, sum(x.verified is False for x in mine)])
    return md + [INTRO, "", table(rows, HEADERS), ""]
