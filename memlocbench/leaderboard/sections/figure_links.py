"""Section 4, "Figures": links to each model's M-CoG summary and per-method profile heatmaps."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.figure_files import figure_paths
from memlocbench.leaderboard.markdown import md_escape


def section(tables: list[ModelTable], figures_rel: str | None) -> list[str]:
    """The links (nothing without a figures folder or without tables)."""
    if figures_rel is None or not tables:
        return []
    md = ["## 4. Figures", ""]
    for t in tables:
        paths = figure_paths(t)
        md += [f"### {md_escape(t.model)}", "",
               f"![M-CoG per task and method, {md_escape(t.model)}]({figures_rel}/{paths['']})", ""]
        md += [line for c in t.columns
               for line in (f"![{md_escape(c)}: per-layer profile per task]({figures_rel}/{paths[c]})", "")]
    return md
