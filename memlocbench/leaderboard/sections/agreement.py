"""Section 3, "Agreement between methods": per model Spearman over tasks of raw M-CoG, and the paper's
Pearson pooled over models on M-CoG / L (a depth-free scale)."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.agreement import agreement, pooled_agreement
from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.markdown import fmt_or_na, md_escape, table


def _per_model(t: ModelTable) -> list[str]:
    pairs = agreement(t)
    if not pairs:
        return []
    rows = [[md_escape(a), md_escape(b), fmt_or_na(rho), n] for a, b, rho, n in pairs]
    return [f"### {md_escape(t.model)}", "", table(rows, ["method", "method", "Spearman ρ of M-CoG", "tasks"]),
            "", "Over the tasks both methods cover; n/a with fewer than 3 tasks or a constant M-CoG.", ""]


def _pooled(tables: list[ModelTable]) -> list[str]:
    pooled = pooled_agreement(tables)
    if not pooled:
        return []
    rows = [[md_escape(a), md_escape(b), fmt_or_na(r), n] for a, b, r, n in pooled]
    depths = sorted({t.num_layers for t in tables})
    return ["### All models (the paper's measure, on M-CoG / L)", "",
            table(rows, ["method", "method", "Pearson r of M-CoG / L", "model × task points"]),
            "", "Pearson over every model × task point both methods cover, as the paper's code, but of M-CoG "
            "divided by the model's number of layers L, a depth-free scale: M-CoG runs over 1..L, so pooling raw "
            "M-CoG of models of different depth would correlate their depths rather than their methods "
            f"(layer counts here: {', '.join(map(str, depths))}; with one depth, the same r as raw M-CoG). "
            "The per-model tables above keep raw M-CoG. n/a with fewer than 3 points or a constant M-CoG.", ""]


def section(tables: list[ModelTable]) -> list[str]:
    """Every pair of methods per model, then pooled over models."""
    per_model = [line for t in tables for line in _per_model(t)]
    return (["## 3. Agreement between methods", ""]
            + (per_model or ["_Needs two methods on the same model._", ""]) + _pooled(tables))
