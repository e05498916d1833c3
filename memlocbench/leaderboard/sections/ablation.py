"""The "Causal ablation track" section: per model, task and method the ablation curves and the
selectivity against random (any analysis result holding ablation curves, ``aggregate.analyses.is_ablation``)."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.analyses import ablation_results
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.figure_files import ablation_figure_name
from memlocbench.leaderboard.markdown import fmt_or_blank, md_escape, table
from memlocbench.results.analysis_result import AnalysisResult

INTRO = ("Zeroing what each method points at on the memorising model (issue #15): the top 0.1 / 0.5 / 1 / 2 % of "
         "all feed-forward neurons by a neuron method's scores or by random scores (mean of seeded repeats), and "
         "for a layer method its top layer's whole FFN. Drops in percentage points of noisy fit (perturbed-label "
         "accuracy on the noisy examples), clean training accuracy and validation accuracy, one number per budget. "
         "*Selectivity*: the noisy-fit drop at the largest budget whose validation drop is ≤ the limit "
         "(default 1 point); empty where no budget stays within it.")
HEADERS = ["task", "method", "ablated", "noisy-fit drop", "clean train drop", "validation drop", "selectivity"]
DROPS = ("noisy_fit_drop", "clean_train_acc_drop", "validation_acc_drop")


def _f1(x: float | None) -> str:
    return fmt_or_blank(x, 1)


def _curve_rows(task: str, r: AnalysisResult) -> list[list[str]]:
    """One row per neuron method's curve, then random's: a drop per budget."""
    d, s = r.details, r.summary
    budgets = " / ".join(_f1(b) for b in d["budgets"])
    curves = list(d["neuron_curves"].items()) + [("random", d["random_curve"])]
    return [[md_escape(task), md_escape(m), f"{budgets} %"] + [" / ".join(_f1(pt[k]) for pt in c) for k in DROPS]
            + [_f1(s.get(f"selectivity.{m}"))] for m, c in curves]


def _point_rows(task: str, r: AnalysisResult) -> list[list[str]]:
    """One row per layer method's top layer, then a random layer's mean."""
    d, s = r.details, r.summary
    rows = []
    for m, pt in list(d["layer_points"].items()) + [("random-layer", d["random_layer_point"])]:
        where = f"layer {pt['top_layer']}" if "top_layer" in pt else "mean of layers"
        rows.append([md_escape(task), md_escape(m), f"{where} ({_f1(pt['budget'])} %)"]
                    + [_f1(pt[k]) for k in DROPS] + [_f1(s.get(f"selectivity.{m}"))])
    if d.get("skipped"):
        rows.append([md_escape(task), "_skipped_", ", ".join(md_escape(x["method"]) for x in d["skipped"]),
                     "", "", "", ""])
    return rows


def section(collected: Collected, figures_rel: str | None) -> list[str]:
    """Markdown lines of the section (a note when there are no ablation results)."""
    results = ablation_results(collected.analyses)
    names = sorted({r.analysis.name for tasks in results.values() for r in tasks.values()})
    produced = " Produced by " + ", ".join(f"`memlocbench analyse {md_escape(n)}`" for n in names) + "." if names else ""
    md = ["## Causal ablation track", "", INTRO + produced, ""]
    if not results:
        return md + ["_No ablation results yet: run an analysis that records ablation curves "
                     "(`memlocbench list analyses`) and submit the file._", ""]
    for model in sorted(results):
        rows = [row for task in sorted(results[model])
                for row in _curve_rows(task, results[model][task]) + _point_rows(task, results[model][task])]
        md += [f"### {md_escape(model)}", "", table(rows, HEADERS), ""]
        if figures_rel is not None:
            md += [f"![Ablation curves, {md_escape(model)}]({figures_rel}/{ablation_figure_name(model)})", ""]
    return md
