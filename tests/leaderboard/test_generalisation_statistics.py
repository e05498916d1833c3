"""Issue 30, items 2-4: the chance-corrected generalisation score and the rank statistics of the
"Memorisation vs generalisation" section, on examples computed by hand."""

from __future__ import annotations

import math

import pytest

from memlocbench.api import chance_corrected, label_prior_agreement
from memlocbench.leaderboard.aggregate import rank_statistics as rs
from memlocbench.leaderboard.sections.generalisation import p_text, statistic_text


# -- GS_c = (GS - b) / (1 - b), b = sum of p_c^2 ---------------------------------------------------------
def test_label_prior_agreement_of_a_small_label_list():
    assert label_prior_agreement([0, 0, 0, 1]) == pytest.approx(0.75 ** 2 + 0.25 ** 2)  # 0.625
    assert label_prior_agreement([0, 0, 0, 1]) == pytest.approx(0.625)
    assert label_prior_agreement([2, 0, 1]) == pytest.approx(1 / 3)  # uniform over C classes: 1/C
    assert label_prior_agreement([4, 4]) == 1.0
    with pytest.raises(ValueError):
        label_prior_agreement([])


def test_chance_corrected_score():
    assert chance_corrected(0.7, 0.625) == pytest.approx(0.2)
    assert chance_corrected(0.625, 0.625) == 0.0  # a predictor of the label prior scores 0
    assert chance_corrected(1.0, 0.625) == pytest.approx(1.0)
    assert chance_corrected(0.5, 0.625) == pytest.approx(-1 / 3)  # below the prior: negative
    assert chance_corrected(None, 0.625) is None and chance_corrected(0.9, 1.0) is None


# -- Spearman with ties --------------------------------------------------------------------------------
def test_average_ranks_share_ties():
    assert rs.average_ranks([3, 1, 2, 2, 5]).tolist() == [4.0, 1.0, 2.5, 2.5, 5.0]
    assert rs.average_ranks([[1, 1, 1, 2, 2]]).tolist() == [[2.0, 2.0, 2.0, 4.5, 4.5]]


def test_spearman_of_an_ordering_against_a_reference_with_ties():
    # ranks (1..5) against (1.5, 1.5, 3, 4.5, 4.5): sum dx*dy = 9, sum dx^2 = 10, sum dy^2 = 9
    assert rs.spearman([1, 2, 3, 4, 5], [13, 13, 14, 16, 16]) == pytest.approx(9 / math.sqrt(90))
    assert rs.spearman([5, 4, 3, 2, 1], [13, 13, 14, 16, 16]) == pytest.approx(-9 / math.sqrt(90))
    assert math.isnan(rs.spearman([1, 2, 3], [7, 7, 7]))  # a constant side


# -- bootstrap interval and permutation p --------------------------------------------------------------
def test_a_perfectly_monotone_example():
    xs, ys = [1, 2, 3, 4, 5, 6], [0.1, 0.4, 0.5, 0.9, 1.3, 2.0]
    s = rs.rank_statistic(xs, ys)
    assert (s.n, s.rho, s.low, s.high) == (6, pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))
    # only 2 of the 720 orders reach |rho| = 1: p near 2/720, never below 1 / (1 + N)
    assert 1 / (1 + rs.PERMUTATIONS) <= s.p < 0.01 and s.p == pytest.approx(2 / 720, abs=0.002)
    assert rs.rank_statistic(xs, ys) == s  # a fixed seed: the same numbers every time


def test_a_rho_of_zero_has_p_one():
    # ranks of y: 2 5 3 1 4; sum d^2 = 20 = n(n^2 - 1)/6: rho 0, so every permutation is as extreme
    xs, ys = [1, 2, 3, 4, 5], [2, 5, 3, 1, 4]
    assert rs.spearman(xs, ys) == pytest.approx(0.0)
    assert rs.permutation_p(xs, ys) == 1.0


def test_the_interval_is_a_percentile_interval_of_resampled_rhos():
    xs, ys = [1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 4, 3, 6, 8, 5, 7]
    rho = rs.spearman(xs, ys)
    low, high = rs.bootstrap_interval(xs, ys)
    assert -1 <= low < rho < high <= 1
    assert (low, high) == rs.bootstrap_interval(xs, ys)
    assert (low, high) != rs.bootstrap_interval(xs, ys, seed=rs.BOOTSTRAP_SEED + 1)
    narrow = rs.bootstrap_interval(xs, ys, confidence=0.5)
    assert low <= narrow[0] <= narrow[1] <= high


def test_no_statistic_over_fewer_than_five_tasks():
    s = rs.rank_statistic([1, 2, 3, 4, None, 6], [1, 2, 3, 4, 5, None])  # 4 pairs with both values
    assert s.n == 4 and not s.defined and math.isnan(s.p)
    assert statistic_text(s) == "n < 5 (n = 4)"
    assert statistic_text(rs.rank_statistic([1, 1, 1, 1, 1], [1, 2, 3, 4, 5])) == \
        "undefined (a constant side), n = 5"


def test_p_below_0_01_is_printed_as_such():
    s = rs.rank_statistic([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6])
    assert statistic_text(s) == "1.00 [1.00, 1.00], p < 0.01, n = 6"
    assert p_text(0.0001) == "p < 0.01" and p_text(0.049) == "p = 0.05" and p_text(0.01) == "p = 0.01"
