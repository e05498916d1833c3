"""Markdown building blocks of the leaderboard page: escaping, file-name slugs, GitHub tables and the
number formats of its cells. Nothing here knows about results."""

from __future__ import annotations

import math
import os
import re
import statistics
from pathlib import Path

from tabulate import tabulate

#: no statistic on the page rests on fewer points than this (correlations, p-values, spreads)
MIN_POINTS = 5
#: what a cell shows instead of a statistic over fewer than ``MIN_POINTS`` points
FEW = f"n < {MIN_POINTS}"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def md_escape(text: str) -> str:
    """``text`` on one line with every markdown-active character escaped, so text from result files
    cannot break a table, make a link or format the page."""
    return _MD_SPECIAL.sub(r"\\\1", str(text).replace("\r", " ").replace("\n", " "))


def file_slug(text: str) -> str:
    """A file or folder name from ``text``: lower-case letters, digits and single hyphens ('x' if empty)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def relpath(target: Path, start: Path) -> str:
    """``target`` relative to ``start``, with forward slashes (for links in the page)."""
    return Path(os.path.relpath(target, start)).as_posix()


def table(rows: list[list], headers: list[str]) -> str:
    """A GitHub markdown table; cells are printed as given (no number parsing)."""
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def fmt_or_na(x: float) -> str:
    """Two decimals, or 'n/a' for NaN (an undefined correlation)."""
    return "n/a" if math.isnan(x) else f"{x:.2f}"


def fmt_or_blank(x: float | None, digits: int = 2) -> str:
    """``digits`` decimals, or an empty cell for None or NaN."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def mean_sd(values: list[float], digits: int = 2) -> str:
    """'mean ± sd' of ``values`` (sample standard deviation) from ``MIN_POINTS`` values on; below that just
    the mean: the page shows no spread over fewer than ``MIN_POINTS`` points."""
    m = statistics.fmean(values)
    return (f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}" if len(values) >= MIN_POINTS
            else f"{m:.{digits}f}")


def fmt_p(p: float) -> str:
    """A p-value as the page prints it: 'p < 0.01' below 0.01, else 'p = 0.xx' ('p n/a' for NaN)."""
    if math.isnan(p):
        return "p n/a"
    return "p < 0.01" if p < 0.01 else f"p = {p:.2f}"


def fmt_statistic(value: float, p: float, n: int) -> str:
    """A correlation cell: 'ρ (p, n)', or ``FEW`` with fewer than ``MIN_POINTS`` points, or 'n/a (n = ..)'
    where it is undefined (a constant side)."""
    if n < MIN_POINTS:
        return FEW
    if math.isnan(value):
        return f"n/a (n = {n})"
    return f"{value:.2f} ({fmt_p(p)}, n = {n})"
