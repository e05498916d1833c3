"""``memlocbench``: run methods, list plugins, build the leaderboard."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import click
from tabulate import tabulate

from memlocbench import __version__
from memlocbench.errors import InvalidInputError, MemlocbenchError, MemlocbenchWarning
from memlocbench.registry import Plugins, PluginWarning, load_plugins
from memlocbench.config.profiles import MAX_EPOCHS, MAX_SEED


def _plugins() -> Plugins:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        plugins = load_plugins()
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    return plugins


def _show_warning(message, category, filename, lineno, file=None, line=None, _default=warnings.showwarning):
    if issubclass(category, MemlocbenchWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        _default(message, category, filename, lineno, file, line)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except MemlocbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="memlocbench")
def main() -> None:
    """Where in a trained network does memorisation live? (Dankers & Titov, 2024)"""


@main.command("list")
@click.argument("kind", type=click.Choice(["tasks", "models", "methods", "analyses", "executors"]))
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_DATA_DIR",
              help="with tasks: a local mirror, to show sizes and noisy counts (data seed 1)")
def list_cmd(kind: str, data_dir: Path | None) -> None:
    """Show the registered tasks, models, methods, analyses or grid executors and the package providing each."""
    plugins = _plugins()
    reg = plugins.registry({"analyses": "analysis"}.get(kind, kind[:-1]))
    rows, notes = [], []
    for name in reg.names():
        obj, prov = reg.items[name], reg.provider(name)
        package = f"{prov.package} {prov.version}"
        if kind == "tasks":
            meta = obj.metadata
            row = [name, meta.description, meta.num_labels]
            if data_dir is not None:
                from memlocbench.run.task_summary import task_sizes

                sizes = task_sizes(obj, data_dir)
                if isinstance(sizes, str):
                    row += ["n/a"] * 4
                    notes.append(f"{name}: {sizes}")
                else:
                    row += [sizes["train"], sizes["validation"], sizes["test"], sizes["noisy"]]
            rows.append(row + [package])
        else:
            description = obj.description if kind == "executors" else obj.info.description
            rows.append([name, description, package])
    headers = ["name", "what it is"]
    if kind == "tasks":
        headers += ["labels"] + (["train", "validation", "test", "noisy (seed 1)"] if data_dir else [])
    click.echo(tabulate(rows, headers=headers + ["package"], tablefmt="github"))
    for note in notes:
        click.echo(f"\n{note}")


def _run_options(f):
    """The task, model, data and training options shared by ``run`` and ``analyse``."""
    options = [
        click.option("--task", required=True, help="classification task, e.g. sst2"),
        click.option("--model", default="minilm-l6", show_default=True, help="model adapter"),
        click.option("--profile", default="cpu", show_default=True,
                     help="named settings: cpu, cpu-fast (bf16 and other speed-ups) or paper"),
        click.option("--train-size", type=click.IntRange(2), help="class-stratified training subsample (before the noise)"),
        click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS),
                     help=f"train exactly N epochs, 1..{MAX_EPOCHS} (switches the profile's train_until_fit off)"),
        click.option("--learning-rate", "--lr", "learning_rate", type=float),
        click.option("--batch-size", type=click.IntRange(1)),
        click.option("--max-length", type=click.IntRange(8), help="maximum tokens per input (at most the model's positions)"),
        click.option("--data-seed", type=click.IntRange(0, MAX_SEED),
                     help="seed of subsample, noise and evaluation split (0..2**32-1)"),
        click.option("--seed", type=click.IntRange(0, MAX_SEED),
                     help="model seed (classifier init, batch order; 0..2**32-1); default: the profile's seeds"),
        click.option("--noise", "noise_fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                     help="share of each class's labels to perturb, in (0, 1)"),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_DATA_DIR",
                     help="local mirror <dir>/<task>/<split>.jsonl [env MEMLOCBENCH_DATA_DIR]; default: the hub"),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
                     show_default=True, help="where result JSON files go"),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_CACHE_DIR",
                     help="artefact store [env MEMLOCBENCH_CACHE_DIR]; default: the user cache directory"),
        click.option("--quiet", is_flag=True, help="no progress bars"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _config(profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed, noise_fraction):
    from memlocbench.config.profiles import build_config

    return build_config(
        profile,
        data={"train_size": train_size, "max_length": max_length, "seed": data_seed, "noise_fraction": noise_fraction},
        train={"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size},
    )


@main.command()
@click.option("--method", "methods", multiple=True, required=True,
              help="localisation method (repeatable); 'all' = the paper's four, 'neurons' = the five neuron-level ones")
@_run_options
@click.option("--control", is_flag=True,
              help="run on the control models (memorisation forced into the first, middle and last two layers) "
                   "and score each profile against those layers")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]),
              help="where models and batches live; auto = cuda if available (not part of any key)")
@click.option("--control-track", type=click.Choice(["pair", "single", "neurons"]), default="pair", show_default=True,
              help="with --control: 'pair' = the paper's two-layer placements; 'single' = the main task may update "
                   "one layer, each layer in turn; 'neurons' = the main task may update only a random 1% of the "
                   "feed-forward neurons, scored by recall@k (single and neurons imply --control)")
def run(methods, task, model, profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed,
        seed, noise_fraction, data_dir, out, cache_dir, control, control_track, device, quiet) -> None:
    """Train (or reuse) the memorising model and its clean twin, then localise memorisation."""
    from memlocbench.run.method_run import RunRequest
    from memlocbench.run.method_run import run as run_pipeline
    from memlocbench.store import ArtefactStore

    from memlocbench.run.method_run import resolve_methods

    plugins = _plugins()
    for kind, name in (("task", task), ("model", model)):
        plugins.registry(kind).get(name)  # unknown names fail here, before any work
    resolve_methods(plugins, list(methods))  # so do unknown methods ('all' and 'neurons' are groups)
    config = _config(profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed, noise_fraction)
    for one_seed in ([seed] if seed is not None else config.seeds):
        req = RunRequest(task=task, model=model, methods=list(methods), config=config.with_seed(one_seed),
                         data_dir=data_dir, out_dir=out, store=ArtefactStore(cache_dir), progress=not quiet,
                         control=control or control_track != "pair", control_track=control_track,
                         device=device)
        _report(run_pipeline(plugins, req, log=lambda msg: click.echo(msg, err=True)))


@main.command()
@click.argument("name")
@_run_options
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="an analysis parameter over the profile's (VALUE as JSON, e.g. runs=3), repeatable")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]),
              help="where models and batches live; auto = cuda if available (not part of any key)")
def analyse(name, task, model, profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed,
            seed, noise_fraction, data_dir, out, cache_dir, quiet, params, device) -> None:
    """Run the analysis NAME (see `memlocbench list analyses`) on a task's noisy dataset and trained models."""
    from memlocbench.run.analysis_run import AnalysisRequest
    from memlocbench.run.analysis_run import analyse as run_analysis
    from memlocbench.store import ArtefactStore

    plugins = _plugins()
    for kind, value in (("analysis", name), ("task", task), ("model", model)):
        plugins.registry(kind).get(value)  # unknown names fail here, before any work
    config = _config(profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed, noise_fraction)
    if params:
        given = dict(config.analyses.get(name, {}))
        for item in params:
            key, sep, value = item.partition("=")
            try:
                given[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                sep = ""
            if not sep or not key.strip():
                raise InvalidInputError(f"--param {item!r}: expected KEY=VALUE with a JSON value, e.g. runs=3")
        config = config.model_copy(update={"analyses": {**config.analyses, name: given}})
    req = AnalysisRequest(analysis=name, task=task, model=model, config=config,
                          seeds=[seed] if seed is not None else None, data_dir=data_dir, out_dir=out,
                          store=ArtefactStore(cache_dir), progress=not quiet, device=device)
    result, path = run_analysis(plugins, req, log=lambda msg: click.echo(msg, err=True))
    cached = " [from the store]" if result.cached else ""
    click.echo(f"\n{name} on {result.task.name}, {result.model.name} (seeds {', '.join(map(str, result.seeds))}; "
               f"{result.timings['analysis']:.1f} s){cached}")
    click.echo(tabulate([[k, "n/a" if v is None else f"{v:.4f}"] for k, v in result.summary.items()],
                        headers=["measure", "value"], tablefmt="simple"))
    click.echo(f"result written to {path}")


def _report(output) -> None:
    from memlocbench.results.run_result import setup_label

    for result, path in zip(output.results, output.paths):
        rows = [[i + 1, f"{raw:.4f}", f"{w:.3f}", "#" * round(40 * w)]
                for i, (raw, w) in enumerate(zip(result.profile_raw, result.profile))]
        where = f"{result.task.name}, {result.model.name}"
        c = result.control
        if c is not None:
            where += f", {setup_label(result).replace('control', 'control layers')}"
        click.echo(f"\n{result.method.name} on {where}: M-CoG = {result.mcog:.2f}")
        if c is not None and c.track == "neurons":
            k = len(c.planted)
            recalls = (f"recall@{k} = {c.recall_at_k:.3f}, recall@{2 * k} = {c.recall_at_2k:.3f} (random "
                       f"{c.random_recall_at_k:.3f}, {c.random_recall_at_2k:.3f}); " if c.top is not None else
                       "no neuron scores (a layer method): only its top layer is scored; ")
            click.echo(f"{recalls}top layer holds the most planted neurons: {c.accuracy_at_1:.0f} (chance "
                       f"{c.chance:.2f}; planted per layer {c.planted_per_layer})")
        elif c is not None:
            click.echo(f"accuracy@1 = {c.accuracy_at_1:.2f}, accuracy@2 = {c.accuracy_at_2:.2f}, rank of the true "
                       f"layer = {c.true_layer_rank} (chance {c.chance:.2f})")
        guard = result.memorisation_guard
        if guard is not None and not guard.memorised:
            click.echo(f"NOT MEMORISED ({guard.reason}): left out of leaderboard means, rankings and correlations",
                       err=True)
        click.echo(tabulate(rows, headers=["layer", "raw", "weight", ""], tablefmt="simple"))
        click.echo(f"result written to {path}")
    if output.summary is not None:
        s = output.summary
        scores = ["recall_at_k", "random_recall_at_k", "recall_at_2k", "accuracy_at_1"] \
            if s.control_track == "neurons" else ["accuracy_at_1", "accuracy_at_2"] if s.control else []
        rows = [[m, f"{v:.2f}"] + [f"{s.control_accuracy[m][k]:.3f}" if k in s.control_accuracy[m] else "n/a"
                                   for k in scores] for m, v in s.mcog.items()]
        rows.append(["mean", f"{s.mean_mcog:.2f}"] + [""] * len(scores))
        headers = ["method", "M-CoG"] + [k.replace("_at_", "@") for k in scores]
        click.echo("\n" + tabulate(rows, headers=headers, tablefmt="simple"))
        if s.control:
            click.echo(f"chance: {next(iter(s.control_accuracy.values()))['chance']:.2f}")
        click.echo(f"summary written to {output.summary_path}")


def _csv(value, cast=str):
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if items == ["all"]:
        return "all"
    try:
        return [cast(v) for v in items]
    except ValueError:
        raise click.BadParameter(f"expected a comma-separated list, got {value!r}") from None


@main.command()
@click.argument("grid_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--tasks", help="comma-separated tasks, or 'all'")
@click.option("--models", help="comma-separated model adapters [default: minilm-l6]")
@click.option("--methods", help="comma-separated methods, or 'all' (the paper's four) [default: all]")
@click.option("--analyses", help="comma-separated analyses to run on each task x model over the seeds "
                                  "(memlocbench list analyses) [default: none]")
@click.option("--seeds", help="comma-separated model seeds [default: the profile's]")
@click.option("--control", is_flag=True, default=None, help="also the control setup")
@click.option("--control-only", is_flag=True, default=None, help="only the control setup")
@click.option("--control-track", type=click.Choice(["pair", "single"]),
              help="control placements: the paper's two-layer pairs or one layer each [default: pair]")
@click.option("--profile", help="named settings: cpu, cpu-fast or paper [default: cpu]")
@click.option("--train-size", type=int)
@click.option("--epochs", type=int)
@click.option("--learning-rate", "--lr", "learning_rate", type=float)
@click.option("--batch-size", type=int)
@click.option("--max-length", type=int)
@click.option("--data-seed", type=int)
@click.option("--noise", type=float)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_DATA_DIR",
              help="local mirror [env MEMLOCBENCH_DATA_DIR]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="result files [default: results]")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_CACHE_DIR",
              help="artefact store, on a filesystem every worker sees [env MEMLOCBENCH_CACHE_DIR]")
