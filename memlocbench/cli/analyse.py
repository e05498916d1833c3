"""``memlocbench analyse``: run one analysis on a task's noisy dataset and trained models."""

from __future__ import annotations

import click
from tabulate import tabulate

from memlocbench.cli import app
from memlocbench.cli.app import main
from memlocbench.registry import default_model
from memlocbench.cli.options import json_params, run_config, run_options


@main.command()
@click.argument("name")
@run_options
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

    plugins = app.cli_plugins()
    model = model or default_model(plugins)
    for kind, value in (("analysis", name), ("task", task), ("model", model)):
        plugins.registry(kind).get(value)  # unknown names fail here, before any work
    config = run_config(plugins, profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed, noise_fraction)
    if params:
        given = json_params(params, "--param", config.analyses.get(name, {}))
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
