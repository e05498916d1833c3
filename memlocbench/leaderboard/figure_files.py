"""The file names of the leaderboard's figures, shared by the page (its links) and the figure writers."""

from __future__ import annotations

import hashlib

from memlocbench.leaderboard.aggregate.tables import ModelTable
from memlocbench.leaderboard.markdown import file_slug

#: file-name endings of each kind of figure (the writers remove stale files of their own kind only)
PROFILES_SUFFIX = "__profiles.png"
MCOG_SUFFIX = "__mcog.png"
GENERALISATION_SUFFIX = "__mcog_vs_generalisation.png"
ABLATION_SUFFIX = "__neuron_ablation.png"


def _column_slug(column: str, columns: list[str]) -> str:
    """``file_slug(column)``, with a short digest where another column has the same slug (submission names
    outside ASCII, such as ``layer-swapping (日本語)`` and ``layer-swapping (中文)``, lose their letters)."""
    slug = file_slug(column)
    if sum(file_slug(c) == slug for c in columns) > 1:
        slug += "-" + hashlib.sha256(column.encode("utf-8")).hexdigest()[:8]
    return slug


def figure_paths(table: ModelTable) -> dict[str, str]:
    """File names (inside the figures folder) of a model's figures: one heatmap per column, plus the
    M-CoG summary under the key ''."""
    paths = {c: f"{file_slug(table.model)}__{_column_slug(c, table.columns)}{PROFILES_SUFFIX}" for c in table.columns}
    paths[""] = f"{file_slug(table.model)}{MCOG_SUFFIX}"
    return paths


def generalisation_figure_name(model: str) -> str:
    """The scatter of M-CoG against the generalisation score of ``model``."""
    return f"{file_slug(model)}{GENERALISATION_SUFFIX}"


def ablation_figure_name(model: str) -> str:
    """The ablation curves of ``model``."""
    return f"{file_slug(model)}{ABLATION_SUFFIX}"
