"""The ``memlocbench`` command: the click group (``app``) and one module per command group, each
adding its commands to the group: ``run``, ``analyse``, ``grid``, ``list`` and ``leaderboard``
(``leaderboard``, ``validate``, ``submit``, ``verify``); shared options in ``options``."""

from memlocbench.cli import analyse, grid, leaderboard, list, run  # noqa: F401 (each registers its commands)
from memlocbench.cli.app import main

__all__ = ["main"]
