"""The ``memlocbench`` command."""

from memlocbench.cli.commands import main

__all__ = ["main"]
