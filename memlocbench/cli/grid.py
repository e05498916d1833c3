"""``memlocbench grid``: the experiment grid as units keyed by the store, run by an executor."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tabulate import tabulate

from memlocbench.cli import app
from memlocbench.cli.app import main
from memlocbench.cli.options import csv_list, key_values


def _grid_options(f):
    """What to run (tasks, models, methods, ..., training settings) and how (store, executor, device)."""
    options = [
        click.argument("grid_file", required=False, type=click.Path(dir_okay=False, path_type=Path)),
        click.option("--tasks", help="comma-separated tasks, or 'all'"),
        click.option("--models", help="comma-separated model adapters [default: the installed default model]"),
        click.option("--methods", help="comma-separated methods or suites; 'all' = the paper suite's methods [default: all]"),
        click.option("--analyses", help="comma-separated analyses to run on each task x model over the seeds "
                                        "(memlocbench list analyses) [default: none]"),
        click.option("--seeds", help="comma-separated model seeds [default: the profile's]"),
        click.option("--control", is_flag=True, default=None, help="also the control setup"),
        click.option("--control-only", is_flag=True, default=None, help="only the control setup"),
        click.option("--control-track", type=click.Choice(["pair", "single", "planted", "routed-pair", "routed-single",
                                                           "planted-routed"]),
                     help="the control track: the paper's two-layer pairs, one layer each, planted neurons, or their "
                          "gradient-routed versions [default: pair]"),
        click.option("--profile", help="named settings: cpu, cpu-fast or paper [default: cpu]"),
        click.option("--train-size", type=int),
        click.option("--epochs", type=int),
        click.option("--learning-rate", "--lr", "learning_rate", type=float),
        click.option("--batch-size", type=int),
        click.option("--max-length", type=int),
        click.option("--data-seed", type=int),
        click.option("--noise", type=float),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_DATA_DIR",
                     help="local mirror [env MEMLOCBENCH_DATA_DIR]"),
        click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="result files [default: results]"),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MEMLOCBENCH_CACHE_DIR",
                     help="artefact store, on a filesystem every worker sees [env MEMLOCBENCH_CACHE_DIR]"),
        click.option("--executor", help="local (default), ray, or a plugin's executor"),
        click.option("--executor-option", "executor_options", multiple=True, metavar="KEY=VALUE",
                     help="an option of the executor (VALUE as JSON where it parses, else a string), repeatable, "
                          "e.g. max_retries=3 for ray; an option it does not take fails with the ones it does"),
        click.option("--ray-address", help="Ray cluster to join, e.g. auto or HOST:6379 [default: a private local "
                                           "instance, started for this grid; a running cluster is never joined "
                                           "unless named here]"),
        click.option("--max-retries", type=int, help="Ray: retries of a unit whose worker died, 0..100 [default: 2]"),
        click.option("--cpus-per-unit", type=float, help="Ray: CPUs each unit asks for, 0.0001 up to what one node "
                                                         "has [default: 1]"),
        click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]),
                     help="[default: cpu]; cuda: each Ray unit asks for one GPU"),
        click.option("--threads", type=click.IntRange(1, 4096),
                     help="torch threads per unit on a CPU, part of every key [default: the local executor: this "
                          "machine's torch default, as `memlocbench run`; ray: --cpus-per-unit rounded down]"),
        click.option("--dry-run", is_flag=True, help="print the plan, what is done and the estimated remaining compute"),
        click.option("--quiet", is_flag=True, help="no progress bar"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@main.command()
@_grid_options
def grid(grid_file, dry_run, quiet, **flags) -> None:
    """Run the experiment grid (tasks x models x seeds x trainings and methods) as units keyed by the store."""
    from memlocbench.grid.config import load_grid_config
    from memlocbench.grid.driver import dry_run as plan_dry_run
    from memlocbench.grid.driver import run_grid

    cfg = load_grid_config(grid_file, _overrides(**flags))
    plugins = app.cli_plugins()
    if dry_run:
        _print_dry_run(plan_dry_run(plugins, cfg))
        return
    report = run_grid(plugins, cfg, log=lambda msg: click.echo(msg, err=True), progress=not quiet)
    _print_report(report, cfg.out)
    if report.count("failed") or report.not_written:
        click.echo(f"grid: {len(report.not_written)} of {report.runs} planned run(s) wrote no result files, "
                   f"{report.count('failed')} unit(s) failed (above)", err=True)
        sys.exit(1)


def _overrides(tasks, models, methods, analyses, seeds, control, control_only, executor_options,
               **flags) -> dict:
    """The grid config's keys from the flags (None: not given, the file's or the default value)."""
    overrides = {"tasks": csv_list(tasks), "models": csv_list(models), "methods": csv_list(methods),
                 "analyses": csv_list(analyses), "seeds": csv_list(seeds, int),
                 "executor_options": key_values(executor_options, "--executor-option", "max_retries=3") or None,
                 **flags}
    if overrides["models"] == "all":
        raise click.BadParameter("--models takes names, not 'all'")
    if overrides["analyses"] == "all":
        raise click.BadParameter("--analyses takes names, not 'all'")
    if control:
        overrides["control"] = True
    if control_only:
        overrides.update(control=True, standard=False)
    return overrides


def _print_report(report, out: Path) -> None:
    """What ran, what was skipped or failed, and where the result files went."""
    rows = [[uid, o["status"], f"{o.get('seconds', 0):.1f}", o.get("reason", "")]
            for uid, o in report.outcomes.items() if o["status"] != "skipped"]
    if rows:
        click.echo(tabulate(rows, headers=["unit", "status", "seconds", "reason"], tablefmt="simple"))
    click.echo(f"\ndone {report.count('done')}, skipped {report.count('skipped')} (already in the store), "
               f"failed {report.count('failed')}; {len(report.written)} result file(s) written to {out}")
    for note in report.not_written:
        click.echo(f"not written: {note}", err=True)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def _rate_source(source: dict[str, int] | None) -> str:
    """Where a kind's pending estimate comes from: measured in this store, assumed, or both."""
    if not source:
        return "-"
    measured = f"measured ({source['samples']} timed)" if source["measured"] else ""
    assumed = "assumed" if source["assumed"] else ""
    if measured and assumed:
        return f"{source['measured']} {measured}, {source['assumed']} {assumed}"
    return measured or assumed


