"""The leaderboard's figures of analysis results (matplotlib, PNG): per model a scatter of mean M-CoG
against the first generalisation score (one point per task; as on the page, the M-CoG of a profile its
method flags as degenerate enters no mean), and the ablation curves."""

from __future__ import annotations

from pathlib import Path

from memlocbench.leaderboard.aggregate.analyses import ablation_results, scatter_points, task_measures
from memlocbench.leaderboard.aggregate.flags import unflagged
from memlocbench.leaderboard.aggregate.tables import ModelTable, model_tables
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.figure_files import (ABLATION_SUFFIX, GENERALISATION_SUFFIX, ablation_figure_name,
                                                  generalisation_figure_name)
from memlocbench.leaderboard.figures import pyplot, remove_stale, save_figure
from memlocbench.leaderboard.method_spec import MethodSpec
from memlocbench.leaderboard.spec import LeaderboardSpec
from memlocbench.results.analysis_result import AnalysisResult


def _scatter(plt, model: str, points: list[tuple[str, float, float]], xlabel: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.2, 3.8), dpi=110)
    ax.scatter([x for _, x, _ in points], [y for _, _, y in points], s=46)
    for task, x, y in points:
        ax.annotate(task, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mean M-CoG of the methods")
    ax.grid(alpha=0.3)
    ax.set_title(f"{model}: memorisation vs generalisation", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, plt)


def write_generalisation_figures(collected: Collected, tables: list[ModelTable], out_dir: Path,
                                 spec: LeaderboardSpec) -> list[Path]:
    """One scatter per model: mean M-CoG (y) against the first generalisation score (x), one point per task."""
    out_dir = Path(out_dir)
    written = []
    for model, per_task in sorted(task_measures(collected.analyses, tables, spec).items()):
        points = scatter_points(per_task, spec)
        if not points:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        score = spec.generalisation[0]
        written.append(_scatter(pyplot(), model, points, f"{score.label} ({score.analysis})",
                                out_dir / generalisation_figure_name(model)))
    remove_stale(out_dir, (GENERALISATION_SUFFIX,), written)
    return written


def _ablation_panel(ax, details: dict, key: str) -> None:
    for m, c in details["neuron_curves"].items():
        ax.plot([pt["budget"] for pt in c], [pt[key] for pt in c], marker="o", label=m)
    c = details["random_curve"]
    ax.plot([pt["budget"] for pt in c], [pt[key] for pt in c], "k--", marker=".", label="random")
    for m, pt in details["layer_points"].items():
        ax.scatter([pt["budget"]], [pt[key]], marker="s", label=f"{m} (top layer)")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)


def _ablation_figure(plt, model: str, per_task: dict[str, AnalysisResult], path: Path) -> Path:
    tasks = sorted(per_task)
    fig, axes = plt.subplots(2, len(tasks), figsize=(3.6 * len(tasks) + 1.2, 5.6), dpi=110, squeeze=False)
    for col, task in enumerate(tasks):
        for row, key in enumerate(("noisy_fit_drop", "validation_acc_drop")):
            ax = axes[row][col]
            _ablation_panel(ax, per_task[task].details, key)
            if row == 0:
                ax.set_title(task, fontsize=10)
            ax.set_xlabel("neurons zeroed (% of all FFN neurons)" if row else "")
            ax.set_ylabel("noisy-fit drop (points)" if row == 0 else "validation drop (points)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), fontsize=7)
    fig.suptitle(f"{model}: causal ablation track", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return save_figure(fig, path, plt)


def write_ablation_figures(collected: Collected, out_dir: Path) -> list[Path]:
    """One figure per model: per task, noisy-fit drop (top) and validation drop (bottom) against the
    ablated share of neurons (log scale); neuron methods as curves, random dashed, layer methods as points."""
    out_dir = Path(out_dir)
    written = []
    for model, per_task in sorted(ablation_results(collected.analyses).items()):
        out_dir.mkdir(parents=True, exist_ok=True)
        written.append(_ablation_figure(pyplot(), model, per_task, out_dir / ablation_figure_name(model)))
    remove_stale(out_dir, (ABLATION_SUFFIX,), written)
    return written


def write_analysis_figures(collected: Collected, tables: list[ModelTable], out_dir: Path,
                           spec: LeaderboardSpec | None = None, methods: MethodSpec | None = None) -> list[Path]:
    """Every figure of the analysis results (``spec``, ``methods``: as for ``render``; the scatter leaves
    out the profiles ``methods``' flags find degenerate, as the page's generalisation section does);
    returns the paths written. Figures of models no longer on the page are removed."""
    spec = spec if spec is not None else LeaderboardSpec()
    general = unflagged(collected, methods)
    if len(general.entries) != len(collected.entries):  # unflagged only leaves results out
        tables = model_tables(general.entries, spec.paper_methods)
    return write_generalisation_figures(general, tables, out_dir, spec) + write_ablation_figures(collected, out_dir)
