"""Section 1, the page's headline: methods on the control benchmark, one ranked table per layer track and
model depth. Every track the control results carry gets its tables (the paper's two-layer track first);
accuracy@2 is shown only where every placement holds two or more layers. Provenance that repeats one value
on every row (the submission, the model) is left to the heading and the per-submission pages, which also
hold each row's compute, machine and seeds."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.control import ControlRow, control_rows, rank_key, track_order
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import MIN_POINTS, md_escape, table

TITLES = {"pair": "Two-layer placements (the paper's track)",
          "single": "Single-layer placements (the main task may update one layer, each in turn)",
          "routed-pair": "Routed two-layer placements (every layer trains on the clean examples; the noisy "
                         "examples' gradient reaches only the placed pair and the head)",
          "routed-single": "Routed single-layer placements (every layer trains on the clean examples; the noisy "
                           "examples' gradient reaches only the placed layer and the head)"}
HOW_TO_READ = ("How to read this: memorisation was forced into known layers, and each method ranks the layers; "
               "*accuracy@1* is how often its top layer is a forced one, *accuracy@2* the share of its top two "
               "that are (only where two or more layers are forced), and the *mean rank of the true layer* where "
               "the best-ranked forced layer sits in its ranking (1 = top). Best method first; a random "
               "ranking's scores are under each table.")
NOTE = ("Means over tasks, placements and model seeds (each seed: the mean over its tasks and placements; a seed "
        f"that lacks some is left out of the means); ± the standard deviation over model seeds where there are "
        f"at least {MIN_POINTS}. Ranked by accuracy@2, then accuracy@1 (placements of two or more layers) or by "
        "accuracy@1, then the mean rank of the true layer (one layer); ties share a rank. Rows are ranked only "
        "against rows of models with the same number of layers L: chance and the placements depend on L, so "
        "models of different depth are never ranked together. Each row's compute, machine and seeds: on the "
        "submission pages (see [Submissions](#submissions)).")


def track_title(track: str, rows: list[ControlRow]) -> str:
    """A track's heading: the known tracks by their description, any other by its name and placements."""
    if track in TITLES:
        return TITLES[track]
    placed = sorted({c.placed for c in rows})
    layers = "/".join(map(str, placed)) + (" layer" if placed == [1] else " layers")
    return f"Track {md_escape(track)} (placements of {layers})"


def _varies(rows: list[ControlRow], attr: str) -> bool:
    return len({getattr(c, attr) for c in rows}) > 1


def _seeds(c: ControlRow) -> str:
    return f"{c.tasks} × {c.complete_seeds}" + (f" (+{c.incomplete_seeds} incomplete)" if c.incomplete_seeds else "")


def _values(xs: list[float]) -> str:
    shown = sorted({f"{x:.2f}" for x in xs}, key=float)
    return shown[0] if len(shown) == 1 else f"{shown[0]}–{shown[-1]}"


def _chance(mine: list[ControlRow], acc2: bool) -> str:
    chance = _values([c.chance for c in mine])
    counts = sorted({c.placements for c in mine})
    placements = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return (f"A random ranking scores accuracy@1 {chance}" + (f", accuracy@2 {chance}" if acc2 else "")
            + f" and a mean rank of the true layer of {_values([c.rank_chance for c in mine])} on these "
            f"{placements} placements.")


def _depth(num_layers: int, mine: list[ControlRow]) -> list[str]:
    """The ranked table of one track's rows of ``num_layers``-layer models."""
    ranks = [1 + sum(rank_key(o) < rank_key(c) for o in mine) for c in mine]  # ties share a rank
    acc2 = all(c.has_acc2 for c in mine)
    extra = [a for a in ("model", "submission") if _varies(mine, a)]
    headers = ["rank", "method", *extra, "accuracy@1", *(["accuracy@2"] if acc2 else []),
               "mean rank of true layer", "tasks × seeds"]
    rows = [[ranks[i], md_escape(c.method), *(md_escape(getattr(c, a)) for a in extra), c.acc1_text,
             *([c.acc2_text] if acc2 else []), c.rank_text, _seeds(c)] for i, c in enumerate(mine)]
    models = "" if "model" in extra else f": {md_escape(mine[0].model)}"
    return [f"#### {num_layers}-layer models{models}", "", table(rows, headers), "", _chance(mine, acc2), ""]


def _track(track: str, mine: list[ControlRow]) -> list[str]:
    md = [f"### {track_title(track, mine)}", ""]
    for depth in sorted({c.num_layers for c in mine}):
        md += _depth(depth, [c for c in mine if c.num_layers == depth])
    return md


def section(entries: list[Entry], higher_layer_ties: frozenset[str] = frozenset()) -> list[str]:
    """Per track (the paper's two-layer track first), the methods ranked by their accuracy."""
    md = ["## 1. Methods on the control benchmark", "", HOW_TO_READ, ""]
    rows = control_rows(entries, higher_layer_ties)
    if not rows:
        return md + ["_No control results yet._", ""]
    for track in sorted({c.track for c in rows}, key=track_order):
        md += _track(track, [c for c in rows if c.track == track])
    return md + [NOTE, ""]
