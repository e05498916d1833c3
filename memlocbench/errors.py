"""Errors that the CLI turns into clear messages and exit codes."""

from __future__ import annotations

import difflib


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
        close = difflib.get_close_matches(name, self.valid, n=1, cutoff=0.5)
        self.suggestion = close[0] if close else None
        msg = f"unknown {kind} {name!r}."
        if self.suggestion:
            msg += f" Did you mean {self.suggestion!r}?"
        msg += f" Valid {kind}s: {', '.join(self.valid) or '(none registered)'}."
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
