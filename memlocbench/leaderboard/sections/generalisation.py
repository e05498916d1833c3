"""The "Memorisation vs generalisation" section (the paper's second question): per model and task the
measures the analyses declare (``AnalysisInfo.measures``: generalisation scores and location measures)
and the core's mean M-CoG of the paper's methods; the Spearman correlation of each location with each
generalisation score over tasks; and a link to the scatter of M-CoG against the first generalisation score.

Cells are the mean over the analysed model seeds ± their standard deviation (the summary's ``<key>_sd``)
where there is one. Column layout, from the declarations and the results: long labels are shortened in
headers (``header``); a generalisation score whose results also report it on the noisy and clean examples
(``<key>_noisy``, ``<key>_clean``) gets those columns beside it; an analysis of generalisation scores whose
results record a ``runs`` parameter gets a column of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from memlocbench.leaderboard.aggregate.analyses import correlation, measured_latest, scatter_points, task_measures
from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.figure_files import generalisation_figure_name
from memlocbench.leaderboard.markdown import fmt_or_blank, md_escape, table
from memlocbench.leaderboard.spec import CORE_MEASURE, DeclaredMeasure, LeaderboardSpec
from memlocbench.results.analysis_result import AnalysisResult

INTRO = ("Does memorisation sit later in tasks that generalise better (the paper's second question)? Per task: "
         "the generalisation scores and location measures the analyses declare (`AnalysisInfo.measures`), and "
         "the mean M-CoG of the paper suite's methods present. Produced by `memlocbench analyse`.")
CELLS_NOTE = ("Mean ± standard deviation over the model seeds analysed (a measure with no spread shown has "
              "none over model seeds; the mean M-CoG is the mean of the paper suite's cells above, each a mean "
              "over their seeds).")
#: words shortened in column headers
SHORT_WORDS = {"generalisation": "gen.", "normalised": "norm.", "validation": "val.", "accuracy": "acc."}
#: the example groups a generalisation score may also be reported on (``<key>_<split>``)
SPLITS = ("noisy", "clean")

Found = dict[tuple[str, str, str], AnalysisResult]  # (model, task, analysis) -> latest result


def header(label: str) -> str:
    """A column header for a measure label: common words shortened, a trailing 'layer' dropped (every
    location is a layer)."""
    words = [SHORT_WORDS.get(w, w) for w in label.split()]
    return " ".join(words[:-1] if len(words) > 1 and words[-1] == "layer" else words)


@dataclass(frozen=True)
class Column:
    """A column of a model's table: its header and its cell from (measures row, analysis -> result)."""

    header: str
    cell: Callable[[dict, dict[str, AnalysisResult]], str]


def _mean_sd_cell(label: str) -> Callable[[dict, dict], str]:
    def cell(m: dict, _results: dict) -> str:
        mean, sd = fmt_or_blank(m.get(label)), fmt_or_blank(m.get(f"{label} sd"))
        return f"{mean} ± {sd}" if mean and sd else mean
    return cell


def _summary_cell(analysis: str, key: str) -> Callable[[dict, dict], str]:
    return lambda _m, results: fmt_or_blank(results[analysis].summary.get(key)) if analysis in results else ""


def _runs_cell(analysis: str) -> Callable[[dict, dict], str]:
    return lambda _m, results: str(results[analysis].params.get("runs", "")) if analysis in results else ""


def _seeds_cell(spec: LeaderboardSpec) -> Callable[[dict, dict], str]:
    """The model seeds the task's location analyses analysed (without them, the other analyses')."""
    located = {d.analysis for d in spec.locations if d.analysis}

    def cell(_m: dict, results: dict[str, AnalysisResult]) -> str:
        chosen = [r for a, r in results.items() if a in located] or list(results.values())
        return ",".join(map(str, sorted({s for r in chosen for s in r.seeds})))
    return cell


def _generalisation_columns(d: DeclaredMeasure, mine: list[AnalysisResult]) -> list[Column]:
    columns = [Column(header(d.label), _mean_sd_cell(d.label))]
    for split in SPLITS:
        key = f"{d.key}_{split}"
        if any(r.analysis.name == d.analysis and key in r.summary for r in mine):
            columns.append(Column(f"{header(d.label).split()[0]} ({split})", _summary_cell(d.analysis, key)))
    return columns


