"""The result record of one (task, model, method) run: a versioned, strictly checked pydantic model.

Results are written as JSON; reading one back never executes or unpickles anything. The checks
here are the ones the leaderboard applies to submissions: names that can become file names match
the name pattern, every float is finite and every share lies in [0, 1], and every derived number
(layer weights from raw weights, M-CoG, control accuracy@1/@2 and chance) is recomputed, never trusted.
Files of an older schema are upgraded on read (``results.upgrade``) and then checked the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, StringConstraints, Tag, ValidationError, field_validator, model_validator

from memlocbench.scoring.layer_weights import control_accuracy, control_placements, layer_ranking, single_layer_placements, mcog, normalise
from memlocbench.names import Name, path_inside
from memlocbench.config.profiles import GuardConfig, RunConfig, config_hash
from memlocbench.errors import InvalidInputError
from memlocbench.results.fields import (RECOMPUTE_TOLERANCE, Count, Fraction, NonNegative, PackageText, PluginRef,
                                       StrictRecord, Text)
from memlocbench.results.guard import MemorisationGuard, MemorisationStats, memorisation_guard
from memlocbench.results.upgrade import CURRENT, RESULT_STEPS, SUMMARY_STEPS, upgrade
from memlocbench.store import atomic_write_text

SCHEMA_VERSION = CURRENT
WEIGHTS_SUM_TOLERANCE = 1e-6
MAX_LAYERS = 1024

#: the control tracks: the paper's two-layer placements, one layer at a time, and planted neurons; and
#: their gradient-routed versions (every layer trains on the clean examples, the noisy examples reach only
#: the placement, or the planted neurons, and the head)
CONTROL_TRACKS = ("pair", "single", "planted", "routed-pair", "routed-single", "planted-routed")
#: the tracks scored against planted neurons (the rest against layer placements)
PLANTED_TRACKS = ("planted", "planted-routed")
#: the tracks that place one layer at a time
SINGLE_TRACKS = ("single", "routed-single")
LayerTrack = Literal["pair", "single", "routed-pair", "routed-single"]
#: the neuron tracks' models, as ``Result.memorisation`` names their roles
PLANTED_ROLES = {"planted": ("planted-neurons", "planted-neurons-clean"),
                 "planted-routed": ("planted-routed", "planted-routed-clean")}


def is_planted(track: str | None) -> bool:
    return track in PLANTED_TRACKS


def is_routed(track: str | None) -> bool:
    return track is not None and "routed" in track


def control_roles(track: str, placement: tuple[int, int] | list[int]) -> tuple[str, str]:
    """The roles of a layer track's control model and its clean twin for ``placement``."""
    a, b = placement
    prefix = "routed" if is_routed(track) else "control"
    return f"{prefix}-{a}-{b}", f"{prefix}-{a}-{b}-clean"


#: how a control ranking orders layers of equal weight (``MethodInfo.tie_rule``)
TIE_RULES = ("lower-layer-first", "higher-layer-first")
TieRule = Literal["lower-layer-first", "higher-layer-first"]
_TIE_RULE_FIELD = Field(None, description="how layers of equal weight were ranked (the method's MethodInfo.tie_rule); "
                                          "absent in results written before it was recorded, which validate "
                                          "under either rule")


def _higher_first(tie_rule: str) -> bool:
    """Whether ``tie_rule`` ranks the higher of two equal layers first; an InvalidInputError names the valid rules."""
    if tie_rule not in TIE_RULES:
        raise InvalidInputError(f"unknown tie rule {tie_rule!r}; valid: {', '.join(TIE_RULES)}")
    return tie_rule == "higher-layer-first"


class ControlScore(StrictRecord):
    """How well a profile finds the layers that the control setup forced memorisation into."""

    placement: list[int] = Field(min_length=2, max_length=2, description="0-based first and last layer the main task could update")
    track: LayerTrack = Field("pair", description="two-layer placements (the paper's) or one layer; 'routed-': "
                                                   "the gradient-routed versions")
    accuracy_at_1: Fraction
    accuracy_at_2: Fraction = Field(description="share of the top two layers that are placement layers")
    true_layer_rank: int | None = Field(None, ge=1, description="1-based rank of the best-ranked placement layer")
    chance: Fraction = Field(description="accuracy@1 by chance: placement layers / L")
    tie_rule: TieRule | None = _TIE_RULE_FIELD


