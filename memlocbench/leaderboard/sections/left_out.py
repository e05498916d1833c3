"""The "Left out: not memorised" section: every result the memorisation guard leaves out, with the reason
(the submission column only where several submissions have such results)."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.guard import excluded
from memlocbench.leaderboard.aggregate.seeds import model_seed
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import md_escape, table
from memlocbench.results.run_result import setup_label, setup_order

HEADERS = ["model", "task", "method", "setup", "seed", "noisy fit", "clean twin fit", "epochs", "reason",
           "submission"]


def _order(e: Entry) -> tuple:
    r = e.result
    return r.model.name, r.task.name, r.method.name, setup_order(r), model_seed(r), e.submission


def _row(e: Entry) -> list:
    r, g = e.result, e.result.memorisation_guard
    return [f"_{md_escape(r.model.name)}_", f"_{md_escape(r.task.name)}_", f"_{md_escape(r.method.name)}_",
            setup_label(r), r.seeds.get("model_seed", ""), f"{g.noisy_fit:.2f}", f"{g.clean_twin_fit:.2f}",
            g.epochs_trained if g.epochs_trained is not None else "", f"_{md_escape(g.reason)}_",
            md_escape(e.submission)]


def section(entries: list[Entry]) -> list[str]:
    """The table of left-out results, sorted by model, task, method, setup and seed."""
    md = ["## Left out: not memorised", "", "The results whose memorising model did not memorise, which no mean, "
          "ranking or correlation above uses, with the reason.", ""]
    left_out = excluded(entries)
    if not left_out:
        return md + ["_None._", ""]
    rows = [_row(e) for e in sorted(left_out, key=_order)]
    if len({e.submission for e in left_out}) == 1:  # one submission: named on its page, not on every row
        rows, headers = [row[:-1] for row in rows], HEADERS[:-1]
    else:
        headers = HEADERS
    return md + [table(rows, headers),
                 "", f"{len(left_out)} result(s). Thresholds: the result's own (`config.guard`; results written "
                 "before the guard existed use the defaults, noisy fit ≥ 0.90 and clean twin ≤ 0.25).", ""]
