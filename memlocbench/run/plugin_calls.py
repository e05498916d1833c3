"""Calls into plugin code (a method's ``localise``, an analysis' ``analyse``, their ``check_params``) that
never take the program down without a word: any exception the plugin raises, ``SystemExit`` (a
``sys.exit`` in plugin code) included, becomes a :class:`~memlocbench.errors.PluginFailedError` naming the
plugin, the package that provides it and the line it raised from. The benchmark's own errors
(``MemlocbenchError``: a bad parameter, a damaged store entry) pass unchanged, as does ``KeyboardInterrupt``.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, TypeVar

from memlocbench.errors import MemlocbenchError, PluginFailedError

T = TypeVar("T")


def plugin_label(plugins: Any, kind: str, name: str) -> str:
    """``method 'zero-out' (package memlocbench 0.4.0)``: the plugin and the package that provides it."""
    try:
        prov = plugins.registry(kind).provider(name)
        return f"{kind} {name!r} (package {prov.package} {prov.version})"
    except Exception:  # noqa: BLE001 - an object no registry provided (a test's, an API user's)
        return f"{kind} {name!r}"


def _origin(exc: BaseException) -> str:
    """Where the exception was raised: the innermost frame's file and line."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ fails still gets reported
        return ""


def call_plugin(label: str, what: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, plugin code; ``label`` (from :func:`plugin_label`) and ``what`` ("localise") name it in
    the error any failure becomes."""
    try:
        return fn(*args)
    except (KeyboardInterrupt, GeneratorExit, MemlocbenchError):
        raise
    except SystemExit as exc:
        raise PluginFailedError(f"{label} called sys.exit({exc.code!r}) in {what}{_origin(exc)}; a plugin must "
                                f"return its output or raise an exception, never exit the program") from None
    except BaseException as exc:  # noqa: BLE001 - any failure of plugin code gets its name attached
        text = " / ".join(line.strip() for line in _text(exc).splitlines() if line.strip())
        if len(text) > 1000:
            text = text[:1000] + "…"
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise PluginFailedError(f"{label} failed in {what}{_origin(exc)}: {detail}") from exc
