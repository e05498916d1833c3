"""The "Memorisation vs generalisation" section (the paper's second question), per model:

- per training size, a table of the tasks: the measures the analyses declare (``AnalysisInfo.measures``:
  generalisation scores and location measures) and the core's mean M-CoG of the paper's methods; a value
  an analysis flags as degenerate (its ``flags``) is marked † with the reason below the table, a measure
  its result's version does not compute shows "—";
- each location against each generalisation score: Spearman's rho over tasks with a bootstrap interval
  and a permutation p (``aggregate.rank_statistics``), the training sizes side by side, beside the paper's
  pooled rho (``Measure.paper_rho`` / ``paper_rho_validation``, ``LeaderboardSpec.paper_rho``);
- the task ordering of each location against the paper's (``Measure.paper_ordering``), with its source;
- a link to the scatter of M-CoG against the first generalisation score (the largest training size).

Cells are the mean over the analysed model seeds ± their standard deviation (the summary's ``<key>_sd``)
where there is one. Column layout, from the declarations and the results: long labels are shortened in
headers (``header``); a generalisation score whose results also report it on the noisy and clean examples
(``<key>_noisy``, ``<key>_clean``) gets those columns beside it; an analysis of generalisation scores whose
results record a ``runs`` parameter gets a column of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from memlocbench.leaderboard.aggregate import rank_statistics as rs
from memlocbench.leaderboard.aggregate.analyses import (GroupKey, TaskRow, group_order, groups, ordering_statistic,
                                                        scatter_points, statistic, task_measures)
from memlocbench.leaderboard.aggregate.rank_statistics import RankStatistic
from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.figure_files import generalisation_figure_name
from memlocbench.leaderboard.markdown import fmt_or_blank, md_escape, table
from memlocbench.leaderboard.spec import DeclaredMeasure, LeaderboardSpec

INTRO = ("Does memorisation sit later in tasks that generalise better (the paper's second question)? Per task: "
         "the generalisation scores and location measures the analyses declare (`AnalysisInfo.measures`), and "
         "the mean M-CoG of the paper suite's methods present. Produced by `memlocbench analyse`.")
STATISTICS = (
    f"Statistics over tasks, their settings fixed in code before any result was seen "
    f"(`memlocbench.leaderboard.aggregate.rank_statistics`): Spearman's ρ (tied values share their mean rank); "
    f"its 95% interval is the percentile bootstrap over tasks ({rs.RESAMPLES:,} resamples of the tasks with "
    f"replacement, seed {rs.BOOTSTRAP_SEED}, resamples with a constant side left out); p is two-sided, from "
    f"{rs.PERMUTATIONS:,} random permutations of the tasks' values (seed {rs.PERMUTATION_SEED}): (1 + the "
    f"permutations whose ρ is at least as far from 0) / (1 + {rs.PERMUTATIONS:,}), printed as p < 0.01 below "
    f"0.01. No statistic over fewer than {rs.MIN_TASKS} tasks (n < {rs.MIN_TASKS}). Each model and training "
    f"size is a group of its own (models of different depth are never pooled on raw layer scales); the "
    f"training sizes stand side by side. A value its analysis flags as degenerate (†) is shown but enters no "
    f"statistic.")
CELLS_NOTE = ("Mean over the model seeds analysed, ± their standard deviation where there are at least 5 (every "
              "seed's value is in the result files; the mean M-CoG is the mean of the paper suite's cells at this "
              "training size, each a mean over their seeds, leaving out the profiles a method flags as "
              "degenerate (the † cells of the M-CoG grid): a flagged value enters no statistic).")
PAPER_NOTE = ("paper: Spearman ρ pooled over its 4 models × 12 tasks, against its generalisation score and "
              "against its validation accuracy.")
#: words shortened in column headers
SHORT_WORDS = {"generalisation": "gen.", "normalised": "norm.", "validation": "val.", "accuracy": "acc."}
#: the example groups a generalisation score may also be reported on (``<key>_<split>``)
SPLITS = ("noisy", "clean")
NOT_COMPUTED = "—"
FLAG = "†"

Rows = dict[str, TaskRow]  # task -> row of one (model, training size)


def header(label: str) -> str:
    """A column header for a measure label: common words shortened, a trailing 'layer' dropped (every
    location is a layer)."""
    words = [SHORT_WORDS.get(w, w) for w in label.split()]
    return " ".join(words[:-1] if len(words) > 1 and words[-1] == "layer" else words)


def size_label(size: int | None) -> str:
    return "whole training set" if size is None else f"training size {size}"


def p_text(p: float) -> str:
    return "p < 0.01" if p < 0.01 else f"p = {p:.2f}"


def statistic_text(s: RankStatistic) -> str:
    """'ρ [low, high], p, n' of a statistic; 'n < 5 (n = k)' or why it is undefined."""
    if s.n < rs.MIN_TASKS:
        return f"n < {rs.MIN_TASKS} (n = {s.n})"
    if not s.defined:
        return f"undefined ({s.why}), n = {s.n}"
    return f"{s.rho:.2f} [{s.low:.2f}, {s.high:.2f}], {p_text(s.p)}, n = {s.n}"


@dataclass(frozen=True)
class Column:
    """A column of a group's table: its header, its cell from a row, and the value it shows
    ((declared measure, summary key); None: no measure value)."""

    header: str
    cell: Callable[[TaskRow], str]
    measure: DeclaredMeasure | None = None
    key: str | None = None

    @property
    def label(self) -> str:
        return self.measure.label if self.key in (None, self.measure.key) else \
            f"{self.measure.label} ({self.key.rsplit('_', 1)[-1]})"


def _value_cell(d: DeclaredMeasure, key: str | None = None) -> Callable[[TaskRow], str]:
    def cell(row: TaskRow) -> str:
        if not row.computed(d, key):
            return NOT_COMPUTED
        mean = fmt_or_blank(row.value(d, key))
        result = row.result(d)
        spread = key is None and d.analysis and result is not None and len(result.seeds) >= rs.MIN_TASKS
        sd = fmt_or_blank(row.value(d, f"{d.key}_sd")) if spread else ""  # no spread over fewer than 5 seeds
        text = f"{mean} ± {sd}" if mean and sd else mean
        return f"{text} {FLAG}" if text and row.flag(d, key) else text
    return cell


def _param_cell(analysis: str, name: str) -> Callable[[TaskRow], str]:
    def cell(row: TaskRow) -> str:
        r = row.results.get(analysis)
        return str(r.params.get(name, "")) if r is not None else ""
    return cell


def _seeds_cell(spec: LeaderboardSpec) -> Callable[[TaskRow], str]:
    """The model seeds the task's location analyses analysed (without them, the other analyses')."""
    located = {d.analysis for d in spec.locations if d.analysis}

    def cell(row: TaskRow) -> str:
        chosen = [r for a, r in row.results.items() if a in located] or list(row.results.values())
        return ",".join(map(str, sorted({s for r in chosen for s in r.seeds})))
    return cell


def _generalisation_columns(d: DeclaredMeasure, rows: Rows) -> list[Column]:
    columns = [Column(header(d.label), _value_cell(d), d, d.key)]
    for split in SPLITS:
        key = f"{d.key}_{split}"
        if any(d.analysis in row.results and key in row.results[d.analysis].summary for row in rows.values()):
            columns.append(Column(f"{header(d.label).split()[0]} ({split})", _value_cell(d, key), d, key))
    return columns


def columns(spec: LeaderboardSpec, rows: Rows) -> list[Column]:
    """The columns of a group's table, given its rows."""
    out = [c for d in spec.generalisation for c in _generalisation_columns(d, rows)]
    out += [Column(header(d.label), _value_cell(d), d, d.key) for d in spec.locations]
    out.append(Column("model seeds", _seeds_cell(spec)))
    for analysis in dict.fromkeys(d.analysis for d in spec.generalisation):
        if any(analysis in row.results and "runs" in row.results[analysis].params for row in rows.values()):
            out.append(Column(f"{analysis.rsplit('-', 1)[-1]} runs", _param_cell(analysis, "runs")))
    return out