def control_score(profile: list[float], placement: tuple[int, ...], tie_rule: str = "lower-layer-first",
                  track: str = "pair") -> ControlScore:
    """accuracy@1: is the top layer a placement layer; accuracy@2: share of the top two that are;
    the rank of the best-ranked placement layer (1 = top). Layers of equal weight are ranked by
    ``tie_rule`` (one of ``TIE_RULES``), which the score records."""
    higher = _higher_first(tie_rule)
    acc1, acc2, chance = control_accuracy(profile, placement, higher)
    order = layer_ranking(profile, higher)
    return ControlScore(placement=list(placement), track=track, accuracy_at_1=acc1, accuracy_at_2=acc2,
                        true_layer_rank=1 + min(order.index(i) for i in set(placement)), chance=chance,
                        tie_rule=tie_rule)


class NeuronControlScore(StrictRecord):
    """The neuron ground-truth track: how well a profile (any method) and a neuron ranking (neuron
    methods) find the planted neurons, the only feed-forward weights the main task could update."""

    track: Literal["planted", "planted-routed"]
    planted: list[Annotated[int, Field(ge=0)]] = Field(
        min_length=1, description="planted neurons, sorted flat indices layer * width + neuron (the model seed's draw)")
    width: int = Field(ge=1, description="feed-forward neurons per layer (d_ff)")
    planted_per_layer: list[Count]
    accuracy_at_1: Fraction = Field(description="the profile's top layer is one holding the most planted neurons")
    chance: Fraction = Field(description="accuracy@1 by chance: layers holding the most planted neurons / L")
    top: list[Annotated[int, Field(ge=0)]] | None = Field(
        None, description="neuron methods: their 2k top neurons, best first (k = number planted)")
    recall_at_k: Fraction | None = Field(None, description="|top k ∩ planted| / k")
    recall_at_2k: Fraction | None = Field(None, description="|top 2k ∩ planted| / k")
    random_recall_at_k: Fraction = Field(description="expected recall@k of random neurons: k / (L * width)")
    random_recall_at_2k: Fraction = Field(description="expected recall@2k of random neurons: 2k / (L * width)")
    tie_rule: TieRule | None = _TIE_RULE_FIELD


def neuron_control_score(profile: list[float], planted: list[int], width: int,
                         tie_rule: str = "lower-layer-first", neurons=None,
                         track: str = "planted") -> NeuronControlScore:
    """The neuron track's scores: accuracy@1 of the profile against the layers holding the most
    planted neurons (layers of equal weight ranked by ``tie_rule``, which the score records), and, with
    ``neurons`` ([L, d_ff] scores of a neuron method), recall@k and recall@2k (k = |planted|, top
    neurons ties to the lower index)."""
    from memlocbench.scoring.planted_neurons import planted_per_layer, random_recall, ranked_neurons, recall

    L, k = len(profile), len(planted)
    per_layer = planted_per_layer(planted, L, width)
    most = tuple(i for i, c in enumerate(per_layer) if c == max(per_layer))
    acc1, _, chance = control_accuracy(profile, most, _higher_first(tie_rule))
    top = ranked_neurons(neurons, min(2 * k, L * width)) if neurons is not None else None
    return NeuronControlScore(
        track=track, planted=list(planted), width=width, planted_per_layer=per_layer, accuracy_at_1=acc1,
        chance=chance, top=top, recall_at_k=recall(top, planted, k) if top is not None else None,
        recall_at_2k=recall(top, planted, 2 * k) if top is not None else None,
        random_recall_at_k=random_recall(k, L * width), random_recall_at_2k=random_recall(2 * k, L * width),
        tie_rule=tie_rule)


