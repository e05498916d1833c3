"""The markdown leaderboard page, composed from its sections.

Sections, the answers first: the links and the memorisation guard's count; (1) the headline: methods on
the control benchmark, one ranked table per layer track and model depth, then the neuron ground truth;
(2) where memorisation lives: per model, M-CoG per task for layer methods and for neuron methods, with
the M-CoG bounds, flagged cells and figures; (3) agreement between methods, one matrix; memorisation vs
generalisation (analysis results); the causal ablation track; then the results the memorisation guard left
out, the submissions (each with a page of its own, ``submission_pages``), the files the rebuild did not
count, and a summary of ``results.csv`` (every result file, ``results_csv``). Results whose memorising model did not
memorise (``Result.memorisation_guard``), and results whose re-run by `verify` lay outside the standard
tolerance (marked FAILED), enter no mean, ranking or correlation. The same inputs give byte-identical
markdown: rows are sorted, nothing time-dependent is printed, and text from results is escaped before it
enters the page.
"""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.flags import unflagged
from memlocbench.leaderboard.aggregate.guard import reproduced
from memlocbench.leaderboard.aggregate.tables import model_tables
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.sections import (ablation, agreement, all_results, compute, control, generalisation,
                                              intro, left_out, neurons, not_counted, submissions, where)
from memlocbench.leaderboard.method_spec import MethodSpec
from memlocbench.leaderboard.spec import LeaderboardSpec


def page_spec(collected: Collected, spec: LeaderboardSpec) -> LeaderboardSpec:
    """``spec`` cut down to the methods and analyses the collected results come from: the page is a
    function of the submissions, never of the other plugins installed where it is built."""
    return spec.restricted({e.result.method.name for e in collected.entries},
                           {a.result.analysis.name for a in collected.analyses})


def page_methods(collected: Collected, methods: MethodSpec) -> MethodSpec:
    """``methods`` cut down to the methods the collected results come from (as ``page_spec``)."""
    return methods.restricted({e.result.method.name for e in collected.entries})


def render(collected: Collected, *, all_tasks: list[str] = (), figures_rel: str | None = None,
           spec: LeaderboardSpec | None = None, methods: MethodSpec | None = None,
           submissions_rel: str | None = "submissions") -> str:
    """The page. ``all_tasks``: extra task names listed as not run where a model has no results for them
    (the CLI passes none: the tasks not run are the ones submissions declare); ``figures_rel``: the figures
    folder relative to the page (None: no figures); ``spec``: the plugins' declarations
    (``page_spec(collected, LeaderboardSpec.from_plugins(...))``; None: only what the results tell, see
    ``leaderboard.spec``); ``methods``: the methods' declarations (``page_methods(collected,
    MethodSpec.from_plugins(...))``; None: what the results tell, see ``leaderboard.method_spec``);
    ``submissions_rel``: the folder of the submission pages relative to the page (None: no links to them).
    ``results.csv`` is linked beside the page."""
    spec = spec if spec is not None else LeaderboardSpec()
    counted = reproduced(collected)  # results whose verification failed enter no table
    entries = counted.entries
    tables = model_tables(entries, spec.paper_methods)
    md = intro.section(collected.entries, sum(a.verified is False for a in collected.analyses))
    md += control.section(entries, spec.higher_layer_ties)
    md += neurons.section(entries)
    md += where.section(counted, tables, all_tasks, methods, figures_rel)
    md += agreement.section(tables, methods)
    # the mean M-CoG set against generalisation is made of the unflagged profiles: a value found degenerate
    # enters no statistic (the M-CoG grids above show every cell, the flagged ones marked)
    general = unflagged(counted, methods)
    md += generalisation.section(general, model_tables(general.entries, spec.paper_methods), figures_rel, spec)
    md += ablation.section(counted, figures_rel)
    md += left_out.section(collected.entries)
    md += submissions.section(collected, submissions_rel)
    md += not_counted.section(collected)
    md += compute.section(collected)
    md += all_results.section(collected)
    return "\n".join(md).rstrip() + "\n"
