"""The analyses' numbers: per (model, training size) and task the declared measures (each analysis' latest
result), the values the analyses flag as degenerate, their rank statistics over tasks, the scatter points
of the figure, and the ablation results (analysis results holding ablation curves).

Analysis results are chosen per (model, training size, task, analysis): the most recent (ties: the file
name). A result none of whose model seeds memorised (the memorisation guard) enters no cell or
correlation; nor does a value its analysis flags (``flags(summary, details)``, read from the spec). Models
are never pooled (their layer scales differ), and neither are training sizes: each (model, training size)
is a group of its own.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from memlocbench.leaderboard.aggregate.rank_statistics import RankStatistic, rank_statistic
from memlocbench.leaderboard.aggregate.tables import ModelTable, model_tables
from memlocbench.leaderboard.collect import AnalysisEntry, Entry
from memlocbench.leaderboard.spec import CORE_MEASURE, DeclaredMeasure, LeaderboardSpec
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import Result

#: what an ablation result's details hold (what the "Causal ablation track" section shows); an analysis
#: result of this shape is an ablation result, whichever analysis wrote it
ABLATION_DETAILS = ("budgets", "neuron_curves", "random_curve", "layer_points", "random_layer_point")

Measures = dict[str, dict[str, dict[str, float | None]]]  # model -> task -> label -> value
GroupKey = tuple[str, int | None]  # (model, training size; None: the whole training set)
#: the longest flag reason (or error) kept for the page
MAX_REASON = 300


def train_size(r: Result | AnalysisResult) -> int | None:
    """The training size the result's run asked for (``config.data.train_size``; None: the whole set)."""
    size = (r.config.get("data") or {}).get("train_size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def latest(entries: list[AnalysisEntry]) -> dict[tuple[str, str, str], AnalysisResult]:
    """(model, task, analysis) -> the most recent result (ties: the later file name)."""
    chosen: dict[tuple[str, str, str], AnalysisEntry] = {}
    for e in sorted(entries, key=lambda e: (e.result.created_at, e.filename)):
        chosen[(e.result.model.name, e.result.task.name, e.result.analysis.name)] = e
    return {k: e.result for k, e in chosen.items()}


def measured_latest(entries: list[AnalysisEntry], spec: LeaderboardSpec) -> dict[tuple[str, str, str], AnalysisResult]:
    """The latest results of the analyses that declare measures, at each model's largest training size."""
    own = set(spec.measure_analyses)
    largest: dict[str, int | None] = {}
    for e in entries:
        largest[e.result.model.name] = _larger(largest.get(e.result.model.name, 0), train_size(e.result))
    at_largest = [e for e in entries if train_size(e.result) == largest[e.result.model.name]]
    return {k: r for k, r in latest(at_largest).items() if k[2] in own}


def _larger(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)


def analysis_flags(spec: LeaderboardSpec, r: AnalysisResult) -> tuple[dict[str, str], str]:
    """(summary key -> reason, a note when the analysis' ``flags`` failed): an exception or a malformed
    answer is noted and flags nothing, never breaks the page. ``flags`` gets copies: it cannot change the
    result."""
    flags = spec.analysis_flagger(r.analysis.name)
    if flags is None:
        return {}, ""
    try:
        out = flags(copy.deepcopy(r.summary), copy.deepcopy(r.details))
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not break the page
        return {}, _short(f"the flags of {r.analysis.name} raised {type(exc).__name__}: {exc}")
    if not isinstance(out, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in out.items()):
        return {}, f"the flags of {r.analysis.name} returned {type(out).__name__}, not a dict of str to str"
    return {k: _short(v) for k, v in out.items()}, ""


def _short(text: str) -> str:
    """``text`` on one line, at most ``MAX_REASON`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


@dataclass
class TaskRow:
    """One task of a group: the latest result of each analysis, the core's mean M-CoG, the flagged
    values ((analysis, summary key) -> reason) and the notes of flags that failed."""

    results: dict[str, AnalysisResult] = field(default_factory=dict)
    mcog: float | None = None
    methods: int = 0
    flags: dict[tuple[str, str], str] = field(default_factory=dict)
    flag_errors: list[str] = field(default_factory=list)

    def result(self, d: DeclaredMeasure) -> AnalysisResult | None:
        """The counted result behind ``d`` (None: none, or none of its model seeds memorised)."""
        r = self.results.get(d.analysis) if d.analysis else None
        return r if r is not None and r.memorised else None

    def value(self, d: DeclaredMeasure, key: str | None = None) -> float | None:
        """``d``'s value (or its summary's ``key``), flagged or not; None where missing or undefined."""
        if d.analysis is None:
            return self.mcog
        r = self.result(d)
        return r.summary.get(key or d.key) if r is not None else None

    def computed(self, d: DeclaredMeasure, key: str | None = None) -> bool:
        """False where ``d``'s result exists but its summary has no such key (an older version)."""
        r = self.result(d) if d.analysis else None
        return r is None or (key or d.key) in r.summary

    def flag(self, d: DeclaredMeasure, key: str | None = None) -> str | None:
        return self.flags.get((d.analysis, key or d.key)) if d.analysis else None

    def counted(self, d: DeclaredMeasure) -> float | None:
        """The value that enters correlations: None where flagged."""
        return None if self.flag(d) else self.value(d)


