"""The leaderboard's analysis sections. "Memorisation vs generalisation" (the paper's second question): per
model and task the generalisation scores (memorisation map), the centroid and probing events and the
mean M-CoG of the paper's four methods; the Spearman correlation (scipy, with p) of each location
measure with each generalisation score over tasks; and a scatter figure of M-CoG against the
generalisation score, one point per task. Analysis result files are read here, beside the method
results, and chosen per (model, task, analysis): the most recent (ties: the file name). The memorisation
guard: an analysis over several model seeds has left out the seeds whose memorising model did not memorise
(``AnalysisResult.memorisation_guard``; listed under the table), and a result none of whose seeds memorised
enters no cell or correlation. Cells are the mean over the analysed model seeds ± their standard deviation
(the analysis' ``<key>_sd``) where it has one. "Causal ablation
track" (issue #15, analysis ``neuron-ablation``): per model, task and method the ablation curves and the
selectivity against random, with one figure of the curves per model.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from memlocbench.results.analysis_result import AnalysisResult, is_analysis_record

#: (label, analysis, summary key) of the generalisation scores and of the location measures
SCORES = [("generalisation score", "memorisation-map", "generalisation_score"),
          ("normalised validation accuracy", "memorisation-map", "normalised_validation_accuracy")]
LOCATIONS = [("centroid crossing", "centroids", "crossing_layer"),
             ("centroid initiation", "centroids", "initiation_layer"),
             ("probing memorisation layer", "probing-events", "memorisation_layer"),
             ("probing initiation", "probing-events", "initiation_layer"),
             ("mean M-CoG", None, "mean_mcog")]
#: the paper's pooled correlations with the generalisation score (4 models x 12 tasks)
PAPER_RHO = {"centroid crossing": 0.75, "probing memorisation layer": 0.63, "mean M-CoG": 0.56}


@dataclass(frozen=True)
class AnalysisEntry:
    submission: str
    result: AnalysisResult
    filename: str


def read_analysis_into(out, path: Path, submission: str) -> bool:
    """If ``path`` is an analysis result, add it to ``out.analyses`` (or its problem to
    ``out.problems``) and return True; False for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the method-result reader reports it
    if not is_analysis_record(data):
        return False
    try:
        out.analyses.append(AnalysisEntry(submission, AnalysisResult.model_validate(data), Path(path).name))
    except Exception as exc:  # invalid files are reported, never trusted
        out.problems.append(f"{path}: {str(exc).splitlines()[0]}")
    return True


def _latest(entries: list[AnalysisEntry]) -> dict[tuple[str, str, str], AnalysisResult]:
    chosen: dict[tuple[str, str, str], AnalysisEntry] = {}
    for e in sorted(entries, key=lambda e: (e.result.created_at, e.filename)):
        chosen[(e.result.model.name, e.result.task.name, e.result.analysis.name)] = e
    return {k: e.result for k, e in chosen.items()}


def _own_latest(analyses: list[AnalysisEntry]) -> dict[tuple[str, str, str], AnalysisResult]:
    """The latest result of this section's analyses (not the ablation track) per (model, task, analysis)."""
    own = {a for _, a, _ in SCORES + LOCATIONS if a}
    return {k: r for k, r in _latest(analyses).items() if k[2] in own}


def task_measures(analyses: list[AnalysisEntry], tables) -> dict[str, dict[str, dict[str, float | None]]]:
    """model -> task -> measure label -> value (None where missing, undefined, or from a result none of
    whose model seeds memorised); ``<label> sd`` beside each, the standard deviation over model seeds."""
    latest = _own_latest(analyses)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    models = {m for m, _, _ in latest}
    for (model, task, _), _r in latest.items():
        out.setdefault(model, {}).setdefault(task, {})
    for model in models:
        for task in out[model]:
            row = out[model][task]
            for label, analysis, key in SCORES + LOCATIONS:
                r = latest.get((model, task, analysis)) if analysis else None
                counted = r is not None and r.memorised
                row[label] = r.summary.get(key) if counted else None
                row[f"{label} sd"] = r.summary.get(f"{key}_sd") if counted else None
    for t in tables:
        if t.model not in out:
            continue
        for task in out[t.model]:
            vals = t.paper_mcogs(task)
            out[t.model][task]["mean M-CoG"] = sum(vals) / len(vals) if vals else None
            out[t.model][task]["methods"] = len(vals)
    return out


