"""The markdown leaderboard, rendered with tabulate from the result files of the submissions.

Sections: (1) methods on the control benchmark, per track (the paper's two-layer placements, ranked
by accuracy@2; single layers, ranked by accuracy@1), mean ± sd over seeds, then the neuron ground
truth (recall@k of the planted neurons per method against random); (2) where memorisation
lives: M-CoG per task and method for each model (mean ± sd over seeds, and the paper's pooling of the
seeds); (3) agreement between methods (per-model Spearman across tasks; the paper's Pearson over all
model × task points); (4) figures (written by ``leaderboard_figures``); then the results left out by
the memorisation guard, the submissions and every result in detail. Results whose memorising model did
not memorise (``Result.memorisation_guard``) enter no mean, ranking or correlation. The same inputs give byte-identical markdown: rows are sorted, nothing
time-dependent is printed, and text from results is escaped before it enters the page.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from tabulate import tabulate

from memlocbench.scoring.layer_weights import layer_ranking, mcog, normalise
from memlocbench.leaderboard.analyses_section import read_analysis_into
from memlocbench.leaderboard.analyses_section import section as analyses_section
from memlocbench.config.profiles import config_hash
from memlocbench.results.run_result import Result, read_result, setup_label, setup_order
from memlocbench.leaderboard.verification import VERIFICATION, VerificationRecord, read_record, verified_files

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
SUBMISSION_META = "submission.json"


def md_escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))


def file_slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


class SubmissionMeta(BaseModel):
    """``submission.json`` of a submission folder (written by ``memlocbench submit``)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    slug: str
    description: str = ""
    not_run: dict[str, str] = {}
    results: list[str] = []


@dataclass(frozen=True)
class Entry:
    submission: str  # display name
    result: Result
    verified: bool | None = None  # re-run by `memlocbench verify`: within tolerance or not; None: not re-run


@dataclass
class Collected:
    entries: list[Entry] = field(default_factory=list)
    submissions: list[SubmissionMeta] = field(default_factory=list)
    verifications: dict[str, VerificationRecord] = field(default_factory=dict)  # display name -> record
    problems: list[str] = field(default_factory=list)
    analyses: list = field(default_factory=list)  # leaderboard_analyses.AnalysisEntry


