"""The markdown leaderboard page, composed from its sections.

Sections: the glossary and the memorisation guard's count; (1) methods on the control benchmark, per
layer track, then the neuron ground truth; (2) where memorisation lives: M-CoG per task and method for
each model; (3) agreement between methods; (4) figures; then the results the memorisation guard left
out, memorisation vs generalisation (analysis results), the causal ablation track, the submissions, the
files the rebuild did not count and every result in detail. Results whose memorising model did not
memorise (``Result.memorisation_guard``), and results whose re-run by `verify` lay outside the standard
tolerance (marked FAILED), enter no mean, ranking or correlation. The same inputs give byte-identical
markdown: rows are sorted, nothing time-dependent is printed, and text from results is escaped before it
enters the page.
"""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.guard import reproduced
from memlocbench.leaderboard.aggregate.tables import model_tables
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.sections import (ablation, agreement, all_results, control, figure_links, generalisation,
                                              intro, left_out, neurons, not_counted, submissions,
                                              where)
from memlocbench.leaderboard.spec import LeaderboardSpec


def page_spec(collected: Collected, spec: LeaderboardSpec) -> LeaderboardSpec:
    """``spec`` cut down to the methods and analyses the collected results come from: the page is a
    function of the submissions, never of the other plugins installed where it is built."""
    return spec.restricted({e.result.method.name for e in collected.entries},
                           {a.result.analysis.name for a in collected.analyses})


def render(collected: Collected, *, all_tasks: list[str] = (), figures_rel: str | None = None,
           spec: LeaderboardSpec | None = None) -> str:
    """The page. ``all_tasks``: extra task names listed as not run where a model has no results for them
    (the CLI passes none: the tasks not run are the ones submissions declare); ``figures_rel``: the figures
    folder relative to the page (None: no figure section); ``spec``: the plugins' declarations
    (``page_spec(collected, LeaderboardSpec.from_plugins(...))``; None: only what the results tell, see
    ``leaderboard.spec``)."""
    spec = spec if spec is not None else LeaderboardSpec()
    counted = reproduced(collected)  # results whose verification failed enter no table
    entries = counted.entries
    tables = model_tables(entries, spec.paper_methods)
    md = intro.section(collected.entries, sum(a.verified is False for a in collected.analyses))
    md += control.section(entries, spec.higher_layer_ties)
    md += neurons.section(entries)
    md += where.section(counted, tables, all_tasks)
    md += agreement.section(tables)
    md += figure_links.section(tables, figures_rel)
    md += left_out.section(collected.entries)
    md += generalisation.section(counted, tables, figures_rel, spec)
    md += ablation.section(counted, figures_rel)
    md += submissions.section(collected)
    md += not_counted.section(collected)
    md += all_results.section(collected.entries)
    return "\n".join(md).rstrip() + "\n"
