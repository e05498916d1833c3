"""The "Neuron ground truth" section: per model, recall@k of the planted neurons per method against random."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.neurons import neuron_rows
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import md_escape, table

HEADERS = ["method", "submission", "recall@k", "recall@2k", "random (@k / @2k)", "top layer holds most planted",
           "chance", "tasks", "seeds"]
NOTE = ("The main task could update only a random 1% of the feed-forward neurons (k of them, drawn with the "
        "model seed; their output weights), the clean auxiliary task everything else. *recall@k*: the share of "
        "the planted neurons among a neuron method's top k (and top 2k) neurons; *random*: the expected recall "
        "of as many random neurons (k / all neurons). Layer methods have no neuron ranking: only whether their "
        "top layer is one holding the most planted neurons is scored (also shown for neuron methods, whose "
        "profile is the top-1% share). Mean ± standard deviation over model seeds (each seed: the mean over "
        "tasks; a seed that lacks some of the row's tasks is left out of the means).")


def section(entries: list[Entry]) -> list[str]:
    """One table per model of the neuron track's methods (neuron methods first, by recall@k)."""
    md = ["## Neuron ground truth", ""]
    rows = neuron_rows(entries)
    if not rows:
        return md + ["_No neuron-track results yet._", ""]
    for model in sorted({n.model for n in rows}):
        cells = [[md_escape(n.method), md_escape(n.submission), n.recall_text, n.recall2_text, n.random_text,
                  n.acc1_text, f"{n.chance:.2f}", n.tasks, n.seeds_text] for n in rows if n.model == model]
        md += [f"### {md_escape(model)}", "", table(cells, HEADERS), ""]
    return md + [NOTE, ""]
