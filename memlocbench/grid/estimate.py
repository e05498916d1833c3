"""How long the rest of a grid will take: per-unit rates *measured* as units finish (kept in the
store), or, before any was measured, *assumed* rates: stated reference rates scaled to the model's size.

Cost model: a unit's *work* is rows x epochs for a training (the auxiliary task's rows added for
control models), what the method or analysis states through its optional ``estimate_work(params,
rows)`` (e.g. rows x retraining epochs), and rows otherwise; its seconds are work x a rate (seconds
per unit of work) for its category, model, profile and device.

Measured rates come from ``<store>/timings/*.json``, one small JSON log per category x model x
profile x device, appended to (atomic replace) by every unit that finishes. Concurrent writers can
lose a sample (last writer wins): it is an estimate, not an account. A damaged log (not JSON, not a
log, a folder, a pipe, over 1 MB) is ignored by the estimate and replaced by the next unit that
finishes, with a warning; it never fails a unit.

Assumed rates, stated (seconds per unit of work), planned into each unit's ``cost["default_rates"]``:

- the reference rates: trainings on a CPU measured with MiniLM-L6 (6 layers, 384 wide, 22.7M
  parameters with a 2-label head) on a 2-core machine, 600 SST-2 rows (25 tokens each on average under
  its tokenizer, max length 128): training 163 s / (600 x 8) = 0.034; the classifier-only model
  210 s / 4800 = 0.044; a control model 290 s / ((400 + 200 auxiliary rows) x 14) = 0.035. On a GPU
  (one A100/H100-class card, fp32, batch 8: latency-bound), a 125M-parameter 12-layer model on rows of
  the same length: a training step on 8 rows ~40 ms, so 0.005 s per row-epoch, plus the training-set
  scoring every epoch (a third of that): 0.0067 (a control model too); the classifier-only model
  (forward only) 0.003. Methods and analyses state theirs as ``default_rates``: ``"cpu"`` at the CPU
  reference, ``"cuda"`` at the GPU reference, optionally ``"cpu-large"`` (a CPU at the GPU reference's
  size) and ``"cuda-small"`` (a GPU at the CPU reference's size); a plugin without them gets the mean
  of the default suite's methods' rates;
- scaling to a model: the rate grows with the model's size, parameters x tokens per row: the parameter
  count of the model its adapter builds, the tokens the mean length of up to 256 of the task's
  training rows under the model's tokenizer, cut at the max length. A CPU rate is the reference rate x
  (parameters x tokens) / (the reference's); a GPU rate the same, but never below a quarter of the GPU
  reference's (small models stay latency-bound). A plugin's ``"cpu-large"`` is scaled instead for
  models nearer the GPU reference's size, its ``"cuda-small"`` (never scaled down) for models nearer the
  CPU reference's;
- where the model cannot be built here (a hub-only model offline) its size is unknown, and its declared
  layer count decides: 6 layers or fewer the CPU reference's rate (a quarter of the GPU one), more 8x it
  on a CPU (twice the layers, four times the matrix work at width 768 vs 384) and the GPU one.

These assumptions are estimates, not measurements; the dry run says which pending units use them and
with which size, and measured rates replace them as soon as one unit of the kind (category, model,
profile, device) has finished in this store.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memlocbench.errors import NotARegularFileError
from memlocbench.files import read_regular_file
from memlocbench.store import atomic_write_text

TIMINGS = "timings"
KEEP_SAMPLES = 200
#: a timing log larger than this is not read (it holds at most KEEP_SAMPLES short samples)
MAX_LOG_BYTES = 1_000_000

#: the trainings' stated rates: "cpu" at the CPU reference, "cuda" at the GPU reference
TRAINING_RATES = {"cpu": {"train": 0.034, "train-classifier-only": 0.044, "train-control": 0.035},
                  "cuda": {"train": 0.0067, "train-classifier-only": 0.003, "train-control": 0.0067}}
#: a model of at most this many layers counts as small where its size is unknown (the CPU reference has 6)
SMALL_MODEL_MAX_LAYERS = 6
CPU_LARGE_FACTOR = 8.0
GPU_SMALL_FACTOR = 0.25
#: the keys of a plugin's ``default_rates``
RATE_KEYS = ("cpu", "cuda", "cpu-large", "cuda-small")
#: mean tokens per row of the reference measurements (SST-2 under MiniLM's tokenizer, max length 128)
REFERENCE_TOKENS = 25.0
#: rows read to measure a task's mean tokens per row under a model's tokenizer
TOKEN_SAMPLE_ROWS = 256


@dataclass(frozen=True)
class ModelSize:
    """What an assumed rate scales with: parameters x mean tokens per row (None: unknown here)."""

    parameters: int | None
    tokens: float | None
    num_layers: int | None = None  # declared; decides where the parameters are unknown

    @property
    def known(self) -> bool:
        return self.parameters is not None

    @property
    def work(self) -> float:
        """Parameters x tokens (the reference's tokens where the tokens are unknown)."""
        return float(self.parameters or 0) * (self.tokens or REFERENCE_TOKENS)


#: the models the stated rates refer to
CPU_REFERENCE = ModelSize(22_713_986, REFERENCE_TOKENS, 6)  # MiniLM-L6 with a 2-label head
GPU_REFERENCE = ModelSize(125_000_000, REFERENCE_TOKENS, 12)
CPU_REFERENCE_NAME = "MiniLM-L6"
GPU_REFERENCE_NAME = "a 125M-parameter 12-layer model"
#: above this size (parameters x tokens) a model is nearer the GPU reference than the CPU one
_MIDPOINT = math.sqrt(CPU_REFERENCE.work * GPU_REFERENCE.work)


def is_small_model(num_layers: int | None) -> bool:
    """Whether a model with ``num_layers`` layers (None: not declared) counts as small for the defaults."""
    return num_layers is not None and num_layers <= SMALL_MODEL_MAX_LAYERS


def declared_rates(obj) -> dict[str, float] | None:
    """A plugin object's ``default_rates`` when they are usable ("cpu" and "cuda" positive numbers, any
    other key one of ``RATE_KEYS``), else None: an estimate never fails on them."""
    rates = getattr(obj, "default_rates", None)
    if not isinstance(rates, dict) or not {"cpu", "cuda"} <= set(rates) or not set(rates) <= set(RATE_KEYS):
        return None
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
             for v in rates.values())
    return {k: float(v) for k, v in rates.items()} if ok else None