def result_files(folder: Path) -> list[Path]:
    """The result files of a submission or results folder (recursively; no metadata, summaries or
    staging folders)."""
    folder = Path(folder)
    return [p for p in sorted(folder.rglob("*.json"))
            if p.name not in (SUBMISSION_META, VERIFICATION) and not p.name.endswith(".summary.json")
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


def read_meta(folder: Path) -> SubmissionMeta:
    """``submission.json`` of a submission folder; the folder name stands in where it is missing."""
    meta_path = Path(folder) / SUBMISSION_META
    if not meta_path.is_file():
        return SubmissionMeta(name=Path(folder).name, slug=Path(folder).name)
    return SubmissionMeta.model_validate(json.loads(meta_path.read_text(encoding="utf-8")))


def _read_dir(folder: Path, name: str, out: Collected) -> None:
    verified: dict[str, bool] = {}
    try:
        record = read_record(folder)
    except (ValueError, ValidationError) as exc:
        out.problems.append(f"{folder / VERIFICATION}: {str(exc).splitlines()[0]}")
    else:
        if record is not None:
            out.verifications[name] = record
            verified = verified_files(folder, record)
    for path in result_files(folder):
        if read_analysis_into(out, path, name):  # analysis results: their own schema and section
            continue
        try:
            out.entries.append(Entry(name, read_result(path), verified.get(path.name)))
        except Exception as exc:  # invalid files are reported, never trusted
            out.problems.append(f"{path}: {str(exc).splitlines()[0]}")


def collect(submissions_dir: Path | None, extra_dirs: list[Path] = ()) -> Collected:
    """Every valid result in ``submissions_dir/<slug>/`` and in ``extra_dirs`` (recursively)."""
    out = Collected()
    if submissions_dir is not None and Path(submissions_dir).is_dir():
        for folder in sorted(p for p in Path(submissions_dir).iterdir() if p.is_dir() and not p.name.startswith(".")):
            try:
                meta = read_meta(folder)
            except (ValueError, ValidationError) as exc:
                meta = SubmissionMeta(name=folder.name, slug=folder.name)
                out.problems.append(f"{folder / SUBMISSION_META}: {str(exc).splitlines()[0]}")
            out.submissions.append(meta)
            _read_dir(folder, meta.name, out)
    for d in extra_dirs:
        if Path(d).is_dir():
            name = f"local results ({Path(d).name})"
            out.submissions.append(SubmissionMeta(name=name, slug=file_slug(name),
                                                  description=f"result files read from {d}"))
            _read_dir(Path(d), name, out)
    return out


# -- aggregation -------------------------------------------------------------------------------
def memorised(r: Result) -> bool:
    """The memorisation guard: results of models that did not memorise are left out of every
    mean, ranking and correlation (a result without statistics counts)."""
    return r.memorisation_guard is None or r.memorisation_guard.memorised


def excluded(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if not memorised(e.result)]


def setting_hash(r: Result) -> str:
    """The run's config without the model seed: results that differ only in seed share a setting."""
    cfg = copy.deepcopy(r.config)
    cfg.get("train", {}).pop("seed", None)
    cfg.pop("seeds", None)
    return config_hash(cfg)


def mean_sd(values: list[float], digits: int = 2) -> str:
    m = statistics.fmean(values)
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


@dataclass
class Cell:
    results: list[Result]

    @property
    def mcog(self) -> float:
        return statistics.fmean(r.mcog for r in self.results)

    @property
    def profile(self) -> list[float]:
        return [statistics.fmean(vals) for vals in zip(*(r.profile for r in self.results))]

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seeds.get("model_seed", 0) for r in self.results})

    @property
    def pooled_mcog(self) -> float:
        """The paper's seed aggregation: raw per-layer weights (linear in the per-window errors)
        averaged over seeds, then one profile and one M-CoG."""
        return mcog(normalise([statistics.fmean(v) for v in zip(*(r.profile_raw for r in self.results))]))

    def text(self) -> str:
        return mean_sd([r.mcog for r in self.results])


@dataclass
class ModelTable:
    """Section 2 for one model: cells[(task, column)], columns = methods (with the submission when
    several submissions cover the same method)."""

    model: str
    columns: list[str]
    cells: dict[tuple[str, str], Cell]
    tasks: list[str]  # sorted by the mean over the paper's four methods (``row_mean``)
    num_layers: int
    skipped_settings: int = 0

    def paper_mcogs(self, task: str) -> list[float]:
        """The row's M-CoGs of the paper's four layer methods (columns may carry a submission suffix)."""
        from memlocbench.run.method_run import PAPER_METHODS  # (lazy: the pipeline imports torch)

        return [self.cells[(task, c)].mcog for c in self.columns
                if c.split(" (")[0] in PAPER_METHODS and (task, c) in self.cells]

    def row_mean(self, task: str) -> float:
        """Mean M-CoG of the paper's four layer methods present in the row (of every method where none
        is): a task with neuron-level results beside them is not shifted by them."""
        vals = self.paper_mcogs(task) or [self.cells[(task, c)].mcog for c in self.columns if (task, c) in self.cells]
        return statistics.fmean(vals)

    def noisy_fit(self, task: str) -> float:
        fits = [r.memorisation["memorising"].noisy_fit_perturbed
                for c in self.columns if (task, c) in self.cells for r in self.cells[(task, c)].results]
        return statistics.fmean(fits)


