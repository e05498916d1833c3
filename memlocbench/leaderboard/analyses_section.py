"""Old import path of the analysis sections' helpers, kept while callers (``memlocbench.cli``) move to
``memlocbench.leaderboard``. ``write_figures`` here fills in the installed plugins' declarations."""

from memlocbench.leaderboard.aggregate.analyses import correlation
from memlocbench.leaderboard.installed import write_figures

__all__ = ["correlation", "write_figures"]
