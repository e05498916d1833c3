"""Agreement between methods: the page's matrix (Spearman rho, p and n over every model × task point two
methods cover, of M-CoG / L), per-model Spearman over tasks, and the paper's Pearson pooled over models,
all on a depth-free scale where models are pooled (M-CoG / L): M-CoG runs over 1..L, so pooling raw M-CoG
of models of different depth would correlate their layer counts, not their methods."""

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


def spearman_p(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Spearman's rank correlation and its two-sided p-value (scipy), both NaN when undefined."""
    if _undefined(xs, ys):
        return math.nan, math.nan
    from scipy.stats import spearmanr  # (lazy: scipy is slow to import)

    res = spearmanr(xs, ys)
    return float(res.statistic), float(res.pvalue)


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


def agreement_matrix(tables: list[ModelTable], columns: list[str]) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(a, b) -> (Spearman rho, p, n) for every pair of ``columns`` (a before b): over every model × task
    point both cover, of M-CoG / L (within one model, the same rho as raw M-CoG)."""
    out = {}
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            pts = [(t.cells[(k, a)].mcog / t.num_layers, t.cells[(k, b)].mcog / t.num_layers)
                   for t in tables for k in t.tasks if (k, a) in t.cells and (k, b) in t.cells]
            rho, p = spearman_p([x for x, _ in pts], [y for _, y in pts])
            out[(a, b)] = (rho, p, len(pts))
    return out
