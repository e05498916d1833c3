"""A settings profile as a run config, with the installed plugins' own parameters for that profile.

The core's profiles (``memlocbench.config.profiles``) hold the data, training, control, compute and
guard settings; a method or analysis declares its parameters under a profile itself, as the optional
``profile_params`` member of its plugin object (profile name -> parameters; a profile derived from
another, such as ``cpu-fast`` from ``cpu``, takes its base's). This module gathers them, so that a
third-party plugin can size itself for the ``cpu`` profile just as a built-in does.
"""

from __future__ import annotations

from typing import Any

from memlocbench.config.profiles import PROFILES, RunConfig, build_config, params_for_profile
from memlocbench.errors import UnknownNameError
from memlocbench.registry import Plugins, load_plugins


def plugin_params(plugins: Plugins, profile: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{"methods": {name: params}, "analyses": {name: params}}``: what the registered methods and
    analyses declare for ``profile`` (those that declare nothing are left out)."""
    out: dict[str, dict[str, dict[str, Any]]] = {"methods": {}, "analyses": {}}
    for section, registry in (("methods", plugins.methods), ("analyses", plugins.analyses)):
        for name in registry.names():
            params = params_for_profile(getattr(registry.get(name), "profile_params", None), profile)
            if params is not None:
                out[section][name] = params
    return out


def profile_config(profile: str = "cpu", *, plugins: Plugins | None = None, **overrides: Any) -> RunConfig:
    """``build_config(profile, **overrides)`` with the plugins' parameters for the profile (the installed
    plugins' when ``plugins`` is None). ``overrides``: the sections of ``build_config``."""
    if profile not in PROFILES:
        raise UnknownNameError("profile", profile, list(PROFILES))
    return build_config(profile, plugin_params=plugin_params(plugins or load_plugins(), profile), **overrides)