@click.option("--executor", help="local (default), ray, or a plugin's executor")
@click.option("--ray-address", help="Ray cluster to join, e.g. auto or HOST:6379 [default: a local instance]")
@click.option("--max-retries", type=int, help="Ray: retries of a unit whose worker died [default: 2]")
@click.option("--cpus-per-unit", type=float, help="Ray: CPUs each unit asks for [default: 1]")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), help="[default: cpu]; cuda: each Ray unit asks for one GPU")
@click.option("--dry-run", is_flag=True, help="print the plan, what is done and the estimated remaining compute")
@click.option("--quiet", is_flag=True, help="no progress bar")
def grid(grid_file, tasks, models, methods, analyses, seeds, control, control_only, control_track, profile,
         train_size, epochs, learning_rate, batch_size, max_length, data_seed, noise, data_dir, out, cache_dir, executor, ray_address,
         max_retries, cpus_per_unit, device, dry_run, quiet) -> None:
    """Run the experiment grid (tasks x models x seeds x trainings and methods) as units keyed by the store."""
    from memlocbench.grid.config import load_grid_config
    from memlocbench.grid.driver import dry_run as plan_dry_run
    from memlocbench.grid.driver import run_grid

    overrides = {"tasks": _csv(tasks), "models": _csv(models), "methods": _csv(methods), "analyses": _csv(analyses),
                 "control_track": control_track, "seeds": _csv(seeds, int), "profile": profile, "train_size": train_size, "epochs": epochs,
                 "learning_rate": learning_rate, "batch_size": batch_size, "max_length": max_length,
                 "data_seed": data_seed, "noise": noise, "data_dir": data_dir, "out": out, "cache_dir": cache_dir,
                 "executor": executor, "ray_address": ray_address, "max_retries": max_retries,
                 "cpus_per_unit": cpus_per_unit, "device": device}
    if overrides["models"] == "all":
        raise click.BadParameter("--models takes names, not 'all'")
    if overrides["analyses"] == "all":
        raise click.BadParameter("--analyses takes names, not 'all'")
    if control:
        overrides["control"] = True
    if control_only:
        overrides.update(control=True, standard=False)
    cfg = load_grid_config(grid_file, overrides)
    plugins = _plugins()
    if dry_run:
        _print_dry_run(plan_dry_run(plugins, cfg))
        return
    report = run_grid(plugins, cfg, log=lambda msg: click.echo(msg, err=True), progress=not quiet)
    rows = [[uid, o["status"], f"{o.get('seconds', 0):.1f}", o.get("reason", "")]
            for uid, o in report.outcomes.items() if o["status"] != "skipped"]
    if rows:
        click.echo(tabulate(rows, headers=["unit", "status", "seconds", "reason"], tablefmt="simple"))
    click.echo(f"\ndone {report.count('done')}, skipped {report.count('skipped')} (already in the store), "
               f"failed {report.count('failed')}; {len(report.written)} result file(s) written to {cfg.out}")
    for note in report.not_written:
        click.echo(f"not written: {note}", err=True)
    if report.count("failed"):
        sys.exit(1)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _print_dry_run(d) -> None:
    rows = [[cat, c["units"], c["done"], c["pending"], _hours(d.per_category.get(cat, 0.0))]
            for cat, c in d.counts.items()]
    total = {k: sum(c[k] for c in d.counts.values()) for k in ("units", "done", "pending")}
    rows.append(["total", total["units"], total["done"], total["pending"], _hours(d.estimate.seconds)])
    click.echo(tabulate(rows, headers=["unit kind", "units", "done", "pending", f"est. remaining ({d.device})"],
                        tablefmt="github"))
    e = d.estimate
    click.echo(f"\nestimated remaining compute: {_hours(e.seconds)} of {d.device} time "
               f"({'device-hours' if d.device == 'cuda' else 'on the 2-core reference machine'}); "
               f"{e.measured_units} pending unit(s) from times measured in this store, "
               f"{e.default_units} from the stated defaults (memlocbench/grid/estimate.py)"
               + (f"; {e.assumed_rows} with an assumed training size" if e.assumed_rows else "")
               + ". These are estimates.")
    runs = len(d.plan.groups)
    click.echo(f"{runs} run(s) (task x model x seed x setup) write result files")
    for p in d.plan.problems:
        click.echo(f"note: {p}")