def correlation(xs: list[float | None], ys: list[float | None]) -> tuple[float, float, int]:
    """Spearman rho and p over the pairs where both are defined; NaN with fewer than 3 or a constant side."""
    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3 or len({x for x, _ in pairs}) < 2 or len({y for _, y in pairs}) < 2:
        return math.nan, math.nan, len(pairs)
    from scipy.stats import spearmanr

    res = spearmanr([x for x, _ in pairs], [y for _, y in pairs])
    return float(res.statistic), float(res.pvalue), len(pairs)


def figure_name(model: str) -> str:
    from memlocbench.leaderboard.page import file_slug

    return f"{file_slug(model)}__mcog_vs_generalisation.png"


def _f(x: float | None, digits: int = 2) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _f_sd(row: dict, label: str) -> str:
    """A cell: the mean, and ± the sd over model seeds where there is one."""
    mean, sd = _f(row.get(label)), _f(row.get(f"{label} sd"))
    return f"{mean} ± {sd}" if mean and sd else mean


def _seeds_cell(results: list[AnalysisResult]) -> str:
    """The model seeds the task's location analyses analysed (e.g. 1,3; without them, the map's)."""
    located = {a for _, a, _ in LOCATIONS if a}
    chosen = [r for r in results if r.analysis.name in located] or results
    return ",".join(map(str, sorted({s for r in chosen for s in r.seeds})))


def guard_notes(latest: dict[tuple[str, str, str], AnalysisResult], model: str) -> list[str]:
    """One line per task whose analyses left model seeds out (the memorisation guard), or count for nothing."""
    left: dict[tuple[str, str, str], list[str]] = {}
    notes = []
    for (m, task, analysis), r in sorted(latest.items()):
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


def section(collected, tables, figures_rel: str | None) -> list[str]:
    """Markdown lines of the section (a note when there are no analysis results)."""
    from memlocbench.leaderboard.page import md_escape

    md = ["## Memorisation vs generalisation", "",
          "Does memorisation sit later in tasks that generalise better (the paper's second question)? Per task: "
          "the *generalisation score* (mean probability of the training label on examples held out of the "
          "memorisation map's runs; overall, noisy, clean), the clean twin's *normalised validation accuracy* "
          "((acc − chance)/(1 − chance)), the centroid and probing events (layers 1..L; probing: hidden state, "
          "0 = embeddings) and the mean M-CoG of the paper's four methods present. Produced by `memlocbench analyse`.",
          ""]
    measures = task_measures(getattr(collected, "analyses", []), tables)
    if not measures:
        return md + ["_No analysis results yet: run `memlocbench analyse memorisation-map|centroids|probing-events "
                     "--task T` and submit the files._", ""] + ablation_section(collected, figures_rel)
    latest = _own_latest(collected.analyses)
    for model in sorted(measures):
        tasks = sorted(measures[model])
        md += [f"### {md_escape(model)}", ""]
        rows = []
        for task in tasks:
            m = measures[model][task]
            mmap = latest.get((model, task, "memorisation-map"))
            rows.append([md_escape(task), _f(m["generalisation score"]),
                         _f(mmap.summary.get("generalisation_score_noisy")) if mmap else "",
                         _f(mmap.summary.get("generalisation_score_clean")) if mmap else "",
                         _f_sd(m, "normalised validation accuracy"), _f_sd(m, "centroid crossing"),
                         _f_sd(m, "centroid initiation"), _f_sd(m, "probing memorisation layer"),
                         _f_sd(m, "probing initiation"), _f(m["mean M-CoG"]),
                         _seeds_cell([r for (mo, t, _), r in latest.items() if (mo, t) == (model, task)]),
                         str(mmap.params.get("runs", "")) if mmap else ""])
        md.append(tabulate(rows, headers=["task", "gen. score", "gen. (noisy)", "gen. (clean)", "norm. val. acc.",
                                          "centroid crossing", "centroid initiation", "probing memorisation",
                                          "probing initiation", "mean M-CoG", "model seeds", "map runs"],
                           tablefmt="github", disable_numparse=True))
        md += ["", "Mean ± standard deviation over the model seeds analysed (the generalisation score has no "
               "model-seed spread: it comes from the map's own runs; the mean M-CoG is the mean of the four "
               "methods' cells above, each a mean over their seeds)."]
        notes = guard_notes(latest, model)
        if notes:
            md += ["", "Memorisation guard (the run config's thresholds), model seeds left out:", ""] + notes
        md += ["", "Spearman ρ (p) over tasks, of each location measure against each generalisation score "
               "(paper, pooled over 4 models × 12 tasks, against the generalisation score: centroid crossing 0.75, "
               "probing memorisation layer 0.63, M-CoG 0.56):", ""]
        rows = []
        for label, _, _ in LOCATIONS:
            row = [label]
            for score, _, _ in SCORES:
                rho, p, n = correlation([measures[model][t][label] for t in tasks],
                                        [measures[model][t][score] for t in tasks])
                row.append("n/a" if math.isnan(rho) else f"{rho:.2f} ({p:.2f}), n={n}")
            row.append(_f(PAPER_RHO.get(label)))
            rows.append(row)
        md.append(tabulate(rows, headers=["location measure"] + [s for s, _, _ in SCORES] + ["paper"],
                           tablefmt="github", disable_numparse=True))
        md += ["", "n/a: fewer than 3 tasks with both values, or a constant side.", ""]
        if figures_rel is not None and _points(measures[model]):
            md += [f"![M-CoG against generalisation score, {md_escape(model)}]({figures_rel}/{figure_name(model)})", ""]
    return md + ablation_section(collected, figures_rel)