def _check_under_tie_rules(c, source: str, mismatches) -> None:
    """Every control score must follow from ``source`` under the block's recorded tie rule, or, in a
    result written before the rule was recorded, under either rule (both are legitimate; they differ
    only where layers tie). ``mismatches(c, rule)`` lists (field, stated, recomputed); a ValueError
    names the first under the recorded rule (or the first rule)."""
    rules = (c.tie_rule,) if c.tie_rule is not None else TIE_RULES
    found = [mismatches(c, rule) for rule in rules]
    if all(found):
        field, mine, value = found[0][0]
        under = f"tie rule {c.tie_rule}" if c.tie_rule is not None else "either tie rule"
        raise ValueError(f"control.{field} is {mine}, but {source} give {value} (under {under})")


#: the tags of ``Result.control``'s two kinds (they appear in validation error locations; ``field_path`` drops them)
CONTROL_KINDS = ("layers", "planted")


def _control_kind(value) -> str:
    track = value.get("track") if isinstance(value, dict) else getattr(value, "track", None)
    return "planted" if is_planted(track) else "layers"


def field_path(loc: tuple) -> str:
    """A validation error's location as a dotted path, without the control block's kind tag."""
    parts = [p for i, p in enumerate(loc) if not (i > 0 and loc[i - 1] == "control" and p in CONTROL_KINDS)]
    return ".".join(str(p) for p in parts)


def setup_label(result: "Result") -> str:
    """How a result's models were trained, for tables: standard, control a-b (1-based), planted neurons."""
    c = result.control
    if c is None:
        return "standard"
    if is_planted(c.track):
        return "planted neurons" + (" (routed)" if is_routed(c.track) else "")
    return f"{'routed' if is_routed(c.track) else 'control'} {c.placement[0] + 1}-{c.placement[1] + 1}"


def setup_order(result: "Result") -> list:
    """A sort key for the setups of results: standard, then control placements, then planted neurons."""
    c = result.control
    if c is None:
        return []
    routed = int(is_routed(c.track))
    return [10**9, routed] if is_planted(c.track) else [routed, *c.placement]


