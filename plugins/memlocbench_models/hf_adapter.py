"""The shared part of adapters over stock transformers classes."""

from __future__ import annotations

import re
from typing import Callable

import torch
from torch import nn

from memlocbench.errors import ModelUnavailableError
from memlocbench.protocols import ModelInfo


class HFAdapter:
    """Subclasses set ``family``, ``representation``, ``_LAYER_RE`` (group 1 = layer index),
    ``_EMBED_RE`` and ``_layers_path``."""

    family: str
    representation: str
    _LAYER_RE: re.Pattern
    _EMBED_RE: re.Pattern
    _layers_path: str  # attribute path from the model to its ModuleList of layers

    def __init__(self, name: str, hub_id: str, description: str,
                 source: Callable[[], str] | None = None, config=None):
        """``source`` returns a local folder to load from (default: the hub id); ``config`` builds
        a randomly initialised model instead (used for offline plumbing tests)."""
        self.info = ModelInfo(name=name, hub_id=hub_id, description=description,
                              family=self.family, sentence_representation=self.representation)
        self._source = source or (lambda: hub_id)
        self._config = config

    def __repr__(self) -> str:
        return f"<model {self.info.name}>"

    def _load(self, what: str, fn):
        src = self._source()
        try:
            return fn(src)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"model {self.info.name!r}: could not load its {what} from {src!r} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). It comes from the Hugging Face "
                f"hub; make the hub reachable or use the offline default 'minilm-l6'."
            ) from exc

    def load_tokenizer(self):
        from transformers import AutoTokenizer

        tok = self._load("tokenizer", AutoTokenizer.from_pretrained)
        return self.fix_tokenizer(tok)

    def fix_tokenizer(self, tok):
        return tok

    def load_model(self, num_labels: int) -> nn.Module:
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging as hf_logging

        previous = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the "newly initialised head" notice is expected
        try:
            if self._config is not None:
                cfg = self._config.__class__.from_dict({**self._config.to_dict(), "num_labels": num_labels})
                model = AutoModelForSequenceClassification.from_config(cfg)
            else:
                model = self._load("weights", lambda src: AutoModelForSequenceClassification.from_pretrained(
                    src, num_labels=num_labels))
        finally:
            hf_logging.set_verbosity(previous)
        return self.fix_model(model)

    def fix_model(self, model: nn.Module) -> nn.Module:
        return model

    def layer_modules(self, model: nn.Module) -> nn.ModuleList:
        obj = model
        for part in self._layers_path.split("."):
            obj = getattr(obj, part)
        return obj

    def parameter_group(self, parameter_name: str) -> str | int:
        m = self._LAYER_RE.match(parameter_name)
        if m:
            return int(m.group(1))
        if self._EMBED_RE.match(parameter_name):
            return "embeddings"
        return "head"

    def separator(self, tokenizer) -> str:
        return tokenizer.sep_token

    def sentence_representation(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.representation == "first-token":
            return hidden[:, 0]
        last = attention_mask.sum(dim=1) - 1  # right padding: last non-padding position
        return hidden[torch.arange(hidden.shape[0]), last]
