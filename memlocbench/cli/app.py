"""The ``memlocbench`` click group: warnings and errors as one line each, the plugins the commands use.

Every command module (``run``, ``analyse``, ``grid``, ``list``, ``leaderboard``) adds its commands to
``main``; ``memlocbench.cli`` imports them all.
"""

from __future__ import annotations

import sys
import warnings

import click

from memlocbench import __version__
from memlocbench.errors import MemlocbenchError, MemlocbenchWarning
from memlocbench.registry import Plugins, PluginWarning, load_plugins


def cli_plugins() -> Plugins:
    """The registered plugins, each plugin warning printed as one ``warning: ...`` line. Commands call
    it through this module (``app.cli_plugins()``), so tests can replace it."""
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


from memlocbench.cli.schema import schema  # noqa: E402 (a standalone command, added to the group here)

main.add_command(schema)
