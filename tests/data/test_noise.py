"""The paper's label noise and the stratified subsample."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from memlocbench.data.noise import perturb_labels, stratified_subsample
from memlocbench.errors import InvalidInputError


def _labels(counts: dict[int, int], seed: int = 0) -> list[int]:
    labels = [c for c, n in counts.items() for _ in range(n)]
    random.Random(seed).shuffle(labels)
    return labels


def test_exact_noisy_count_per_class():
    counts = {0: 100, 1: 57, 2: 6, 3: 7}
    labels = _labels(counts)
    p = perturb_labels(labels, 4, 0.15, seed=1)
    per_class = Counter(labels[i] for i in p.noisy)
    # floor(0.15 * n): 15, 8, 0 (0.9), 1 (1.05)
    assert per_class == Counter({0: 15, 1: 8, 3: 1})
    assert len(p.noisy) == sum(math.floor(0.15 * n) for n in counts.values())


def test_noisy_labels_differ_and_clean_labels_do_not():
    labels = _labels({0: 200, 1: 150, 2: 90})
    p = perturb_labels(labels, 3, 0.15, seed=7)
    assert all(p.labels[i] != labels[i] and 0 <= p.labels[i] < 3 for i in p.noisy)
    assert all(p.labels[i] == labels[i] for i in p.clean)


def test_noisy_and_clean_are_disjoint_and_complete():
    labels = _labels({0: 80, 1: 40})
    p = perturb_labels(labels, 2, 0.15, seed=3)
    assert set(p.noisy).isdisjoint(p.clean)
    assert sorted(p.noisy + p.clean) == list(range(len(labels)))
    assert p.noisy == sorted(p.noisy) and p.clean == sorted(p.clean)


def test_same_seed_same_result_other_seed_other_set():
    labels = _labels({0: 300, 1: 300, 2: 300})
    a = perturb_labels(labels, 3, 0.15, seed=1)
    b = perturb_labels(labels, 3, 0.15, seed=1)
    c = perturb_labels(labels, 3, 0.15, seed=2)
    assert a == b
    assert len(c.noisy) == len(a.noisy) and c.noisy != a.noisy


def test_new_labels_are_spread_over_the_other_classes():
    labels = [0] * 3000 + [1] * 10 + [2] * 10
    p = perturb_labels(labels, 3, 0.15, seed=5)
    targets = Counter(p.labels[i] for i in p.noisy if labels[i] == 0)
    assert set(targets) == {1, 2}
    assert abs(targets[1] - targets[2]) < 0.2 * sum(targets.values())  # uniform, 450 draws


def test_invalid_noise_settings_are_rejected():
    with pytest.raises(InvalidInputError, match="noise fraction"):
        perturb_labels([0, 1], 2, 1.5, seed=1)
    with pytest.raises(InvalidInputError, match="outside 0..1"):
        perturb_labels([0, 2], 2, 0.15, seed=1)


def test_subsample_is_stratified_sorted_and_deterministic():
    labels = _labels({0: 700, 1: 200, 2: 100})
    idx = stratified_subsample(labels, 100, seed=1)
    assert len(idx) == 100 and idx == sorted(idx) and len(set(idx)) == 100
    assert Counter(labels[i] for i in idx) == Counter({0: 70, 1: 20, 2: 10})
    assert stratified_subsample(labels, 100, seed=1) == idx
    assert stratified_subsample(labels, 100, seed=2) != idx


def test_subsample_rounding_keeps_the_requested_size():
    labels = _labels({0: 5, 1: 5, 2: 5})
    idx = stratified_subsample(labels, 7, seed=1)
    got = Counter(labels[i] for i in idx)
    assert len(idx) == 7 and sorted(got.values()) == [2, 2, 3]


def test_subsample_size_out_of_range():
    with pytest.raises(InvalidInputError, match="between 1 and 3"):
        stratified_subsample([0, 1, 0], 4, seed=1)