def size_factors(size: ModelSize) -> dict[str, float]:
    """How many times the reference's rate a model of ``size`` is assumed to have, per device
    (known sizes only): (parameters x tokens) / the reference's, on a GPU at least ``GPU_SMALL_FACTOR``."""
    return {"cpu": size.work / CPU_REFERENCE.work,
            "cuda": max(size.work / GPU_REFERENCE.work, GPU_SMALL_FACTOR)}


def sized_rates(rates: dict[str, float], size: ModelSize) -> dict[str, float]:
    """{"cpu": ..., "cuda": ...} for a model of ``size`` from stated ``rates`` (see the module docstring)."""
    if not size.known:
        if is_small_model(size.num_layers):
            return {"cpu": rates["cpu"], "cuda": rates.get("cuda-small", rates["cuda"] * GPU_SMALL_FACTOR)}
        return {"cpu": rates.get("cpu-large", rates["cpu"] * CPU_LARGE_FACTOR), "cuda": rates["cuda"]}
    large = size.work >= _MIDPOINT
    if "cpu-large" in rates and large:
        cpu = rates["cpu-large"] * size.work / GPU_REFERENCE.work
    else:
        cpu = rates["cpu"] * size.work / CPU_REFERENCE.work
    if "cuda-small" in rates and not large:
        cuda = rates["cuda-small"] * max(size.work / CPU_REFERENCE.work, 1.0)
    else:
        cuda = rates["cuda"] * size_factors(size)["cuda"]
    return {"cpu": cpu, "cuda": cuda}


