"""The "Not counted" section: every file or folder the rebuild refused, and every verification claim it
did not take, with the reason (the checks of `memlocbench validate`, the filing record, the re-run
numbers). Nothing listed here enters any table."""

from __future__ import annotations

from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.markdown import md_escape

#: at most this many lines are listed (the rest are counted)
MAX_LINES = 200
INTRO = ("These submission files failed a check of `memlocbench validate`, are not what `memlocbench submit` "
         "filed (a folder must be named after its submission.json name and hold exactly the results that "
         "record lists), or are verification claims the page did not take; they enter no table, mean or mark. "
         "Paths are relative to the submissions folder.")


def section(collected: Collected) -> list[str]:
    """The list (nothing when every file counted)."""
    if not collected.problems:
        return []
    lines = [f"- {md_escape(p)}" for p in collected.problems[:MAX_LINES]]
    more = len(collected.problems) - MAX_LINES
    return (["## Not counted", "", INTRO, ""] + lines
            + ([f"- … and {more} more (run `memlocbench leaderboard` to see them all)"] if more > 0 else []) + [""])