def _points(per_task: dict) -> list[tuple[str, float, float]]:
    return [(t, m["generalisation score"], m["mean M-CoG"]) for t, m in sorted(per_task.items())
            if m.get("generalisation score") is not None and m.get("mean M-CoG") is not None]


def write_figures(collected, tables, out_dir: Path) -> list[Path]:
    """One scatter per model: mean M-CoG (y) against the generalisation score (x), one point per task."""
    from memlocbench.leaderboard.figures import _pyplot, _save

    measures = task_measures(getattr(collected, "analyses", []), tables)
    out_dir = Path(out_dir)
    written = []
    for model, per_task in sorted(measures.items()):
        points = _points(per_task)
        if not points:
            continue
        plt = _pyplot()
        out_dir.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(5.2, 3.8), dpi=110)
        ax.scatter([x for _, x, _ in points], [y for _, _, y in points], s=46)
        for task, x, y in points:
            ax.annotate(task, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("generalisation score (memorisation map)")
        ax.set_ylabel("mean M-CoG of the methods")
        ax.grid(alpha=0.3)
        ax.set_title(f"{model}: memorisation vs generalisation", fontsize=10)
        fig.tight_layout()
        written.append(_save(fig, out_dir / figure_name(model), plt))
    for stale in sorted(set(out_dir.glob("*__mcog_vs_generalisation.png")) - set(written)):
        stale.unlink()
    return written + write_ablation_figures(collected, out_dir)


# -- causal ablation track (analysis ``neuron-ablation``) ------------------------------------------------
ABLATION = "neuron-ablation"


def ablation_figure_name(model: str) -> str:
    from memlocbench.leaderboard.page import file_slug

    return f"{file_slug(model)}__neuron_ablation.png"


def _ablation_results(collected) -> dict[str, dict[str, AnalysisResult]]:
    """model -> task -> the latest neuron-ablation result."""
    out: dict[str, dict[str, AnalysisResult]] = {}
    for (model, task, analysis), r in _latest(getattr(collected, "analyses", [])).items():
        if analysis == ABLATION:
            out.setdefault(model, {})[task] = r
    return out


def _curve_cells(points: list[dict], key: str) -> str:
    return " / ".join(_f(pt[key], 1) for pt in points)


def ablation_section(collected, figures_rel: str | None) -> list[str]:
    """Markdown lines of the "Causal ablation track" section."""
    from memlocbench.leaderboard.page import md_escape

    md = ["## Causal ablation track", "",
          "Zeroing what each method points at on the memorising model (issue #15): the top 0.1 / 0.5 / 1 / 2 % of "
          "all feed-forward neurons by a neuron method's scores or by random scores (mean of seeded repeats), and "
          "for a layer method its top layer's whole FFN. Drops in percentage points of noisy fit (perturbed-label "
          "accuracy on the noisy examples), clean training accuracy and validation accuracy, one number per budget. "
          "*Selectivity*: the noisy-fit drop at the largest budget whose validation drop is ≤ the limit "
          "(default 1 point); empty where no budget stays within it. Produced by `memlocbench analyse "
          "neuron-ablation`.", ""]
    results = _ablation_results(collected)
    if not results:
        return md + ["_No ablation results yet: run `memlocbench analyse neuron-ablation --task T` and submit the "
                     "file._", ""]
    for model in sorted(results):
        md += [f"### {md_escape(model)}", ""]
        rows = []
        for task in sorted(results[model]):
            r = results[model][task]
            d, s = r.details, r.summary
            budgets = " / ".join(_f(b, 1) for b in d["budgets"])
            curves = [(m, c) for m, c in d["neuron_curves"].items()] + [("random", d["random_curve"])]
            for m, c in curves:
                rows.append([md_escape(task), md_escape(m), f"{budgets} %", _curve_cells(c, "noisy_fit_drop"),
                             _curve_cells(c, "clean_train_acc_drop"), _curve_cells(c, "validation_acc_drop"),
                             _f(s.get(f"selectivity.{m}"), 1)])
            points = list(d["layer_points"].items()) + [("random-layer", d["random_layer_point"])]
            for m, pt in points:
                where = f"layer {pt['top_layer']}" if "top_layer" in pt else "mean of layers"
                rows.append([md_escape(task), md_escape(m), f"{where} ({_f(pt['budget'], 1)} %)",
                             _f(pt["noisy_fit_drop"], 1), _f(pt["clean_train_acc_drop"], 1),
                             _f(pt["validation_acc_drop"], 1), _f(s.get(f"selectivity.{m}"), 1)])
            if d.get("skipped"):
                rows.append([md_escape(task), "_skipped_", ", ".join(md_escape(x["method"]) for x in d["skipped"]),
                             "", "", "", ""])
        md.append(tabulate(rows, headers=["task", "method", "ablated", "noisy-fit drop", "clean train drop",
                                          "validation drop", "selectivity"], tablefmt="github", disable_numparse=True))
        md.append("")
        if figures_rel is not None:
            md += [f"![Ablation curves, {md_escape(model)}]({figures_rel}/{ablation_figure_name(model)})", ""]
    return md


def write_ablation_figures(collected, out_dir: Path) -> list[Path]:
    """One figure per model: per task, noisy-fit drop (top) and validation drop (bottom) against the
    ablated share of neurons (log scale); neuron methods as curves, random dashed, layer methods as points."""
    from memlocbench.leaderboard.figures import _pyplot, _save

    out_dir = Path(out_dir)
    written = []
    for model, per_task in sorted(_ablation_results(collected).items()):
        plt = _pyplot()
        out_dir.mkdir(parents=True, exist_ok=True)
        tasks = sorted(per_task)
        fig, axes = plt.subplots(2, len(tasks), figsize=(3.6 * len(tasks) + 1.2, 5.6), dpi=110, squeeze=False)
        for col, task in enumerate(tasks):
            d = per_task[task].details
            for row, key in enumerate(("noisy_fit_drop", "validation_acc_drop")):
                ax = axes[row][col]
                for m, c in d["neuron_curves"].items():
                    ax.plot([pt["budget"] for pt in c], [pt[key] for pt in c], marker="o", label=m)
                c = d["random_curve"]
                ax.plot([pt["budget"] for pt in c], [pt[key] for pt in c], "k--", marker=".", label="random")
                for m, pt in d["layer_points"].items():
                    ax.scatter([pt["budget"]], [pt[key]], marker="s", label=f"{m} (top layer)")
                ax.set_xscale("log")
                ax.grid(alpha=0.3)
                if row == 0:
                    ax.set_title(task, fontsize=10)
                ax.set_xlabel("neurons zeroed (% of all FFN neurons)" if row else "")
                ax.set_ylabel("noisy-fit drop (points)" if row == 0 else "validation drop (points)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7)
        fig.suptitle(f"{model}: causal ablation track", fontsize=10)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
        written.append(_save(fig, out_dir / ablation_figure_name(model), plt))
    for stale in sorted(set(out_dir.glob("*__neuron_ablation.png")) - set(written)) if out_dir.is_dir() else []:
        stale.unlink()
    return written
