"""Section 1: methods on the control benchmark, one ranked table per layer track and model depth."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.control import ControlRow, control_rows, rank_key
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import md_escape, table

TITLES = {"pair": "Two-layer placements (the paper's track)",
          "single": "Single-layer placements (the main task may update one layer, each in turn)"}
HEADERS = ["rank", "method", "model", "submission", "accuracy@2", "accuracy@1", "rank of true layer",
           "chance (acc@1)", "tasks", "placements", "seeds", "compute (s)", "machine"]
NOTE = ("Mean ± standard deviation over model seeds (each seed: the mean over tasks and placements; no "
        "± with one seed; a seed that lacks some of the row's tasks or placements is left out of the means). "
        "Ranked by accuracy@2, then accuracy@1 (two-layer track) or by accuracy@1, then "
        "the rank of the true layer (single-layer track). Rank of true layer: the position of the "
        "best-ranked placement layer in the method's ranking (1 = top). Compute: wall seconds of the "
        "method runs plus the training of each control model once. Rows are ranked only against rows of "
        "models with the same number of layers L: chance (2/L on the two-layer track, 1/L on the single-layer "
        "track) and the placements depend on L, so models of different depth are never ranked together.")


def _depth(num_layers: int, mine: list[ControlRow]) -> list[str]:
    """The ranked table of one track's rows of ``num_layers``-layer models."""
    ranks = [1 + sum(rank_key(o) < rank_key(c) for o in mine) for c in mine]  # ties share a rank
    rows = [[ranks[i], md_escape(c.method), md_escape(c.model), md_escape(c.submission), c.acc2_text,
             c.acc1_text, c.rank_text, f"{c.chance:.2f}", c.tasks, c.placements, c.seeds_text,
             f"{c.compute_seconds:.0f}", md_escape("; ".join(c.machines))] for i, c in enumerate(mine)]
    return [f"#### {num_layers}-layer models", "", table(rows, HEADERS), ""]


def _track(track: str, mine: list[ControlRow]) -> list[str]:
    md = [f"### {TITLES.get(track, md_escape(track))}", ""]
    for depth in sorted({c.num_layers for c in mine}):
        md += _depth(depth, [c for c in mine if c.num_layers == depth])
    return md


def section(entries: list[Entry], higher_layer_ties: frozenset[str] = frozenset()) -> list[str]:
    """Per track (the paper's two-layer track first), the methods ranked by their accuracy."""
    md = ["## 1. Methods on the control benchmark", ""]
    rows = control_rows(entries, higher_layer_ties)
    if not rows:
        return md + ["_No control results yet._", ""]
    for track in sorted({c.track for c in rows}, key=lambda t: (t != "pair", t)):
        md += _track(track, [c for c in rows if c.track == track])
    return md + [NOTE, ""]
