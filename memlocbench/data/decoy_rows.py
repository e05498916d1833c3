"""The routed tracks' decoy rows: training rows from outside the run's sample, every one with a perturbed
label, whose gradient is routed to the layers outside the placement. They make every layer of the
memorising model hold memorised labels, so that comparing its weights with the twin's (or the pretrained
model's) does not point at the placement; the methods never see them (they are not part of the dataset)."""

from __future__ import annotations

from dataclasses import dataclass

from memlocbench.contracts.task_data import Examples
from memlocbench.data.noise import relabel_all, stratified_subsample
from memlocbench.errors import InvalidInputError

#: bump when the rows drawn, their labels or their count change
DECOY_VERSION = 1


@dataclass(frozen=True)
class DecoyRows:
    texts: list[str]
    original_labels: list[int]  # the clean twin trains on these
    perturbed_labels: list[int]  # the memorising model trains on these (every one differs)


def decoy_count(n_noisy: int, num_layers: int, placed: int) -> int:
    """As many decoy rows per layer outside the placement as noisy examples per placed layer:
    ``n_noisy * (num_layers - placed) / placed``, rounded."""
    if not 1 <= placed < num_layers:
        raise InvalidInputError(f"a placement of {placed} layer(s) in a {num_layers}-layer model leaves no layer "
                                f"for decoys; place 1..{num_layers - 1} layers")
    return round(n_noisy * (num_layers - placed) / placed)


def decoy_rows(spare: Examples | None, n: int, num_labels: int, seed: int, task: str = "the task") -> DecoyRows:
    """``n`` rows of ``spare`` (a seeded class-stratified draw), each relabelled to another class."""
    available = 0 if spare is None else len(spare)
    if n > available:
        raise InvalidInputError(f"the routed tracks need {n} decoy rows from {task}'s training rows outside the "
                                f"sample, but only {available} are left; use a smaller --train-size")
    if n == 0:
        return DecoyRows([], [], [])
    picked = spare.select(stratified_subsample(spare.labels, n, seed)) if n < available else spare
    return DecoyRows(picked.texts, picked.labels, relabel_all(picked.labels, num_labels, seed))