def not_computed_notes(cols: list[Column], rows: Rows) -> list[str]:
    """One line per shown measure that some task's result does not compute (an older version)."""
    notes = []
    for c in (c for c in cols if c.measure is not None and c.measure.analysis):
        missing = sorted({rows[t].results[c.measure.analysis].analysis.version for t in rows
                          if not rows[t].computed(c.measure, c.key)})
        if missing:
            versions = ", ".join(map(str, missing))
            notes.append(f"- {NOT_COMPUTED} *{md_escape(c.label)}*: not computed (`{md_escape(c.measure.analysis)}` "
                         f"version {versions})")
    return notes


def flag_notes(cols: list[Column], rows: Rows) -> list[str]:
    """One line per (task, reason) of the shown values flagged as degenerate."""
    shown: dict[tuple[str, str], list[str]] = {}
    for task in sorted(rows):
        for c in (c for c in cols if c.measure is not None and rows[task].flag(c.measure, c.key)):
            shown.setdefault((task, rows[task].flag(c.measure, c.key)), []).append(c.label)
    return [f"- {FLAG} {md_escape(task)}, {', '.join(md_escape(lb) for lb in labels)}: {md_escape(reason)}"
            for (task, reason), labels in shown.items()]


def flag_error_notes(rows: Rows) -> list[str]:
    """One line per result whose analysis' ``flags`` failed."""
    return [f"- {md_escape(task)}: {md_escape(e)}" for task in sorted(rows) for e in rows[task].flag_errors]