def _pick_setting(results: list[Result]) -> tuple[list[Result], int]:
    """Results of one cell that share a setting: the setting with the most seeds (ties: the most
    recent), plus how many other settings were left out."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(setting_hash(r), []).append(r)
    best = max(groups.values(), key=lambda rs: (len(rs), max(r.created_at for r in rs), setting_hash(rs[0])))
    return best, len(groups) - 1


def model_tables(entries: list[Entry]) -> list[ModelTable]:
    plain = [e for e in entries if e.result.control is None and memorised(e.result)]
    tables = []
    for model in sorted({e.result.model.name for e in plain}):
        mine = [e for e in plain if e.result.model.name == model]
        subs_per_method: dict[str, set[str]] = {}
        for e in mine:
            subs_per_method.setdefault(e.result.method.name, set()).add(e.submission)

        def column(e: Entry) -> str:
            m = e.result.method.name
            return m if len(subs_per_method[m]) == 1 else f"{m} ({e.submission})"

        grouped: dict[tuple[str, str], list[Result]] = {}
        for e in mine:
            grouped.setdefault((e.result.task.name, column(e)), []).append(e.result)
        cells, skipped = {}, 0
        for key, rs in grouped.items():
            chosen, left_out = _pick_setting(rs)
            cells[key] = Cell(sorted(chosen, key=lambda r: r.seeds.get("model_seed", 0)))
            skipped += left_out
        columns = sorted({c for _, c in cells})
        table = ModelTable(model, columns, cells, [], num_layers=mine[0].result.num_layers, skipped_settings=skipped)
        table.tasks = sorted({t for t, _ in cells}, key=lambda t: (table.row_mean(t), t))
        tables.append(table)
    return tables


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (scipy), NaN when undefined (fewer than 3 pairs or a constant side)."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return math.nan
    from scipy.stats import spearmanr

    return float(spearmanr(xs, ys).statistic)


def pearson(xs: list[float], ys: list[float]) -> float:
    """Pearson's r (scipy), NaN when undefined (fewer than 3 pairs or a constant side)."""
    if len(xs) < 3 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return math.nan
    from scipy.stats import pearsonr

    return float(pearsonr(xs, ys).statistic)


def pooled_agreement(tables: list[ModelTable]) -> list[tuple[str, str, float, int]]:
    """The paper's agreement: Pearson r of M-CoG over all model × task points both methods cover."""
    methods = sorted({c for t in tables for c in t.columns})
    rows = []
    for i, a in enumerate(methods):
        for b in methods[i + 1 :]:
            pts = [(t.cells[(k, a)].mcog, t.cells[(k, b)].mcog) for t in tables for k in t.tasks
                   if (k, a) in t.cells and (k, b) in t.cells]
            if pts:
                rows.append((a, b, pearson([x for x, _ in pts], [y for _, y in pts]), len(pts)))
    return rows


def agreement(table: ModelTable) -> list[tuple[str, str, float, int]]:
    rows = []
    for i, a in enumerate(table.columns):
        for b in table.columns[i + 1 :]:
            tasks = [t for t in table.tasks if (t, a) in table.cells and (t, b) in table.cells]
            rho = spearman([table.cells[(t, a)].mcog for t in tasks], [table.cells[(t, b)].mcog for t in tasks])
            rows.append((a, b, rho, len(tasks)))
    return rows


@dataclass
class ControlRow:
    submission: str
    model: str
    method: str
    acc1: float
    acc2: float
    chance: float
    tasks: int
    placements: int
    seeds: list[int]
    compute_seconds: float
    machines: list[str]
    track: str = "pair"
    acc1_text: str = ""  # mean ± sd over seeds (each seed: the mean over tasks and placements)
    acc2_text: str = ""
    rank_text: str = ""  # rank of the true layer, mean ± sd over seeds
    seeds_text: str = ""  # the seeds in the means, and any left out (complete_seeds)


def _machine(r: Result) -> str:
    env = r.environment
    return f"{env.get('machine', '?')}, {env.get('torch_threads', '?')} threads"


def _track_groups(entries: list[Entry], tracks) -> dict[tuple[str, str, str, str], list[Result]]:
    """Memorised results of the control ``tracks``, by (submission, model, method, track)."""
    groups: dict[tuple[str, str, str, str], list[Result]] = {}
    for e in entries:
        if e.result.control is not None and e.result.control.track in tracks and memorised(e.result):
            key = (e.submission, e.result.model.name, e.result.method.name, e.result.control.track)
            groups.setdefault(key, []).append(e.result)
    return groups


