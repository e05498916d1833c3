"""What the leaderboard needs to know about the installed plugins, as plain data.

``render`` is a function of the result files and a :class:`LeaderboardSpec`; the caller builds the spec
from the plugin registry (:meth:`LeaderboardSpec.from_plugins`) and keeps only the declarations of the
methods and analyses that have results (``render.page_spec``), so the page depends on the submissions
alone, never on which other plugins are installed: the methods of the paper's suite
(``MethodInfo.suites``), the methods whose ties go to the higher layer (``MethodInfo.tie_rule``), the
measures the analyses declare (``AnalysisInfo.measures``) and the analyses' optional ``flags`` (which
summary values of a result are degenerate). Without a registry (``LeaderboardSpec()``) the
page uses only what the results tell: every method counts as the paper's, ties go to the lower layer, and
no analysis measure is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from memlocbench.contracts.protocols import Measure

if TYPE_CHECKING:  # pragma: no cover
    from memlocbench.registry import Plugins

#: the suite of the paper's layer methods (``MethodInfo.suites``)
PAPER_SUITE = "paper"
#: the core's own location measure, computed from method results (not from an analysis): the mean
#: M-CoG of the paper's methods. The paper's pooled Spearman rho (4 models x 12 tasks): 0.56 against the
#: generalisation score, 0.54 against validation accuracy; its per-task ordering as in its notebooks
MEAN_MCOG = Measure(
    key="mean_mcog", label="mean M-CoG", kind="location", paper_rho=0.56, paper_rho_validation=0.54,
    paper_ordering={"rte": 5.19, "wic": 5.45, "mrpc": 5.55, "boolq": 5.57, "cola": 5.81, "sst5": 5.85,
                    "stormfront": 5.96, "sst2": 6.00, "trec": 6.05, "implicithate": 6.17, "reuters": 6.32,
                    "emotion": 6.38},
    paper_ordering_source="Dankers & Titov 2024, the paper code's notebooks: M-CoG per task, mean over its 4 "
                          "layer techniques x 4 models (12 layers), read approximately from the published figure")

#: which of a location's paper values stands beside which generalisation score: the summary keys under
#: which analyses declare the paper's two comparators (``Measure.paper_rho``: the paper's generalisation
#: score; ``Measure.paper_rho_validation``: its validation accuracy, normalised for chance)
PAPER_COMPARATORS = {"generalisation_score": "paper_rho", "normalised_validation_accuracy": "paper_rho_validation"}

#: an analysis' optional ``flags(summary, details)``: summary key -> why that value is degenerate
Flagger = Callable[[dict, dict], dict]


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

    def paper_rho_against(self, score: "DeclaredMeasure") -> float | None:
        """The paper's rho of this location against generalisation score ``score`` (None: the paper has
        none for that score; ``PAPER_COMPARATORS``)."""
        field = PAPER_COMPARATORS.get(score.key)
        return getattr(self.measure, field) if field else None


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
    #: (analysis, its ``flags``) for the analyses that define one (``contracts.protocols.Analysis``)
    analysis_flaggers: tuple[tuple[str, Flagger], ...] = ()

    @classmethod
    def from_plugins(cls, plugins: "Plugins") -> "LeaderboardSpec":
        """The declarations of the registered methods and analyses."""
        methods = {name: m.info for name, m in plugins.methods.items.items()}
        analyses = plugins.analyses.items
        return cls(
            paper_methods=frozenset(n for n, info in methods.items() if PAPER_SUITE in info.suites),
            higher_layer_ties=frozenset(n for n, info in methods.items() if info.tie_rule == "higher-layer-first"),
            measures=tuple(DeclaredMeasure(name, m) for name in sorted(analyses) for m in analyses[name].info.measures),
            analysis_flaggers=tuple((name, f) for name in sorted(analyses)
                                    if callable(f := getattr(analyses[name], "flags", None))),
        )

    def restricted(self, methods: set[str], analyses: set[str]) -> "LeaderboardSpec":
        """The declarations of ``methods`` and ``analyses`` only (those with results): a plugin that is
        installed where the page is built, but has no results, changes nothing on it."""
        return LeaderboardSpec(
            paper_methods=None if self.paper_methods is None else self.paper_methods & frozenset(methods),
            higher_layer_ties=self.higher_layer_ties & frozenset(methods),
            measures=tuple(d for d in self.measures if d.analysis in analyses),
            analysis_flaggers=tuple((a, f) for a, f in self.analysis_flaggers if a in analyses))

    def analysis_flagger(self, analysis: str) -> Flagger | None:
        """The ``flags(summary, details)`` of ``analysis`` (None: it defines none, or is not known)."""
        return dict(self.analysis_flaggers).get(analysis)

    @property
    def generalisation(self) -> tuple[DeclaredMeasure, ...]:
        """The generalisation scores, in order."""
        return tuple(d for d in self.measures if d.measure.kind == "generalisation")

    def paper_rho(self, location: DeclaredMeasure, score: DeclaredMeasure) -> float | None:
        """The paper's rho of ``location`` against generalisation score ``score``: by the score's key
        (``PAPER_COMPARATORS``); where no declared score has such a key, ``paper_rho`` stands beside the
        first generalisation score."""
        if any(g.key in PAPER_COMPARATORS for g in self.generalisation):
            return location.paper_rho_against(score)
        first = self.generalisation[:1]
        return location.paper_rho if first and (first[0].analysis, first[0].key) == (score.analysis, score.key) \
            else None

    @property
    def locations(self) -> tuple[DeclaredMeasure, ...]:
        """The location measures of the analyses, then the core's mean M-CoG."""
        return tuple(d for d in self.measures if d.measure.kind == "location") + (CORE_MEASURE,)

    @property
    def measure_analyses(self) -> list[str]:
        """The analyses that declare measures: those of the generalisation scores first, each once."""
        ordered = [d.analysis for d in self.generalisation + self.locations if d.analysis is not None]
        return list(dict.fromkeys(ordered))
