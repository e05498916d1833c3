"""The trained models of a run, trained once and reused by every method through the store.

A *recipe* says which labels a model is trained on and which parameter groups stay frozen. The
memorising model (perturbed labels) and its clean twin (original labels) share the seed and thus
the classifier initialisation and batch order. Each is stored as the trainable parameters only
(frozen ones equal the pretrained weights), for the final epoch and for the first fitted epoch.
"""

from __future__ import annotations

import contextlib
import copy
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from memlocbench import __version__
from memlocbench.data.decoy_rows import DECOY_VERSION, DecoyRows, decoy_count
from memlocbench.data.encoding import Encoded
from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.errors import InvalidInputError, TrainingDivergedError
from memlocbench.scoring.layer_weights import control_placements, single_layer_placements  # noqa: F401 (re-exported)
from memlocbench.scoring.metrics import accuracy
from memlocbench.models.model_digest import model_digest
from memlocbench.models.neuron_masks import ffn_input_projections, ffn_projections, ffn_shape
from memlocbench.scoring import planted_neurons as planting
from memlocbench.scoring.planted_neurons import (PLANTED_LR_SCALE, PLANTING_VERSION, ROUTED_PLANTING_VERSION,
                                                 planted_columns, planted_percent, sample_planted)
from memlocbench.config.profiles import RunConfig
from memlocbench.contracts.protocols import ModelAdapter
from memlocbench.store import ArtefactStore
from memlocbench.training.head_only import CachedHeadInput
from memlocbench.training.trainer import AuxiliaryTask, Route, TrainingOutcome, train_classifier

#: bump when the training path changes in a way that changes the weights it produces
TRAINING_CODE_VERSION = 1
#: 2: keys hold the model's digest (``model_digest``) and, on a CPU, the torch thread count that trains it
KEY_VERSION = 2
#: the routed layer tracks: the weight of the noisy examples' loss in the gradient routed to the placement
#: and the head (``Route.weight``; under AdamW the step stays about the learning rate). At 1, the top
#: placement of a 6-layer model fitted in 27 epochs against 8 for the others, and the longer training
#: moved its top layers most, which gave it away to ``weight-delta``; at 16 every placement fits in the
#: minimum epochs (docs/reports/2026-12-08-planting-lr-and-routed-weight.md). Keyed where it is not 1
ROUTED_NOISY_WEIGHT = 16.0
KIND = "models"


@dataclass(frozen=True)
class Recipe:
    """How a model of a given role is trained.

    ``main_layers``: the layers the main task may update (None: all); the embeddings are always
    frozen and the head always trains. ``aux``: train the auxiliary task alongside (control setup).
    ``planted``: the main task may update only the output weights of the planted neurons
    (``memlocbench.scoring.planted_neurons``), through a gradient mask (the neuron ground-truth track).
    ``routed`` (the routed tracks): every layer trains on the clean examples, and the noisy examples'
    gradient is routed (``memlocbench.training.trainer.Route``) to ``main_layers`` and the head only,
    or, with ``planted``, to the planted neurons' output weights and the head; no auxiliary task. A routed
    layer recipe also trains on decoy rows (``memlocbench.data.decoy_rows``: rows from outside the sample,
    all relabelled for the memorising model, the original labels for its twin) routed to the other layers
    and the head, so that every layer holds memorised labels.
    """

    role: str
    labels: str  # "noisy" or "clean"
    main_layers: tuple[int, ...] | None = None
    aux: bool = False
    planted: bool = False  # the neuron track: the main task trains only the planted neurons' output weights
    routed: bool = False  # the routed tracks: clean examples train everything, noisy ones only the placement

    @property
    def follows(self) -> str | None:
        """A routed track's twin trains exactly as many epochs as its memorising model (the role it names
        here), on the same schedule: the two differ in their labels only."""
        return self.role[: -len("-clean")] if self.routed and self.labels == "clean" else None

    @property
    def decoys(self) -> bool:
        """Whether it trains on decoy rows routed outside the placement (the routed layer tracks)."""
        return self.routed and not self.planted and bool(self.main_layers)


