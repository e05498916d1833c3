"""How one unit of the grid runs, in whichever process an executor puts it.

A unit travels as a JSON-able dict (its *payload*): the task, model, full run config and what to
produce. ``run_unit(payload)`` rebuilds the run from it with the same functions ``memlocbench run``
uses (``pipeline.prepare``, ``TrainedModels.ensure``, ``pipeline.layer_scores``), writes the
artefact to the store and returns a JSON-able dict. Nothing but such dicts crosses a process
boundary, and nothing is unpickled from disk.

Unit kinds live in ``UNIT_KINDS`` (trainings, methods, analyses): a new kind is one function that
produces its artefact from a prepared run and a payload, registered here, plus the planner's lines
that create its units (``plan.py``).
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from memlocbench.run.analysis_run import OUTPUT_KIND as ANALYSIS_KIND
from memlocbench.run.method_run import (SCORES_KIND, RunInputs, RunRequest, layer_scores, layer_scores_spec, prepare,
                                  provider_of)
from memlocbench.config.profiles import RunConfig
from memlocbench.store import ArtefactStore
from memlocbench.training.trained_models import KIND as MODEL_KIND
from memlocbench.training.trained_models import torch_threads


def _train(prep: RunInputs, req: RunRequest, payload: dict) -> str:
    return prep.models.ensure(payload["role"])


def _method(prep: RunInputs, req: RunRequest, payload: dict) -> str:
    method = _plugins().methods.get(payload["method"])
    setup_models = prep.models.for_setup(payload["aliases"])
    layer_scores(req, prep, setup_models, method)
    return req.store.key(layer_scores_spec(method, req.config, setup_models, provider_of(prep.plugins, "method", method.info.name)))


def _analysis(prep: RunInputs | None, req: RunRequest, payload: dict) -> str:
    from memlocbench.run.analysis_run import compute_analysis

    return compute_analysis(_plugins(), analysis_request(payload, req.store), log=lambda msg: None).key


#: kind -> (store kind of its artefact, function producing it; returns the artefact's key)
UNIT_KINDS: dict[str, tuple[str, Callable[[RunInputs, RunRequest, dict], str]]] = {
    "train": (MODEL_KIND, _train),
    "method": (SCORES_KIND, _method),
    "analysis": (ANALYSIS_KIND, _analysis),
}
#: unit kinds that prepare their run themselves (no shared ``RunInputs``)
_SELF_PREPARED = {"analysis"}


@lru_cache(maxsize=1)
def _plugins():
    from memlocbench.registry import load_plugins

    return load_plugins()


def request_for(payload: dict, store: ArtefactStore | None = None) -> RunRequest:
    """The ``RunRequest`` a payload describes (the same one ``memlocbench run`` would build)."""
    return RunRequest(task=payload["task"], model=payload["model"], methods=list(payload.get("methods", [])),
                      config=RunConfig.model_validate(payload["config"]),
                      data_dir=Path(payload["data_dir"]) if payload.get("data_dir") else None,
                      store=store or ArtefactStore(payload["store"]), progress=False,
                      control=bool(payload.get("control", False)), device=payload.get("device", "cpu"),
                      control_track=payload.get("control_track", "pair"))


def analysis_request(payload: dict, store: ArtefactStore | None = None):
    """The ``AnalysisRequest`` a payload describes (the one ``memlocbench analyse`` would build); the
    analysis parameters travel beside the config, whose dump leaves them out."""
    from memlocbench.run.analysis_run import AnalysisRequest

    req = request_for(payload, store)
    config = req.config.model_copy(update={"analyses": payload.get("analysis_params", {})})
    return AnalysisRequest(analysis=payload["analysis"], task=payload["task"], model=payload["model"],
                           config=config, seeds=list(payload["seeds"]), data_dir=req.data_dir, store=req.store,
                           progress=False, device=req.device)


_prepared: dict[str, RunInputs] = {}  # one prepared run per process, reused by consecutive units


def _prepare(req: RunRequest, payload: dict) -> RunInputs:
    ident = repr((payload["task"], payload["model"], payload["config"], payload.get("data_dir"),
                  payload.get("device"), payload.get("threads"), str(req.store.root)))
    if ident not in _prepared:
        _prepared.clear()  # keep one: a dataset and a pretrained model
        _prepared[ident] = prepare(_plugins(), req)
    prep = _prepared[ident]
    prep.models.store = req.store
    return prep


def run_unit(payload: dict) -> dict[str, Any]:
    """Produce one unit's artefact in the store (if it is not there yet); JSON-able summary back."""
    from memlocbench.grid.estimate import record_timing

    kind = payload["kind"]
    store_kind, produce = UNIT_KINDS[kind]
    store = ArtefactStore(payload["store"])
    if payload.get("key") and store.has(store_kind, payload["key"]):
        return {"id": payload["id"], "status": "skipped", "seconds": 0.0, "pid": os.getpid()}
    t0 = time.perf_counter()
    with torch_threads(payload.get("threads")):  # the thread count the plan keyed this unit with
        req = request_for(payload, store)
        prep = None if kind in _SELF_PREPARED else _prepare(req, payload)
        key = produce(prep, req, payload)
    seconds = time.perf_counter() - t0
    if payload.get("key") and key != payload["key"]:
        raise RuntimeError(f"unit {payload['id']}: produced key {key[:12]} but the plan expected "
                           f"{payload['key'][:12]} (plan and worker disagree: different data or code?)")
    cost = payload["cost"]
    # the artefact is committed: a timing log that cannot be read or written is a warning, never a failure
    warning = record_timing(store.root, cost["category"], payload["model"], req.config.profile,
                            payload.get("device", "cpu"), seconds, cost["work"])
    out = {"id": payload["id"], "status": "done", "seconds": seconds, "pid": os.getpid()}
    return {**out, "warnings": [warning]} if warning else out
