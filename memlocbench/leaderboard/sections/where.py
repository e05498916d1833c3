"""Section 2, "Where memorisation lives": per model, M-CoG per task and method over model seeds, the
tasks not run, and the paper's pooling of the seeds."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.markdown import md_escape, table


def not_run(collected: Collected, t: ModelTable, all_tasks: list[str]) -> list[tuple[str, str]]:
    """(task, reason) of the registered or declared-not-run tasks that ``t`` has no results for."""
    reasons: dict[str, str] = {}
    for s in sorted(collected.submissions, key=lambda s: s.name):
        for task, why in s.not_run.items():
            reasons.setdefault(task, why)
    names = sorted((set(all_tasks) | set(reasons)) - set(t.tasks))
    return [(n, reasons.get(n, "no results submitted")) for n in names]


def _mcog_table(t: ModelTable, missing: list[tuple[str, str]]) -> str:
    rows = [[md_escape(task), f"{t.noisy_fit(task):.2f}"]
            + [t.cells[(task, c)].text() if (task, c) in t.cells else "" for c in t.columns]
            + [f"{t.row_mean(task):.2f}"] for task in t.tasks]
    rows += [[md_escape(task), "", *(["not run"] * len(t.columns)), ""] for task, _ in missing]
    return table(rows, ["task", "noisy fit"] + [md_escape(c) for c in t.columns] + ["mean"])


def _notes(t: ModelTable) -> list[str]:
    seeds = sorted({s for c in t.cells.values() for s in c.seeds})
    md = ["", f"M-CoG (1..{t.num_layers}); mean ± standard deviation over model seeds where there are "
          f"several (seeds here: {', '.join(map(str, seeds))}). *mean*: the mean M-CoG of the paper's four "
          "layer methods (of every method in a row without them); tasks sorted by it."]
    if t.skipped_settings:
        md.append(f"{t.skipped_settings} result group(s) with other settings for the same cell are listed "
                  "under All results only.")
    return md + [""]


def _pooled(t: ModelTable) -> list[str]:
    if not any(len(c.results) > 1 for c in t.cells.values()):
        return ["One seed per cell: the paper's pooling of seeds (averaging per-window errors, then one "
                "profile) gives the same M-CoG.", ""]
    rows = [[md_escape(task)] + [f"{t.cells[(task, c)].pooled_mcog:.2f}" if (task, c) in t.cells else ""
                                 for c in t.columns] for task in t.tasks]
    return ["Seeds pooled the paper's way (per-window errors, or raw layer weights, averaged over seeds, "
            "then one profile and one M-CoG):", "",
            table(rows, ["task"] + [md_escape(c) for c in t.columns]), ""]


def section(collected: Collected, tables: list[ModelTable], all_tasks: list[str] = ()) -> list[str]:
    """One table per model; ``all_tasks`` (registered tasks) without results are listed as not run."""
    md = ["## 2. Where memorisation lives", ""]
    if not tables:
        md += ["_No results yet._", ""]
    for t in tables:
        missing = not_run(collected, t, all_tasks)
        md += [f"### {md_escape(t.model)}", "", _mcog_table(t, missing), ""]
        md += [f"Not run: {md_escape(task)}: {md_escape(why)}." for task, why in missing]
        md += _notes(t) + _pooled(t)
    return md