def describe_size(size: ModelSize) -> str:
    """How a model's assumed rates were scaled, in words."""
    if not size.known:
        layers = f"{size.num_layers} declared layers" if size.num_layers else "no declared layer count"
        kind = "small" if is_small_model(size.num_layers) else "large"
        return (f"size unknown here (the model could not be built), so from its {layers}: {kind} "
                f"({'the reference rates' if kind == 'small' else f'{CPU_LARGE_FACTOR:g}x the CPU reference rate'})")
    f = size_factors(size)
    tokens = f"{size.tokens:.1f} tokens per row" if size.tokens else \
        f"{REFERENCE_TOKENS:g} tokens per row (assumed: the task's rows could not be read)"
    return (f"{size.parameters / 1e6:.3g}M parameters x {tokens}: {f['cpu']:.3g}x the CPU reference "
            f"({CPU_REFERENCE_NAME}, {CPU_REFERENCE.parameters / 1e6:.3g}M x {REFERENCE_TOKENS:g}), "
            f"{f['cuda']:.3g}x the GPU reference ({GPU_REFERENCE_NAME}; at least {GPU_SMALL_FACTOR:g}x)")


def mean_rates(stated: list[dict[str, float]]) -> dict[str, float]:
    """The fallback for a plugin that states no rates: the mean "cpu" and "cuda" of ``stated`` (the
    default suite's methods'), or the training's rates when there are none."""
    if not stated:
        return {"cpu": TRAINING_RATES["cpu"]["train"], "cuda": TRAINING_RATES["cuda"]["train"]}
    return {k: sum(r[k] for r in stated) / len(stated) for k in ("cpu", "cuda")}


def training_rates(category: str, size: ModelSize) -> dict[str, float]:
    """The assumed rates of a training unit (``category``: train, train-classifier-only, train-control)."""
    return sized_rates({k: TRAINING_RATES[k][category] for k in ("cpu", "cuda")}, size)


def device_key(device: str) -> str:
    """Which default rate a device uses: "cuda", or "cpu" for any other device."""
    return "cuda" if device == "cuda" else "cpu"


def _log_path(root: Path, category: str, model: str, profile: str, device: str) -> Path:
    safe = f"{category}__{model}__{profile}__{device}".replace(":", "-").replace("/", "-")
    return Path(root) / TIMINGS / f"{safe}.json"


def _usable_sample(s: Any) -> bool:
    return (isinstance(s, dict) and all(isinstance(s.get(k), (int, float)) and not isinstance(s.get(k), bool)
                                        and math.isfinite(s[k]) for k in ("seconds", "work"))
            and s["seconds"] >= 0 and s["work"] > 0)


def read_samples(path: Path) -> tuple[list[dict[str, float]], str | None]:
    """The usable samples of a timing log and, if it is damaged, what is wrong with it (a missing log:
    no samples, no problem). Never raises and never blocks: only a regular file of at most
    ``MAX_LOG_BYTES`` is opened."""
    try:
        log = json.loads(read_regular_file(path, MAX_LOG_BYTES).decode("utf-8"))
    except FileNotFoundError:
        return [], None
    except NotARegularFileError as exc:
        return [], f"is unusable ({exc}; a log holds at most {KEEP_SAMPLES} short samples)"
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [], f"could not be read ({type(exc).__name__}: {exc})"
    samples = log.get("samples") if isinstance(log, dict) else None
    if not isinstance(samples, list):
        return [], "is not a timing log (no list of samples)"
    good = [{"seconds": float(s["seconds"]), "work": float(s["work"])} for s in samples if _usable_sample(s)]
    bad = len(samples) - len(good)
    return good, (f"has {bad} unusable sample(s) (ignored)" if bad else None)