def guard_notes(rows: Rows) -> list[str]:
    """One line per task whose analyses left model seeds out (the memorisation guard), or count for nothing."""
    left: dict[tuple[str, str, str], list[str]] = {}
    notes = []
    for task, analysis, r in sorted((t, a, r) for t, row in rows.items() for a, r in row.results.items()):
        if not r.memorisation_guard:
            continue
        if not r.memorised:
            seeds = "; ".join(f"seed {s}: {g.reason}" for s, g in sorted(r.memorisation_guard.items()))
            notes.append(f"- {md_escape(task)}, {md_escape(analysis)}: no model seed memorised ({seeds}); "
                         f"left out of every cell and correlation")
            continue
        for s, g in sorted(r.memorisation_guard.items()):
            if not g.memorised:
                left.setdefault((task, s, g.reason or ""), []).append(analysis)
    for (task, s, reason), names in sorted(left.items()):
        notes.append(f"- {md_escape(task)}: model seed {s} left out of {md_escape(' and '.join(names))} ({reason})")
    return notes


def _group_table(model: str, size: int | None, rows: Rows, spec: LeaderboardSpec) -> list[str]:
    cols = columns(spec, rows)
    body = [[md_escape(t)] + [c.cell(rows[t]) for c in cols] for t in sorted(rows)]
    md = [f"#### {md_escape(model)}, {size_label(size)}", "", table(body, ["task"] + [c.header for c in cols]), "",
          CELLS_NOTE]
    for title, notes in (
            ("Not computed by the result's version of its analysis:", not_computed_notes(cols, rows)),
            (f"Flagged as degenerate by the analysis ({FLAG}; left out of every statistic):", flag_notes(cols, rows)),
            ("Not checked for degenerate values (the analysis' flags failed; the values count):",
             flag_error_notes(rows)),
            ("Memorisation guard (the run config's thresholds), model seeds left out:", guard_notes(rows))):
        md += ["", title, ""] + notes if notes else []
    return md + [""]


def _correlations(model: str, per_size: dict[int | None, Rows], spec: LeaderboardSpec) -> list[str]:
    """Each location measure against each generalisation score, the training sizes side by side."""
    gens = spec.generalisation
    if not gens:
        return []
    body = [[md_escape(d.label), md_escape(g.label)]
            + [statistic_text(statistic(rows, d, g)) for rows in per_size.values()]
            + [fmt_or_blank(spec.paper_rho(d, g))] for d in spec.locations for g in gens]
    return [f"#### {md_escape(model)}: location against generalisation", "",
            "Spearman ρ [95% bootstrap interval], permutation p, n tasks, of each location measure against each "
            "generalisation score over the tasks (settings above); " + PAPER_NOTE, "",
            table(body, ["location measure", "against"] + [size_label(s) for s in per_size] + ["paper"]), ""]


