"""Upgraders: every older shape of a result file to the current schema, applied on read before validation.

A result file is never rewritten: ``Result`` and ``RunSummary`` upgrade the parsed JSON of an older
``schema_version`` in memory, then validate it as the current schema (so old files validate, render and
count exactly as new ones). Each step is one function from version N to N + 1.

Schema 1 -> 2 (memlocbench 0.2):

- the per-layer weights are no longer called "profile" (which is also the settings profile):
  ``profile_raw`` -> ``raw_weights``, ``profile`` -> ``layer_weights``, ``profile_all_zero`` ->
  ``weights_all_zero``; the settings profile's name ``profile_name`` -> ``settings_profile``;
- the planted-neuron control track is called ``planted`` (was ``neurons``), beside ``pair`` and ``single``;
- the memorisation guard block is required: schema-1 files written before it existed (the first
  baseline, ``tests/legacy_results/``) get it derived from their own statistics, marked ``derived``;
- control blocks of schema 1 carry no tie rule (``tie_rule`` stays absent: they validate under either).
"""

from __future__ import annotations

from typing import Any, Callable

from pydantic import ValidationError

from memlocbench.config.profiles import GuardConfig
from memlocbench.results.guard import MemorisationStats, memorisation_guard

#: the schema version written now
CURRENT = 2

RESULT_RENAMES_1_TO_2 = {"profile_raw": "raw_weights", "profile": "layer_weights",
                         "profile_all_zero": "weights_all_zero", "profile_name": "settings_profile"}
TRACK_RENAMES_1_TO_2 = {"neurons": "planted"}


def _renamed(data: dict[str, Any], renames: dict[str, str]) -> dict[str, Any]:
    """``data`` with the keys of ``renames`` renamed, in their original order."""
    return {renames.get(key, key): value for key, value in data.items()}


def _derived_guard(data: dict[str, Any]) -> dict[str, Any] | None:
    """The guard block that a schema-1 file without one gets from its own statistics and config; None
    where the statistics themselves are invalid (validation then reports them)."""
    memorisation, config = data.get("memorisation"), data.get("config")
    if not isinstance(memorisation, dict) or not isinstance(config, dict):
        return None
    try:
        stats = {role: MemorisationStats.model_validate(memorisation[role]) for role in ("memorising", "clean")}
        guard = GuardConfig(**(config.get("guard") or {}))
    except (KeyError, TypeError, ValidationError):
        return None
    return memorisation_guard(stats, guard, derived=True).model_dump(mode="json")


def result_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 method result as schema 2."""
    out = _renamed(data, RESULT_RENAMES_1_TO_2)
    control = out.get("control")
    if isinstance(control, dict) and control.get("track") in TRACK_RENAMES_1_TO_2:
        out["control"] = {**control, "track": TRACK_RENAMES_1_TO_2[control["track"]]}
    if out.get("memorisation_guard") is None:
        guard = _derived_guard(out)
        if guard is not None:
            out["memorisation_guard"] = guard
    out["schema_version"] = 2
    return out


def summary_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 run summary as schema 2."""
    out = _renamed(data, {"profile_name": "settings_profile"})
    if out.get("control_track") in TRACK_RENAMES_1_TO_2:
        out["control_track"] = TRACK_RENAMES_1_TO_2[out["control_track"]]
    out["schema_version"] = 2
    return out


RESULT_STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: result_1_to_2}
SUMMARY_STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: summary_1_to_2}


def upgrade(data: Any, steps: dict[int, Callable[[dict[str, Any]], dict[str, Any]]]) -> Any:
    """``data`` (parsed JSON) brought to ``CURRENT`` through ``steps``; anything that is not a dict of a
    known older version is returned as it is, for validation to judge."""
    while isinstance(data, dict) and type(data.get("schema_version")) is int and data["schema_version"] in steps:
        data = steps[data["schema_version"]](data)
    return data
