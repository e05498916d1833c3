"""Section 2, "Where memorisation lives": per model, the M-CoG of every task and method over model seeds,
layer methods and neuron methods in separate grids with the tasks by name; beside each grid the lowest and
highest M-CoG each method's aggregation can give on the model's L layers (``scoring.mcog_bounds``), the
cells whose profile the method flags as degenerate (``aggregate.flags``), the paper's pooling of the seeds,
and the model's figures."""

from __future__ import annotations

from memlocbench.leaderboard.aggregate.flags import Flag, cell_flags
from memlocbench.leaderboard.aggregate.tables import ModelTable, column_method, split_columns
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.figure_files import figure_paths
from memlocbench.leaderboard.markdown import MIN_POINTS, md_escape, table
from memlocbench.leaderboard.method_spec import MethodSpec
from memlocbench.scoring.layer_weights import mcog_bounds

INTRO = ("Where in the network does each method place memorisation? *M-CoG* is the centre of gravity of a "
         "method's normalised per-layer profile, layers numbered 1..L (low: memorisation in lower layers); "
         "*noisy fit* is the share of noisy training examples the memorising model predicts as their perturbed "
         "label.")
FLAGGED, UNCHECKED = "†", "‡"


def not_run(collected: Collected, t: ModelTable, all_tasks: list[str]) -> list[tuple[str, str]]:
    """(task, reason) of the registered or declared-not-run tasks that ``t`` has no results for."""
    reasons: dict[str, str] = {}
    for s in sorted(collected.submissions, key=lambda s: s.name):
        for task, why in s.not_run.items():
            reasons.setdefault(task, why)
    names = sorted((set(all_tasks) | set(reasons)) - set(t.tasks))
    return [(n, reasons.get(n, "no results submitted")) for n in names]


def _noisy_fit(t: ModelTable, task: str, columns: list[str]) -> str:
    fits = [r.memorisation["memorising"].noisy_fit_perturbed
            for c in columns if (task, c) in t.cells for r in t.cells[(task, c)].results]
    return f"{sum(fits) / len(fits):.2f}"


def _where(t: ModelTable, f: Flag) -> str:
    """The flagged cell's task, with the model seeds the flag holds for where not all of the cell's."""
    if list(f.seeds) == t.cells[(f.task, f.column)].seeds:
        return md_escape(f.task)
    return f"{md_escape(f.task)} (model seed{'s' if len(f.seeds) > 1 else ''} {', '.join(map(str, f.seeds))})"


def _marks(t: ModelTable, flags: list[Flag]) -> tuple[dict[tuple[str, str], str], list[str]]:
    """The marks of each flagged cell and the footnotes, one per method and reason, numbered in the grid's
    order."""
    numbers: dict[tuple[str, str, bool], int] = {}
    cells: dict[int, list[str]] = {}
    marks: dict[tuple[str, str], str] = {}
    for f in flags:
        n = numbers.setdefault((f.column, f.reason, f.checked), len(numbers) + 1)
        cells.setdefault(n, []).append(_where(t, f))
        marks[(f.task, f.column)] = marks.get((f.task, f.column), "") + f" {FLAGGED if f.checked else UNCHECKED}{n}"
    notes = []
    for (column, reason, checked), n in numbers.items():
        what = md_escape(reason) if checked else f"could not check: its flags() raised {md_escape(reason)}"
        notes.append(f"- {FLAGGED if checked else UNCHECKED}{n} {md_escape(column)}, {', '.join(cells[n])}: {what}")
    return marks, notes


def _grid(t: ModelTable, columns: list[str], missing: list[tuple[str, str]], marks: dict) -> str:
    tasks = [task for task in t.tasks if any((task, c) in t.cells for c in columns)]
    rows = [[md_escape(task), _noisy_fit(t, task, columns)]
            + [t.cells[(task, c)].text() + marks.get((task, c), "") if (task, c) in t.cells else "" for c in columns]
            for task in tasks]
    rows += [[md_escape(task), "", *(["not run"] * len(columns))] for task, _ in missing]
    return table(rows, ["task", "noisy fit"] + [md_escape(c) for c in columns])