Groups = dict[GroupKey, dict[str, TaskRow]]  # (model, training size) -> task -> row


def _row(results: dict[str, AnalysisResult], spec: LeaderboardSpec) -> TaskRow:
    row = TaskRow(results)
    for analysis, r in sorted(results.items()):
        flags, error = analysis_flags(spec, r)
        row.flags.update({(analysis, k): reason for k, reason in flags.items()})
        row.flag_errors += [error] if error else []
    return row


def _mcog_tables(entries: list[Entry], spec: LeaderboardSpec) -> dict[GroupKey, ModelTable]:
    """The method results' tables per (model, training size)."""
    sizes = sorted({train_size(e.result) for e in entries}, key=lambda s: (s is None, s or 0))
    return {(t.model, size): t for size in sizes
            for t in model_tables([e for e in entries if train_size(e.result) == size], spec.paper_methods)}


def groups(analyses: list[AnalysisEntry], entries: list[Entry], spec: LeaderboardSpec) -> Groups:
    """(model, training size) -> task -> its row, for the groups with results of analyses that declare
    measures; the mean M-CoG from the method results ``entries`` of the same model and training size."""
    own = set(spec.measure_analyses)
    found: dict[tuple[str, int | None, str], dict[str, AnalysisResult]] = {}
    for size in {train_size(a.result) for a in analyses}:
        chosen = latest([a for a in analyses if train_size(a.result) == size])
        for (model, task, analysis), r in chosen.items():
            if analysis in own:
                found.setdefault((model, size, task), {})[analysis] = r
    tables = _mcog_tables(entries, spec)
    out: Groups = {}
    for (model, size, task), results in sorted(found.items(), key=lambda kv: _order(kv[0])):
        row = out.setdefault((model, size), {}).setdefault(task, _row(results, spec))
        table = tables.get((model, size))
        vals = table.paper_mcogs(task) if table is not None else []
        row.mcog, row.methods = (sum(vals) / len(vals) if vals else None), len(vals)
    return out


def _order(key: tuple) -> tuple:
    """Sort key of tuples holding a training size (None, the whole set, last)."""
    return tuple((v is None, v or 0) if i == 1 else v for i, v in enumerate(key))


def group_order(keys) -> list[GroupKey]:
    """Group keys by model, then training size (the whole training set last)."""
    return sorted(keys, key=_order)


def statistic(rows: dict[str, TaskRow], x: DeclaredMeasure, y: DeclaredMeasure) -> RankStatistic:
    """Spearman's rho of ``x`` against ``y`` over the group's tasks, flagged values left out."""
    tasks = sorted(rows)
    return rank_statistic([rows[t].counted(x) for t in tasks], [rows[t].counted(y) for t in tasks])


def ordering_statistic(rows: dict[str, TaskRow], d: DeclaredMeasure) -> RankStatistic:
    """Spearman's rho of the group's per-task values of ``d`` against the paper's (``paper_ordering``),
    over the tasks both have, flagged values left out."""
    paper = d.measure.paper_ordering or {}
    tasks = sorted(t for t in rows if t in paper)
    return rank_statistic([rows[t].counted(d) for t in tasks], [paper[t] for t in tasks])


def task_measures(entries: list[AnalysisEntry], tables: list[ModelTable], spec: LeaderboardSpec) -> Measures:
    """model -> task -> measure label -> value at the model's largest training size (None where missing,
    undefined, or from a result none of whose model seeds memorised); ``<label> sd`` beside each, the
    standard deviation over model seeds. The core's mean M-CoG is the mean over the paper's methods'
    cells of ``tables`` that hold results of that training size (the figure's points)."""
    found = measured_latest(entries, spec)
    out: Measures = {}
    for model, task, _ in sorted(found):
        row = out.setdefault(model, {}).setdefault(task, {})
        for d in spec.generalisation + spec.locations:
            r = found.get((model, task, d.analysis)) if d.analysis else None
            counted = r is not None and r.memorised
            row[d.label] = r.summary.get(d.key) if counted else None
            row[f"{d.label} sd"] = r.summary.get(f"{d.key}_sd") if counted else None
    sizes = {m: train_size(r) for (m, _, _), r in found.items()}
    for t in tables:
        for task, row in out.get(t.model, {}).items():
            vals = [c.mcog for c in _paper_cells(t, task) if train_size(c.results[0]) == sizes[t.model]]
            row[CORE_MEASURE.label] = sum(vals) / len(vals) if vals else None
            row["methods"] = len(vals)
    return out


def _paper_cells(t: ModelTable, task: str) -> list:
    return [t.cells[(task, c)] for c in t.columns if (task, c) in t.cells
            and (t.paper_methods is None or c.split(" (")[0] in t.paper_methods)]


def correlation(xs: list[float | None], ys: list[float | None]) -> tuple[float, float, int]:
    """Spearman rho and its permutation p over the pairs where both are defined; NaN with fewer than
    ``rank_statistics.MIN_TASKS`` or a constant side (``rank_statistic`` has the interval too)."""
    s = rank_statistic(xs, ys)
    return s.rho, s.p, s.n


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
