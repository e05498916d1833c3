"""``memlocbench list``: the registered tasks, models, methods, analyses or grid executors."""

from __future__ import annotations

from pathlib import Path

import click
from tabulate import tabulate

from memlocbench.cli import app
from memlocbench.cli.app import main
from memlocbench.cli.options import FOLDER


@main.command("list")
@click.argument("kind", type=click.Choice(["tasks", "models", "methods", "analyses", "executors"]))
@click.option("--data-dir", type=FOLDER, envvar="MEMLOCBENCH_DATA_DIR",
              help="with tasks: a local mirror, to show sizes and noisy counts (data seed 1)")
def list_cmd(kind: str, data_dir: Path | None) -> None:
    """Show the registered tasks, models, methods, analyses or grid executors and the package providing each."""
    plugins = app.cli_plugins()
    reg = plugins.registry({"analyses": "analysis"}.get(kind, kind[:-1]))
    rows, notes = [], []
    for name in reg.names():
        obj, prov = reg.items[name], reg.provider(name)
        package = f"{prov.package} {prov.version}"
        if kind == "tasks":
            rows.append(_task_row(name, obj, data_dir, notes) + [package])
        else:
            description = obj.description if kind == "executors" else obj.info.description
            if kind == "models" and obj.info.default:
                description = f"{description} [default]"
            rows.append([name, description, package])
    headers = ["name", "what it is"]
    if kind == "tasks":
        headers += ["labels"] + (["train", "validation", "test", "noisy (seed 1)"] if data_dir else [])
    click.echo(tabulate(rows, headers=headers + ["package"], tablefmt="github"))
    for note in notes:
        click.echo(f"\n{note}")


def _task_row(name: str, task, data_dir: Path | None, notes: list[str]) -> list:
    """A task's row: name, description, labels and (with a mirror) its split sizes; a size that
    cannot be read is 'n/a' with a note."""
    meta = task.metadata
    row = [name, meta.description, meta.num_labels]
    if data_dir is not None:
        from memlocbench.run.task_summary import task_sizes

        sizes = task_sizes(task, data_dir)
        if isinstance(sizes, str):
            row += ["n/a"] * 4
            notes.append(f"{name}: {sizes}")
        else:
            row += [sizes["train"], sizes["validation"], sizes["test"], sizes["noisy"]]
    return row