def bounds_table(t: ModelTable, columns: list[str], methods: MethodSpec) -> str:
    """Per method, its aggregation and the lowest and highest M-CoG it can give on the model's layers."""
    rows = []
    for c in columns:
        aggregation = methods.aggregation(column_method(c))
        try:
            low, high = (f"{x:.2f}" for x in mcog_bounds(t.num_layers, aggregation))
        except ValueError:  # an aggregation this version does not know
            low = high = "unknown"
        rows.append([md_escape(c), md_escape(aggregation), low, high])
    return table(rows, ["method", "aggregation", "lowest M-CoG", "highest M-CoG"])


def _pooled(t: ModelTable, columns: list[str]) -> list[str]:
    several = [c for c in columns if any(len(t.cells[k].results) > 1 for k in t.cells if k[1] == c)]
    if not several:
        return []
    rows = [[md_escape(task)] + [f"{t.cells[(task, c)].pooled_mcog:.2f}" if (task, c) in t.cells else ""
                                 for c in several] for task in t.tasks if any((task, c) in t.cells for c in several)]
    return ["Seeds pooled the paper's way (per-window errors, or raw layer weights, averaged over seeds, "
            "then one profile and one M-CoG):", "", table(rows, ["task"] + [md_escape(c) for c in several]), ""]


def _figures(t: ModelTable, columns: list[str], figures_rel: str | None) -> list[str]:
    if figures_rel is None:
        return []
    paths = figure_paths(t)
    return [line for c in columns
            for line in (f"![{md_escape(c)}: per-layer profile per task]({figures_rel}/{paths[c]})", "")]


def _part(title: str, t: ModelTable, columns: list[str], missing: list, methods: MethodSpec,
          figures_rel: str | None) -> list[str]:
    """One grid (layer or neuron methods) with its bounds, flags, pooled seeds and heatmaps."""
    if not columns:
        return []
    marks, notes = _marks(t, cell_flags(t, columns, methods))
    md = [f"#### {title}", "", _grid(t, columns, missing, marks), ""]
    md += [f"Not run: {md_escape(task)}: {md_escape(why)}." for task, why in missing] + ([""] if missing else [])
    md += [f"Flagged cells ({FLAGGED}: the method's `flags` finds the stored profile degenerate; {UNCHECKED}: "
           "its check failed):", "", *notes, ""] if notes else []
    md += [f"The lowest and highest M-CoG each method's aggregation can give on {t.num_layers} layers "
           "(memorisation held by the first layer alone, or by the last):", "", bounds_table(t, columns, methods), ""]
    return md + _pooled(t, columns) + _figures(t, columns, figures_rel)


def _notes(t: ModelTable) -> list[str]:
    seeds = sorted({s for c in t.cells.values() for s in c.seeds})
    md = [f"M-CoG (1..{t.num_layers}): the mean over model seeds (seeds here: {', '.join(map(str, seeds))}), "
          f"± their standard deviation where a cell has at least {MIN_POINTS}; every seed's value is in "
          "[results.csv](results.csv). Tasks by name."]
    if t.skipped_settings:
        md.append(f"{t.skipped_settings} result group(s) with other settings for the same cell are in "
                  "results.csv only.")
    return md + [""]


def _model(collected: Collected, t: ModelTable, all_tasks: list[str], methods: MethodSpec,
           figures_rel: str | None) -> list[str]:
    missing = not_run(collected, t, all_tasks)
    layer, neuron = split_columns(t, methods)
    md = [f"### {md_escape(t.model)}", ""] + _notes(t)
    md += _part("Layer methods", t, layer, missing, methods, figures_rel)
    md += _part("Neuron methods", t, neuron, [] if layer else missing, methods, figures_rel)
    if figures_rel is not None:
        md += [f"![M-CoG per task and method, {md_escape(t.model)}]({figures_rel}/{figure_paths(t)['']})", ""]
    return md


def section(collected: Collected, tables: list[ModelTable], all_tasks: list[str] = (),
            methods: MethodSpec | None = None, figures_rel: str | None = None) -> list[str]:
    """One part per model; ``all_tasks`` (registered tasks) without results are listed as not run."""
    methods = methods if methods is not None else MethodSpec()
    md = ["## 2. Where memorisation lives", "", INTRO, ""]
    if not tables:
        md += ["_No results yet._", ""]
    for t in tables:
        md += _model(collected, t, all_tasks, methods, figures_rel)
    return md
