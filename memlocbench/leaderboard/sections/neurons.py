"""The "Neuron ground truth" section: per neuron track and model, recall@k of the planted neurons per method
against random. The submission column is shown only where a table holds several submissions."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.neurons import NeuronRow, neuron_rows
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import MIN_POINTS, md_escape, table

INTRO = ("Can a method find the few neurons that memorisation was confined to? One table per model (and "
         "neuron track), neuron methods first, best recall@k first.")
HEADERS = ["method", "submission", "recall@k", "recall@2k", "random (@k / @2k)", "top layer holds most planted",
           "chance", "tasks", "seeds"]
NOTE = ("The main task could update only a random 1% of the feed-forward neurons (k of them, drawn with the "
        "model seed; their output weights), the clean auxiliary task everything else. *recall@k*: the share of "
        "the planted neurons among a neuron method's top k (and top 2k) neurons; *random*: the expected recall "
        "of as many random neurons (k / all neurons). Layer methods have no neuron ranking: only whether their "
        "top layer is one holding the most planted neurons is scored (also shown for neuron methods, whose "
        "profile is the top-1% share). Mean ± standard deviation over model seeds (each seed: the mean over "
        "tasks; a seed that lacks some of the row's tasks is left out of the means; ± only with at least "
        f"{MIN_POINTS} seeds).")


def _table(mine: list[NeuronRow]) -> str:
    several = len({n.submission for n in mine}) > 1
    cells = [[md_escape(n.method), md_escape(n.submission), n.recall_text, n.recall2_text, n.random_text,
              n.acc1_text, f"{n.chance:.2f}", n.tasks, n.seeds_text] for n in mine]
    keep = [i for i, h in enumerate(HEADERS) if several or h != "submission"]
    return table([[row[i] for i in keep] for row in cells], [HEADERS[i] for i in keep])


def section(entries: list[Entry]) -> list[str]:
    """One table per neuron track and model (neuron methods first, by recall@k)."""
    md = ["## Neuron ground truth", "", INTRO, ""]
    rows = neuron_rows(entries)
    if not rows:
        return md + ["_No neuron-track results yet._", ""]
    tracks = sorted({n.track for n in rows})
    for track, model in sorted({(n.track, n.model) for n in rows}):
        where = f"{md_escape(model)}" + (f", track {md_escape(track)}" if len(tracks) > 1 else "")
        md += [f"### {where}", "", _table([n for n in rows if (n.track, n.model) == (track, model)]), ""]
    return md + [NOTE, ""]
