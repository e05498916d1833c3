"""The paper's label noise, and the class-stratified subsample used for CPU-scale runs.

Both are pure functions of (labels, seed): the same seed gives the same result, bit for bit,
on any machine (Python's ``random.Random`` is specified to be reproducible across platforms).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass

from memlocbench.errors import InvalidInputError


def _by_class(labels: list[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        groups[y].append(i)
    return dict(sorted(groups.items()))


def stratified_subsample(labels: list[int], size: int, seed: int) -> list[int]:
    """Indices of a seeded, class-stratified subsample of ``size`` examples, in original order.

    Each class gets its proportional share (largest-remainder rounding, ties to the smaller
    class label), then that many of its examples are drawn after a seeded shuffle.
    """
    n = len(labels)
    if not 1 <= size <= n:
        raise InvalidInputError(f"train size must be between 1 and {n} (the task's train split), got {size}")
    if size == n:
        return list(range(n))
    groups = _by_class(labels)
    exact = {c: len(idx) * size / n for c, idx in groups.items()}
    quota = {c: math.floor(q) for c, q in exact.items()}
    short = size - sum(quota.values())
    for c in sorted(groups, key=lambda c: (-(exact[c] - quota[c]), c))[:short]:
        quota[c] += 1
    rng = random.Random(f"subsample:{seed}")
    chosen: list[int] = []
    for c, idx in groups.items():
        idx = list(idx)
        rng.shuffle(idx)
        chosen.extend(idx[: quota[c]])
    return sorted(chosen)


@dataclass(frozen=True)
class Perturbation:
    labels: list[int]  # the perturbed training labels
    noisy: list[int]  # sorted indices whose label was changed
    clean: list[int]  # sorted indices left unchanged


def perturb_labels(labels: list[int], num_labels: int, fraction: float, seed: int) -> Perturbation:
    """The paper's noise: for each class (in label order), shuffle its indices with the seed and
    give the first floor(fraction * n_class) of them a label drawn uniformly from the other classes.
    New labels are drawn walking the training set in order, as the paper's code does."""
    if not 0.0 <= fraction < 1.0:
        raise InvalidInputError(f"noise fraction must be in [0, 1), got {fraction}")
    if num_labels < 2:
        raise InvalidInputError(f"label noise needs at least 2 classes, got {num_labels}")
    bad = sorted({y for y in labels if not 0 <= y < num_labels})
    if bad:
        raise InvalidInputError(f"labels {bad[:5]} are outside 0..{num_labels - 1}")
    rng = random.Random(seed)
    selected: set[int] = set()
    for _, idx in _by_class(labels).items():
        idx = list(idx)
        rng.shuffle(idx)
        selected.update(idx[: math.floor(fraction * len(idx))])
    new = list(labels)
    for i in range(len(labels)):
        if i in selected:
            new[i] = rng.choice([c for c in range(num_labels) if c != labels[i]])
    noisy = sorted(selected)
    clean = [i for i in range(len(labels)) if i not in selected]
    return Perturbation(new, noisy, clean)


def relabel_all(labels: list[int], num_labels: int, seed: int) -> list[int]:
    """Every label replaced by one drawn uniformly from the other classes (``random.Random(seed)``, walking
    the list in order): the routed tracks' decoy rows, which are all perturbed."""
    if num_labels < 2:
        raise InvalidInputError(f"relabelling needs at least 2 classes, got {num_labels}")
    rng = random.Random(seed)
    return [rng.choice([c for c in range(num_labels) if c != y]) for y in labels]
