"""The seeded sample of clean training examples that methods contrast with the noisy ones."""

from __future__ import annotations

import random


def clean_sample(clean_idx: list[int], size: int, seed: int) -> list[int]:
    """``size`` of the clean training indices, sorted: the indices shuffled with ``seed`` (the model
    seed, as the paper's code does) and the first ``size`` taken."""
    order = list(clean_idx)
    random.Random(seed).shuffle(order)
    return sorted(order[:size])
