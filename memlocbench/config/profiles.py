"""Run settings as named profiles: the data, training, control, compute and guard settings. A method's
or analysis' parameters under a profile are the plugin's own (its ``profile_params``), merged in by
``build_config(plugin_params=...)``.

``paper`` holds the values of Dankers & Titov (2024); ``cpu`` is the embedded default, sized so
that MiniLM-L6 memorises the noisy labels within minutes on a 2-core machine; ``cpu-fast`` is
``cpu`` with the inexact speed-ups of ``ComputeConfig`` switched on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from memlocbench.errors import InvalidInputError, UnknownNameError


#: seeds are unsigned 32-bit integers (what numpy and most seeding APIs accept)
MAX_SEED = 2**32 - 1
#: an upper bound on epochs, so a typo cannot train for ever (the paper uses 50)
MAX_EPOCHS = 1000


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Config):
    seed: int = Field(1, ge=0, le=MAX_SEED, description="data seed: subsample, label noise, evaluation split")
    train_size: int | None = Field(None, ge=2, description="class-stratified subsample before the noise; None = all")
    noise_fraction: float = Field(0.15, gt=0.0, lt=1.0, description="share of each class's labels perturbed; "
                                  "0 would leave nothing to memorise")
    max_length: int = Field(512, ge=8, le=4096, description="tokens; longer inputs are truncated")


class TrainConfig(_Config):
    seed: int = Field(1, ge=0, le=MAX_SEED, description="model seed: classifier init and batch order")
    epochs: int = Field(ge=1, le=MAX_EPOCHS)
    learning_rate: float = Field(gt=0, allow_inf_nan=False)
    batch_size: int = Field(ge=1)
    warmup_fraction: float = Field(0.1, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.01, ge=0, allow_inf_nan=False)
    fit_threshold: float = Field(0.993, gt=0, le=1, description="train macro-F1 (perturbed labels) that counts as fitted")
    eval_batch_size: int = Field(64, ge=1)
    until_fit: "TrainUntilFit | None" = Field(
        None, description="opt-in: train past `epochs` until the noisy examples are fitted (None: exactly `epochs`)")


class TrainUntilFit(_Config):
    """``train_until_fit``: train at least ``epochs`` epochs, then on until the fit criterion first holds
    (accuracy on the noisy examples against the labels trained on >= ``noisy_fit``), then ``extra_epochs``
    more, never beyond ``max_epochs``. The learning-rate schedule spans ``max_epochs``."""

    max_epochs: int = Field(ge=1)
    extra_epochs: int = Field(1, ge=0, description="epochs trained after the criterion first holds")
    noisy_fit: float = Field(0.9, gt=0, le=1, description="fit criterion: noisy-example accuracy, labels trained on")


class GuardConfig(_Config):
    """The memorisation guard: a result counts only if its memorising model memorised. Recorded in
    every result; the leaderboard leaves out the results that fail it."""

    min_noisy_fit: float = Field(0.9, ge=0, le=1, description="memorising model: share of noisy examples "
                                                               "predicted as their perturbed label, at least")
    max_clean_twin_fit: float = Field(0.25, ge=0, le=1, description="clean twin: share of noisy examples "
                                                                    "predicted as their perturbed label, at most")


TrainConfig.model_rebuild()


class ControlConfig(_Config):
    """The control setup (paper section 3.2): the main task may update only a pair of layers while an
    auxiliary task with clean labels and its own head updates all non-embedding layers."""

    aux_task: str = "rte"
    aux_train_size: int | None = Field(None, ge=2, description="stratified subsample of the auxiliary task; None = all")
    aux_learning_rate: float = Field(5e-6, gt=0, allow_inf_nan=False)
    epochs: int | None = Field(None, ge=1, le=MAX_EPOCHS, description="epochs for control models; None = the train section's")


class ComputeConfig(_Config):
    """How the arithmetic is done. The defaults are exact: fp32, random batches and, for the
    classifier-only model, the frozen encoder run in train mode (dropout on) at every step, as in the
    paper's code. The alternatives are faster on CPUs but change results slightly (README, "Speed"):
    bf16 autocast; batches of similar length (the shuffled data cut into mega-batches of
    ``group_size`` batches, each sorted by length, then all batches shuffled); and a classifier-only model trained on the frozen encoder's
    features, computed once in eval mode. ``train_eval="until-fit"`` changes no weight, only how many
    epochs of the training history carry training-set scores."""

    precision: Literal["fp32", "bf16"] = "fp32"
    batching: Literal["random", "length-grouped"] = "random"
    group_size: int = Field(8, ge=1, description="length-grouped batching: batches per sorted mega-batch")
    head_only: Literal["full-forward", "cached-features"] = "full-forward"
    train_eval: Literal["every-epoch", "until-fit"] = Field(
        "every-epoch", description="score the training set after every epoch, or only until the first fit "
                                   "and after the last epoch (same weights; a shorter history)")

    def is_default(self) -> bool:
        return self == ComputeConfig()


class RunConfig(_Config):
    profile: str
    data: DataConfig
    train: TrainConfig
    control: ControlConfig = Field(default_factory=ControlConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(default_factory=lambda: [1], min_length=1,
                             description="model seeds a plain `memlocbench run` trains and localises, one after another")
    # Analysis parameters per analysis name. Excluded from dumps and thus from the config hash: they
    # do not change any method result; an analysis result records its own parameters and hashes them.
    analyses: dict[str, dict[str, Any]] = Field(default_factory=dict, exclude=True)

    def with_seed(self, seed: int) -> "RunConfig":
        """This config for one model seed (``train.seed``), with ``seeds`` narrowed to it."""
        return self.model_copy(update={"train": self.train.model_copy(update={"seed": seed}), "seeds": [seed]})

    def hash(self) -> str:
        return config_hash(self.model_dump(mode="json"))


def config_hash(obj: Any) -> str:
    """sha256 of the canonical JSON form (sorted keys, no spaces)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