_PATHS = click.Path(file_okay=False, path_type=Path)


def _rebuild(submissions: Path, extra: list[Path], out: Path, figures: Path | None, plugins: Plugins | None) -> None:
    from memlocbench.leaderboard.page import collect, model_tables, relpath, render
    from memlocbench.store import atomic_write_text

    collected = collect(submissions, [d for d in extra if d.is_dir()])
    for p in collected.problems:
        click.echo(f"warning: skipped invalid file {p}", err=True)
    all_tasks = plugins.registry("task").names() if plugins is not None else []
    rel = relpath(figures, out.parent) if figures is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, render(collected, all_tasks=all_tasks, figures_rel=rel))
    n_fig = 0
    if figures is not None:
        from memlocbench.leaderboard.figures import write_figures

        from memlocbench.leaderboard.analyses_section import write_figures as write_analysis_figures

        tables = model_tables(collected.entries)
        n_fig = len(write_figures(tables, figures)) + len(write_analysis_figures(collected, tables, figures))
    analyses = f" and {len(collected.analyses)} analysis results" if collected.analyses else ""
    click.echo(f"wrote {out} ({len(collected.entries)} results{analyses}) and {n_fig} figure(s)"
               + (f" in {figures}" if figures is not None else ""))


def _leaderboard_options(f):
    f = click.option("--figures", type=_PATHS, default=Path("leaderboard/figures"), show_default=True,
                     help="folder for the PNG figures")(f)
    f = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("leaderboard/README.md"),
                     show_default=True, help="the markdown page")(f)
    f = click.option("--submissions", type=_PATHS, default=Path("leaderboard/submissions"), show_default=True,
                     help="folder of submissions (one sub-folder each)")(f)
    return f