def columns(spec: LeaderboardSpec, mine: list[AnalysisResult]) -> list[Column]:
    """The columns of a model's table, given its latest results ``mine``."""
    out = [c for d in spec.generalisation for c in _generalisation_columns(d, mine)]
    out += [Column(header(d.label), _mean_sd_cell(d.label)) for d in spec.locations]
    out.append(Column("model seeds", _seeds_cell(spec)))
    for analysis in dict.fromkeys(d.analysis for d in spec.generalisation):
        if any(r.analysis.name == analysis and "runs" in r.params for r in mine):
            out.append(Column(f"{analysis.rsplit('-', 1)[-1]} runs", _runs_cell(analysis)))
    return out


def guard_notes(found: Found, model: str) -> list[str]:
    """One line per task whose analyses left model seeds out (the memorisation guard), or count for nothing."""
    left: dict[tuple[str, str, str], list[str]] = {}
    notes = []
    for (m, task, analysis), r in sorted(found.items()):
        if m != model or not r.memorisation_guard:
            continue
        if not r.memorised:
            notes.append(f"- {task}, {analysis}: no model seed memorised "
                         f"({'; '.join(f'seed {s}: {g.reason}' for s, g in sorted(r.memorisation_guard.items()))}); "
                         f"left out of every cell and correlation")
            continue
        for s, g in sorted(r.memorisation_guard.items()):
            if not g.memorised:
                left.setdefault((task, s, g.reason or ""), []).append(analysis)
    for (task, s, reason), names in sorted(left.items()):
        notes.append(f"- {task}: model seed {s} left out of {' and '.join(names)} ({reason})")
    return notes


def _correlations(per_task: dict[str, dict], spec: LeaderboardSpec) -> list[str]:
    """Each location measure against each generalisation score, beside the paper's rho."""
    gens, tasks = spec.generalisation, sorted(per_task)
    if not gens:
        return [""]
    rows = []
    for d in spec.locations:
        cells = [correlation([per_task[t][d.label] for t in tasks], [per_task[t][g.label] for t in tasks])
                 for g in gens]
        rows.append([d.label] + ["n/a" if math.isnan(rho) else f"{rho:.2f} ({p:.2f}), n={n}"
                                 for rho, p, n in cells] + [fmt_or_blank(d.paper_rho)])
    paper = ", ".join(f"{'M-CoG' if d is CORE_MEASURE else d.label} {d.paper_rho:.2f}"
                      for d in spec.locations if d.paper_rho is not None)
    return ["", "Spearman ρ (p) over tasks, of each location measure against each generalisation score "
            f"(paper, pooled over 4 models × 12 tasks, against the {gens[0].label}: {paper}):", "",
            table(rows, ["location measure"] + [g.label for g in gens] + ["paper"]),
            "", "n/a: fewer than 3 tasks with both values, or a constant side.", ""]


def _model(model: str, per_task: dict[str, dict], found: Found, spec: LeaderboardSpec,
           figures_rel: str | None) -> list[str]:
    results = {t: {a: r for (m, tk, a), r in found.items() if (m, tk) == (model, t)} for t in per_task}
    cols = columns(spec, [r for rs in results.values() for r in rs.values()])
    rows = [[md_escape(t)] + [c.cell(per_task[t], results[t]) for c in cols] for t in sorted(per_task)]
    md = [f"### {md_escape(model)}", "", table(rows, ["task"] + [c.header for c in cols]), "", CELLS_NOTE]
    notes = guard_notes(found, model)
    if notes:
        md += ["", "Memorisation guard (the run config's thresholds), model seeds left out:", ""] + notes
    md += _correlations(per_task, spec)
    if figures_rel is not None and scatter_points(per_task, spec):
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


def section(collected: Collected, tables: list[ModelTable], figures_rel: str | None,
            spec: LeaderboardSpec) -> list[str]:
    """Markdown lines of the section (a note when there are no analysis results with measures)."""
    md = ["## Memorisation vs generalisation", "", INTRO, ""] + _measure_list(spec)
    measures = task_measures(collected.analyses, tables, spec)
    if not measures:
        return md + [_nothing_yet(spec, collected), ""]
    found = measured_latest(collected.analyses, spec)
    for model in sorted(measures):
        md += _model(model, measures[model], found, spec, figures_rel)
    return md