def _seed(r: Result) -> int:
    return r.seeds.get("model_seed", 0)


def _unit(r: Result) -> tuple[str, tuple[int, ...]]:
    """What a seed must cover: the task and the control placement (the neuron track has none)."""
    return r.task.name, tuple(getattr(r.control, "placement", None) or ())


def complete_seeds(rs: list[Result]) -> tuple[list[int], list[int]]:
    """The model seeds of ``rs`` that cover every (task, placement) of ``rs``, and the others.

    Each seed's value is the mean over its results, so seeds are comparable only over the same tasks and
    placements: a seed that lacks some (a grid still running) would mix task differences into the spread
    over seeds and give its tasks more weight in the mean. Such a seed is left out of the means."""
    units = {_unit(r) for r in rs}
    covered: dict[int, set] = {}
    for r in rs:
        covered.setdefault(_seed(r), set()).add(_unit(r))
    complete = sorted(s for s, u in covered.items() if u == units)
    return complete, sorted(set(covered) - set(complete))


def over_seeds(rs: list[Result], value, digits: int = 2) -> str:
    """mean ± sd of ``value`` over the complete model seeds (each seed's value: the mean over its
    results). When no seed covers every task and placement: the mean over all results, with no ±."""
    complete, _ = complete_seeds(rs)
    if not complete:
        return f"{statistics.fmean(value(r) for r in rs):.{digits}f}"
    return mean_sd([statistics.fmean(value(r) for r in rs if _seed(r) == s) for s in complete], digits)


def _in_means(rs: list[Result]) -> list[Result]:
    """The results that the means use: those of the complete seeds (all of them when there is none)."""
    complete, _ = complete_seeds(rs)
    return [r for r in rs if _seed(r) in complete] if complete else rs


def seeds_text(rs: list[Result]) -> str:
    """The seeds column: the seeds in the means, and why any other is not."""
    complete, left_out = complete_seeds(rs)
    if not complete:
        return ", ".join(map(str, left_out)) + (" (no seed covers every task and placement: pooled, no ±)"
                                                 if len(left_out) > 1 else "")
    return ", ".join(map(str, complete)) + (f" ({', '.join(map(str, left_out))}: incomplete, not in the means)"
                                            if left_out else "")


def control_rows(entries: list[Entry]) -> list[ControlRow]:
    rows = []
    for (sub, model, method, track), rs in _track_groups(entries, ("pair", "single")).items():
        means = _in_means(rs)
        # Compute: every method run, plus each model's training once (later runs reuse it from the store).
        trained = {}
        for r in rs:
            for role, st in r.memorisation.items():
                trained[(r.task.name, r.config_hash, tuple(r.control.placement), role)] = st.train_seconds
        rows.append(ControlRow(
            sub, model, method,
            acc1=statistics.fmean(r.control.accuracy_at_1 for r in means),
            acc2=statistics.fmean(r.control.accuracy_at_2 for r in means),
            chance=statistics.fmean(r.control.chance for r in rs),
            tasks=len({r.task.name for r in rs}),
            placements=len({tuple(r.control.placement) for r in rs}),
            seeds=sorted({r.seeds.get("model_seed", 0) for r in rs}),
            compute_seconds=sum(r.timings.get("method", 0.0) for r in rs) + sum(trained.values()),
            machines=sorted({_machine(r) for r in rs}),
            track=track,
            acc1_text=over_seeds(rs, lambda r: r.control.accuracy_at_1),
            acc2_text=over_seeds(rs, lambda r: r.control.accuracy_at_2),
            rank_text=over_seeds(rs, _true_rank),
            seeds_text=seeds_text(rs),
        ))
    return sorted(rows, key=lambda c: (c.track != "pair", c.track, *_rank_key(c), c.method, c.submission, c.model))


