"""``memlocbench run``: train (or reuse) the models of a task and localise memorisation in them."""

from __future__ import annotations

import click
from tabulate import tabulate

from memlocbench.cli import app
from memlocbench.cli.app import main
from memlocbench.registry import default_model
from memlocbench.cli.options import run_config, run_options


@main.command()
@click.option("--method", "methods", multiple=True, required=True,
              help="localisation method or suite (repeatable); 'all' = the methods of the paper suite; a suite name "
                   "(e.g. 'neurons') = its members (MethodInfo.suites)")
@run_options
@click.option("--control", is_flag=True,
              help="run on the control models (memorisation forced into the first, middle and last two layers) "
                   "and score each profile against those layers")
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda", "auto"]),
              help="where models and batches live; auto = cuda if available (not part of any key)")
@click.option("--control-track", default="pair", show_default=True,
              type=click.Choice(["pair", "single", "planted", "routed-pair", "routed-single", "planted-routed",
                                 "neurons"]),
              help="with --control: 'pair' = the paper's two-layer placements; 'single' = the main task may update "
                   "one layer, each layer in turn; 'planted' = the main task may update only a random 1% of the "
                   "feed-forward neurons, scored by recall@k; 'routed-pair', 'routed-single', 'planted-routed' = "
                   "gradient-routed versions: every layer trains on the clean examples, the noisy examples' gradient "
                   "reaches only the placement (or the planted neurons) and the head (any track but pair implies "
                   "--control; 'neurons' is the deprecated name of 'planted')")
def run(methods, task, model, profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed,
        seed, noise_fraction, data_dir, out, cache_dir, control, control_track, device, quiet) -> None:
    """Train (or reuse) the memorising model and its clean twin, then localise memorisation."""
    from memlocbench.run.method_run import RunRequest, resolve_methods
    from memlocbench.run.method_run import run as run_pipeline
    from memlocbench.store import ArtefactStore

    if control_track == "neurons":
        click.echo("warning: --control-track neurons is deprecated; use --control-track planted", err=True)
        control_track = "planted"
    plugins = app.cli_plugins()
    model = model or default_model(plugins)
    for kind, name in (("task", task), ("model", model)):
        plugins.registry(kind).get(name)  # unknown names fail here, before any work
    resolve_methods(plugins, list(methods))  # so do unknown methods and suites
    config = run_config(plugins, profile, train_size, epochs, learning_rate, batch_size, max_length, data_seed, noise_fraction)
    for one_seed in ([seed] if seed is not None else config.seeds):
        req = RunRequest(task=task, model=model, methods=list(methods), config=config.with_seed(one_seed),
                         data_dir=data_dir, out_dir=out, store=ArtefactStore(cache_dir), progress=not quiet,
                         control=control or control_track != "pair", control_track=control_track,
                         device=device)
        output = run_pipeline(plugins, req, log=lambda msg: click.echo(msg, err=True))
        for result, path in zip(output.results, output.paths):
            _report_result(result, path)
        if output.summary is not None:
            _report_summary(output.summary, output.summary_path)


def _control_lines(c) -> str:
    """How a control result scored against the layers (or neurons) memorisation was put in."""
    if c.track in ("planted", "planted-routed"):
        k = len(c.planted)
        recalls = (f"recall@{k} = {c.recall_at_k:.3f}, recall@{2 * k} = {c.recall_at_2k:.3f} (random "
                   f"{c.random_recall_at_k:.3f}, {c.random_recall_at_2k:.3f}); " if c.top is not None else
                   "no neuron scores (a layer method): only its top layer is scored; ")
        return (f"{recalls}top layer holds the most planted neurons: {c.accuracy_at_1:.0f} (chance "
                f"{c.chance:.2f}; planted per layer {c.planted_per_layer})")
    return (f"accuracy@1 = {c.accuracy_at_1:.2f}, accuracy@2 = {c.accuracy_at_2:.2f}, rank of the true "
            f"layer = {c.true_layer_rank} (chance {c.chance:.2f})")


def _report_result(result, path) -> None:
    """One method's result: M-CoG, control scores, the guard's verdict and the layer profile."""
    from memlocbench.results.run_result import setup_label

    rows = [[i + 1, f"{raw:.4f}", f"{w:.3f}", "#" * round(40 * w)]
            for i, (raw, w) in enumerate(zip(result.raw_weights, result.layer_weights))]
    where = f"{result.task.name}, {result.model.name}"
    c = result.control
    if c is not None:
        where += f", {setup_label(result).replace('control', 'control layers')}"
    click.echo(f"\n{result.method.name} on {where}: M-CoG = {result.mcog:.2f}")
    if c is not None:
        click.echo(_control_lines(c))
    guard = result.memorisation_guard
    if guard is not None and not guard.memorised:
        click.echo(f"NOT MEMORISED ({guard.reason}): left out of leaderboard means, rankings and correlations",
                   err=True)
    click.echo(tabulate(rows, headers=["layer", "raw", "weight", ""], tablefmt="simple"))
    click.echo(f"result written to {path}")


def _report_summary(s, summary_path) -> None:
    """The run summary: each method's M-CoG (and control scores) and their mean."""
    scores = ["recall_at_k", "random_recall_at_k", "recall_at_2k", "accuracy_at_1"] \
        if s.control_track in ("planted", "planted-routed") else ["accuracy_at_1", "accuracy_at_2"] if s.control else []
    rows = [[m, f"{v:.2f}"] + [f"{s.control_accuracy[m][k]:.3f}" if k in s.control_accuracy[m] else "n/a"
                               for k in scores] for m, v in s.mcog.items()]
    rows.append(["mean", f"{s.mean_mcog:.2f}"] + [""] * len(scores))
    headers = ["method", "M-CoG"] + [k.replace("_at_", "@") for k in scores]
    click.echo("\n" + tabulate(rows, headers=headers, tablefmt="simple"))
    if s.control:
        click.echo(f"chance: {next(iter(s.control_accuracy.values()))['chance']:.2f}")
    click.echo(f"summary written to {summary_path}")
