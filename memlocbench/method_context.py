"""Deprecated import path (memlocbench 0.1): use ``from memlocbench.api import ...``.

Kept for one release so that plugins written against it still load; every name read from here warns."""

from memlocbench._deprecated import forwarder

__getattr__ = forwarder('memlocbench.method_context', {name: 'memlocbench.run.method_context' for name in ['MethodContext']})