@dataclass
class NeuronRow:
    """One method on the neuron ground-truth track (one submission and model)."""

    submission: str
    model: str
    method: str
    recall: float | None  # recall@k, mean over results; None for a layer method
    recall_text: str  # mean ± sd over seeds, or n/a
    recall2_text: str
    random_text: str  # random recall@k and @2k
    acc1_text: str  # the top layer holds the most planted neurons
    chance: float
    tasks: int
    seeds: list[int]
    seeds_text: str = ""


def neuron_rows(entries: list[Entry]) -> list[NeuronRow]:
    """The neuron track, per method: recall@k of neuron methods against random, and every method's
    top layer against the layers holding the most planted neurons. Neuron methods first, by recall@k."""
    rows = []
    for (sub, model, method, _), rs in _track_groups(entries, ("neurons",)).items():
        neuron = all(r.control.top is not None for r in rs)
        rows.append(NeuronRow(
            sub, model, method,
            recall=statistics.fmean(r.control.recall_at_k for r in _in_means(rs)) if neuron else None,
            recall_text=over_seeds(rs, lambda r: r.control.recall_at_k, 3) if neuron else "n/a (layer method)",
            recall2_text=over_seeds(rs, lambda r: r.control.recall_at_2k, 3) if neuron else "n/a",
            random_text=f"{statistics.fmean(r.control.random_recall_at_k for r in rs):.3f} / "
                        f"{statistics.fmean(r.control.random_recall_at_2k for r in rs):.3f}",
            acc1_text=over_seeds(rs, lambda r: r.control.accuracy_at_1),
            chance=statistics.fmean(r.control.chance for r in rs),
            tasks=len({r.task.name for r in rs}),
            seeds=sorted({_seed(r) for r in rs}),
            seeds_text=seeds_text(rs),
        ))
    return sorted(rows, key=lambda n: (n.model, n.recall is None, -(n.recall or 0.0), n.method, n.submission))


def neuron_section(entries: list[Entry]) -> list[str]:
    """The "Neuron ground truth" section: per model, recall@k per method against random."""
    md = ["## Neuron ground truth", ""]
    rows = neuron_rows(entries)
    if not rows:
        return md + ["_No neuron-track results yet._", ""]
    for model in sorted({n.model for n in rows}):
        mine = [n for n in rows if n.model == model]
        md += [f"### {md_escape(model)}", "",
               tabulate([[md_escape(n.method), md_escape(n.submission), n.recall_text, n.recall2_text, n.random_text,
                          n.acc1_text, f"{n.chance:.2f}", n.tasks, n.seeds_text] for n in mine],
                        headers=["method", "submission", "recall@k", "recall@2k", "random (@k / @2k)",
                                 "top layer holds most planted", "chance", "tasks", "seeds"],
                        tablefmt="github", disable_numparse=True), ""]
    md += ["The main task could update only a random 1% of the feed-forward neurons (k of them, drawn with the "
           "model seed; their output weights), the clean auxiliary task everything else. *recall@k*: the share of "
           "the planted neurons among a neuron method's top k (and top 2k) neurons; *random*: the expected recall "
           "of as many random neurons (k / all neurons). Layer methods have no neuron ranking: only whether their "
           "top layer is one holding the most planted neurons is scored (also shown for neuron methods, whose "
           "profile is the top-1% share). Mean ± standard deviation over model seeds (each seed: the mean over "
           "tasks; a seed that lacks some of the row's tasks is left out of the means).", ""]
    return md


def _true_rank(r: Result) -> float:
    """The rank of the best-ranked placement layer (results written before it was recorded: from the profile)."""
    if r.control.true_layer_rank is not None:
        return r.control.true_layer_rank
    order = layer_ranking(r.profile)
    return 1 + min(order.index(i) for i in r.control.placement)


def _rank_key(c: ControlRow) -> tuple:
    """Higher is better first: the pair track by accuracy@2 then @1; the single track by accuracy@1
    then the mean rank of the true layer (lower is better)."""
    mean_rank = float(c.rank_text.split(" ")[0])
    return (-c.acc2, -c.acc1) if c.track == "pair" else (-c.acc1, mean_rank)