PROFILES: dict[str, RunConfig] = {
    "cpu": RunConfig(
        profile="cpu",
        data=DataConfig(seed=1, train_size=600, max_length=128),
        # train_until_fit: at least 8 epochs, then on (up to 30) until 90% of the noisy examples are
        # fitted, then one more: at 300-600 rows and 8 epochs the many-class tasks did not memorise
        train=TrainConfig(seed=1, epochs=8, learning_rate=1e-4, batch_size=16,
                          until_fit=TrainUntilFit(max_epochs=30, extra_epochs=1, noisy_fit=0.9)),
        control=ControlConfig(aux_train_size=200, epochs=14),
        # A method's or analysis' parameters under this profile come from the plugin itself (its
        # ``profile_params``): build_config's ``plugin_params``.
    ),
    "paper": RunConfig(
        profile="paper",
        data=DataConfig(seed=1, train_size=None, max_length=512),
        train=TrainConfig(seed=1, epochs=50, learning_rate=1e-5, batch_size=8, eval_batch_size=32),
        seeds=[1, 2, 3],
    ),
}

# The cpu profile with the speed deviations of ComputeConfig switched on (README, "Speed").
PROFILES["cpu-fast"] = PROFILES["cpu"].model_copy(update={
    "profile": "cpu-fast",
    "compute": ComputeConfig(precision="bf16", batching="length-grouped", head_only="cached-features",
                             train_eval="until-fit"),
})

#: a profile that is another with different arithmetic: a plugin's ``profile_params`` for the base apply to it
PROFILE_BASES = {"cpu-fast": "cpu"}

#: {"methods": {name: params}, "analyses": {name: params}}: the plugins' parameters under one profile
PluginParams = Mapping[str, Mapping[str, Mapping[str, Any]]]


def params_for_profile(profile_params: Any, profile: str) -> dict[str, Any] | None:
    """A plugin's declared parameters for ``profile`` (its ``profile_params``: profile name -> params),
    those of the profile's base (``PROFILE_BASES``) where it declares none; None when it declares none."""
    if not isinstance(profile_params, Mapping):
        return None
    for name in (profile, PROFILE_BASES.get(profile)):
        if name is not None and isinstance(profile_params.get(name), Mapping):
            return dict(profile_params[name])
    return None


def build_config(profile: str = "cpu", *, data: dict[str, Any] | None = None,
                 train: dict[str, Any] | None = None,
                 control: dict[str, Any] | None = None,
                 compute: dict[str, Any] | None = None,
                 guard: dict[str, Any] | None = None,
                 methods: dict[str, dict[str, Any]] | None = None,
                 analyses: dict[str, dict[str, Any]] | None = None,
                 plugin_params: PluginParams | None = None) -> RunConfig:
    """A profile with some values overridden; ``None`` overrides are ignored. An explicit number of
    epochs (``train={"epochs": N}``) trains every model exactly N epochs: it switches the profile's
    ``train_until_fit`` off unless ``train["until_fit"]`` is given too, and the control models' own
    epochs (``control.epochs``) unless ``control["epochs"]`` is given too.

    ``plugin_params`` are the methods' and analyses' own parameters under this profile (what
    ``memlocbench.run.settings.profile_config`` collects from the installed plugins); ``methods`` and
    ``analyses`` override them, one plugin's dict at a time."""
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, list(PROFILES))
    base = PROFILES[profile].model_dump()
    if train and train.get("epochs") is not None:
        if train.get("until_fit") is None:
            base["train"]["until_fit"] = None
        if (control or {}).get("epochs") is None:  # N epochs for every model, the control models too
            base["control"]["epochs"] = None
    for section, values in (("data", data), ("train", train), ("control", control),
                             ("compute", compute), ("guard", guard)):
        base[section].update({k: v for k, v in (values or {}).items() if v is not None})
    declared = plugin_params or {}
    base["methods"] = {**base["methods"], **{k: dict(v) for k, v in declared.get("methods", {}).items()},
                       **(methods or {})}
    base["analyses"] = {**PROFILES[profile].analyses,
                        **{k: dict(v) for k, v in declared.get("analyses", {}).items()}, **(analyses or {})}
    try:
        return RunConfig(**base)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})" for e in exc.errors()
        )
        raise InvalidInputError(f"invalid run settings: {problems}") from None
