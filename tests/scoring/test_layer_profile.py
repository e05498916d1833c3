from __future__ import annotations

import pytest

from memlocbench.errors import InvalidInputError
from memlocbench.scoring.layer_weights import control_placements, layer_weights_from_windows, mcog, normalise, windows


@pytest.mark.parametrize("L", [1, 6, 12, 24])
def test_window_count(L):
    ws = windows(L)
    assert len(ws) == L * (L + 1) // 2 == len(set(ws))
    assert all(0 <= s <= e < L for s, e in ws)


def test_weights_by_hand_for_three_layers():
    # errors: size 1 -> 0.9, 0.0, 0.3; size 2 -> (0,1) 0.6, (1,2) 0.2; size 3 -> 1.0
    err = {(0, 0): 0.9, (1, 1): 0.0, (2, 2): 0.3, (0, 1): 0.6, (1, 2): 0.2, (0, 2): 1.0}
    w = layer_weights_from_windows(3, err)
    assert w[0] == pytest.approx((0.9 + 0.6 + 1.0) / 3)
    assert w[1] == pytest.approx((0.0 + (0.6 + 0.2) / 2 + 1.0) / 3)
    assert w[2] == pytest.approx((0.3 + 0.2 + 1.0) / 3)


def test_missing_window_is_an_error():
    with pytest.raises(ValueError, match="missing windows"):
        layer_weights_from_windows(2, {(0, 0): 1.0, (1, 1): 1.0})


def test_normalise_and_mcog_numbering_from_one():
    p = normalise([0.0, 0.0, 3.0, 1.0])
    assert p == [0.0, 0.0, 0.75, 0.25]
    assert mcog(p) == pytest.approx(3 * 0.75 + 4 * 0.25)
    assert mcog(normalise([0, 0, 0])) == pytest.approx(2.0)  # all-zero -> uniform
    with pytest.raises(ValueError):
        normalise([1.0, -0.5])


def test_neuron_layer_shares_count_the_top_neurons_per_layer():
    import torch

    from memlocbench.scoring.layer_weights import neuron_layer_shares, top_neuron_count

    scores = torch.zeros(3, 100)
    scores[2, :3] = 5.0  # the top 3 of 300 neurons (1%) are all in layer 3
    assert neuron_layer_shares(scores, 1.0) == [0.0, 0.0, 1.0]
    scores[0, 7] = 9.0  # now the top 1% (3 neurons) is one in layer 1 and two in layer 3
    assert neuron_layer_shares(scores, 1.0) == pytest.approx([1 / 3, 0.0, 2 / 3])
    # ties go to the lower index: six equal scores, top 2% (6 neurons) of a flat field
    assert neuron_layer_shares(torch.ones(3, 100), 2.0) == [1.0, 0.0, 0.0]
    assert top_neuron_count(300, 0.1) == 1 and top_neuron_count(30000, 0.5) == 150
    with pytest.raises(InvalidInputError):
        top_neuron_count(300, 0.0)


def test_control_placements_are_distinct_on_small_models():
    assert control_placements(3) == [(0, 1), (1, 2)]
    assert control_placements(2) == [(0, 1)]
    assert control_placements(6) == [(0, 1), (2, 3), (4, 5)]
