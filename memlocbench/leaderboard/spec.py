"""What the leaderboard needs to know about the installed plugins, as plain data.

``render`` is a function of the result files and a :class:`LeaderboardSpec`; the caller builds the spec
from the plugin registry (:meth:`LeaderboardSpec.from_plugins`) and keeps only the declarations of the
methods and analyses that have results (``render.page_spec``), so the page depends on the submissions
alone, never on which other plugins are installed: the methods of the paper's suite
(``MethodInfo.suites``), the methods whose ties go to the higher layer (``MethodInfo.tie_rule``) and the
measures the analyses declare (``AnalysisInfo.measures``). Without a registry (``LeaderboardSpec()``) the
page uses only what the results tell: every method counts as the paper's, ties go to the lower layer, and
no analysis measure is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from memlocbench.contracts.protocols import Measure

if TYPE_CHECKING:  # pragma: no cover
    from memlocbench.registry import Plugins

#: the suite of the paper's layer methods (``MethodInfo.suites``)
PAPER_SUITE = "paper"
#: the core's own location measure, computed from method results (not from an analysis): the mean
#: M-CoG of the paper's methods; 0.56 is the paper's pooled Spearman rho against the generalisation score
MEAN_MCOG = Measure(key="mean_mcog", label="mean M-CoG", kind="location", paper_rho=0.56)


@dataclass(frozen=True)
class DeclaredMeasure:
    """A measure and the analysis that declares it (None: the core's own, ``MEAN_MCOG``)."""

    analysis: str | None
    measure: Measure

    @property
    def key(self) -> str:
        return self.measure.key

    @property
    def label(self) -> str:
        return self.measure.label

    @property
    def paper_rho(self) -> float | None:
        return self.measure.paper_rho


CORE_MEASURE = DeclaredMeasure(None, MEAN_MCOG)


@dataclass(frozen=True)
class LeaderboardSpec:
    """The plugin declarations the page uses.

    ``paper_methods``: the paper's methods (None: not known, every method counts); ``higher_layer_ties``:
    methods whose equal layer weights rank the higher layer first; ``measures``: the analyses' measures,
    ordered by analysis name, then as each analysis declares them."""

    paper_methods: frozenset[str] | None = None
    higher_layer_ties: frozenset[str] = frozenset()
    measures: tuple[DeclaredMeasure, ...] = ()

    @classmethod
    def from_plugins(cls, plugins: "Plugins") -> "LeaderboardSpec":
        """The declarations of the registered methods and analyses."""
        methods = {name: m.info for name, m in plugins.methods.items.items()}
        analyses = plugins.analyses.items
        return cls(
            paper_methods=frozenset(n for n, info in methods.items() if PAPER_SUITE in info.suites),
            higher_layer_ties=frozenset(n for n, info in methods.items() if info.tie_rule == "higher-layer-first"),
            measures=tuple(DeclaredMeasure(name, m) for name in sorted(analyses) for m in analyses[name].info.measures),
        )

    def restricted(self, methods: set[str], analyses: set[str]) -> "LeaderboardSpec":
        """The declarations of ``methods`` and ``analyses`` only (those with results): a plugin that is
        installed where the page is built, but has no results, changes nothing on it."""
        return LeaderboardSpec(
            paper_methods=None if self.paper_methods is None else self.paper_methods & frozenset(methods),
            higher_layer_ties=self.higher_layer_ties & frozenset(methods),
            measures=tuple(d for d in self.measures if d.analysis in analyses))

    @property
    def generalisation(self) -> tuple[DeclaredMeasure, ...]:
        """The generalisation scores, in order."""
        return tuple(d for d in self.measures if d.measure.kind == "generalisation")

    @property
    def locations(self) -> tuple[DeclaredMeasure, ...]:
        """The location measures of the analyses, then the core's mean M-CoG."""
        return tuple(d for d in self.measures if d.measure.kind == "location") + (CORE_MEASURE,)

    @property
    def measure_analyses(self) -> list[str]:
        """The analyses that declare measures: those of the generalisation scores first, each once."""
        ordered = [d.analysis for d in self.generalisation + self.locations if d.analysis is not None]
        return list(dict.fromkeys(ordered))
