"""How long the rest of a grid will take: per-unit times measured as units finish (kept in the
store), or, before any was measured, stated defaults.

Cost model: a unit's *work* is rows x epochs for a training (the auxiliary task's rows added for
control models) and for layer retraining (its retraining epochs), and rows for the other methods;
its seconds are work x a rate (seconds per unit of work) for its category, model, profile and
device. Measured rates come from ``<store>/timings/*.json``, one small JSON log per category x
model x profile x device, appended to (atomic replace) by every unit that finishes. Concurrent
writers can lose a sample (last writer wins): it is an estimate, not an account.

Defaults, stated (seconds per unit of work):

- CPU, MiniLM-L6, exact profiles: from the README's measurements on a 2-core machine (SST-2, 600
  rows, max length 128): training 163 s / (600 x 8) = 0.034; the classifier-only model 210 s / 4800
  = 0.044 (gradient attribution's 223 s less the method); a control model 290 s / ((400 + 200 RTE)
  x 14) = 0.035; layer swapping 26 s / 600 = 0.043; layer retraining 343 s / (600 x 2 epochs) = 0.29;
  gradient attribution 13 s / 600 = 0.022; probing 24 s / 600 = 0.04.
- CPU, the 12-layer paper models: 8x MiniLM-L6 per layer pass (twice the layers, four times the
  matrix work at width 768 vs 384), and for layer swapping and retraining another 78/21 windows
  over 2x the layers (x14.9 in all).
- GPU (one A100/H100-class card, fp32, batch 8: latency-bound): a training step of a 125M model on
  8 rows ~40 ms, so 0.005 s per row-epoch, plus the training-set scoring every epoch (a third of
  that): 0.0067; the classifier-only model (forward only) 0.003; layer swapping 78 windows x half a
  forward pass of ~0.4 ms per row: 0.016 per row; layer retraining 78 windows x half a training step
  per row (2.5 ms): 0.2 per row-epoch; gradient attribution (two models, forward + backward) 0.01 per
  row; probing 0.003 per row. MiniLM-L6 on a GPU: a quarter of that (small models stay latency-bound).
These are estimates from stated assumptions, not measurements; measured rates replace them as soon
as one unit of the kind has finished in this store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from memlocbench.store import atomic_write_text

TIMINGS = "timings"
KEEP_SAMPLES = 200

_CPU_MINILM = {"train": 0.034, "train-classifier-only": 0.044, "train-control": 0.035,
               "method:layer-swapping": 0.043, "method:layer-retraining": 0.29,
               "method:gradient-attribution": 0.022, "method:probing": 0.04,
               # analyses, measured on SST-2 (600 rows, README "Analyses"): the map per trained row-epoch
               # (342 s for 8 runs x 6 epochs x 300 rows), the others per training row (8 s and 29 s)
               "analysis:memorisation-map": 0.024, "analysis:centroids": 0.013, "analysis:probing-events": 0.048}
_GPU_PAPER = {"train": 0.0067, "train-classifier-only": 0.003, "train-control": 0.0067,
              "method:layer-swapping": 0.016, "method:layer-retraining": 0.2,
              "method:gradient-attribution": 0.01, "method:probing": 0.003,
              "analysis:memorisation-map": 0.0067, "analysis:centroids": 0.002, "analysis:probing-events": 0.003}
_WINDOWED = {"method:layer-swapping", "method:layer-retraining"}
SMALL_MODELS = {"minilm-l6"}
#: any other method: the mean of the four paper methods' rates
_OTHER = "method:*"


def default_rate(category: str, model: str, device: str) -> float:
    small = model in SMALL_MODELS
    if device == "cuda":
        table = _GPU_PAPER
        factor = 0.25 if small else 1.0
    else:
        table = _CPU_MINILM
        factor = 1.0 if small else (8 * 78 / 21 / 2 if category in _WINDOWED else 8.0)
    if category not in table:  # another method or analysis: the mean of the paper methods' rates
        methods = [v for k, v in table.items() if k.startswith("method:")]
        return factor * sum(methods) / len(methods)
    return factor * table[category]


def _log_path(root: Path, category: str, model: str, profile: str, device: str) -> Path:
    safe = f"{category}__{model}__{profile}__{device}".replace(":", "-").replace("/", "-")
    return Path(root) / TIMINGS / f"{safe}.json"


def record_timing(root: Path, category: str, model: str, profile: str, device: str, seconds: float,
                  work: float | None) -> None:
    """Append one finished unit's time to its log (atomic replace; best effort)."""
    if not work:
        return
    path = _log_path(root, category, model, profile, device)
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        log = {"category": category, "model": model, "profile": profile, "device": device, "samples": []}
    log["samples"] = (log["samples"] + [{"seconds": round(seconds, 3), "work": work}])[-KEEP_SAMPLES:]
    atomic_write_text(path, json.dumps(log, indent=1) + "\n")


def measured_rate(root: Path, category: str, model: str, profile: str, device: str) -> tuple[float, int] | None:
    """(seconds per unit of work, number of samples) from the store's log, or None."""
    try:
        samples = json.loads(_log_path(root, category, model, profile, device).read_text(encoding="utf-8"))["samples"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None
    work = sum(s["work"] for s in samples)
    return (sum(s["seconds"] for s in samples) / work, len(samples)) if work else None


@dataclass
class Estimate:
    seconds: float
    measured_units: int  # pending units estimated from measured rates
    default_units: int  # ... from the stated defaults
    assumed_rows: int  # ... whose training size was unknown here (the mean of the known ones assumed)


def estimate(units, root: Path, device: str) -> tuple[Estimate, dict[str, float]]:
    """Estimated seconds for ``units`` (plan units), in total and per category."""
    known = [u.cost["rows"] for u in units if u.cost.get("rows")]
    mean_rows = sum(known) / len(known) if known else 1000
    total, measured, default, assumed = 0.0, 0, 0, 0
    per_category: dict[str, float] = {}
    for u in units:
        cost, cfg = u.cost, u.payload["config"]
        work = cost.get("work")
        if work is None:
            assumed += 1
            epochs = cfg["train"]["epochs"] if cost["category"].startswith("train") else 1
            work = mean_rows * epochs
        got = measured_rate(root, cost["category"], u.payload["model"], cfg["profile"], device)
        if got:
            rate = got[0]
            measured += 1
        else:
            rate = default_rate(cost["category"], u.payload["model"], device)
            default += 1
        per_category[cost["category"]] = per_category.get(cost["category"], 0.0) + work * rate
        total += work * rate
    return Estimate(total, measured, default, assumed), per_category
