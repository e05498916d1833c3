"""Degenerate profiles: a method may define ``flags(details) -> list[str]``, the reasons a profile it stored
(``Result.details``) is degenerate (``MethodSpec.flaggers``). Each cell of a model's M-CoG grid is
checked result by result; a plugin's error never breaks the page: the cell is marked as not checked, with
the error."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from memlocbench.leaderboard.aggregate.seeds import model_seed
from memlocbench.leaderboard.aggregate.tables import ModelTable, column_method
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.method_spec import MethodSpec

#: the longest reason (or error) kept for the page
MAX_REASON = 300


@dataclass(frozen=True)
class Flag:
    """One reason a cell's profile is degenerate, and the model seeds whose results it holds for;
    ``checked`` False: the method's ``flags`` raised, and ``reason`` is its error."""

    task: str
    column: str
    reason: str
    seeds: tuple[int, ...]
    checked: bool = True


def _one_line(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[:MAX_REASON - 1] + "…"


def call_flags(flags: Callable[[dict], Any], details: dict) -> tuple[list[str], str | None]:
    """(reasons, None), or ([], the error) where ``flags`` raised or returned something other than a list
    of sentences. ``flags`` gets a copy of ``details``: it cannot change the result."""
    try:
        out = flags(copy.deepcopy(details))
        reasons = [out] if isinstance(out, str) else [] if out is None else list(out)
        return [_one_line(x) for x in reasons if str(x).strip()], None
    except Exception as exc:  # noqa: BLE001 - a plugin's code: any error is the plugin's, and noted
        return [], _one_line(f"{type(exc).__name__}: {exc}")


def _cell(task: str, column: str, results: list, flags: Callable[[dict], Any]) -> list[Flag]:
    seeds: dict[tuple[str, bool], set[int]] = {}
    for r in results:
        reasons, error = call_flags(flags, r.details)
        for text, checked in [(x, True) for x in reasons] + ([(error, False)] if error else []):
            seeds.setdefault((text, checked), set()).add(model_seed(r))
    return [Flag(task, column, text, tuple(sorted(s)), checked) for (text, checked), s in sorted(seeds.items())]


def cell_flags(t: ModelTable, columns: list[str], methods: MethodSpec) -> list[Flag]:
    """The flags of the cells of ``columns`` in ``t``, by task then column (cells of methods without
    ``flags`` are not checked)."""
    out = []
    for task in t.tasks:
        for column in columns:
            flags = methods.flags_of(column_method(column))
            if flags is not None and (task, column) in t.cells:
                out += _cell(task, column, t.cells[(task, column)].results, flags)
    return out


def unflagged(collected: Collected, methods: MethodSpec | None) -> Collected:
    """``collected`` without the method results whose method's ``flags`` finds their profile degenerate
    (a flags check that failed keeps the result: it is noted where the grid shows it)."""
    flaggers = dict(methods.flaggers) if methods is not None else {}
    keep = [e for e in collected.entries
            if e.result.method.name not in flaggers or not call_flags(flaggers[e.result.method.name],
                                                                      e.result.details)[0]]
    return dataclasses.replace(collected, entries=keep)
