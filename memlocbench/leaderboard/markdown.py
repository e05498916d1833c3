"""Markdown building blocks of the leaderboard page: escaping, file-name slugs, GitHub tables and the
number formats of its cells. Nothing here knows about results."""

from __future__ import annotations

import math
import os
import re
import statistics
from pathlib import Path

from tabulate import tabulate

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
    """'mean ± sd' of ``values`` (sample standard deviation); just the mean for one value."""
    m = statistics.fmean(values)
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"
