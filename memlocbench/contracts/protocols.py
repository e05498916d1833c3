"""Typed contracts for the four kinds of plugin, and the metadata records they carry.

A plugin object only has to *look like* one of these protocols (duck typing); the registry checks
it with ``isinstance`` on these ``runtime_checkable`` protocols and rejects it with a warning if not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from memlocbench.names import Name

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from memlocbench.contracts.task_data import TaskData


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskMetadata(_Strict):
    """What a task is, where its data comes from, and how it is read."""

    name: Name
    description: str
    hub_id: str | None = Field(None, description="the hub dataset (datasets.load_dataset); None for a task whose "
                                                 "data are local files only (a task file)")
    hub_config: str | None = None
    hub_revision: str | None = Field(None, description="hub revision, e.g. 'refs/convert/parquet' for script datasets")
    mirror_folder: str | None = Field(None, description="folder in a local mirror; default: the task name")
    splits: dict[str, str] = Field(
        description="role -> hub split used for it, e.g. {'train': 'train', 'evaluation': 'validation'}"
    )
    text_fields: tuple[str, ...]
    label_field: str
    label_names: tuple[str, ...]
    license: str
    citation: str
    version: int = Field(ge=1, description="bumped whenever preprocessing changes")

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


class ModelInfo(_Strict):
    name: Name
    description: str
    hub_id: str | None = Field(None, description="the hub model (from_pretrained); None for a model whose weights "
                                                 "and tokenizer come only from a local folder (the adapter's source)")
    family: str
    sentence_representation: Literal["first-token", "last-token"]
    version: int = Field(ge=1, default=1)
    num_layers: int | None = Field(None, ge=1, description="layer count, declared so that result files can be "
                                   "checked without loading weights; None = not declared")
    default: bool = Field(False, description="the model `memlocbench run`, `analyse` and `grid` use when none is "
                                             "named; it should run offline (weights shipped in a package)")


class MethodInfo(_Strict):
    name: Name
    description: str
    version: int = Field(ge=1, default=1)
    granularity: Literal["layer", "neuron"] = Field(
        "layer", description="'neuron': the method scores each feed-forward neuron (LayerScores.neurons) and its "
                             "layer weights are the layers' shares of the top-scoring neurons")
    extra_models: tuple[str, ...] = Field(
        (), description="trained-model roles that localise() loads besides the memorising model and its clean "
                        "twin (e.g. 'classifier-only'); `memlocbench grid` trains them as units of their own")
    suites: tuple[Name, ...] = Field(
        (), description="named suites the method belongs to: `--method SUITE` runs every method of the suite; "
                        "'paper' is the paper's layer techniques, which `--method all` runs; 'neurons' the "
                        "neuron-level methods. A third-party method joins a suite by naming it here")
    aggregation: Literal["layers", "windows"] = Field(
        "layers", description="how its raw per-layer weights arise, which bounds its M-CoG: 'layers', one score per "
                              "layer (M-CoG in [1, L]); 'windows', layer_weights_from_windows over every window of "
                              "consecutive layers (memorisation in layer 1 alone gives M-CoG 2.54 on 6 layers, not 1; "
                              "memlocbench.api.mcog_bounds)")
    tie_rule: Literal["lower-layer-first", "higher-layer-first"] = Field(
        "lower-layer-first", description="which of two layers with equal weight ranks first when the control "
                                         "benchmark ranks layers (the paper's code: the higher layer for layer "
                                         "swapping, whose window errors tie often)")


@runtime_checkable
class Task(Protocol):
    metadata: TaskMetadata

    def load(self, data_dir: Path | None, seed: int, separator: str) -> "TaskData":
        """Return train / validation / test examples as input strings and integer labels.

        ``separator`` is the model's separator token, used to join multi-field inputs.
        ``seed`` is the data seed (used for the evaluation split, as in the paper).
        """
        ...


@runtime_checkable
class ModelAdapter(Protocol):
    """Optional, for neuron methods: ``ffn_projections(model) -> list[nn.Linear]``, each layer's
    feed-forward down-projection (d_ff -> d_model); its input is the layer's intermediate activation,
    so neuron j of layer l is its input feature j (the built-in adapters have it). Optional, for
    planting whole neurons: ``ffn_input_projections(model) -> list[list[nn.Linear]]``, per layer the maps
    onto those neurons (``memlocbench.models.neuron_masks.ffn_input_projections`` finds them without it)."""

    info: ModelInfo

    def load_tokenizer(self) -> Any: ...

    def load_model(self, num_labels: int) -> "nn.Module":
        """A stock ``AutoModelForSequenceClassification`` with pretrained weights and a fresh head."""
        ...

    def layer_modules(self, model: "nn.Module") -> "nn.ModuleList": ...


    def parameter_group(self, parameter_name: str) -> str | int:
        """'embeddings', the 0-based layer index, or 'head'."""
        ...

    def separator(self, tokenizer: Any) -> str: ...

    def sentence_representation(
        self, hidden: "torch.Tensor", attention_mask: "torch.Tensor"
    ) -> "torch.Tensor": ...


@dataclass
class LayerScores:
    """What a method returns: one non-negative raw weight per layer, plus its raw measurements.

    A neuron method (``MethodInfo.granularity == "neuron"``) also returns ``neurons``: a finite float
    tensor [L, d_ff], one attribution per feed-forward neuron (``ModelAdapter.ffn_projections``),
    higher = more involved in memorising the noisy labels. It is stored as an artefact beside the
    result, not in the JSON; ``raw`` must then be ``layer_profile.neuron_layer_shares(neurons, k)``."""

    raw: list[float]
    details: dict[str, Any] = field(default_factory=dict)
    neurons: "torch.Tensor | None" = None


@runtime_checkable
class LocalisationMethod(Protocol):
    """A localisation method. Besides ``info`` and ``localise`` a method object may define (all optional,
    read with ``getattr``):

    - ``defaults: dict``: its parameters' defaults (those ``ctx.params`` merges the run config into);
      ``memlocbench grid`` reads them for its estimates; the run config's parameters are checked against
      them (names, types) before any work;
    - ``check_params``: a callable of the merged parameters and the registered plugins' names by kind
      (``registered``), returning a list of problems (empty: fine), called before any training;
    - ``estimate_work(params, rows) -> int | None``: the work of one run in the grid's cost model (rows x
      epochs for a training) given its merged parameters and the training size; default: ``rows``;
    - ``default_rates: dict[str, float]``: seconds per unit of that work before any run was timed:
      ``"cpu"`` at the CPU reference (MiniLM-L6 on a CPU), ``"cuda"`` at the GPU reference (a
      125M-parameter model on a GPU), scaled by each model's parameters x tokens
      (``memlocbench.grid.estimate``), and optionally ``"cpu-large"`` and ``"cuda-small"`` where that
      scaling does not hold; default: the mean of the default suite's rates;
    - ``suite_position: int``: where it stands when its suites are listed (``--method SUITE``; lower
      first; methods without one follow in registry order);
    - ``flags(details: dict) -> list[str]``: why a profile it produced (its ``LayerScores.details``, as
      stored in a result) is degenerate, one sentence per reason (empty: it is not). The leaderboard
      marks flagged cells; ``memlocbench run`` prints the reasons.
    """

    info: MethodInfo

    def localise(self, ctx: Any) -> LayerScores:
        """Score the layers (or neurons) of ``ctx.models``' memorising model; ``ctx`` is a
        :class:`memlocbench.api.MethodContext` (typed ``Any`` here so that the contracts import no stage
        above them)."""
        ...


@runtime_checkable
class Executor(Protocol):
    """Runs the units of ``memlocbench grid`` (see ``memlocbench.grid.executors`` for the contract).

    ``execute(units, options, report)`` gets the pending units in dependency order, ``options`` and a
    ``report`` callable it calls once per unit.

    Options: an executor may declare the options it accepts as ``options_schema``, a pydantic model
    class with extra keys forbidden (``model_config = ConfigDict(extra="forbid")``), one field per
    option, with its type, default and description. Users give them as
    ``memlocbench grid --executor-option KEY=VALUE`` (repeatable; VALUE read as JSON where it parses,
    else as a string) or in the grid file's ``[executor_options]`` table. They are checked before any
    work: an option the schema does not name is an error listing the valid ones, a bad value an error
    naming the problem; an executor without ``options_schema`` accepts none. ``options`` then holds
    the schema's validated values (defaults filled in) plus the driver's ``progress`` (bool) and
    ``log`` (a ``str -> None`` callable)."""

    name: str
    description: str

    def execute(self, units: list[dict], options: dict, report: Any) -> None: ...


class Measure(_Strict):
    """A task-level number an analysis contributes to the leaderboard's "Memorisation vs generalisation"
    section: a *location* (where memorisation lives, e.g. a layer) or a *generalisation* score."""

    key: str = Field(description="the key of the number in the analysis' summary")
    label: str = Field(min_length=1, max_length=60, description="its name on the leaderboard")
    kind: Literal["location", "generalisation"]
    paper_rho: float | None = Field(None, ge=-1, le=1, description="for a location: the paper's Spearman rho "
                                                                    "against its generalisation score, shown beside ours")
    paper_rho_validation: float | None = Field(
        None, ge=-1, le=1, description="for a location: the paper's Spearman rho against validation accuracy "
                                       "(its notebooks), shown beside ours")
    paper_ordering: dict[str, float] | None = Field(
        None, description="the paper's per-task values of this location (task name -> value), the reference "
                          "the leaderboard sets our task ordering against (Spearman over the tasks both have)")
    paper_ordering_source: str = Field("", max_length=300, description="where paper_ordering comes from")
    description: str = Field("", max_length=300, description="one sentence on what it measures, for the "
                                                              "section's introduction")


class AnalysisInfo(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str
    version: int = Field(ge=1, default=1)
    uses_models: bool = Field(True, description="whether the output depends on the trained models of the run "
                                                "(then their store keys are part of its cache key)")
    reads_memorising: bool = Field(True, description="whether it reads the memorising models (with uses_models): "
                                                     "then model seeds whose memorising model did not memorise "
                                                     "(the run config's guard) are left out of it")
    uses_methods: bool = Field(False, description="whether it reads localisation methods' scores "
                                                  "(AnalysisContext.method_scores; then the registered methods' "
                                                  "names, versions and providers are part of its cache key)")
    measures: tuple[Measure, ...] = Field((), description="the summary numbers the leaderboard sets against each "
                                                           "other (locations against generalisation scores)")
    recheckable_versions: tuple[int, ...] = Field(
        (), description="earlier versions whose results this plugin still rechecks (its recheck and flags read "
                        "them): they validate and count on the leaderboard, shown with their version; results "
                        "of any other earlier version must be re-run")


@dataclass
class AnalysisOutput:
    """What an analysis returns: task-level numbers (finite floats, or None where undefined) and
    everything else it measured (per example, per layer, ...)."""

    summary: dict[str, float | None]
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Analysis(Protocol):
    """A task-level measurement on a run's noisy dataset and trained models. An analysis object may also
    define (all optional, read with ``getattr``):

    - ``recheck(summary, details) -> list[str]``: the problems found when its summary is recomputed from
      its details (``memlocbench validate`` calls it);
    - ``defaults: dict``: its parameters' defaults (those ``ctx.params`` merges the run config into);
    - ``check_params``: as for a method (``LocalisationMethod``), called before any model is trained;
    - ``estimate_work(params, rows) -> int | None``: its work in ``memlocbench grid``'s cost model given
      its merged parameters and the training size; default: ``rows``;
    - ``default_rates: dict[str, float]``: seconds per unit of that work before any run was timed, as for
      a method (``LocalisationMethod``);
    - ``flags(summary: dict, details: dict) -> dict[str, str]``: the summary keys whose value is degenerate
      or invalid in this output, each with the reason (empty: none). The leaderboard marks those values
      and keeps them out of its correlations.
    """

    info: AnalysisInfo

    def analyse(self, ctx: Any) -> AnalysisOutput:
        """Measure; ``ctx`` is a :class:`memlocbench.api.AnalysisContext` (typed ``Any`` here so that the
        contracts import no stage above them)."""
        ...