def record_timing(root: Path, category: str, model: str, profile: str, device: str, seconds: float,
                  work: float | None) -> str | None:
    """Append one finished unit's time to its log (atomic replace). Best effort: a damaged log is
    replaced, a log that cannot be written is left; returns a warning then (None when all went well).
    Never raises: the unit's artefact is committed already, and its time is only for estimates."""
    if not work:
        return None
    path = _log_path(root, category, model, profile, device)
    samples, problem = read_samples(path)
    sample = {"seconds": round(seconds, 3), "work": work}
    log = {"category": category, "model": model, "profile": profile, "device": device,
           "samples": (samples + [sample])[-KEEP_SAMPLES:]}
    try:
        atomic_write_text(path, json.dumps(log, indent=1) + "\n")
    except (OSError, ValueError) as exc:
        return (f"timing log {path} {problem or 'could not be replaced'} and was not written "
                f"({type(exc).__name__}: {exc}); the unit's artefact is in the store, only its time was not logged")
    if problem and "unusable sample" not in problem:
        return f"timing log {path} {problem}; replaced by a new log with this unit's time"
    return None


def measured_rate(root: Path, category: str, model: str, profile: str, device: str) -> tuple[float, int] | None:
    """(seconds per unit of work, number of samples) from the store's log, or None (no usable log)."""
    samples, _ = read_samples(_log_path(root, category, model, profile, device))
    work = sum(s["work"] for s in samples)
    return (sum(s["seconds"] for s in samples) / work, len(samples)) if work else None


@dataclass
class Estimate:
    seconds: float
    measured_units: int  # pending units estimated from measured rates
    default_units: int  # ... from the assumed (stated, size-scaled) rates
    assumed_rows: int  # ... whose training size was unknown here (the mean of the known ones assumed)
    #: category -> {"measured": pending units with a measured rate, "assumed": ... with an assumed one,
    #: "samples": timed units behind the measured rates}
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    ignored_logs: list[str] = field(default_factory=list)  # damaged timing logs, and what is wrong


def estimate(units, root: Path, device: str) -> tuple[Estimate, dict[str, float]]:
    """Estimated seconds for ``units`` (plan units), in total and per category. Each timing log is
    read once, however many units share it."""
    known = [u.cost["rows"] for u in units if u.cost.get("rows")]
    mean_rows = sum(known) / len(known) if known else 1000
    total, measured, default, assumed = 0.0, 0, 0, 0
    per_category: dict[str, float] = {}
    sources: dict[str, dict[str, int]] = {}
    rates: dict[tuple, tuple[float, int] | None] = {}
    ignored: list[str] = []
    for u in units:
        cost, cfg = u.cost, u.payload["config"]
        work = cost.get("work")
        if work is None:
            assumed += 1
            epochs = cfg["train"]["epochs"] if cost["category"].startswith("train") else 1
            work = mean_rows * epochs
        ident = (cost["category"], u.payload["model"], cfg["profile"], device)
        if ident not in rates:
            path = _log_path(root, *ident)
            samples, problem = read_samples(path)
            if problem:
                ignored.append(f"{path}: {problem}")
            total_work = sum(s["work"] for s in samples)
            rates[ident] = (sum(s["seconds"] for s in samples) / total_work, len(samples)) if total_work else None
        got = rates[ident]
        source = sources.setdefault(cost["category"], {"measured": 0, "assumed": 0, "samples": 0})
        if got:
            rate = got[0]
            measured += 1
            source["measured"] += 1
        else:
            rate = cost.get("default_rates", mean_rates([]))[device_key(device)]
            default += 1
            source["assumed"] += 1
        per_category[cost["category"]] = per_category.get(cost["category"], 0.0) + work * rate
        total += work * rate
    for (category, *_), got in rates.items():
        if got:
            sources[category]["samples"] += got[1]
    return Estimate(total, measured, default, assumed, sources, ignored), per_category
