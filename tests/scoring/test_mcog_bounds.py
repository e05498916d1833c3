"""M-CoG bounds per aggregation (issue 30, item 4), against hand-computed values."""

from __future__ import annotations

import pytest

from memlocbench.scoring.layer_weights import mcog_bounds


def test_window_bounds_on_two_layers_by_hand():
    # memorisation in layer 1 alone: windows (1), (1-2) err, (2) does not. Layer 1: size 1 -> 1, size 2 -> 1,
    # weight 1; layer 2: size 1 -> 0, size 2 -> 1, weight 0.5. Profile (2/3, 1/3): M-CoG 4/3; by symmetry 5/3.
    lo, hi = mcog_bounds(2, "windows")
    assert lo == pytest.approx(4 / 3) and hi == pytest.approx(5 / 3)


def test_window_bounds_on_six_layers_and_layer_bounds():
    lo, hi = mcog_bounds(6, "windows")
    assert (round(lo, 2), round(hi, 2)) == (2.54, 4.46)
    assert mcog_bounds(6, "layers") == (1.0, 6.0) and mcog_bounds(12) == (1.0, 12.0)
    with pytest.raises(ValueError, match="unknown aggregation 'blocks'"):
        mcog_bounds(6, "blocks")


def test_window_methods_declare_their_aggregation(plugins):
    declared = {m: plugins.methods.get(m).info.aggregation for m in plugins.methods.names()}
    assert declared["layer-swapping"] == declared["layer-retraining"] == "windows"
    assert declared["probing"] == declared["gradient-attribution"] == "layers"