def _ordering(model: str, per_size: dict[int | None, Rows], spec: LeaderboardSpec) -> list[str]:
    """Each location's task ordering against the paper's, over the tasks both have."""
    located = [d for d in spec.locations if d.measure.paper_ordering]
    if not located:
        return []
    body = [[md_escape(d.label)] + [statistic_text(ordering_statistic(rows, d)) for rows in per_size.values()]
            + [str(len(d.measure.paper_ordering))] for d in located]
    sources = [f"- *{md_escape(d.label)}*: {md_escape(d.measure.paper_ordering_source or 'source not stated')}"
               for d in located]
    return [f"#### {md_escape(model)}: task ordering against the paper's", "",
            "Spearman ρ [95% bootstrap interval], permutation p, n tasks, of our per-task values of each location "
            "measure against the paper's, over the tasks both have (settings above). The paper's values:", "",
            *sources, "", table(body, ["location measure"] + [size_label(s) for s in per_size] + ["paper's tasks"]),
            ""]


def _model(model: str, per_size: dict[int | None, Rows], spec: LeaderboardSpec, figure: bool,
           figures_rel: str | None) -> list[str]:
    md = [f"### {md_escape(model)}", ""]
    for size, rows in per_size.items():
        md += _group_table(model, size, rows, spec)
    md += _correlations(model, per_size, spec) + _ordering(model, per_size, spec)
    if figures_rel is not None and figure:
        md += [f"![M-CoG against generalisation score, {md_escape(model)}]({figures_rel}/"
               f"{generalisation_figure_name(model)})", ""]
    return md


def _measure_list(spec: LeaderboardSpec) -> list[str]:
    """One line per declared measure with a description: its label, kind, analysis and what it measures."""
    lines = [f"- *{md_escape(d.label)}* ({d.measure.kind}, `{md_escape(d.analysis)}`): "
             f"{md_escape(d.measure.description)}"
             for d in spec.generalisation + spec.locations if d.analysis and d.measure.description]
    return lines + [""] if lines else []


def _nothing_yet(spec: LeaderboardSpec, collected: Collected) -> str:
    if not spec.measure_analyses and not collected.analyses:
        return ("_No analysis results yet: run an analysis that declares measures (`memlocbench list analyses`) "
                "with `memlocbench analyse NAME --task T` and submit the files._")
    if not spec.measure_analyses:
        return "_No analysis measures declared (`AnalysisInfo.measures`): nothing to set against each other._"
    return (f"_No analysis results yet: run `memlocbench analyse {'|'.join(spec.measure_analyses)} --task T` "
            "and submit the files._")


def by_model(found: dict[GroupKey, Rows]) -> dict[str, dict[int | None, Rows]]:
    """model -> training size -> rows, models and sizes in order (the whole training set last)."""
    out: dict[str, dict[int | None, Rows]] = {}
    for model, size in group_order(found):
        out.setdefault(model, {})[size] = found[(model, size)]
    return out


def section(collected: Collected, tables: list[ModelTable], figures_rel: str | None,
            spec: LeaderboardSpec) -> list[str]:
    """Markdown lines of the section (a note when there are no analysis results with measures)."""
    md = ["## Memorisation vs generalisation", "", INTRO, ""] + _measure_list(spec)
    found = groups(collected.analyses, collected.entries, spec) if spec.measure_analyses else {}
    if not found:
        return md + [_nothing_yet(spec, collected), ""]
    md += [STATISTICS, ""]
    figures = task_measures(collected.analyses, tables, spec)
    for model, per_size in by_model(found).items():
        md += _model(model, per_size, spec, bool(scatter_points(figures.get(model, {}), spec)), figures_rel)
    return md
