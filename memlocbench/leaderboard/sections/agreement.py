"""Section 3, "Agreement between methods": one method × method matrix, each cell the Spearman rho of two
methods' M-CoG / L (a depth-free scale) over every model × task point both cover, with its p-value and n;
"n < 5" instead of a rho over fewer points."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.agreement import agreement_matrix
from memlocbench.leaderboard.aggregate.tables import ModelTable, split_columns
from memlocbench.leaderboard.markdown import FEW, MIN_POINTS, fmt_statistic, md_escape, table
from memlocbench.leaderboard.method_spec import MethodSpec

INTRO = ("Do two methods agree on which tasks memorise lower or higher in the network? Each cell: the Spearman "
         "ρ between the two methods' M-CoG over the tasks both cover, with its p-value and the number of "
         f"points n; `{FEW}` where there are fewer than {MIN_POINTS}.")


def ordered_columns(tables: list[ModelTable], methods: MethodSpec) -> list[str]:
    """Every method column of ``tables``: layer methods, then neuron methods, each by name."""
    layer, neuron = set(), set()
    for t in tables:
        lay, neu = split_columns(t, methods)
        layer |= set(lay)
        neuron |= set(neu)
    return sorted(layer) + sorted(neuron - layer)


def matrix_table(tables: list[ModelTable], columns: list[str]) -> str:
    """The upper triangle: a row per method but the last, a column per method but the first."""
    cells = agreement_matrix(tables, columns)
    rows = [[md_escape(a)] + [fmt_statistic(*cells[(a, b)]) if (a, b) in cells else "" for b in columns[1:]]
            for a in columns[:-1]]
    return table(rows, ["method"] + [md_escape(b) for b in columns[1:]])


def section(tables: list[ModelTable], methods: MethodSpec | None = None) -> list[str]:
    """The matrix over every model's methods (a note with fewer than two methods)."""
    methods = methods if methods is not None else MethodSpec()
    md = ["## 3. Agreement between methods", "", INTRO, ""]
    columns = ordered_columns(tables, methods)
    if len(columns) < 2:
        return md + ["_Needs two methods on the same model._", ""]
    depths = ", ".join(map(str, sorted({t.num_layers for t in tables})))
    return md + [matrix_table(tables, columns), "",
                 "Computed on M-CoG / L, a depth-free scale, pooled over every model × task point both methods "
                 "cover: M-CoG runs over 1..L, so pooling raw M-CoG of models of different depth would correlate "
                 f"their depths rather than their methods (layer counts here: {depths}; within one model, the same "
                 "ρ as raw M-CoG). The paper pooled Pearson's r over its models. n/a: one method's M-CoG is "
                 "constant over the points. Layer methods first, then neuron methods.", ""]
