"""Deprecated import path (memlocbench 0.1): use ``from memlocbench.api import ...``.

Kept for one release so that plugins written against it still load; every name read from here warns."""

from memlocbench._deprecated import forwarder

__getattr__ = forwarder('memlocbench.data.task_data', {name: 'memlocbench.contracts.task_data' for name in ['Examples', 'TaskData']})
