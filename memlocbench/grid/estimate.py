"""How long the rest of a grid will take: per-unit times measured as units finish (kept in the
store), or, before any was measured, stated defaults.

Cost model: a unit's *work* is rows x epochs for a training (the auxiliary task's rows added for
control models), what the method or analysis states through its optional ``estimate_work(params,
rows)`` (e.g. rows x retraining epochs), and rows otherwise; its seconds are work x a rate (seconds
per unit of work) for its category, model, profile and device. Measured rates come from
``<store>/timings/*.json``, one small JSON log per category x model x profile x device, appended to
(atomic replace) by every unit that finishes. Concurrent writers can lose a sample (last writer
wins): it is an estimate, not an account.

Defaults, stated (seconds per unit of work), planned into each unit's ``cost["default_rates"]``:

- trainings: CPU, a small model (6 layers or fewer; measured with a 6-layer, 384-wide BERT on a 2-core
  machine, 600 rows, max length 128): training 163 s / (600 x 8) = 0.034; the classifier-only model
  210 s / 4800 = 0.044; a control model 290 s / ((400 + 200 auxiliary rows) x 14) = 0.035. GPU (one
  A100/H100-class card, fp32, batch 8: latency-bound), a 12-layer model: a training step of a 125M
  model on 8 rows ~40 ms, so 0.005 s per row-epoch, plus the training-set scoring every epoch (a third
  of that): 0.0067 (a control model too); the classifier-only model (forward only) 0.003;
- methods and analyses: the ``default_rates`` their plugin objects state (``"cpu"`` on a small model,
  ``"cuda"`` on a 12-layer one, optionally ``"cpu-large"`` and ``"cuda-small"``); without them, the
  mean of the default suite's methods' rates;
- scaling where a plugin states no rate of its own: a larger model on a CPU costs 8x the small one
  per layer pass (twice the layers, four times the matrix work at width 768 vs 384); a small model
  on a GPU a quarter of the 12-layer one (small models stay latency-bound).
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

#: the trainings' stated rates: "cpu" on a small model, "cuda" on a 12-layer model
TRAINING_RATES = {"cpu": {"train": 0.034, "train-classifier-only": 0.044, "train-control": 0.035},
                  "cuda": {"train": 0.0067, "train-classifier-only": 0.003, "train-control": 0.0067}}
#: a model of at most this many layers counts as small (the CPU reference model has 6)
SMALL_MODEL_MAX_LAYERS = 6
CPU_LARGE_FACTOR = 8.0
GPU_SMALL_FACTOR = 0.25
#: the keys of a plugin's ``default_rates``
RATE_KEYS = ("cpu", "cuda", "cpu-large", "cuda-small")


def is_small_model(num_layers: int | None) -> bool:
    """Whether a model with ``num_layers`` layers (None: not declared) counts as small for the defaults."""
    return num_layers is not None and num_layers <= SMALL_MODEL_MAX_LAYERS


def declared_rates(obj) -> dict[str, float] | None:
    """A plugin object's ``default_rates`` when they are usable ("cpu" and "cuda" positive numbers, any
    other key one of ``RATE_KEYS``), else None: an estimate never fails on them."""
    rates = getattr(obj, "default_rates", None)
    if not isinstance(rates, dict) or not {"cpu", "cuda"} <= set(rates) or not set(rates) <= set(RATE_KEYS):
        return None
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in rates.values())
    return {k: float(v) for k, v in rates.items()} if ok else None


def sized_rates(rates: dict[str, float], small: bool) -> dict[str, float]:
    """{"cpu": ..., "cuda": ...} for a small or larger model from stated ``rates`` ("cpu" small, "cuda"
    12-layer, optionally "cpu-large" and "cuda-small"), scaled as the module docstring states."""
    if small:
        return {"cpu": rates["cpu"], "cuda": rates.get("cuda-small", rates["cuda"] * GPU_SMALL_FACTOR)}
    return {"cpu": rates.get("cpu-large", rates["cpu"] * CPU_LARGE_FACTOR), "cuda": rates["cuda"]}


def mean_rates(stated: list[dict[str, float]]) -> dict[str, float]:
    """The fallback for a plugin that states no rates: the mean "cpu" and "cuda" of ``stated`` (the
    default suite's methods'), or the training's rates when there are none."""
    if not stated:
        return {"cpu": TRAINING_RATES["cpu"]["train"], "cuda": TRAINING_RATES["cuda"]["train"]}
    return {k: sum(r[k] for r in stated) / len(stated) for k in ("cpu", "cuda")}


def training_rates(category: str, small: bool) -> dict[str, float]:
    """The stated default rates of a training unit (``category``: train, train-classifier-only, train-control)."""
    return sized_rates({k: TRAINING_RATES[k][category] for k in ("cpu", "cuda")}, small)


def device_key(device: str) -> str:
    """Which default rate a device uses: "cuda", or "cpu" for any other device."""
    return "cuda" if device == "cuda" else "cpu"


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
            rate = cost.get("default_rates", mean_rates([]))[device_key(device)]
            default += 1
        per_category[cost["category"]] = per_category.get(cost["category"], 0.0) + work * rate
        total += work * rate
    return Estimate(total, measured, default, assumed), per_category