# -- rendering ---------------------------------------------------------------------------------
def figure_paths(table: ModelTable) -> dict[str, str]:
    """File names (inside the figures folder) of a model's figures: one heatmap per column, plus the
    M-CoG summary under the key ''."""
    paths = {c: f"{file_slug(table.model)}__{file_slug(c)}__profiles.png" for c in table.columns}
    paths[""] = f"{file_slug(table.model)}__mcog.png"
    return paths


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def render(collected: Collected, *, all_tasks: list[str] = (), figures_rel: str | None = None) -> str:
    """The page. ``all_tasks``: registered task names, so tasks without any result are listed as
    not run; ``figures_rel``: the figures folder relative to the page (None: no figure section)."""
    entries = collected.entries
    md = ["# memlocbench leaderboard", "",
          "Generated by `memlocbench leaderboard` from `leaderboard/submissions/`; do not edit by hand. "
          "To add results, see [Submitting results](CONTRIBUTING.md).", "",
          "*M-CoG* is the centre of gravity of a method's normalised per-layer profile, layers numbered 1..L "
          "(low: memorisation in lower layers). *Noisy fit* is the share of noisy training examples that the "
          "memorising model predicts as their perturbed label. *accuracy@1*: the top-ranked layer is one of the "
          "two layers the control setup forced memorisation into; *accuracy@2*: the share of the top two "
          "layers that are.", ""]

    left_out = excluded(entries)
    md += [f"**Memorisation guard:** {len(left_out)} of {len(entries)} results are left out of every mean, "
           "ranking and correlation because their memorising model did not memorise (noisy fit below the "
           "threshold, or a clean twin that fits the perturbed labels); they are listed, with the reason, under "
           "[Left out: not memorised](#left-out-not-memorised).", ""]

    md += ["## 1. Methods on the control benchmark", ""]
    crow = control_rows(entries)
    if crow:
        titles = {"pair": "Two-layer placements (the paper's track)",
                  "single": "Single-layer placements (the main task may update one layer, each in turn)"}
        for track in sorted({c.track for c in crow}, key=lambda t: (t != "pair", t)):
            mine = [c for c in crow if c.track == track]
            ranks = [1 + sum(_rank_key(o) < _rank_key(c) for o in mine) for c in mine]  # ties share a rank
            rows = [[ranks[i], md_escape(c.method), md_escape(c.model), md_escape(c.submission), c.acc2_text,
                     c.acc1_text, c.rank_text, f"{c.chance:.2f}", c.tasks, c.placements, c.seeds_text,
                     f"{c.compute_seconds:.0f}", md_escape("; ".join(c.machines))] for i, c in enumerate(mine)]
            md += [f"### {titles.get(track, md_escape(track))}", "",
                   tabulate(rows, headers=["rank", "method", "model", "submission", "accuracy@2", "accuracy@1",
                                           "rank of true layer", "chance (acc@1)", "tasks", "placements", "seeds",
                                           "compute (s)", "machine"], tablefmt="github", disable_numparse=True), ""]
        md += ["Mean ± standard deviation over model seeds (each seed: the mean over tasks and placements; no "
               "± with one seed; a seed that lacks some of the row's tasks or placements is left out of the means). Ranked by accuracy@2, then accuracy@1 (two-layer track) or by accuracy@1, then "
               "the rank of the true layer (single-layer track). Rank of true layer: the position of the "
               "best-ranked placement layer in the method's ranking (1 = top). Compute: wall seconds of the "
               "method runs plus the training of each control model once.", ""]
    else:
        md += ["_No control results yet._", ""]

    md += neuron_section(entries)

    tables = model_tables(entries)
    md += ["## 2. Where memorisation lives", ""]
    if not tables:
        md += ["_No results yet._", ""]
    for t in tables:
        md += [f"### {md_escape(t.model)}", ""]
        rows = []
        for task in t.tasks:
            rows.append([md_escape(task), f"{t.noisy_fit(task):.2f}"]
                        + [t.cells[(task, c)].text() if (task, c) in t.cells else "" for c in t.columns]
                        + [f"{t.row_mean(task):.2f}"])
        not_run = _not_run(collected, t, all_tasks)
        for task, _ in not_run:
            rows.append([md_escape(task), "", *(["not run"] * len(t.columns)), ""])
        md.append(tabulate(rows, headers=["task", "noisy fit"] + [md_escape(c) for c in t.columns] + ["mean"],
                           tablefmt="github", disable_numparse=True))
        md += [""] + [f"Not run: {md_escape(task)}: {md_escape(why)}." for task, why in not_run]
        seeds = sorted({s for c in t.cells.values() for s in c.seeds})
        md += ["", f"M-CoG (1..{t.num_layers}); mean ± standard deviation over model seeds where there are "
               f"several (seeds here: {', '.join(map(str, seeds))}). *mean*: the mean M-CoG of the paper's four "
               "layer methods (of every method in a row without them); tasks sorted by it."]
        if t.skipped_settings:
            md.append(f"{t.skipped_settings} result group(s) with other settings for the same cell are listed "
                      "under All results only.")
        md.append("")
        if any(len(c.results) > 1 for c in t.cells.values()):
            md += ["Seeds pooled the paper's way (per-window errors, or raw layer weights, averaged over seeds, "
                   "then one profile and one M-CoG):", "",
                   tabulate([[md_escape(task)] + [f"{t.cells[(task, c)].pooled_mcog:.2f}" if (task, c) in t.cells
                                                  else "" for c in t.columns] for task in t.tasks],
                            headers=["task"] + [md_escape(c) for c in t.columns], tablefmt="github",
                            disable_numparse=True), ""]
        else:
            md += ["One seed per cell: the paper's pooling of seeds (averaging per-window errors, then one "
                   "profile) gives the same M-CoG.", ""]

    md += ["## 3. Agreement between methods", ""]
    any_pairs = False
    for t in tables:
        pairs = agreement(t)
        if not pairs:
            continue
        any_pairs = True
        md += [f"### {md_escape(t.model)}", "",
               tabulate([[md_escape(a), md_escape(b), _fmt(rho), n] for a, b, rho, n in pairs],
                        headers=["method", "method", "Spearman ρ of M-CoG", "tasks"], tablefmt="github",
                        disable_numparse=True),
               "", "Over the tasks both methods cover; n/a with fewer than 3 tasks or a constant M-CoG.", ""]
    if not any_pairs:
        md += ["_Needs two methods on the same model._", ""]
    pooled = pooled_agreement(tables)
    if pooled:
        md += ["### All models (the paper's measure)", "",
               tabulate([[md_escape(a), md_escape(b), _fmt(r), n] for a, b, r, n in pooled],
                        headers=["method", "method", "Pearson r of M-CoG", "model × task points"], tablefmt="github",
                        disable_numparse=True),
               "", "Pearson over every model × task point both methods cover, as the paper's code; n/a with fewer "
               "than 3 points or a constant M-CoG.", ""]

    if figures_rel is not None and tables:
        md += ["## 4. Figures", ""]
        for t in tables:
            paths = figure_paths(t)
            md += [f"### {md_escape(t.model)}", "",
                   f"![M-CoG per task and method, {md_escape(t.model)}]({figures_rel}/{paths['']})", ""]
            for c in t.columns:
                md += [f"![{md_escape(c)}: per-layer profile per task]({figures_rel}/{paths[c]})", ""]

    md += ["## Left out: not memorised", ""]
    if left_out:
        rows = []
        for e in sorted(left_out, key=lambda e: (e.result.model.name, e.result.task.name, e.result.method.name,
                                                 setup_order(e.result), e.result.seeds.get("model_seed", 0),
                                                 e.submission)):
            r, g = e.result, e.result.memorisation_guard
            setup = setup_label(r)
            rows.append([f"_{md_escape(r.model.name)}_", f"_{md_escape(r.task.name)}_", f"_{md_escape(r.method.name)}_",
                         setup, r.seeds.get("model_seed", ""), f"{g.noisy_fit:.2f}", f"{g.clean_twin_fit:.2f}",
                         g.epochs_trained if g.epochs_trained is not None else "", f"_{md_escape(g.reason)}_",
                         md_escape(e.submission)])
        md += [tabulate(rows, headers=["model", "task", "method", "setup", "seed", "noisy fit", "clean twin fit",
                                       "epochs", "reason", "submission"], tablefmt="github", disable_numparse=True),
               "", f"{len(left_out)} result(s). Thresholds: the result's own (`config.guard`; results written before "
               "the guard existed use the defaults, noisy fit ≥ 0.90 and clean twin ≤ 0.25).", ""]
    else:
        md += ["_None._", ""]

    md += analyses_section(collected, tables, figures_rel)

    md += ["## Submissions", ""]
    if collected.submissions:
        md.append(tabulate(
            [[md_escape(s.name), sum(e.submission == s.name for e in entries), _verified_text(collected, s.name),
              md_escape(s.description)]
             for s in sorted(collected.submissions, key=lambda s: s.name)],
            headers=["submission", "results", "verified", "description"], tablefmt="github", disable_numparse=True))
        md += ["", "*Verified*: results re-run by `memlocbench verify` from their recorded configs and found within "
               "its tolerance (see CONTRIBUTING.md); a result edited after verification no longer counts."]
    else:
        md.append("_None yet._")
    md += ["", "## All results", ""]
    rows = []
    for e in sorted(entries, key=lambda e: (e.result.model.name, e.result.task.name, e.result.method.name,
                                            setup_order(e.result), e.result.config_hash, e.submission)):
        r = e.result
        mem, clean = r.memorisation["memorising"], r.memorisation["clean"]
        setup = setup_label(r)
        rows.append([md_escape(r.model.name), md_escape(r.task.name), md_escape(r.method.name), setup,
                     md_escape(r.profile_name), r.sizes.get("effective_train_size", ""), r.sizes.get("n_noisy", ""),
                     r.seeds.get("model_seed", ""), f"{mem.noisy_fit_perturbed:.2f}", f"{clean.noisy_fit_perturbed:.2f}",
                     " ".join(f"{w:.2f}" for w in r.profile), f"{r.mcog:.2f}",
                     "yes" if memorised(r) else "~~no~~ (left out)", md_escape(e.submission),
                     {None: "", True: "yes", False: "FAILED"}[e.verified]])
    md.append(tabulate(rows, headers=["model", "task", "method", "setup", "profile", "train", "noisy", "seed",
                                      "noisy fit (mem.)", "noisy fit (clean twin)", "profile (layers 1..L)", "M-CoG",
                                      "memorised", "submission", "verified"], tablefmt="github", disable_numparse=True)
              if rows else "_No results yet._")
    return "\n".join(md).rstrip() + "\n"


def _verified_text(collected: Collected, name: str) -> str:
    record = collected.verifications.get(name)
    mine = [e.verified for e in collected.entries if e.submission == name and e.verified is not None]
    if record is None or not mine:
        return "no"
    failed = sum(not v for v in mine)
    outcome = "all within tolerance" if not failed else f"{failed} outside tolerance"
    return f"{len(mine)} of {sum(e.submission == name for e in collected.entries)} re-run, {outcome} " \
           f"({md_escape(record.verified_at[:10])})"


def _not_run(collected: Collected, table: ModelTable, all_tasks) -> list[tuple[str, str]]:
    reasons: dict[str, str] = {}
    for s in sorted(collected.submissions, key=lambda s: s.name):
        for task, why in s.not_run.items():
            reasons.setdefault(task, why)
    covered = set(table.tasks)
    names = sorted((set(all_tasks) | set(reasons)) - covered)
    return [(n, reasons.get(n, "no results submitted")) for n in names]


def relpath(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()
