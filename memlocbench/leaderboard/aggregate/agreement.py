"""Agreement between methods: per-model Spearman over tasks, and the paper's Pearson pooled over models on
a depth-free scale (M-CoG / L): M-CoG runs over 1..L, so pooling raw M-CoG of models of different depth
would correlate their layer counts, not their methods."""

from __future__ import annotations

import math

from memlocbench.leaderboard.aggregate.tables import ModelTable


def _undefined(xs: list[float], ys: list[float]) -> bool:
    return len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (scipy), NaN when undefined (fewer than 3 pairs or a constant side)."""
    if _undefined(xs, ys):
        return math.nan
    from scipy.stats import spearmanr  # (lazy: scipy is slow to import)

    return float(spearmanr(xs, ys).statistic)


def pearson(xs: list[float], ys: list[float]) -> float:
    """Pearson's r (scipy), NaN when undefined (fewer than 3 pairs or a constant side)."""
    if _undefined(xs, ys):
        return math.nan
    from scipy.stats import pearsonr  # (lazy: scipy is slow to import)

    return float(pearsonr(xs, ys).statistic)


def pooled_agreement(tables: list[ModelTable]) -> list[tuple[str, str, float, int]]:
    """The paper's agreement: Pearson r over all model × task points both methods cover, of M-CoG divided
    by the model's layer count L (relative depth in (0, 1]; with one model, the same r as raw M-CoG)."""
    methods = sorted({c for t in tables for c in t.columns})
    rows = []
    for i, a in enumerate(methods):
        for b in methods[i + 1 :]:
            pts = [(t.cells[(k, a)].mcog / t.num_layers, t.cells[(k, b)].mcog / t.num_layers)
                   for t in tables for k in t.tasks if (k, a) in t.cells and (k, b) in t.cells]
            if pts:
                rows.append((a, b, pearson([x for x, _ in pts], [y for _, y in pts]), len(pts)))
    return rows


def agreement(table: ModelTable) -> list[tuple[str, str, float, int]]:
    """(method, method, Spearman rho of M-CoG over the tasks both cover, tasks) per pair of columns."""
    rows = []
    for i, a in enumerate(table.columns):
        for b in table.columns[i + 1 :]:
            tasks = [t for t in table.tasks if (t, a) in table.cells and (t, b) in table.cells]
            rho = spearman([table.cells[(t, a)].mcog for t in tasks], [table.cells[(t, b)].mcog for t in tasks])
            rows.append((a, b, rho, len(tasks)))
    return rows
