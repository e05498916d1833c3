"""The "Compute" section: what the results cost to produce, from the compute each result carries
(``timings``: ``training`` from the trained models' store entries, ``method`` and ``analysis`` from their
outputs' entries), never the time of a rerun that read them from the store. Results written before results
carried it (no ``timings.wall``) do not count. Per model, training size, setup and CPU thread count: the
median seconds of each kind of work, its range and how many results it rests on."""

from __future__ import annotations

import statistics

from memlocbench.leaderboard.aggregate.analyses import train_size
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.markdown import md_escape, table
from memlocbench.results.run_result import setup_label

HEADERS = ["model", "training size", "setup", "device threads", "work", "median seconds", "range", "n"]
INTRO = ("What the results cost to produce, as each result records it: the training of its memorising model and "
         "twin (once per run, however many methods read them), a method's scoring, an analysis (with the models "
         "it trains of its own, such as the memorisation map's runs); not a rerun that found them in the store. "
         "Only results that carry this (written since it was recorded) count.")


def _size(r) -> str:
    size = train_size(r)
    return "whole set" if size is None else str(size)


def _setup(control) -> str:
    return "standard" if control is None else f"control: {control.track}"


def _threads(environment: dict) -> str:
    return str(environment.get("torch_threads", "?"))


def measurements(collected: Collected) -> dict[tuple[str, str, str, str, str], list[float]]:
    """(model, training size, setup, threads, work) -> the seconds recorded, one per run or result."""
    out: dict[tuple[str, str, str, str, str], list[float]] = {}
    runs: set[tuple] = set()
    for e in collected.entries:
        r, t = e.result, e.result.timings
        if "wall" not in t:
            continue
        base = (r.model.name, _size(r), _setup(r.control), _threads(r.environment))
        run = (base, r.task.name, tuple(sorted(r.seeds.items())), r.config_hash, setup_label(r))
        if "training" in t and run not in runs:
            runs.add(run)
            out.setdefault((*base, "training: memorising model + twin"), []).append(t["training"])
        if "method" in t:
            out.setdefault((*base, f"method: {r.method.name}"), []).append(t["method"])
    for a in collected.analyses:
        r, t = a.result, a.result.timings
        if "wall" in t and "analysis" in t:
            base = (r.model.name, _size(r), "analysis", _threads(r.environment))
            out.setdefault((*base, f"analysis: {r.analysis.name}"), []).append(t["analysis"])
    return out


def _seconds(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}"


def section(collected: Collected) -> list[str]:
    md = ["## Compute", "", INTRO, ""]
    found = measurements(collected)
    if not found:
        return md + ["_No result carries its compute yet._", ""]
    rows = [[md_escape(model), size, md_escape(setup), threads, md_escape(work), _seconds(statistics.median(v)),
             f"{_seconds(min(v))}-{_seconds(max(v))}", len(v)]
            for (model, size, setup, threads, work), v in sorted(found.items())]
    return md + [table(rows, HEADERS), ""]
