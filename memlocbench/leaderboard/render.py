"""The markdown leaderboard page, composed from its sections.

Sections: the glossary and the memorisation guard's count; (1) methods on the control benchmark, per
layer track, then the neuron ground truth; (2) where memorisation lives: M-CoG per task and method for
each model; (3) agreement between methods; (4) figures; then the results the memorisation guard left
out, memorisation vs generalisation (analysis results), the causal ablation track, the submissions and
every result in detail. Results whose memorising model did not memorise (``Result.memorisation_guard``)
enter no mean, ranking or correlation. The same inputs give byte-identical markdown: rows are sorted,
nothing time-dependent is printed, and text from results is escaped before it enters the page.
"""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.tables import model_tables
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.sections import (ablation, agreement, all_results, control, figure_links, generalisation,
                                              intro, left_out, neurons, submissions, where)
from memlocbench.leaderboard.spec import LeaderboardSpec


def render(collected: Collected, *, all_tasks: list[str] = (), figures_rel: str | None = None,
           spec: LeaderboardSpec | None = None) -> str:
    """The page. ``all_tasks``: registered task names, so tasks without any result are listed as
    not run; ``figures_rel``: the figures folder relative to the page (None: no figure section);
    ``spec``: the plugins' declarations (``LeaderboardSpec.from_plugins``; None: only what the results
    tell, see ``leaderboard.spec``)."""
    spec = spec if spec is not None else LeaderboardSpec()
    entries = collected.entries
    tables = model_tables(entries, spec.paper_methods)
    md = intro.section(entries)
    md += control.section(entries, spec.higher_layer_ties)
    md += neurons.section(entries)
    md += where.section(collected, tables, all_tasks)
    md += agreement.section(tables)
    md += figure_links.section(tables, figures_rel)
    md += left_out.section(entries)
    md += generalisation.section(collected, tables, figures_rel, spec)
    md += ablation.section(collected, figures_rel)
    md += submissions.section(collected)
    md += all_results.section(entries)
    return "\n".join(md).rstrip() + "\n"
