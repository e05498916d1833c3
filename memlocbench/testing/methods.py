"""``check_method`` and the tiny run it is checked on (``tiny_method_context``)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from memlocbench.run.settings import profile_config
from memlocbench.contracts.protocols import LayerScores, MethodInfo, TaskMetadata
from memlocbench.contracts.task_data import Examples, TaskData
from memlocbench.data.encoding import encode
from memlocbench.data.noisy_dataset import build_noisy_dataset
from memlocbench.errors import InvalidInputError, MethodOutputError
from memlocbench.run.method_context import MethodContext
from memlocbench.run.method_run import check_method_output, ffn_width
from memlocbench.store import ArtefactStore
from memlocbench.training.trained_models import TrainedModels, recipe_for

_WORDS = ("the film was good bad dull bright slow funny long short warm cold story actor scene plot music ending "
          "very rather quite not at all and but with a an of").split()


class SyntheticTask:
    """A task of seeded random sentences from a small vocabulary, labels cycling through the classes: data
    for exercising a method, not for learning anything. Needs no files and no hub."""

    def __init__(self, sizes: tuple[int, int, int] = (40, 12, 12), num_labels: int = 2):
        self.sizes = sizes
        self.metadata = TaskMetadata(
            name="conformance-synthetic", description="seeded random sentences (memlocbench.testing)",
            hub_id="none:synthetic", splits={"train": "train"}, text_fields=("text",), label_field="label",
            label_names=tuple(f"class-{i}" for i in range(num_labels)), license="CC0", citation="none", version=1)

    def _examples(self, n: int, rng: random.Random) -> Examples:
        texts = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)]
        return Examples(texts, [i % self.metadata.num_labels for i in range(n)])

    def load(self, data_dir: Path | None, seed: int, separator: str) -> TaskData:
        """Train, validation and test sentences drawn with ``seed`` (``data_dir`` and ``separator`` unused)."""
        rng = random.Random(seed)
        return TaskData(*(self._examples(n, rng) for n in self.sizes))


def tiny_method_context(adapter, workdir: str | Path, *, train_size: int = 40, max_length: int = 16,
                        epochs: int = 2, seed: int = 1, num_labels: int = 2) -> MethodContext:
    """A ``MethodContext`` as ``memlocbench run`` builds it, on ``adapter``'s model and a synthetic task of
    ``train_size`` training sentences (15% of each class with perturbed labels), with an artefact store in
    ``workdir``: the memorising model, its clean twin and any extra model a method asks for are trained
    on first use (``epochs`` epochs; use a small or randomly initialised model). Reuse one context for
    several methods: each model is trained once."""
    task = SyntheticTask((train_size, 12, 12), num_labels)
    tokenizer = adapter.load_tokenizer()
    cfg = profile_config("cpu", data={"train_size": train_size, "max_length": max_length, "seed": seed},
                       train={"epochs": epochs, "batch_size": 8, "seed": seed})
    dataset = build_noisy_dataset(task, cfg.data, None, adapter.separator(tokenizer))
    train_enc = encode(tokenizer, dataset.train_texts, max_length)
    val_enc = encode(tokenizer, dataset.validation.texts, max_length)
    models = TrainedModels(ArtefactStore(Path(workdir)), adapter, adapter.info.name, task.metadata.name, 1, dataset,
                           train_enc, val_enc, cfg, progress=False)
    num_layers = len(adapter.layer_modules(models.pretrained()))
    return MethodContext(task.metadata.name, adapter, tokenizer, dataset, train_enc, models, cfg, num_layers,
                         progress=False)


def _with_params(context: MethodContext, name: str, params: dict[str, Any] | None) -> MethodContext:
    if not params:
        return context
    methods = {**context.config.methods, name: {**context.config.methods.get(name, {}), **params}}
    return dataclasses.replace(context, config=context.config.model_copy(update={"methods": methods}))


def _check_info(method) -> MethodInfo:
    info = getattr(method, "info", None)
    assert isinstance(info, MethodInfo), f"method {method!r}: its info is a {type(info).__name__}, not a MethodInfo"
    for role in info.extra_models:
        try:
            recipe_for(role)
        except InvalidInputError as exc:
            raise AssertionError(f"method {info.name!r}: extra_models names {role!r}: {exc}") from None
    return info


def check_method(method, context: MethodContext, params: dict[str, Any] | None = None) -> LayerScores:
    """Check a localisation method on ``context`` (``tiny_method_context``), with ``params`` (e.g. fewer
    steps) over its defaults: a valid ``MethodInfo`` (its ``extra_models`` roles exist), and ``localise``
    returns a ``LayerScores`` with one finite, non-negative real weight per layer and JSON-serialisable
    details; a neuron method (granularity 'neuron') also a finite float tensor [layers, d_ff] of neuron
    scores. Its optional ``check_params`` must accept the parameters first (registered names: none). The
    same checks ``memlocbench run`` applies before it caches a method's output. Returns the
    scores; raises AssertionError naming the method and what is wrong."""
    info = _check_info(method)
    defaults = getattr(method, "defaults", None)
    check = getattr(method, "check_params", None)
    if isinstance(defaults, dict) and callable(check):  # as `memlocbench run` does before any work
        problems = check({**defaults, **(params or {})}, {})
        assert isinstance(problems, (list, tuple)) and all(isinstance(p, str) for p in problems), \
            f"method {info.name!r}: check_params returned {problems!r}, not a list of problems (strings)"
        assert not problems, f"method {info.name!r}: its check_params rejects the parameters: {'; '.join(problems)}"
    scores = method.localise(_with_params(context, info.name, params))
    width = ffn_width(context.adapter, context.models) if info.granularity == "neuron" else None
    try:
        check_method_output(scores, context.num_layers, info.name, "under test", neuron_width=width)
    except MethodOutputError as exc:
        raise AssertionError(str(exc)) from None
    return scores
