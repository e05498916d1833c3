"""Section 1's numbers: each method on the control benchmark's layer tracks (every track whose results
place memorisation in layers: today two-layer and single-layer placements; any new track value gets its
own rows), per submission and model, and the ranking within a track and a model depth: chance and the
placements depend on the layer count L, so rows of models of different depth are never ranked together."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from memlocbench.leaderboard.aggregate.guard import memorised
from memlocbench.leaderboard.aggregate.seeds import complete_seeds, in_means, model_seed, over_seeds, seeds_text
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
    rank: float = 0.0  # mean rank of the true layer (the number behind rank_text)
    placed: int = 2  # the fewest layers a placement of the row holds (1: accuracy@2 cannot exceed 0.50)
    rank_chance: float = 0.0  # the mean rank of the true layer of a random ranking, (L + 1) / (placed + 1)
    complete_seeds: int = 0  # model seeds in the means
    incomplete_seeds: int = 0  # model seeds left out of them (complete_seeds)

    @property
    def has_acc2(self) -> bool:
        """Whether accuracy@2 can reach 1: every placement holds at least two layers."""
        return self.placed >= 2


def is_layer_track(r: Result) -> bool:
    """Whether ``r`` is a result of a layer track (memorisation placed in layers), not of a neuron track
    (planted neurons)."""
    return r.control is not None and getattr(r.control, "placement", None) is not None


def placed_layers(r: Result) -> int:
    """How many layers the result's placement holds (its first to its last layer)."""
    first, last = r.control.placement[0], r.control.placement[-1]
    return last - first + 1


def track_groups(entries: list[Entry], layers: bool = True) -> dict[tuple[str, str, str, str, int], list[Result]]:
    """Memorised results of the layer tracks (``layers``) or of the neuron tracks, by (submission, model,
    method, track, layer count)."""
    groups: dict[tuple[str, str, str, str, int], list[Result]] = {}
    for e in entries:
        if e.result.control is not None and is_layer_track(e.result) == layers and memorised(e.result):
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
    """Higher is better first: tracks of placements of two or more layers by accuracy@2 then @1;
    single-layer placements by accuracy@1 then the mean rank of the true layer (lower is better)."""
    return (-c.acc2, -c.acc1) if c.has_acc2 else (-c.acc1, c.rank)


#: the layer tracks every control run has, in page order (the paper's first); any other follows by name
KNOWN_TRACKS = ("pair", "single")


def track_order(track: str) -> tuple:
    """Tracks in page order: ``KNOWN_TRACKS``, then any other by name."""
    return (KNOWN_TRACKS.index(track) if track in KNOWN_TRACKS else len(KNOWN_TRACKS)), track


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
    complete, left_out = complete_seeds(rs)
    placed = min(placed_layers(r) for r in rs)
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
        rank=statistics.fmean(true_rank(r, higher_wins_ties) for r in means),
        placed=placed,
        rank_chance=statistics.fmean((r.num_layers + 1) / (placed_layers(r) + 1) for r in rs),
        complete_seeds=len(complete) or len(left_out),
        incomplete_seeds=len(left_out) if complete else 0,
    )


def control_rows(entries: list[Entry], higher_layer_ties: frozenset[str] = frozenset()) -> list[ControlRow]:
    """The layer tracks' rows, by track (``track_order``), then layer count, then rank. ``higher_layer_ties``:
    the methods whose ties go to the higher layer (for results written before the true layer's rank was
    recorded)."""
    rows = [_row(key, rs, key[2] in higher_layer_ties) for key, rs in track_groups(entries).items()]
    return sorted(rows, key=lambda c: (track_order(c.track), c.num_layers, *rank_key(c), c.method, c.submission,
                                       c.model))