@main.command()
@_leaderboard_options
@click.option("--results", "result_dirs", multiple=True, type=_PATHS,
              help="also include the result files of a local folder, searched recursively (repeatable)")
def leaderboard(submissions, out, figures, result_dirs) -> None:
    """Rebuild the leaderboard page and its figures from the submissions (and local results)."""
    _rebuild(submissions, list(result_dirs), out, figures, _plugins())


def _print_checked(checked) -> int:
    from memlocbench.results.run_result import setup_label

    bad = 0
    for c in checked:
        for note in c.notes:
            click.echo(f"note: {note}", err=True)
        if c.problems:
            bad += 1
            for p in c.problems:
                click.echo(f"error: {p}", err=True)
        elif c.result is None and c.summary is None:
            click.echo(f"skipped: {c.path}")
        elif c.summary is not None:
            s = c.summary
            click.echo(f"ok: {c.path} (run summary: {s.task}, {s.model}, {len(s.mcog)} method(s), "
                       f"mean M-CoG {s.mean_mcog:.2f})")
        else:
            r = c.result
            if getattr(r, "kind", None) == "analysis":
                click.echo(f"ok: {c.path} ({r.task.name}, {r.model.name}, analysis {r.analysis.name})")
                continue
            setup = f", {setup_label(r)}" if r.control else ""
            click.echo(f"ok: {c.path} ({r.task.name}, {r.model.name}, {r.method.name}{setup}, M-CoG {r.mcog:.2f})")
    return bad


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def validate(files) -> None:
    """Check result files as `submit` would, without writing anything (exit status 2 if any fails).
    Run summaries (*.summary.json) are checked as summaries."""
    from memlocbench.leaderboard.submission import validate_files

    bad = _print_checked(validate_files(list(files), _plugins()))
    if bad:
        click.echo(f"{bad} of {len(files)} file(s) failed validation", err=True)
        sys.exit(2)
    click.echo(f"all {len(files)} file(s) valid")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="team or method name, as shown on the leaderboard")
