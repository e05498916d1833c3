"""Section 1's numbers: each method on the control benchmark's layer tracks (two-layer and single-layer
placements), per submission and model, and the ranking within a track and a model depth: chance and the
placements depend on the layer count L, so rows of models of different depth are never ranked together."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from memlocbench.leaderboard.aggregate.guard import memorised
from memlocbench.leaderboard.aggregate.seeds import in_means, model_seed, over_seeds, seeds_text
from memlocbench.leaderboard.collect import Entry
from memlocbench.results.run_result import Result
from memlocbench.scoring.layer_weights import layer_ranking


@dataclass
class ControlRow:
    """One method on one control track (one submission and model)."""

    submission: str
    model: str
    method: str
    acc1: float
    acc2: float
    chance: float
    tasks: int
    placements: int
    seeds: list[int]
    compute_seconds: float
    machines: list[str]
    track: str = "pair"
    num_layers: int = 0  # L of the row's model (rows are ranked only against rows of the same L)
    acc1_text: str = ""  # mean ± sd over seeds (each seed: the mean over tasks and placements)
    acc2_text: str = ""
    rank_text: str = ""  # rank of the true layer, mean ± sd over seeds
    seeds_text: str = ""  # the seeds in the means, and any left out (complete_seeds)


def track_groups(entries: list[Entry], tracks) -> dict[tuple[str, str, str, str, int], list[Result]]:
    """Memorised results of the control ``tracks``, by (submission, model, method, track, layer count)."""
    groups: dict[tuple[str, str, str, str, int], list[Result]] = {}
    for e in entries:
        if e.result.control is not None and e.result.control.track in tracks and memorised(e.result):
            key = (e.submission, e.result.model.name, e.result.method.name, e.result.control.track,
                   e.result.num_layers)
            groups.setdefault(key, []).append(e.result)
    return groups


def true_rank(r: Result, higher_wins_ties: bool = False) -> float:
    """The rank of the best-ranked placement layer (results written before it was recorded: from the
    profile, ties broken as the method's tie rule says)."""
    if r.control.true_layer_rank is not None:
        return r.control.true_layer_rank
    order = layer_ranking(r.layer_weights, higher_wins_ties)
    return 1 + min(order.index(i) for i in r.control.placement)


def rank_key(c: ControlRow) -> tuple:
    """Higher is better first: the pair track by accuracy@2 then @1; the single track by accuracy@1
    then the mean rank of the true layer (lower is better)."""
    mean_rank = float(c.rank_text.split(" ")[0])
    return (-c.acc2, -c.acc1) if c.track == "pair" else (-c.acc1, mean_rank)


def _machine(r: Result) -> str:
    env = r.environment
    return f"{env.get('machine', '?')}, {env.get('torch_threads', '?')} threads"


def _compute_seconds(rs: list[Result]) -> float:
    """Every method run, plus each model's training once (later runs reuse it from the store)."""
    trained = {}
    for r in rs:
        for role, st in r.memorisation.items():
            trained[(r.task.name, r.config_hash, tuple(r.control.placement), role)] = st.train_seconds
    return sum(r.timings.get("method", 0.0) for r in rs) + sum(trained.values())


def _row(key: tuple[str, str, str, str, int], rs: list[Result], higher_wins_ties: bool) -> ControlRow:
    sub, model, method, track, num_layers = key
    means = in_means(rs)
    return ControlRow(
        sub, model, method,
        acc1=statistics.fmean(r.control.accuracy_at_1 for r in means),
        acc2=statistics.fmean(r.control.accuracy_at_2 for r in means),
        chance=statistics.fmean(r.control.chance for r in rs),
        tasks=len({r.task.name for r in rs}),
        placements=len({tuple(r.control.placement) for r in rs}),
        seeds=sorted({model_seed(r) for r in rs}),
        compute_seconds=_compute_seconds(rs),
        machines=sorted({_machine(r) for r in rs}),
        track=track,
        num_layers=num_layers,
        acc1_text=over_seeds(rs, lambda r: r.control.accuracy_at_1),
        acc2_text=over_seeds(rs, lambda r: r.control.accuracy_at_2),
        rank_text=over_seeds(rs, lambda r: true_rank(r, higher_wins_ties)),
        seeds_text=seeds_text(rs),
    )


def control_rows(entries: list[Entry], higher_layer_ties: frozenset[str] = frozenset()) -> list[ControlRow]:
    """The layer tracks' rows, by track (pair first), then layer count, then rank. ``higher_layer_ties``: the
    methods whose ties go to the higher layer (for results written before the true layer's rank was recorded)."""
    rows = [_row(key, rs, key[2] in higher_layer_ties)
            for key, rs in track_groups(entries, ("pair", "single")).items()]
    return sorted(rows, key=lambda c: (c.track != "pair", c.track, c.num_layers, *rank_key(c), c.method,
                                       c.submission, c.model))