_CONTROL = re.compile(r"^control-(\d+)-(\d+)(-clean)?$")
_ROUTED = re.compile(r"^routed-(\d+)-(\d+)(-clean)?$")
#: the checkpoints a trained model is stored at (``TrainedModels.load``)
CHECKPOINTS = ("final", "first_fit")
#: the routed planted-neuron track's memorising model (its clean twin: + "-clean")
PLANTED_ROUTED = "planted-routed"
#: the control normaliser of gradient attribution: the control recipe with no main layers (every
#: layer frozen for the main task, still trained by the auxiliary task), as the paper's code
CONTROL_NORMALISER = "control-none"
#: the neuron ground-truth track's memorising model (its clean twin: + "-clean")
PLANTED = "planted-neurons"


def recipe_for(role: str) -> Recipe:
    """Roles: 'memorising', 'clean', 'classifier-only' (all layers frozen, noisy labels), the
    control models 'control-A-B' (noisy labels may update layers A..B only, 0-based, plus the
    auxiliary task on all layers; A == B for the single-layer track) with their clean twins
    'control-A-B-clean', 'control-none' (no main layers, the auxiliary task on all layers), and
    'planted-neurons' / 'planted-neurons-clean' (the main task may update only the planted neurons'
    output weights, plus the auxiliary task on all layers: the neuron ground-truth track)."""
    if role == "memorising":
        return Recipe(role, "noisy")
    if role == "clean":
        return Recipe(role, "clean")
    if role == "classifier-only":
        return Recipe(role, "noisy", main_layers=())
    if role == CONTROL_NORMALISER:
        return Recipe(role, "noisy", main_layers=(), aux=True)
    if role in (PLANTED, PLANTED + "-clean"):
        return Recipe(role, "clean" if role.endswith("-clean") else "noisy", main_layers=(), aux=True, planted=True)
    if role in (PLANTED_ROUTED, PLANTED_ROUTED + "-clean"):
        return Recipe(role, "clean" if role.endswith("-clean") else "noisy", main_layers=(), planted=True,
                      routed=True)
    r = _ROUTED.match(role)
    if r and int(r.group(1)) <= int(r.group(2)):
        return Recipe(role, "clean" if r.group(3) else "noisy",
                      main_layers=tuple(range(int(r.group(1)), int(r.group(2)) + 1)), routed=True)
    m = _CONTROL.match(role)
    if m and int(m.group(1)) <= int(m.group(2)):
        return Recipe(role, "clean" if m.group(3) else "noisy",
                      main_layers=tuple(range(int(m.group(1)), int(m.group(2)) + 1)), aux=True)
    raise InvalidInputError(
        f"unknown model role {role!r}; valid: memorising, clean, classifier-only, control-A-B, control-A-B-clean, "
        f"{CONTROL_NORMALISER}, {PLANTED}, {PLANTED}-clean, routed-A-B, routed-A-B-clean, {PLANTED_ROUTED}, "
        f"{PLANTED_ROUTED}-clean"
    )


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch threads (None: as it is), then restore the count."""
    before = torch.get_num_threads()
    if n is not None and n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


AuxLoader = Callable[[], tuple[Encoded, list[int], int]]  # -> encoded texts, labels, number of labels
DecoyLoader = Callable[[int], tuple[Encoded, DecoyRows]]  # rows wanted -> their encoding and labels


class TrainedModels:
    def __init__(self, store: ArtefactStore, adapter: ModelAdapter, model_name: str, task_name: str,
                 task_version: int, dataset: NoisyDataset, train_enc: Encoded | None, val_enc: Encoded | None,
                 config: RunConfig, progress: bool = True, aux_loader: AuxLoader | None = None,
                 device: str = "cpu", providers: dict[str, dict[str, str]] | None = None,
                 threads: int | None = None, decoy_loader: DecoyLoader | None = None):
        """``train_enc``/``val_enc`` may be None where only keys are wanted (grid planning).
        ``providers``: the (package, version) that provided the task and the model adapter, e.g.
        ``{"task": {"package": "memlocbench", "version": "0.1.0"}, "model": {...}}``; part of every key.
        ``threads``: the torch thread count that trains on a CPU (None: the process's, now); float sums,
        and so the trained weights, depend on it, so it is part of every key, and training runs with it."""
        self.store, self.adapter, self.model_name = store, adapter, model_name
        self.device = device
        self.task_name, self.task_version = task_name, task_version
        self.dataset, self.train_enc, self.val_enc = dataset, train_enc, val_enc
        self.config, self.progress = config, progress
        self._aux_loader = aux_loader
        self._decoy_loader = decoy_loader
        self.providers = providers or {}
        self.aliases: dict[str, str] = {}  # e.g. {"memorising": "control-0-1"} for control runs
        self._base: torch.nn.Module | None = None
        self._fingerprint = dataset.fingerprint()
        self.trained_now: dict[str, float] = {}  # role -> seconds spent training in this process
        self.threads = threads if threads is not None else torch.get_num_threads()
        if self.threads < 1:
            raise InvalidInputError(f"threads must be at least 1, got {self.threads}")

    # -- keys --------------------------------------------------------------------------------
    def spec(self, recipe: Recipe) -> dict[str, Any]:
        spec = {
            "kind": "trained-model",
            "key_version": KEY_VERSION,
            "training_code_version": TRAINING_CODE_VERSION,
            "task": self.task_name,
            "task_version": self.task_version,
            "data": self.config.data.model_dump(mode="json"),
            "data_fingerprint": self._fingerprint,
            "model": self.model_name,
            "model_version": self.adapter.info.version,
            **self.identity(),
            "train": self._train_config(recipe).model_dump(mode="json", exclude_none=True),  # no until_fit: old keys
            "labels": recipe.labels,
            "frozen": ["embeddings"],
            "providers": self.providers,
        }
        if recipe.main_layers is not None:
            spec["main_layers"] = list(recipe.main_layers)
        if recipe.aux:
            spec["aux"] = self.config.control.model_dump(mode="json")
        if recipe.planted:  # the planted set follows from these, the model seed and the model's shape
            spec["planted_neurons"] = {"percent": planted_percent(recipe.routed), "seed": self.config.train.seed,
                                       "lr_scale": planting.planted_lr_scale(recipe.routed),
                                       "version": ROUTED_PLANTING_VERSION if recipe.routed else PLANTING_VERSION}
            if recipe.routed and planting.ROUTED_PLANTED_WEIGHT != 1.0:  # (absent at 1: the keys before it)
                spec["planted_neurons"]["routed_weight"] = planting.ROUTED_PLANTED_WEIGHT
            if recipe.routed and planting.ROUTED_WHOLE_NEURONS:  # (absent when off: the keys before it)
                spec["planted_neurons"]["whole_neurons"] = True
        if recipe.routed:
            spec["routed"] = True
            if not recipe.planted and ROUTED_NOISY_WEIGHT != 1.0:  # (absent at 1: the keys before it)
                spec["routed_noisy_weight"] = ROUTED_NOISY_WEIGHT
        if recipe.follows:  # its epochs are its memorising model's
            spec["epochs_as"] = self.key(recipe.follows)
        if recipe.decoys:  # which rows follows from the data settings, their number and the data seed
            spec["decoys"] = {"rows": self.decoy_count(recipe), "version": DECOY_VERSION}
        if not self.config.compute.is_default():  # absent when exact
            spec["compute"] = self.config.compute.model_dump(mode="json")
        return spec

    def identity(self) -> dict[str, Any]:
        """What determines a model trained here besides the data and settings: the digest of the model
        the adapter builds (``model_digest``) and, on a CPU, the torch thread count that trains it. Part
        of every trained model's key; a plugin that trains models of its own puts it in its keys too."""
        out: dict[str, Any] = {"model_digest": model_digest(self.adapter, self.dataset.num_labels)}
        if self.device == "cpu":
            out["cpu_threads"] = self.threads
        return out

    def _train_config(self, recipe: Recipe):
        """The training settings of a recipe: control models may train for their own number of epochs."""
        train = self.config.train
        epochs = self.config.control.epochs if recipe.aux else None
        if epochs:
            train = train.model_copy(update={"epochs": epochs})
        if train.until_fit is not None:
            if recipe.main_layers == () and not recipe.planted:  # nothing but the head can fit: not for it
                train = train.model_copy(update={"until_fit": None})
            elif train.until_fit.max_epochs < train.epochs:
                train = train.model_copy(update={"until_fit": train.until_fit.model_copy(
                    update={"max_epochs": train.epochs})})
        return train

    def resolve(self, role: str) -> str:
        return self.aliases.get(role, role)

    def for_setup(self, aliases: dict[str, str]) -> "TrainedModels":
        """The same models (and cached pretrained base) with roles renamed, so a method that loads
        'memorising' and 'clean' gets, say, a control model and its clean twin."""
        other = copy.copy(self)
        other.aliases = dict(aliases)
        return other

    def key(self, role: str) -> str:
        return self.store.key(self.spec(recipe_for(self.resolve(role))))

    # -- models ------------------------------------------------------------------------------
    def pretrained(self) -> torch.nn.Module:
        """A fresh copy of the pretrained model with the seeded, untrained classifier head."""
        if self._base is None:
            torch.manual_seed(self.config.train.seed)
            self._base = self.adapter.load_model(self.dataset.num_labels)
            model_digest(self.adapter, self.dataset.num_labels, built=self._base)  # loaded once, for the keys too
            self._base = self._base.to(self.device)
            self._base.eval()
        return copy.deepcopy(self._base)

    def decoy_count(self, recipe: Recipe) -> int:
        """How many decoy rows a routed layer recipe trains on (``decoy_count``)."""
        layers = len(self.adapter.layer_modules(self._pretrained_base()))
        return decoy_count(len(self.dataset.noisy_idx), layers, len(recipe.main_layers))

    def _pretrained_base(self) -> torch.nn.Module:
        """The loaded pretrained model (for its shape), loaded without touching torch's random state:
        keys are computed between seeded steps."""
        if self._base is None:
            with torch.random.fork_rng(devices=[]):
                self.pretrained()
        return self._base

    def labels_for(self, recipe: Recipe) -> list[int]:
        return self.dataset.noisy_labels if recipe.labels == "noisy" else self.dataset.original_labels

    def main_parameter_names(self, model: torch.nn.Module, role: str) -> list[str]:
        """Parameters the main task of ``role`` may update (the head, plus its layers)."""
        return self._main_parameters(model, recipe_for(self.resolve(role)))

    def _main_parameters(self, model: torch.nn.Module, recipe: Recipe) -> list[str]:
        """What the main task trains: the head and its layers (a routed recipe: every layer)."""
        layers = None if recipe.routed else recipe.main_layers
        names = []
        for n, _ in model.named_parameters():
            group = self.adapter.parameter_group(n)
            if group == "head" or (isinstance(group, int) and (layers is None or group in layers)):
                names.append(n)
        extra = [n for n in self._planted_masks(model) if n not in names] if recipe.planted else []
        return names + extra

    def _route(self, model: torch.nn.Module, recipe: Recipe) -> Route | None:
        """A routed recipe's route: the noisy examples reach the head and the placed layers, or the head
        and the planted neurons' output weights (masked to their columns)."""
        if not recipe.routed:
            return None
        head = {n for n, _ in model.named_parameters() if self.adapter.parameter_group(n) == "head"}
        if recipe.planted:
            masks = self._planted_masks(model, routed=True)
            if planting.ROUTED_WHOLE_NEURONS:
                masks.update(self._planted_input_masks(model))
            return Route(frozenset(self.dataset.noisy_idx), frozenset(head | set(masks)), masks,
                         weight=planting.ROUTED_PLANTED_WEIGHT, lr_scale=planting.ROUTED_PLANTED_LR_SCALE)
        placed = {n for n, _ in model.named_parameters() if self.adapter.parameter_group(n) in recipe.main_layers}
        return Route(frozenset(self.dataset.noisy_idx), frozenset(head | placed), weight=ROUTED_NOISY_WEIGHT)

    def planted_neurons(self, model: torch.nn.Module, routed: bool = False) -> tuple[list[int], int, int]:
        """The planted neurons of this model seed (``routed``: planting v4's share): (sorted flat indices,
        layers, d_ff)."""
        num_layers, width = ffn_shape(self.adapter, model)
        return (sample_planted(num_layers, width, self.config.train.seed, planted_percent(routed)),
                num_layers, width)

    def _planted_masks(self, model: torch.nn.Module, routed: bool = False) -> dict[str, torch.Tensor]:
        """Parameter name -> [1, d_ff] mask of the planted columns of each layer's down-projection weight."""
        planted, num_layers, width = self.planted_neurons(model, routed)
        columns = planted_columns(planted, num_layers, width)
        names = {id(p): n for n, p in model.named_parameters()}
        return {names[id(proj.weight)]: columns[layer].unsqueeze(0)
                for layer, proj in enumerate(ffn_projections(self.adapter, model))}

    def _planted_input_masks(self, model: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Parameter name -> mask of the planted neurons' input weights (rows [d_ff, 1]) and biases
        ([d_ff]) in each layer's input projections (planting v4 with whole neurons)."""
        planted, num_layers, width = self.planted_neurons(model, routed=True)
        columns = planted_columns(planted, num_layers, width)
        names = {id(p): n for n, p in model.named_parameters()}
        masks = {}
        for layer, projections in enumerate(ffn_input_projections(self.adapter, model)):
            for proj in projections:
                masks[names[id(proj.weight)]] = columns[layer].unsqueeze(1)
                if proj.bias is not None:
                    masks[names[id(proj.bias)]] = columns[layer]
        return masks

    def main_masks(self, model: torch.nn.Module, role: str) -> dict[str, torch.Tensor] | None:
        """The gradient masks of ``role``'s main task (None: no mask)."""
        recipe = recipe_for(self.resolve(role))
        return self._planted_masks(model) if recipe.planted and not recipe.routed else None

    def _auxiliary(self, model: torch.nn.Module) -> AuxiliaryTask:
        if self._aux_loader is None:
            raise RuntimeError("control models need an auxiliary-task loader")
        enc, labels, num_labels = self._aux_loader()
        batch = self.train_enc.batch([0])
        with torch.no_grad():  # the width of the sentence representation, read off the model
            hidden = model(**batch, output_hidden_states=True).hidden_states[-1]
        width = self.adapter.sentence_representation(hidden, batch["attention_mask"]).shape[-1]
        torch.manual_seed(self.config.train.seed + 1)
        head = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(width, num_labels)).to(hidden.device)
        names = [n for n, _ in model.named_parameters() if self.adapter.parameter_group(n) != "embeddings"]
        return AuxiliaryTask(enc, labels, head, self.adapter, names, self.config.control.aux_learning_rate)

    def ensure(self, role: str) -> str:
        """Train the model of ``role`` unless the store has it; returns its store key."""
        role = self.resolve(role)
        recipe = recipe_for(role)
        key = self.key(role)
        if self.store.has(KIND, key):
            return key
        if recipe.follows:
            self.ensure(recipe.follows)
        t0 = time.perf_counter()
        with torch_threads(self.threads if self.device == "cpu" else None):
            model = self.pretrained()
            outcome = self._train(model, role, recipe)
        seconds = time.perf_counter() - t0
        tensors = {"final": outcome.final}
        if outcome.first_fit is not None:
            tensors["first_fit"] = outcome.first_fit
        self.store.put(KIND, key, self._entry_meta(model, role, recipe, outcome, seconds), tensors)
        self.trained_now[role] = seconds
        return key

    def _train(self, model: torch.nn.Module, role: str, recipe: Recipe) -> TrainingOutcome:
        """Train the pretrained ``model`` as ``recipe`` says."""
        if recipe.main_layers:
            n_layers = len(self.adapter.layer_modules(model))
            if max(recipe.main_layers) >= n_layers:
                raise InvalidInputError(f"role {role!r} names layer {max(recipe.main_layers)}, but the model has {n_layers} (0..{n_layers - 1})")
        names = self._main_parameters(model, recipe)
        aux = self._auxiliary(model) if recipe.aux else None
        labels = self.labels_for(recipe)
        compute = self.config.compute
        forward = None
        if recipe.main_layers == () and aux is None and not recipe.routed and compute.head_only == "cached-features":
            forward = CachedHeadInput(self.adapter, model, self.train_enc, self.config.train.eval_batch_size,
                                      compute.precision)
        train_enc, route = self.train_enc, self._route(model, recipe)
        if recipe.decoys:
            train_enc, labels, route = self._with_decoys(model, recipe, labels, route)
        stop_after = self.meta(recipe.follows)["epochs_trained"] if recipe.follows else None
        try:
            outcome = train_classifier(
                model, names, train_enc, labels, self.dataset.noisy_idx, self.dataset.clean_idx,
                self.val_enc, self.dataset.validation.labels, self._train_config(recipe),
                desc=f"train {role} ({self.task_name}, {self.model_name})", progress=self.progress, aux=aux,
                compute=compute, forward=forward, main_masks=self.main_masks(model, role),
                main_mask_lr_scale=PLANTED_LR_SCALE if recipe.planted and not recipe.routed else 1.0,
                route=route, stop_after=stop_after,
            )
        except TrainingDivergedError as exc:
            raise TrainingDivergedError(f"task {self.task_name}, model {self.model_name}, role {role}: {exc}") from None
        outcome.final_predictions = outcome.final_predictions[:self.dataset.train_size]  # the dataset's rows
        return outcome

    def _with_decoys(self, model: torch.nn.Module, recipe: Recipe, labels: list[int],
                     route: Route) -> tuple[Encoded, list[int], tuple[Route, Route]]:
        """The training rows with the decoys appended (after the dataset's), their labels (perturbed for
        the memorising model, original for its twin), and the two routes: the noisy examples to the
        placement and the head, the decoys to the other layers and the head."""
        if self._decoy_loader is None:
            raise RuntimeError("routed layer tracks need a decoy loader (TrainedModels(decoy_loader=...))")
        enc, rows = self._decoy_loader(self.decoy_count(recipe))
        n = self.dataset.train_size
        combined = Encoded(self.train_enc.ids + enc.ids, self.train_enc.pad_id, self.train_enc.device)
        decoy_labels = rows.perturbed_labels if recipe.labels == "noisy" else rows.original_labels
        others = {name for name, _ in model.named_parameters()
                  if self.adapter.parameter_group(name) == "head"
                  or (isinstance(self.adapter.parameter_group(name), int)
                      and self.adapter.parameter_group(name) not in recipe.main_layers)}
        decoy = Route(frozenset(range(n, n + len(decoy_labels))), frozenset(others))
        return combined, list(labels) + list(decoy_labels), (route, decoy)

    def _entry_meta(self, model: torch.nn.Module, role: str, recipe: Recipe, outcome: TrainingOutcome,
                    seconds: float) -> dict[str, Any]:
        """The stored metadata of a trained model: its spec, training history and final predictions."""
        meta = {
            "spec": self.spec(recipe),
            "role": role,
            "memlocbench_version": __version__,
            "first_fit_epoch": outcome.first_fit_epoch,
            "epochs_trained": outcome.epochs_trained,
            "until_fit_epoch": outcome.until_fit_epoch,
            "history": outcome.history_dicts(),
            "final_train_predictions": outcome.final_predictions,
            "train_seconds": seconds,
        }
        if recipe.planted:
            planted, num_layers, width = self.planted_neurons(model, recipe.routed)
            meta["planted_neurons"] = {"flat_indices": planted, "num_layers": num_layers, "width": width,
                                       "percent": planted_percent(recipe.routed), "seed": self.config.train.seed,
                                       "lr_scale": planting.planted_lr_scale(recipe.routed)}
        return meta

    def load(self, role: str, checkpoint: str = "final") -> torch.nn.Module:
        """The trained model in eval mode; ``checkpoint`` is 'final' or 'first_fit' (falls back to
        'final' when the training set was never fitted, as in the paper's code)."""
        if checkpoint not in CHECKPOINTS:  # before the store is touched: a bad name is the caller's error
            raise InvalidInputError(f"unknown checkpoint {checkpoint!r}; valid: {', '.join(CHECKPOINTS)}")
        key = self.ensure(role)
        if checkpoint == "first_fit" and not self.store.has_tensors(KIND, key, "first_fit"):
            checkpoint = "final"
        state = self.store.tensors(KIND, key, checkpoint)
        model = self.pretrained()
        missing_from_model = set(state) - set(dict(model.named_parameters()))
        if missing_from_model:
            raise RuntimeError(f"stored weights do not fit the model: {sorted(missing_from_model)[:3]} ...")
        model.load_state_dict(state, strict=False)
        model.eval()
        return model

    def meta(self, role: str) -> dict[str, Any]:
        return self.store.meta(KIND, self.ensure(role))

    # -- statistics --------------------------------------------------------------------------
    def memorisation_stats(self, role: str) -> dict[str, Any]:
        m = self.meta(role)
        role = self.resolve(role)
        d = self.dataset
        pred = m["final_train_predictions"]
        noisy_pred = [pred[i] for i in d.noisy_idx]
        last = m["history"][-1]
        return {
            "role": role,
            "labels": recipe_for(role).labels,
            "noisy_fit_perturbed": accuracy(noisy_pred, [d.noisy_labels[i] for i in d.noisy_idx]),
            "noisy_original_acc": accuracy(noisy_pred, [d.original_labels[i] for i in d.noisy_idx]),
            "clean_train_acc": accuracy([pred[i] for i in d.clean_idx], [d.original_labels[i] for i in d.clean_idx]),
            "validation_acc": last["validation_acc"],
            "first_fit_epoch": m["first_fit_epoch"],
            "epochs_trained": m.get("epochs_trained", len(m["history"])),
            "epochs": m["history"],
            "train_seconds": m["train_seconds"],
            "trained_in_this_run": role in self.trained_now,
        }


class PluginModels:
    """``TrainedModels`` as a plugin's context hands it over: every attribute of the real object, but its
    ``store`` is a ``PluginStore`` (a plugin cannot write trained models or cached scores), and a method
    that returns another ``TrainedModels`` (``for_setup``) returns it wrapped the same way."""

    def __init__(self, models: "TrainedModels"):
        self._models = models

    @property
    def store(self):
        from memlocbench.store import PluginStore

        return PluginStore(self._models.store)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._models, name)
        if callable(value) and not isinstance(value, type):
            def wrapped(*args, **kwargs):
                out = value(*args, **kwargs)
                return PluginModels(out) if isinstance(out, TrainedModels) else out
            return wrapped
        return value


def for_plugin(models):
    """``models`` as a plugin may see it (None stays None; wrapped once)."""
    return PluginModels(models) if isinstance(models, TrainedModels) else models
