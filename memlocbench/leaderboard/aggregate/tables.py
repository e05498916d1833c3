"""Section 2's numbers: per model, the M-CoG of every (task, method) cell over its model seeds."""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass

from memlocbench.config.profiles import config_hash
from memlocbench.leaderboard.aggregate.guard import memorised
from memlocbench.leaderboard.aggregate.seeds import model_seed
from memlocbench.leaderboard.collect import Entry
from memlocbench.leaderboard.markdown import mean_sd
from memlocbench.leaderboard.method_spec import MethodSpec
from memlocbench.results.run_result import Result
from memlocbench.scoring.layer_weights import mcog, normalise


def setting_hash(r: Result) -> str:
    """The run's config without the model seed: results that differ only in seed share a setting."""
    cfg = copy.deepcopy(r.config)
    cfg.get("train", {}).pop("seed", None)
    cfg.pop("seeds", None)
    return config_hash(cfg)


@dataclass
class Cell:
    """The results of one (task, method) cell of a model, one per model seed."""

    results: list[Result]

    @property
    def mcog(self) -> float:
        return statistics.fmean(r.mcog for r in self.results)

    @property
    def layer_weights(self) -> list[float]:
        """The per-layer weights, averaged over the cell's results (model seeds)."""
        return [statistics.fmean(vals) for vals in zip(*(r.layer_weights for r in self.results))]

    @property
    def seeds(self) -> list[int]:
        return sorted({model_seed(r) for r in self.results})

    @property
    def pooled_mcog(self) -> float:
        """The paper's seed aggregation: raw per-layer weights (linear in the per-window errors)
        averaged over seeds, then one set of layer weights and one M-CoG."""
        return mcog(normalise([statistics.fmean(v) for v in zip(*(r.raw_weights for r in self.results))]))

    def text(self) -> str:
        return mean_sd([r.mcog for r in self.results])


@dataclass
class ModelTable:
    """Section 2 for one model: cells[(task, column)], columns = methods (with the submission when
    several submissions cover the same method). ``paper_methods``: the paper's methods (None: not
    known, every method counts as one)."""

    model: str
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    tasks: list[str]  # in one fixed order: by name
    num_layers: int
    skipped_settings: int = 0
    paper_methods: frozenset[str] | None = None

    def paper_mcogs(self, task: str) -> list[float]:
        """The row's M-CoGs of the paper's methods (columns may carry a submission suffix)."""
        return [self.cells[(task, c)].mcog for c in self.columns if (task, c) in self.cells
                and (self.paper_methods is None or column_method(c) in self.paper_methods)]

    def column_results(self, column: str) -> list[Result]:
        """Every result of a column, over its tasks."""
        return [r for (_, c), cell in sorted(self.cells.items()) if c == column for r in cell.results]

    def row_mean(self, task: str) -> float:
        """Mean M-CoG of the paper's methods present in the row (of every method where none is): a
        task with neuron-level results beside them is not shifted by them."""
        vals = self.paper_mcogs(task) or [self.cells[(task, c)].mcog for c in self.columns if (task, c) in self.cells]
        return statistics.fmean(vals)

    def noisy_fit(self, task: str) -> float:
        fits = [r.memorisation["memorising"].noisy_fit_perturbed
                for c in self.columns if (task, c) in self.cells for r in self.cells[(task, c)].results]
        return statistics.fmean(fits)


def column_method(column: str) -> str:
    """The method of a column (a column may carry the submission: ``method (submission)``)."""
    return column.split(" (")[0]


def _pick_setting(results: list[Result]) -> tuple[list[Result], int]:
    """Results of one cell that share a setting: the setting with the most seeds (ties: the most
    recent), plus how many other settings were left out."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(setting_hash(r), []).append(r)
    best = max(groups.values(), key=lambda rs: (len(rs), max(r.created_at for r in rs), setting_hash(rs[0])))
    return best, len(groups) - 1


def _grouped(mine: list[Entry]) -> dict[tuple[str, str], list[Result]]:
    """(task, column) -> results; the column is the method, with the submission where several cover it."""
    subs_per_method: dict[str, set[str]] = {}
    for e in mine:
        subs_per_method.setdefault(e.result.method.name, set()).add(e.submission)
    grouped: dict[tuple[str, str], list[Result]] = {}
    for e in mine:
        m = e.result.method.name
        column = m if len(subs_per_method[m]) == 1 else f"{m} ({e.submission})"
        grouped.setdefault((e.result.task.name, column), []).append(e.result)
    return grouped


def _model_table(model: str, mine: list[Entry], paper_methods: frozenset[str] | None) -> ModelTable:
    cells, skipped = {}, 0
    for key, rs in _grouped(mine).items():
        chosen, left_out = _pick_setting(rs)
        cells[key] = Cell(sorted(chosen, key=model_seed))
        skipped += left_out
    table = ModelTable(model, sorted({c for _, c in cells}), cells, [], num_layers=mine[0].result.num_layers,
                       skipped_settings=skipped, paper_methods=paper_methods)
    table.tasks = sorted({t for t, _ in cells})
    return table


def model_tables(entries: list[Entry], paper_methods: frozenset[str] | None = None) -> list[ModelTable]:
    """One table per model, of the memorised results outside the control tracks."""
    plain = [e for e in entries if e.result.control is None and memorised(e.result)]
    return [_model_table(model, [e for e in plain if e.result.model.name == model], paper_methods)
            for model in sorted({e.result.model.name for e in plain})]


def split_columns(t: ModelTable, methods: MethodSpec) -> tuple[list[str], list[str]]:
    """The columns of layer methods and those of neuron methods (``MethodSpec.is_neuron_method``)."""
    neuron = [c for c in t.columns
              if methods.is_neuron_method(column_method(c), [r.details for r in t.column_results(c)])]
    return [c for c in t.columns if c not in neuron], neuron