def _print_dry_run(d) -> None:
    e = d.estimate
    rows = [[cat, c["units"], c["done"], c["pending"], _rate_source(e.sources.get(cat)),
             _hours(d.per_category.get(cat, 0.0))]
            for cat, c in d.counts.items()]
    total = {k: sum(c[k] for c in d.counts.values()) for k in ("units", "done", "pending")}
    rows.append(["total", total["units"], total["done"], total["pending"], "", _hours(e.seconds)])
    click.echo(tabulate(rows, headers=["unit kind", "units", "done", "pending", "rates",
                                       f"est. remaining ({d.device})"], tablefmt="github"))
    click.echo(f"\nestimated remaining compute: {_hours(e.seconds)} of {d.device} time "
               f"({'device-hours' if d.device == 'cuda' else 'on the 2-core reference machine'}); "
               f"{e.measured_units} pending unit(s) from rates measured in this store (timings/), "
               f"{e.default_units} from assumed rates: stated reference rates scaled to each model's size, "
               f"parameters x tokens per row (memlocbench/grid/estimate.py)"
               + (f"; {e.assumed_rows} with an assumed training size" if e.assumed_rows else "")
               + ". These are estimates.")
    if e.default_units:
        click.echo("assumed rates, scaled by size:")
        for where, how in d.plan.sizes.items():
            click.echo(f"  {where}: {how}")
    for log in e.ignored_logs:
        click.echo(f"warning: timing log ignored: {log}")
    runs = len(d.plan.groups)
    click.echo(f"{runs} run(s) (task x model x seed x setup) write result files")
    for p in d.plan.problems:
        if not any(err in p for err in d.plan.errors):
            click.echo(f"note: {p}")
    for err in d.plan.errors:
        click.echo(f"error: {err}", err=True)
    if d.plan.errors:
        click.echo("grid: these settings do not fit (above): a run stops before any work; the estimate counts the "
                   "rows each task has", err=True)
        sys.exit(2)