class Result(StrictRecord):
    """One (task, model, method) run: its per-layer weights (raw as the method gave them, and normalised
    to sum 1), M-CoG, the memorisation statistics and guard, and, on the control tracks, its scores."""

    schema_version: Literal[2] = SCHEMA_VERSION
    memlocbench_version: PackageText
    created_at: str = Field(description="ISO 8601 time with a time zone")
    task: PluginRef
    model: PluginRef
    method: PluginRef
    settings_profile: Name = Field(description="the settings profile the config started from (config.profile)")
    config: dict[str, Any]
    config_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    seeds: dict[Name, int]
    sizes: dict[Name, Count]
    memorisation: dict[Literal["memorising", "clean"], MemorisationStats]
    num_layers: int = Field(ge=1, le=MAX_LAYERS)
    details: dict[str, Any]
    raw_weights: list[NonNegative] = Field(description="the method's raw per-layer weights (LayerScores.raw)")
    layer_weights: list[NonNegative] = Field(description="raw_weights normalised to sum 1 (uniform if all zero)")
    weights_all_zero: bool = Field(description="raw weights were all zero; layer weights set uniform")
    mcog: float
    control: Annotated[Annotated[ControlScore, Tag("layers")] | Annotated[NeuronControlScore, Tag("planted")],
                       Discriminator(_control_kind)] | None = None
    memorisation_guard: MemorisationGuard
    timings: dict[Name, NonNegative]
    cached: dict[Name, bool] = Field(description="which stages were reused from the artefact store")
    environment: dict[Name, Text]

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Files of an older schema are upgraded in memory first (``results.upgrade``)."""
        return upgrade(data, RESULT_STEPS)

    @field_validator("created_at")
    @classmethod
    def _iso_time(cls, value: str) -> str:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"created_at {value[:40]!r} is not an ISO 8601 time, e.g. 2026-11-27T20:31:25+00:00") from None
        if when.tzinfo is None:
            raise ValueError("created_at has no time zone; expected e.g. 2026-11-27T20:31:25+00:00")
        if when > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1):
            raise ValueError(f"created_at {value!r} lies in the future")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "Result":
        L = self.num_layers
        for name in ("raw_weights", "layer_weights"):
            values = getattr(self, name)
            if len(values) != L:
                raise ValueError(f"{name} has {len(values)} entries, expected one per layer ({L})")
        if abs(sum(self.layer_weights) - 1) > WEIGHTS_SUM_TOLERANCE:
            raise ValueError(f"layer_weights sum to {sum(self.layer_weights):.8f}, expected 1")
        expected_weights = normalise(self.raw_weights)
        worst = max(abs(a - b) for a, b in zip(self.layer_weights, expected_weights))
        if worst > RECOMPUTE_TOLERANCE:
            raise ValueError(f"layer_weights do not follow from raw_weights (normalised to sum 1; off by up to {worst:.3g})")
        if self.weights_all_zero != (sum(self.raw_weights) == 0):
            raise ValueError(f"weights_all_zero is {self.weights_all_zero}, but raw_weights sum to {sum(self.raw_weights)}")
        expected = mcog(self.layer_weights)
        if abs(self.mcog - expected) > RECOMPUTE_TOLERANCE:
            raise ValueError(f"mcog is {self.mcog}, but the layer weights give {expected}")
        if config_hash(self.config) != self.config_hash:
            raise ValueError("config_hash does not match the sha256 of the config")
        self._check_config()
        self._check_sizes()
        self._check_control()
        # the stated guard must be the one its statistics and config give (it decides what is ranked)
        self._check_guard(memorisation_guard(self.memorisation, GuardConfig(**self.config.get("guard", {}))))
        return self

    def _check_guard(self, expected: MemorisationGuard) -> None:
        stated = self.memorisation_guard
        for field in ("memorised", "min_noisy_fit", "max_clean_twin_fit"):
            if getattr(stated, field) != getattr(expected, field):
                raise ValueError(f"memorisation_guard.{field} is {getattr(stated, field)}, but the memorisation "
                                 f"statistics and config.guard give {getattr(expected, field)}")
        for field in ("noisy_fit", "clean_twin_fit"):
            if abs(getattr(stated, field) - getattr(expected, field)) > RECOMPUTE_TOLERANCE:
                raise ValueError(f"memorisation_guard.{field} is {getattr(stated, field)}, but the memorisation "
                                 f"statistics give {getattr(expected, field)}")

    def _check_config(self) -> None:
        try:
            cfg = RunConfig.model_validate(self.config)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"config.{where}: {first['msg']}") from None
        if cfg.profile != self.settings_profile:
            raise ValueError(f"settings_profile is {self.settings_profile!r}, but config.profile is {cfg.profile!r}")
        expected = {"data_seed": cfg.data.seed, "model_seed": cfg.train.seed}
        if self.seeds != expected:
            raise ValueError(f"seeds are {self.seeds}, but the config gives {expected}")

    def _check_sizes(self) -> None:
        s = self.sizes
        if "n_noisy" in s and s["n_noisy"] < 1:
            raise ValueError("sizes.n_noisy is 0: a run without noisy examples localises nothing")
        if {"n_noisy", "n_clean", "effective_train_size"} <= s.keys() \
                and s["n_noisy"] + s["n_clean"] != s["effective_train_size"]:
            raise ValueError(f"sizes: n_noisy + n_clean = {s['n_noisy'] + s['n_clean']}, but "
                             f"effective_train_size is {s['effective_train_size']}")
        if {"original_train_size", "effective_train_size"} <= s.keys() \
                and s["effective_train_size"] > s["original_train_size"]:
            raise ValueError("sizes: effective_train_size exceeds original_train_size")

    def _check_control(self) -> None:
        mem, clean = self.memorisation.get("memorising"), self.memorisation.get("clean")
        if mem is None or clean is None:
            raise ValueError("memorisation needs both 'memorising' and 'clean'")
        if (mem.labels, clean.labels) != ("noisy", "clean"):
            raise ValueError("memorisation.memorising is trained on 'noisy' labels and memorisation.clean on 'clean' ones")
        c = self.control
        if c is None:
            roles = ("memorising", "clean")
        elif is_planted(c.track):
            roles = PLANTED_ROLES[c.track]
            self._check_neurons(c)
        else:
            try:
                placements = single_layer_placements if c.track in SINGLE_TRACKS else control_placements
                valid = [list(p) for p in placements(self.num_layers)]
            except Exception as exc:  # fewer than 2 layers
                raise ValueError(f"control: {exc}") from None
            if c.placement not in valid:
                raise ValueError(f"control.placement {c.placement} is not one of the control setup's placements "
                                 f"for {self.num_layers} layers: {valid}")
            roles = control_roles(c.track, c.placement)
            _check_under_tie_rules(c, "the profile and the placement", self._layer_mismatches)
        if (mem.role, clean.role) != roles:
            raise ValueError(f"memorisation roles are {mem.role!r} / {clean.role!r}; this setup trains {roles[0]!r} / {roles[1]!r}")

    def _check_neurons(self, c: NeuronControlScore) -> None:
        """The planted set must be the model seed's draw, and every score must follow from it, the
        profile and the recorded top neurons."""
        from memlocbench.scoring.planted_neurons import planted_count, planted_percent, sample_planted

        percent = planted_percent(is_routed(c.track))
        L, total = self.num_layers, self.num_layers * c.width
        if len(c.planted) != planted_count(L, c.width, percent):
            raise ValueError(f"control.planted has {len(c.planted)} neurons; {L} layers of {c.width} plant "
                             f"{planted_count(L, c.width, percent)}")
        seed = self.seeds.get("model_seed")
        if seed is None or c.planted != sample_planted(L, c.width, seed, percent):
            raise ValueError(f"control.planted is not the planted set of model seed {seed} "
                             f"({L} layers of {c.width} neurons)")
        if c.top is not None and (len(set(c.top)) != len(c.top) or len(c.top) != min(2 * len(c.planted), total)
                                  or max(c.top) >= total):
            raise ValueError(f"control.top must be {min(2 * len(c.planted), total)} distinct neurons below {total}")
        if (c.top is None) != (c.recall_at_k is None) or (c.top is None) != (c.recall_at_2k is None):
            raise ValueError("control.recall_at_k / recall_at_2k come with control.top (neuron methods) or not at all")
        _check_under_tie_rules(c, "the planted set, the profile and the top neurons", self._neuron_mismatches)

    def _layer_mismatches(self, c: ControlScore, tie_rule: str) -> list[tuple[str, Any, Any]]:
        """(field, stated, recomputed) for the layer control scores that the profile and the placement do
        not give under ``tie_rule``."""
        acc1, acc2, chance = control_accuracy(self.layer_weights, c.placement, _higher_first(tie_rule))
        return [(f, getattr(c, f), v) for f, v in (("accuracy_at_1", acc1), ("accuracy_at_2", acc2), ("chance", chance))
                if abs(getattr(c, f) - v) > RECOMPUTE_TOLERANCE]

    def _neuron_mismatches(self, c: NeuronControlScore, tie_rule: str) -> list[tuple[str, Any, Any]]:
        """(field, stated, recomputed) for the neuron-track scores that the planted set, the profile and
        the top neurons do not give under ``tie_rule``."""
        expected = neuron_control_score(self.layer_weights, c.planted, c.width, tie_rule)
        checks = [("planted_per_layer", expected.planted_per_layer), ("accuracy_at_1", expected.accuracy_at_1),
                  ("chance", expected.chance), ("random_recall_at_k", expected.random_recall_at_k),
                  ("random_recall_at_2k", expected.random_recall_at_2k)]
        if c.top is not None:
            from memlocbench.scoring.planted_neurons import recall

            checks += [("recall_at_k", recall(c.top, c.planted, len(c.planted))),
                       ("recall_at_2k", recall(c.top, c.planted, 2 * len(c.planted)))]
        return [(f, getattr(c, f), v) for f, v in checks
                if ((getattr(c, f) != v) if isinstance(v, list) else abs(getattr(c, f) - v) > RECOMPUTE_TOLERANCE)]

    def filename(self) -> str:
        c = self.control
        if c is not None and is_planted(c.track):
            setup = "planted-neurons" if c.track == "planted" else c.track
            return f"{self.task.name}__{self.model.name}__{self.method.name}__{setup}__{self.config_hash[:12]}.json"
        setup = f"__{control_roles(c.track, c.placement)[0]}" if c else ""
        # (single-layer placements are control-k-k, so the two tracks never share a file name)
        return f"{self.task.name}__{self.model.name}__{self.method.name}{setup}__{self.config_hash[:12]}.json"

    def write(self, out_dir: Path) -> Path:
        path = path_inside(Path(out_dir), self.filename())
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return path


def read_result(path: Path) -> Result:
    return Result.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def environment() -> dict[str, str]:
    import datasets
    import torch
    import transformers

    from memlocbench import __version__

    return {
        "memlocbench": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch_threads": str(torch.get_num_threads()),
    }


class RunSummary(StrictRecord):
    """One run of several methods on the same trained models: each method's M-CoG and their mean
    (the paper's per-task M-CoG), and, for control runs, the mean accuracies over placements."""

    schema_version: Literal[2] = SCHEMA_VERSION
    kind: Literal["run-summary"] = "run-summary"
    task: Name
    model: Name
    settings_profile: Name
    config_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    control: bool
    control_track: Literal["pair", "single", "planted", "routed-pair", "routed-single", "planted-routed"] | None = None
    mcog: dict[Name, NonNegative] = Field(min_length=1, description="method -> M-CoG (mean over placements for control runs)")
    mean_mcog: NonNegative
    control_accuracy: dict[Name, dict[Literal["accuracy_at_1", "accuracy_at_2", "true_layer_rank", "chance",
                                              "recall_at_k", "recall_at_2k", "random_recall_at_k",
                                              "random_recall_at_2k"], float]] = Field(
        default_factory=dict, description="method -> accuracy_at_1 / accuracy_at_2 / chance (neuron track: "
                                          "accuracy_at_1, chance, recall@k and @2k of neuron methods, random recall)")
    results: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+\.json$", max_length=300)]] = Field(
        description="file names of the results summarised")

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Summaries of an older schema are upgraded in memory first (``results.upgrade``)."""
        return upgrade(data, SUMMARY_STEPS)

    @model_validator(mode="after")
    def _mean(self) -> "RunSummary":
        expected = sum(self.mcog.values()) / len(self.mcog)
        if abs(self.mean_mcog - expected) > RECOMPUTE_TOLERANCE:
            raise ValueError(f"mean_mcog is {self.mean_mcog}, but the methods' M-CoGs give {expected}")
        return self

    def write(self, out_dir: Path) -> Path:
        kind = ({"single": "control-single-summary", "planted": "planted-neurons-summary"}.get(
            self.control_track, f"{self.control_track}-summary" if is_routed(self.control_track) else
            "control-summary")) if self.control else "summary"
        path = path_inside(Path(out_dir), f"{self.task}__{self.model}__{kind}__{self.config_hash[:12]}.summary.json")
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return path


def summarise(results: list[Result], control: bool, track: str | None = None) -> RunSummary:
    by_method: dict[str, list[Result]] = {}
    for r in results:
        by_method.setdefault(r.method.name, []).append(r)
    mcogs = {m: sum(r.mcog for r in rs) / len(rs) for m, rs in by_method.items()}
    acc = {}
    if control:
        for m, rs in by_method.items():
            keys = ("accuracy_at_1", "accuracy_at_2", "true_layer_rank", "chance")
            if is_planted(track):
                keys = ("accuracy_at_1", "chance", "random_recall_at_k", "random_recall_at_2k") + \
                    (("recall_at_k", "recall_at_2k") if all(r.control.top is not None for r in rs) else ())
            acc[m] = {k: sum(getattr(r.control, k) or 0 for r in rs) / len(rs) for k in keys}
    first = results[0]
    return RunSummary(task=first.task.name, model=first.model.name, settings_profile=first.settings_profile,
                      config_hash=first.config_hash, control=control, control_track=track, mcog=mcogs,
                      mean_mcog=sum(mcogs.values()) / len(mcogs), control_accuracy=acc,
                      results=[r.filename() for r in results])
