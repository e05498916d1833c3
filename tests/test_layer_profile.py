from __future__ import annotations

import pytest

from memlocbench.layer_profile import layer_weights_from_windows, mcog, normalise, windows


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
