"""The plugin contract: one hook per kind of thing a plugin can add.

Each hook receives a ``register`` callable. A plugin calls it once per object it provides::

    from memlocbench import hookimpl

    @hookimpl
    def register_tasks(register):
        register(MyTask())

Tasks must satisfy :class:`memlocbench.contracts.protocols.Task`, models
:class:`memlocbench.contracts.protocols.ModelAdapter`, methods
:class:`memlocbench.contracts.protocols.LocalisationMethod`, analyses :class:`memlocbench.contracts.protocols.Analysis`. Built-in plugins use exactly these hooks and are
found through the ``memlocbench`` entry-point group, like any third-party package.
"""

from __future__ import annotations

from typing import Callable

import pluggy

PROJECT = "memlocbench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_tasks(register: Callable[[object], None]) -> None:
    """Register classification tasks (objects satisfying ``Task``)."""


@hookspec
def register_models(register: Callable[[object], None]) -> None:
    """Register model adapters (objects satisfying ``ModelAdapter``)."""


@hookspec
def register_methods(register: Callable[[object], None]) -> None:
    """Register localisation methods (objects satisfying ``LocalisationMethod``)."""


@hookspec
def register_executors(register: Callable[[object], None]) -> None:
    """Register grid executors (objects satisfying ``Executor``: ``memlocbench grid --executor NAME``)."""


@hookspec
def register_analyses(register: Callable[[object], None]) -> None:
    """Register analyses (objects satisfying ``Analysis``): task-level measurements such as
    memorisation maps, set beside the layer profiles on the leaderboard."""