@click.option("--description", default="", help="how the results were produced (shown on the page)")
@click.option("--not-run", "not_run", multiple=True, metavar="TASK=REASON",
              help="a task left out and why (repeatable), shown in the tables")
@click.option("--force", is_flag=True, help="replace an existing submission of the same name")
@_leaderboard_options
def submit(files, name, description, not_run, force, submissions, out, figures) -> None:
    """Validate result files and, only if all pass, add them to the leaderboard and rebuild it."""
    from memlocbench.leaderboard.submission import SubmissionError, check_writable, submit as file_submission

    reasons = {}
    for item in not_run:
        task, sep, why = item.partition("=")
        if not sep or not task.strip() or not why.strip():
            raise SubmissionError(f"--not-run {item!r}: expected TASK=REASON, e.g. boolq='no train split offline'")
        reasons[task.strip()] = why.strip()
    plugins = _plugins()
    check_writable(submissions, out.parent, *([figures] if figures is not None else []))
    dest, checked = file_submission(list(files), name, submissions, description=description, not_run=reasons,
                                    force=force, plugins=plugins)
    _print_checked(checked)
    click.echo(f"submitted {sum(c.result is not None for c in checked)} result(s) as {dest}")
    _rebuild(submissions, [], out, figures, plugins)


@main.command()
@click.argument("submission", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--sample", default=1, show_default=True, type=click.IntRange(min=1),
              help="how many of the submission's results to re-run")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="seed of the sample")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_DATA_DIR",
              help="local mirror [env MEMLOCBENCH_DATA_DIR]; default: the hub")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_CACHE_DIR",
              help="artefact store [env MEMLOCBENCH_CACHE_DIR]; default: the user cache directory")
