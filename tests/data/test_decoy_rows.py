"""The routed tracks' decoy rows: drawn from the training rows outside the sample, all relabelled,
counted so that each layer outside the placement carries as many as each placed layer."""

from __future__ import annotations

import pytest

from memlocbench.contracts.task_data import Examples
from memlocbench.data.decoy_rows import decoy_count, decoy_rows
from memlocbench.errors import InvalidInputError


def test_decoy_count_matches_the_load_per_layer():
    assert decoy_count(60, 6, 2) == 120  # 60 noisy over 2 placed layers; 4 other layers x 30
    assert decoy_count(60, 6, 1) == 300
    assert decoy_count(7, 12, 2) == 35
    with pytest.raises(InvalidInputError, match="leaves no layer for decoys"):
        decoy_count(60, 6, 6)


def test_decoy_rows_are_outside_the_sample_and_every_label_changes():
    spare = Examples([f"spare {i}" for i in range(40)], [i % 3 for i in range(40)])
    rows = decoy_rows(spare, 12, 3, seed=5)
    assert len(rows.texts) == 12 and set(rows.texts) <= set(spare.texts)
    assert sorted(rows.original_labels) == [0] * 4 + [1] * 4 + [2] * 4  # stratified
    assert all(p != o and 0 <= p < 3 for p, o in zip(rows.perturbed_labels, rows.original_labels))
    assert decoy_rows(spare, 12, 3, seed=5) == rows  # seeded
    assert decoy_rows(spare, 12, 3, seed=6).texts != rows.texts
    with pytest.raises(InvalidInputError, match="need 41 decoy rows .* only 40 are left"):
        decoy_rows(spare, 41, 3, seed=5)
    with pytest.raises(InvalidInputError, match="only 0 are left"):
        decoy_rows(None, 1, 3, seed=5)
