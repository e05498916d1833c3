"""Old import paths kept for one release: each attribute read warns and names its new import."""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable


def forwarder(old_module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``old_module``: ``names`` maps each old attribute to the module that
    now defines it; reading one warns with a ``DeprecationWarning`` naming ``from memlocbench.api import``."""

    def __getattr__(attribute: str) -> Any:
        if attribute not in names:
            raise AttributeError(f"module {old_module!r} has no attribute {attribute!r}")
        warnings.warn(
            f"{old_module}.{attribute} is deprecated and will be removed in memlocbench 0.3; "
            f"use `from memlocbench.api import {attribute}`",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(names[attribute]), attribute)

    return __getattr__
