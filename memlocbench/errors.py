"""Errors that the CLI turns into clear messages and exit codes."""

from __future__ import annotations

import difflib


def plural(noun: str) -> str:
    """``analysis`` -> ``analyses``, ``task`` -> ``tasks``: the plural of a plugin kind in a message."""
    return noun[:-2] + "es" if noun.endswith("is") else noun + "s"


def suggest(name: str, valid: list[str]) -> str | None:
    """The valid name closest to ``name``, ignoring case and ``-``/``_``/``.`` (``SST2`` -> ``sst2``,
    ``layer_swapping`` -> ``layer-swapping``); None when nothing is close."""
    def norm(s: str) -> str:
        return "".join(ch for ch in s.casefold() if ch not in "-_. ")

    exact = [v for v in valid if norm(v) == norm(name)]
    if exact:
        return exact[0]
    by_norm = {norm(v): v for v in valid}
    close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.5)
    return by_norm[close[0]] if close else None


class MemlocbenchWarning(UserWarning):
    """Base class of the warnings the CLI prints as one ``warning: ...`` line."""


class StoreWarning(MemlocbenchWarning):
    """A store entry failed its integrity check and was quarantined."""


class MemlocbenchError(Exception):
    """Base class: a problem the user can fix; the CLI prints it without a traceback."""

    exit_code = 1


class UnknownNameError(MemlocbenchError):
    """A task, model or method name that no plugin registered."""

    exit_code = 2

    def __init__(self, kind: str, name: str, valid: list[str]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        self.suggestion = suggest(name, self.valid)
        msg = f"unknown {kind} {name!r}."
        if self.suggestion:
            msg += f" Did you mean {self.suggestion!r}?"
        msg += f" Valid {plural(kind)}: {', '.join(self.valid) or '(none registered)'}."
        super().__init__(msg)


class DataUnavailableError(MemlocbenchError):
    """Neither the local mirror nor the Hugging Face hub could provide a dataset split."""


class ModelUnavailableError(MemlocbenchError):
    """Pretrained weights could not be loaded (hub unreachable, no local copy)."""


class InvalidInputError(MemlocbenchError):
    """A value outside what the benchmark accepts (bad train size, bad config, ...)."""

    exit_code = 2


class CorruptEntryError(MemlocbenchError):
    """A store entry failed its integrity check (it is quarantined; rerunning recomputes it)."""

    def __init__(self, entry, reason: str):
        self.entry, self.reason = entry, reason
        self.quarantined = None
        super().__init__(f"store entry {entry} is damaged: {reason}")

    def __str__(self) -> str:
        where = f"; it was moved to {self.quarantined}" if self.quarantined else ""
        return f"store entry {self.entry} is damaged: {self.reason}{where}. Rerun the command to recompute it."


class TrainingDivergedError(MemlocbenchError):
    """Training produced a non-finite loss or non-finite weights; nothing was stored."""


class InvalidDataError(MemlocbenchError):
    """A data file or row that the task cannot read (file and line named)."""

    exit_code = 2


class MethodOutputError(MemlocbenchError):
    """A localisation method returned weights or details the benchmark cannot use."""


class StoreWriteError(MemlocbenchError):
    """The artefact store could not be written (disk full, read-only, a path in the way)."""

    def __init__(self, root, what: str, exc: OSError):
        self.root, self.what = root, what
        super().__init__(f"could not write {what} to the artefact store at {root}: "
                         f"{exc.strerror or type(exc).__name__} ({exc.filename or root}). Free space, "
                         f"make it writable, or choose another store with --cache-dir / $MEMLOCBENCH_CACHE_DIR; "
                         f"nothing partial was kept")


class NotARegularFileError(MemlocbenchError):
    """A path that should be an ordinary file is a FIFO, device, folder or dangling link, or too large."""

    exit_code = 2


class AnalysisOutputError(MemlocbenchError):
    """An analysis returned a summary or details the benchmark cannot use (nothing is cached)."""


class PluginFailedError(MemlocbenchError):
    """A plugin's code (a method's ``localise``, an analysis' ``analyse``, ...) raised an exception, or
    called ``sys.exit``; the message names the plugin, its package and where it raised."""
