"""memlocbench's built-in classification tasks (the paper's), loaded from the hub or a local mirror."""

from __future__ import annotations

from memlocbench.api import hookimpl
from memlocbench_tasks.catalogue import ALL_TASKS


@hookimpl
def register_tasks(register):
    for task in ALL_TASKS:
        register(task)
