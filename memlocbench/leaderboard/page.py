"""Old import path of the page, kept while callers (``memlocbench.cli``) move to ``memlocbench.leaderboard``.

``render`` and ``model_tables`` here fill in the installed plugins' declarations (``leaderboard.installed``);
everything else is the package's own name."""

from memlocbench.leaderboard.aggregate.agreement import agreement, pearson, pooled_agreement, spearman
from memlocbench.leaderboard.aggregate.control import ControlRow, control_rows
from memlocbench.leaderboard.aggregate.guard import excluded, memorised
from memlocbench.leaderboard.aggregate.neurons import NeuronRow, neuron_rows
from memlocbench.leaderboard.aggregate.seeds import complete_seeds, over_seeds, seeds_text
from memlocbench.leaderboard.aggregate.tables import Cell, ModelTable, setting_hash
from memlocbench.leaderboard.collect import (SUBMISSION_META, Collected, Entry, SubmissionMeta, collect, read_meta,
                                             result_files)
from memlocbench.leaderboard.figure_files import figure_paths
from memlocbench.leaderboard.installed import model_tables, render
from memlocbench.leaderboard.markdown import file_slug, md_escape, mean_sd, relpath

__all__ = ["SUBMISSION_META", "Cell", "Collected", "ControlRow", "Entry", "ModelTable", "NeuronRow", "SubmissionMeta",
           "agreement", "collect", "complete_seeds", "control_rows", "excluded", "figure_paths", "file_slug",
           "md_escape", "mean_sd", "memorised", "model_tables", "neuron_rows", "over_seeds", "pearson",
           "pooled_agreement", "read_meta", "relpath", "render", "result_files", "seeds_text", "setting_hash",
           "spearman"]
