"""The neuron ground-truth track's numbers: recall@k of the planted neurons per method, against random."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from memlocbench.leaderboard.aggregate.control import track_groups
from memlocbench.leaderboard.aggregate.seeds import in_means, model_seed, over_seeds, seeds_text
from memlocbench.leaderboard.collect import Entry
from memlocbench.results.run_result import Result


@dataclass
class NeuronRow:
    """One method on the neuron ground-truth track (one submission and model)."""

    submission: str
    model: str
    method: str
    recall: float | None  # recall@k, mean over results; None for a layer method
    recall_text: str  # mean ± sd over seeds, or n/a
    recall2_text: str
    random_text: str  # random recall@k and @2k
    acc1_text: str  # the top layer holds the most planted neurons
    chance: float
    tasks: int
    seeds: list[int]
    seeds_text: str = ""
    track: str = "planted"


def _row(key: tuple[str, str, str, str, int], rs: list[Result]) -> NeuronRow:
    sub, model, method, track, _ = key
    neuron = all(r.control.top is not None for r in rs)  # a neuron method: it ranked neurons
    return NeuronRow(
        sub, model, method,
        recall=statistics.fmean(r.control.recall_at_k for r in in_means(rs)) if neuron else None,
        recall_text=over_seeds(rs, lambda r: r.control.recall_at_k, 3) if neuron else "n/a (layer method)",
        recall2_text=over_seeds(rs, lambda r: r.control.recall_at_2k, 3) if neuron else "n/a",
        random_text=f"{statistics.fmean(r.control.random_recall_at_k for r in rs):.3f} / "
                    f"{statistics.fmean(r.control.random_recall_at_2k for r in rs):.3f}",
        acc1_text=over_seeds(rs, lambda r: r.control.accuracy_at_1),
        chance=statistics.fmean(r.control.chance for r in rs),
        tasks=len({r.task.name for r in rs}),
        seeds=sorted({model_seed(r) for r in rs}),
        seeds_text=seeds_text(rs),
        track=track,
    )


def neuron_rows(entries: list[Entry]) -> list[NeuronRow]:
    """The neuron tracks (any control track without layer placements), per method: recall@k of neuron methods
    against random, and every method's top layer against the layers holding the most planted neurons. By
    track and model, neuron methods first, by recall@k."""
    rows = [_row(key, rs) for key, rs in track_groups(entries, layers=False).items()]
    return sorted(rows, key=lambda n: (n.track, n.model, n.recall is None, -(n.recall or 0.0), n.method, n.submission))
