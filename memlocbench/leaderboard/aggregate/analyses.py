"""The analyses' numbers: per model and task the declared measures (each analysis' latest result), their
correlations over tasks, the scatter points of the figure, and the ablation results (analysis results holding ablation curves).

Analysis results are chosen per (model, task, analysis): the most recent (ties: the file name). A
result none of whose model seeds memorised (the memorisation guard) enters no cell or correlation.
"""

from __future__ import annotations

import math

from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.collect import AnalysisEntry
from memlocbench.leaderboard.spec import CORE_MEASURE, LeaderboardSpec
from memlocbench.results.analysis_result import AnalysisResult

#: what an ablation result's details hold (what the "Causal ablation track" section shows); an analysis
#: result of this shape is an ablation result, whichever analysis wrote it
ABLATION_DETAILS = ("budgets", "neuron_curves", "random_curve", "layer_points", "random_layer_point")

Measures = dict[str, dict[str, dict[str, float | None]]]  # model -> task -> label -> value


def latest(entries: list[AnalysisEntry]) -> dict[tuple[str, str, str], AnalysisResult]:
    """(model, task, analysis) -> the most recent result (ties: the later file name)."""
    chosen: dict[tuple[str, str, str], AnalysisEntry] = {}
    for e in sorted(entries, key=lambda e: (e.result.created_at, e.filename)):
        chosen[(e.result.model.name, e.result.task.name, e.result.analysis.name)] = e
    return {k: e.result for k, e in chosen.items()}


def measured_latest(entries: list[AnalysisEntry], spec: LeaderboardSpec) -> dict[tuple[str, str, str], AnalysisResult]:
    """The latest results of the analyses that declare measures."""
    own = set(spec.measure_analyses)
    return {k: r for k, r in latest(entries).items() if k[2] in own}


def _fill(row: dict, found: dict[tuple[str, str, str], AnalysisResult], model: str, task: str,
          spec: LeaderboardSpec) -> None:
    for d in spec.generalisation + spec.locations:
        r = found.get((model, task, d.analysis)) if d.analysis else None
        counted = r is not None and r.memorised
        row[d.label] = r.summary.get(d.key) if counted else None
        row[f"{d.label} sd"] = r.summary.get(f"{d.key}_sd") if counted else None


def task_measures(entries: list[AnalysisEntry], tables: list[ModelTable], spec: LeaderboardSpec) -> Measures:
    """model -> task -> measure label -> value (None where missing, undefined, or from a result none of
    whose model seeds memorised); ``<label> sd`` beside each, the standard deviation over model seeds.
    The core's mean M-CoG is the mean over the paper's methods' cells of ``tables``."""
    found = measured_latest(entries, spec)
    out: Measures = {}
    for model, task, _ in found:
        out.setdefault(model, {}).setdefault(task, {})
    for model, per_task in out.items():
        for task, row in per_task.items():
            _fill(row, found, model, task, spec)
    for t in tables:
        for task, row in out.get(t.model, {}).items():
            vals = t.paper_mcogs(task)
            row[CORE_MEASURE.label] = sum(vals) / len(vals) if vals else None
            row["methods"] = len(vals)
    return out


def correlation(xs: list[float | None], ys: list[float | None]) -> tuple[float, float, int]:
    """Spearman rho and p over the pairs where both are defined; NaN with fewer than 3 or a constant side."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return math.nan, math.nan, len(pairs)
    from scipy.stats import spearmanr  # (lazy: scipy is slow to import)

    res = spearmanr([x for x, _ in pairs], [y for _, y in pairs])
    return float(res.statistic), float(res.pvalue), len(pairs)


def scatter_points(per_task: dict[str, dict], spec: LeaderboardSpec) -> list[tuple[str, float, float]]:
    """(task, first generalisation score, mean M-CoG) of the tasks that have both."""
    if not spec.generalisation:
        return []
    score = spec.generalisation[0].label
    return [(t, m[score], m[CORE_MEASURE.label]) for t, m in sorted(per_task.items())
            if m.get(score) is not None and m.get(CORE_MEASURE.label) is not None]


def is_ablation(r: AnalysisResult) -> bool:
    """Whether an analysis result holds ablation curves (``ABLATION_DETAILS``)."""
    return all(k in r.details for k in ABLATION_DETAILS)


def ablation_results(entries: list[AnalysisEntry]) -> dict[str, dict[str, AnalysisResult]]:
    """model -> task -> the latest ablation result."""
    out: dict[str, dict[str, AnalysisResult]] = {}
    for (model, task, _), r in latest(entries).items():
        if is_ablation(r):
            out.setdefault(model, {})[task] = r
    return out