@_leaderboard_options
def verify(submission, sample, seed, data_dir, cache_dir, submissions, out, figures) -> None:
    """Re-run a sample of a submission's results from their recorded configs, compare them with the
    submitted numbers, record the outcome in SUBMISSION/verification.json and rebuild the page
    (exit status 1 if any result is outside the tolerance)."""
    from memlocbench.store import ArtefactStore
    from memlocbench.leaderboard.verification import verify_submission

    plugins = _plugins()
    record = verify_submission(submission, plugins, sample=sample, seed=seed, data_dir=data_dir,
                               store=ArtefactStore(cache_dir), log=lambda msg: click.echo(msg, err=True))
    t = record.tolerance
    click.echo(f"tolerance: each layer's weight within {t.profile_abs}, M-CoG within {t.mcog_abs}")
    for c in record.checked:
        if c.passed:
            click.echo(f"ok: {c.result} (M-CoG {c.submitted_mcog:.4f} submitted, {c.rerun_mcog:.4f} re-run)")
        else:
            click.echo(f"FAILED: {c.result}: {c.problem}")
    click.echo(f"wrote {submission / 'verification.json'}")
    if submission.resolve().parent == submissions.resolve():
        _rebuild(submissions, [], out, figures, plugins)
    if not record.passed:
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
