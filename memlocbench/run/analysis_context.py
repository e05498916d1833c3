"""Everything an analysis may use: a method's context plus the validation encodings, the store, and
the trained models of every model seed of the profile."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from memlocbench.data.encoding import Encoded
from memlocbench.run.method_context import MethodContext, merge_params
from memlocbench.store import ArtefactStore, PluginStore
from memlocbench.training.trained_models import TrainedModels, for_plugin


@dataclass
class AnalysisContext(MethodContext):
    val_enc: Encoded | None = None
    store: ArtefactStore | None = None
    seeds: list[int] = field(default_factory=list)  # the model seeds to analyse (the profile's, or --seed)
    models_for_seed: Callable[[int], TrainedModels] | None = None
    log: Callable[[str], None] = print
    #: with ``AnalysisInfo.uses_methods``: a registered method's scores on the run's memorising model
    #: (``pipeline.layer_scores``: from the store, or computed and stored) and the registered methods
    method_scores: Callable[[str], Any] | None = None
    method_granularity: dict[str, str] = field(default_factory=dict)  # registered method -> "layer" | "neuron"
    #: with ``AnalysisInfo.uses_methods``: every suite the registered methods name -> its members, in suite
    #: order (``memlocbench.api.method_suites``: what ``--method SUITE`` runs)
    method_suites: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.store, ArtefactStore):  # a plugin writes its own kinds only
            self.store = PluginStore(self.store)
        if self.models_for_seed is not None:
            inner = self.models_for_seed
            self.models_for_seed = lambda seed: for_plugin(inner(seed))

    def params(self, analysis: str, defaults: dict[str, Any]) -> dict[str, Any]:
        """The analysis' parameters: its defaults updated with the run config's ``analyses[analysis]``."""
        return merge_params("analysis", analysis, self.config.analyses.get(analysis, {}), defaults)
