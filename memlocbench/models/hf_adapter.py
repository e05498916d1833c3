"""The shared part of adapters over stock transformers classes."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
from torch import nn

from memlocbench.errors import ModelUnavailableError
from memlocbench.contracts.protocols import ModelInfo


_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face hub cannot be reached, or None if it may be (a quick TCP probe of
    ``$HF_ENDPOINT``; skipped behind a proxy, where only the hub client knows the way)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in _PROXY_VARS):
        return None
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname, url.port or (443 if url.scheme == "https" else 80)
    if not host:
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc})"


class HFAdapter:
    """A ``ModelAdapter`` over a stock transformers ``AutoModelForSequenceClassification``: a subclass
    describes one model family by class attributes, and each instance is one checkpoint of it.

    A subclass **must set**:

    * ``family`` (e.g. ``"bert"``) and ``representation``: ``"first-token"`` or ``"last-token"``, the
      position the family's classification head reads (``sentence_representation`` uses it);
    * ``_LAYER_RE``: a regular expression matched against parameter names whose group 1 is the 0-based
      layer index (BERT: ``^bert[.]encoder[.]layer[.]([0-9]+)[.]``), and ``_EMBED_RE`` matching the
      embedding parameters (frozen in every recipe); every other parameter is in the ``"head"`` group,
      which always trains (``parameter_group``);
    * ``_layers_path``: the attribute path from the model to its ``nn.ModuleList`` of layers
      (``"bert.encoder.layer"``), whose i-th module holds exactly the parameters of layer i;
    * ``_ffn_out_path`` (for the neuron-level methods): the attribute path from a layer to its
      feed-forward down-projection, an ``nn.Linear`` d_ff -> d_model (``"output.dense"``).

    It **may override**: ``fix_tokenizer`` (e.g. set a pad token and right padding), ``fix_model`` (e.g.
    the pad id, a head with a bias), ``separator`` (the string joining a task's text fields; default
    the tokenizer's ``sep_token``), ``ffn_output_norms`` (see there; the default says "pre-norm"), and
    ``version``, which must be bumped whenever the model it builds changes (it is part of every key).

    **Determinism:** the core calls ``torch.manual_seed(train.seed)`` right before ``load_model``
    (``TrainedModels.pretrained``), and a model's store key assumes that ``load_model`` then gives
    identical weights every time: a ``fix_model`` that creates parameters must draw them from torch's
    global generator (as ``nn.Linear`` and ``normal_`` do), never from an unseeded source or its own
    fixed seed. ``memlocbench.testing.check_model_adapter`` checks this and the rest of the contract.
    """

    family: str
    representation: str
    _LAYER_RE: re.Pattern
    _EMBED_RE: re.Pattern
    _layers_path: str  # attribute path from the model to its ModuleList of layers
    _ffn_out_path: str  # attribute path from a layer to its feed-forward down-projection (d_ff -> d_model)
    version: int = 1  # bumped when the model an adapter builds changes

    def __init__(self, name: str, hub_id: str, description: str,
                 source: Callable[[], str] | None = None, config=None, num_layers: int | None = None,
                 default: bool = False):
        """``source`` returns a local folder to load from (default: the hub id); ``config`` builds
        a randomly initialised model instead (used for offline plumbing tests). ``num_layers``
        declares the layer count (taken from ``config`` when given), so that result files can be
        checked without loading the model. ``default`` declares the model the one used when a
        command names none (``ModelInfo.default``)."""
        if config is not None:
            num_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", None)
        self.info = ModelInfo(name=name, hub_id=hub_id, description=description, family=self.family,
                              sentence_representation=self.representation, num_layers=num_layers,
                              version=self.version, default=default)
        self._source = source or (lambda: hub_id)
        self._config = config

    def __repr__(self) -> str:
        return f"<model {self.info.name}>"

    def _load(self, what: str, fn):
        """``fn(src, **kwargs)`` with the hub id or local folder; any failure is a ModelUnavailableError.

        A hub id is tried from the local cache first; the hub itself is only asked when it answers
        a quick connection probe, so an offline machine fails at once instead of after the hub
        client's minute of retries."""
        src = self._source()
        try:
            if Path(src).is_dir():
                return fn(src)
            try:
                return fn(src, local_files_only=True)
            except (OSError, ValueError) as cached_exc:
                reason = hub_unreachable()
                if reason is not None:
                    raise OSError(f"not in the local cache and the hub is unreachable: {reason}") from cached_exc
            return fn(src)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(
                f"model {self.info.name!r}: could not load its {what} from {src!r} "
                f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}). It comes from the Hugging Face "
                f"hub; make the hub reachable or use a model that runs offline (`memlocbench list models`)."
            ) from exc

    def load_tokenizer(self):
        """The checkpoint's tokenizer (from the local folder, the local cache or the hub), after
        :meth:`fix_tokenizer`; ModelUnavailableError if it cannot be had."""
        from transformers import AutoTokenizer

        tok = self._load("tokenizer", AutoTokenizer.from_pretrained)
        return self.fix_tokenizer(tok)

    def fix_tokenizer(self, tok):
        """Adjust the loaded tokenizer (default: nothing). memlocbench pads on the right and needs a pad
        token (``Encoded.batch``); a family without one sets it here."""
        return tok

    def max_positions(self) -> int | None:
        """The model's maximum input length in tokens, read from its config (no weights loaded)."""
        if self._config is not None:
            cfg = self._config
        else:
            from transformers import AutoConfig

            cfg = self._load("config", AutoConfig.from_pretrained)
        n = getattr(cfg, "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    def load_model(self, num_labels: int) -> nn.Module:
        """A stock ``AutoModelForSequenceClassification`` with the pretrained weights (or, with ``config``,
        randomly initialised ones) and a new ``num_labels``-way head, after :meth:`fix_model`.

        Contract: called twice after the same ``torch.manual_seed``, it returns identical weights (the
        core seeds it with the model seed; the new head's initialisation comes from that seed)."""
        from transformers import AutoModelForSequenceClassification
        from transformers.utils import logging as hf_logging

        previous = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the "newly initialised head" notice is expected
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # loading a small model needs no progress bar
        try:
            if self._config is not None:
                cfg = self._config.__class__.from_dict({**self._config.to_dict(), "num_labels": num_labels})
                model = AutoModelForSequenceClassification.from_config(cfg)
            else:
                model = self._load("weights", lambda src, **kw: AutoModelForSequenceClassification.from_pretrained(
                    src, num_labels=num_labels, **kw))
        finally:
            hf_logging.set_verbosity(previous)
            if bars:
                hf_logging.enable_progress_bar()
        return self.fix_model(model)

    def fix_model(self, model: nn.Module) -> nn.Module:
        """Adjust the loaded model (default: nothing); any parameter created here must be drawn from
        torch's global generator, so that the seed the core sets before ``load_model`` fixes it."""
        return model

    def layer_modules(self, model: nn.Module) -> nn.ModuleList:
        """The model's layers (``_layers_path``), in order: what methods swap, retrain and run part of
        (``memlocbench.models.partial_forward``). Each layer must take the hidden states as its first
        argument and return them (alone or first in a tuple)."""
        obj = model
        for part in self._layers_path.split("."):
            obj = getattr(obj, part)
        return obj

    def ffn_projections(self, model: nn.Module) -> list[nn.Linear]:
        """Each layer's feed-forward down-projection (``nn.Linear``, d_ff -> d_model). Its *input* is
        the layer's intermediate activation after the non-linearity, so neuron j of layer l is input
        feature j of ``ffn_projections(model)[l]`` and its output weights are ``weight[:, j]``; a
        forward pre-hook on it reads, scales or zeroes neurons."""
        out = []
        for i, layer in enumerate(self.layer_modules(model)):
            obj = layer
            for part in self._ffn_out_path.split("."):
                obj = getattr(obj, part)
            if not isinstance(obj, nn.Linear):
                raise TypeError(f"model {self.info.name!r}: layer {i}'s {self._ffn_out_path} is "
                                f"{type(obj).__name__}, not nn.Linear")
            out.append(obj)
        return out

    def ffn_output_norms(self, model: nn.Module) -> list[nn.Module | None]:
        """What each layer does to its down-projection's output, one entry per layer: None when the layer's
        output is that output (after eval-mode dropout) plus terms that do not depend on it, so that the
        layer's output changes by exactly the change of the down-projection's output (pre-norm layers:
        GPT-NeoX, GPT-Neo, OPT-125m); else the norm module applied to that sum, so that the layer's output
        is ``norm(sum)`` and a change ``d`` of the down-projection's output makes it ``norm(sum + d)``
        (post-norm layers: BERT's ``output.LayerNorm``, OPT's ``final_layer_norm`` when
        ``do_layer_norm_before`` is false). The default, all None, is right for pre-norm families only:
        a post-norm family must override it. Optional for adapters that are not HFAdapters: a neuron method may use
        it to update a layer's output for a zeroed neuron without running the layer again, and runs the
        layer again where it is missing. ``memlocbench.testing.check_model_adapter`` checks it."""
        return [None] * len(self.layer_modules(model))

    def parameter_group(self, parameter_name: str) -> str | int:
        """``"embeddings"`` (``_EMBED_RE``; always frozen), the 0-based layer index (``_LAYER_RE``), or
        ``"head"`` (everything else; always trained): must agree with ``layer_modules``, i.e. the
        parameters of layer i's module, and only they, are in group i."""
        m = self._LAYER_RE.match(parameter_name)
        if m:
            return int(m.group(1))
        if self._EMBED_RE.match(parameter_name):
            return "embeddings"
        return "head"

    def separator(self, tokenizer) -> str:
        """The string that joins a task's text fields (``a SEP b``): the tokenizer's ``sep_token``."""
        return tokenizer.sep_token

    def sentence_representation(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """[B, T, d] hidden states -> [B, d]: the position the head reads (``representation``): the first
        token, or the last non-padding token (right padding)."""
        if self.representation == "first-token":
            return hidden[:, 0]
        last = attention_mask.sum(dim=1) - 1  # right padding: last non-padding position
        return hidden[torch.arange(hidden.shape[0]), last]


class DecoderAdapter(HFAdapter):
    """Decoder-only models (OPT, GPT-NeoX, GPT-Neo): the stock classification head reads the last
    token. transformers 5.x finds it as the rightmost position whose id is not
    ``config.pad_token_id`` (``*ForSequenceClassification.forward``), so the config's pad id must be
    the tokenizer's. With right padding (memlocbench's encoding) that is the last real token; a pad
    id inside the text (pad == EOS, and OPT prepends ``</s>``) is harmless, only a text *ending* in
    it would be misread.

    The paper's fixes: no pad token -> pad with EOS (a pad token the tokenizer already has is kept;
    transformers 5.x's GPTNeoXTokenizer defaults to ``<|padding|>``: masked positions never reach
    the classifier, so the results are the same); the model's pad id follows the tokenizer; padding
    on the right. The classification head (``score``) gets a bias, as the paper's ``nn.Linear``
    classifier has (transformers' decoder heads have none); it is initialised as transformers
    initialises a new head (weights normal with the config's std, bias zero)."""

    representation = "last-token"
    version = 2  # 2: classification head with a bias
    _pad_id: int | None = None

    def fix_tokenizer(self, tok):
        if tok.pad_token is None:
            if tok.eos_token is None:
                raise ModelUnavailableError(f"model {self.info.name!r}: its tokenizer has neither a pad nor an EOS token")
            tok.pad_token = tok.eos_token
        tok.padding_side = "right"
        self._pad_id = tok.pad_token_id
        return tok

    def fix_model(self, model: nn.Module) -> nn.Module:
        if self._pad_id is None:
            self.load_tokenizer()  # sets self._pad_id
        model.config.pad_token_id = self._pad_id
        model.config.use_cache = False  # a classifier has no use for the key/value cache
        old = model.score
        if old.bias is None:
            cfg = model.config
            std = getattr(cfg, "init_std", None) or getattr(cfg, "initializer_range", None) or 0.02
            head = nn.Linear(old.in_features, old.out_features, bias=True, dtype=old.weight.dtype)
            with torch.no_grad():
                head.weight.normal_(0.0, std)
                head.bias.zero_()
            model.score = head
        return model
