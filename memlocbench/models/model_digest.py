"""What a model adapter builds, as a digest for store keys: the model's class, its configuration
(architecture, sizes, initialisation settings) and every parameter's name, shape and dtype.

A trained model's key hashes this digest, so a model widened from 64 to 128, or a family whose
``fix_model`` adds a parameter, trains anew even if its adapter's ``ModelInfo.version`` was not bumped.
Values are not hashed (the pretrained weights are the checkpoint's, named by the adapter and its
version); machine-specific entries of the configuration (the folder it was loaded from, the library
version that wrote it) are left out, so the same model gives the same digest on every machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

#: configuration entries that say where or with what a model was loaded, not what it is
UNSTABLE_CONFIG_KEYS = frozenset({"_name_or_path", "name_or_path", "transformers_version", "_commit_hash",
                                  "_attn_implementation_autoset", "_attn_implementation_internal"})

_DIGESTS: dict[tuple[int, int], tuple[object, str]] = {}


def describe_model(model: torch.nn.Module) -> dict[str, Any]:
    """The model's class, configuration (``model.config.to_dict()`` where it has one, without the
    entries of ``UNSTABLE_CONFIG_KEYS``) and parameters (name -> [shape, dtype])."""
    config = getattr(model, "config", None)
    as_dict = config.to_dict() if hasattr(config, "to_dict") else {}
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "config": {k: v for k, v in as_dict.items() if k not in UNSTABLE_CONFIG_KEYS},
        "parameters": {n: [list(p.shape), str(p.dtype)] for n, p in model.named_parameters()},
    }


def model_digest(adapter: Any, num_labels: int, built: torch.nn.Module | None = None) -> str:
    """sha256 of ``describe_model`` of what ``adapter.load_model(num_labels)`` builds, once per adapter object
    and label count in a process: from ``built`` (a model the caller has just built that way, so nothing
    is loaded twice) or else built here, with torch's random state left as it was."""
    ident = (id(adapter), num_labels)
    if ident not in _DIGESTS or _DIGESTS[ident][0] is not adapter:
        if built is None:
            with torch.random.fork_rng(devices=[]):
                built = adapter.load_model(num_labels)
        text = json.dumps(describe_model(built), sort_keys=True, separators=(",", ":"), default=str)
        _DIGESTS[ident] = (adapter, hashlib.sha256(text.encode()).hexdigest())
    return _DIGESTS[ident][1]
