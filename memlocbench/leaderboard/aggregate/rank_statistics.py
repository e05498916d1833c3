"""Spearman's rho over tasks with a bootstrap interval and a permutation p, in numpy, with settings fixed
here before any number was looked at (the page states them):

- rho: Pearson correlation of the average ranks (ties share the mean of their ranks); undefined (NaN)
  where a side is constant;
- interval: the percentile bootstrap over tasks, ``RESAMPLES`` resamples of the (x, y) pairs drawn with
  replacement (seed ``BOOTSTRAP_SEED``), the 2.5th and 97.5th percentiles (linear interpolation) of the
  resamples' rho, those where a side came out constant left out;
- p: two-sided permutation test, ``PERMUTATIONS`` random permutations of y against x (seed
  ``PERMUTATION_SEED``), p = (1 + #{|rho_perm| >= |rho|}) / (1 + PERMUTATIONS);
- nothing over fewer than ``MIN_TASKS`` pairs.

Each statistic draws from its own generator with the fixed seed, so it is a function of its data alone
(never of the order in which the page computes them). Random numbers come from ``Generator.random``
(PCG64 doubles) only: indices and permutations are made from them, not from numpy's integer samplers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

RESAMPLES = 10_000
PERMUTATIONS = 10_000
BOOTSTRAP_SEED = 0
PERMUTATION_SEED = 1
CONFIDENCE = 0.95
MIN_TASKS = 5
#: |rho_perm| >= |rho| - TOLERANCE counts as at least as extreme (equal rhos differ by rounding)
TOLERANCE = 1e-12


def average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, tied values sharing the mean of their ranks."""
    a = np.asarray(a, dtype=float)
    n = a.shape[-1]
    order = np.argsort(a, axis=-1, kind="stable")
    ordered = np.take_along_axis(a, order, axis=-1)
    idx = np.broadcast_to(np.arange(n), a.shape)
    starts = np.ones(a.shape, dtype=bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    ends = np.ones(a.shape, dtype=bool)
    ends[..., :-1] = starts[..., 1:]
    first = np.maximum.accumulate(np.where(starts, idx, 0), axis=-1)
    last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, idx, n - 1), -1), axis=-1), -1)
    ranks = np.empty(a.shape, dtype=float)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=-1)
    return ranks


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis; NaN where a side is constant."""
    dx = x - x.mean(axis=-1, keepdims=True)
    dy = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((dx * dx).sum(-1) * (dy * dy).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (dx * dy).sum(-1) / np.where(den > 0, den, 1.0), np.nan)


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rho of two equally long sequences (NaN where a side is constant or fewer than 2)."""
    if len(xs) != len(ys):
        raise ValueError(f"spearman needs equally long sequences, got {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        return math.nan
    return float(_pearson_rows(average_ranks(np.array(xs)), average_ranks(np.array(ys))))


def bootstrap_interval(xs: Sequence[float], ys: Sequence[float], resamples: int = RESAMPLES,
                       seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The percentile bootstrap interval of Spearman's rho over the (x, y) pairs (NaN, NaN where no
    resample has a defined rho)."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    n = len(x)
    rng = np.random.default_rng(seed)
    picks = np.minimum((rng.random((resamples, n)) * n).astype(np.int64), n - 1)
    rhos = _pearson_rows(average_ranks(x[picks]), average_ranks(y[picks]))
    rhos = rhos[np.isfinite(rhos)]
    if not len(rhos):
        return math.nan, math.nan
    tail = (1 - confidence) / 2
    low, high = np.quantile(rhos, [tail, 1 - tail])
    return float(low), float(high)


def permutation_p(xs: Sequence[float], ys: Sequence[float], permutations: int = PERMUTATIONS,
                  seed: int = PERMUTATION_SEED) -> float:
    """Two-sided permutation p of Spearman's rho: (1 + #{|rho_perm| >= |rho|}) / (1 + permutations)
    (NaN where rho is undefined)."""
    rx, ry = average_ranks(np.asarray(xs, dtype=float)), average_ranks(np.asarray(ys, dtype=float))
    observed = float(_pearson_rows(rx, ry))
    if math.isnan(observed):
        return math.nan
    rng = np.random.default_rng(seed)
    shuffles = np.argsort(rng.random((permutations, len(ry))), axis=-1, kind="stable")
    rhos = _pearson_rows(np.broadcast_to(rx, shuffles.shape), ry[shuffles])
    extreme = int((np.abs(rhos) >= abs(observed) - TOLERANCE).sum())
    return (1 + extreme) / (1 + permutations)


@dataclass(frozen=True)
class RankStatistic:
    """Spearman's rho over ``n`` pairs with its interval and p; ``rho`` is NaN (and ``why`` says why) with
    fewer than ``MIN_TASKS`` pairs or a constant side."""

    n: int
    rho: float = math.nan
    low: float = math.nan
    high: float = math.nan
    p: float = math.nan
    why: str = ""

    @property
    def defined(self) -> bool:
        return not math.isnan(self.rho)


def rank_statistic(xs: Sequence[float | None], ys: Sequence[float | None]) -> RankStatistic:
    """Spearman's rho, its bootstrap interval and permutation p over the pairs where both are defined."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    n = len(pairs)
    if n < MIN_TASKS:
        return RankStatistic(n, why=f"n < {MIN_TASKS}")
    x, y = [a for a, _ in pairs], [b for _, b in pairs]
    rho = spearman(x, y)
    if math.isnan(rho):
        return RankStatistic(n, why="a constant side")
    low, high = bootstrap_interval(x, y)
    return RankStatistic(n, rho, low, high, permutation_p(x, y))
