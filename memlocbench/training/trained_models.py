"""The trained models of a run, trained once and reused by every method through the store.

A *recipe* says which labels a model is trained on and which parameter groups stay frozen. The
memorising model (perturbed labels) and its clean twin (original labels) share the seed and thus
the classifier initialisation and batch order. Each is stored as the trainable parameters only
(frozen ones equal the pretrained weights), for the final epoch and for the first fitted epoch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import torch

from memlocbench import __version__
from memlocbench.data.encoding import Encoded
from memlocbench.data.noisy_dataset import NoisyDataset
from memlocbench.metrics import accuracy
from memlocbench.profiles import RunConfig
from memlocbench.protocols import ModelAdapter
from memlocbench.store import ArtefactStore
from memlocbench.training.trainer import predict, train_classifier, trainable_names

#: bump when the training path changes in a way that changes the weights it produces
TRAINING_CODE_VERSION = 1
KIND = "models"


@dataclass(frozen=True)
class Recipe:
    role: str
    labels: str  # "noisy" or "clean"
    frozen: tuple = ("embeddings",)


RECIPES = {
    "memorising": Recipe("memorising", "noisy"),
    "clean": Recipe("clean", "clean"),
}


class TrainedModels:
    def __init__(self, store: ArtefactStore, adapter: ModelAdapter, model_name: str, task_name: str,
                 task_version: int, dataset: NoisyDataset, train_enc: Encoded, val_enc: Encoded,
                 config: RunConfig, progress: bool = True):
        self.store, self.adapter, self.model_name = store, adapter, model_name
        self.task_name, self.task_version = task_name, task_version
        self.dataset, self.train_enc, self.val_enc = dataset, train_enc, val_enc
        self.config, self.progress = config, progress
        self._base: torch.nn.Module | None = None
        self._fingerprint = dataset.fingerprint()
        self.trained_now: dict[str, float] = {}  # role -> seconds spent training in this process

    # -- keys --------------------------------------------------------------------------------
    def spec(self, recipe: Recipe) -> dict[str, Any]:
        return {
            "kind": "trained-model",
            "training_code_version": TRAINING_CODE_VERSION,
            "task": self.task_name,
            "task_version": self.task_version,
            "data": self.config.data.model_dump(mode="json"),
            "data_fingerprint": self._fingerprint,
            "model": self.model_name,
            "model_version": self.adapter.info.version,
            "train": self.config.train.model_dump(mode="json"),
            "labels": recipe.labels,
            "frozen": [str(g) for g in recipe.frozen],
        }

    def key(self, role: str) -> str:
        return self.store.key(self.spec(RECIPES[role]))

    # -- models ------------------------------------------------------------------------------
    def pretrained(self) -> torch.nn.Module:
        """A fresh copy of the pretrained model with the seeded, untrained classifier head."""
        if self._base is None:
            torch.manual_seed(self.config.train.seed)
            self._base = self.adapter.load_model(self.dataset.num_labels)
            self._base.eval()
        return copy.deepcopy(self._base)

    def labels_for(self, recipe: Recipe) -> list[int]:
        return self.dataset.noisy_labels if recipe.labels == "noisy" else self.dataset.original_labels

    def ensure(self, role: str) -> str:
        recipe = RECIPES[role]
        key = self.key(role)
        if self.store.has(KIND, key):
            return key
        t0 = time.perf_counter()
        model = self.pretrained()
        names = trainable_names(model, self.adapter, set(recipe.frozen))
        labels = self.labels_for(recipe)
        outcome = train_classifier(
            model, names, self.train_enc, labels, self.dataset.noisy_idx, self.dataset.clean_idx,
            self.val_enc, self.dataset.validation.labels, self.config.train,
            desc=f"train {role} ({self.task_name}, {self.model_name})", progress=self.progress,
        )
        preds = predict(model, self.train_enc, list(range(self.dataset.train_size)), self.config.train.eval_batch_size)
        seconds = time.perf_counter() - t0
        tensors = {"final": outcome.final}
        if outcome.first_fit is not None:
            tensors["first_fit"] = outcome.first_fit
        meta = {
            "spec": self.spec(recipe),
            "role": role,
            "memlocbench_version": __version__,
            "first_fit_epoch": outcome.first_fit_epoch,
            "history": outcome.history_dicts(),
            "final_train_predictions": preds,
            "train_seconds": seconds,
        }
        self.store.put(KIND, key, meta, tensors)
        self.trained_now[role] = seconds
        return key

    def load(self, role: str, checkpoint: str = "final") -> torch.nn.Module:
        """The trained model in eval mode; ``checkpoint`` is 'final' or 'first_fit' (falls back to
        'final' when the training set was never fitted, as in the paper's code)."""
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
        d = self.dataset
        pred = m["final_train_predictions"]
        noisy_pred = [pred[i] for i in d.noisy_idx]
        last = m["history"][-1]
        return {
            "role": role,
            "labels": RECIPES[role].labels,
            "noisy_fit_perturbed": accuracy(noisy_pred, [d.noisy_labels[i] for i in d.noisy_idx]),
            "noisy_original_acc": accuracy(noisy_pred, [d.original_labels[i] for i in d.noisy_idx]),
            "clean_train_acc": accuracy([pred[i] for i in d.clean_idx], [d.original_labels[i] for i in d.clean_idx]),
            "validation_acc": last["validation_acc"],
            "first_fit_epoch": m["first_fit_epoch"],
            "epochs": m["history"],
            "train_seconds": m["train_seconds"],
            "trained_in_this_run": role in self.trained_now,
        }
