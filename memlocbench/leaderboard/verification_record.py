"""The record that `memlocbench verify` writes into a submission folder (``verification.json``), the
comparison of a submitted result with its re-run, and what the page makes of the record.

A verified mark means: *this file's digest was re-run by `verify`, and the re-run lies within the
standard tolerance* (``STANDARD``). The page never takes a record's word for it: the record keeps, per
re-run file, its sha256 and the re-run's own numbers (``MethodRerun`` / ``AnalysisRerun``); on every
rebuild the file must still have that digest, and the file's numbers are compared with the re-run's
under ``STANDARD`` by the same ``differences`` that `verify` used. The record's ``passed``, its
differences and its tolerance are what `verify` printed, nothing more. (The re-run numbers themselves
are data in the repository, like the results: only a fresh `verify` proves them.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, ValidationError

from memlocbench.leaderboard.filing import VERIFICATION
from memlocbench.leaderboard.jsonfile import JSONFileError, read_json
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import Result

MAX_RECORD_BYTES = 5_000_000
#: the memorisation statistics of each model that a re-run must reproduce (``MemorisationStats``)
STATS = ("noisy_fit_perturbed", "noisy_original_acc", "clean_train_acc", "validation_acc")
#: the neuron track's measured numbers (from the method's neuron ranking)
RECALLS = ("recall_at_k", "recall_at_2k")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Tolerance(_Strict):
    """How far a re-run may land from the submitted numbers. Re-runs on the same machine and
    software are bit-identical (tests/leaderboard/test_submission_hardening.py::test_verify_*); across machines,
    thread counts and torch builds, float rounding can change training slightly, so a per-layer
    weight may move by up to ``profile_abs``, M-CoG by up to ``mcog_abs``, a memorisation statistic
    (noisy fit, accuracies, recall@k: shares in [0, 1]) by up to ``stats_abs``, and a number of an
    analysis' summary by up to ``summary_abs + summary_rel * |submitted|``."""

    profile_abs: float = Field(0.05, ge=0, description="largest |submitted - re-run| of any layer's weight")
    mcog_abs: float = Field(0.1, ge=0, description="largest |submitted - re-run| of M-CoG")
    stats_abs: float = Field(0.05, ge=0, description="largest |submitted - re-run| of a memorisation statistic")
    summary_abs: float = Field(0.1, ge=0, description="an analysis summary number: absolute part")
    summary_rel: float = Field(0.05, ge=0, description="an analysis summary number: part relative to |submitted|")

    def text(self) -> str:
        return (f"each layer's weight within {self.profile_abs}, M-CoG within {self.mcog_abs}, memorisation "
                f"statistics (noisy fit, accuracies, recall@k) within {self.stats_abs}; each number of an "
                f"analysis' summary within {self.summary_abs} + {self.summary_rel:.0%} of the submitted value")


#: the tolerance a verified mark on the page stands for
STANDARD = Tolerance()


class MethodRerun(_Strict):
    """The numbers a method result's re-run measured (what the submitted file is compared with)."""

    kind: Literal["method"] = "method"
    sizes: dict[str, int]
    layer_weights: list[float]
    mcog: float
    memorisation: dict[str, dict[str, float]] = Field(description="role -> the STATS of its model")
    memorised: bool
    recall: dict[str, float] = Field(default_factory=dict, description="neuron track: recall@k and @2k")

    @classmethod
    def of(cls, r: Result) -> "MethodRerun":
        recall = {k: getattr(r.control, k) for k in RECALLS
                  if r.control is not None and getattr(r.control, k, None) is not None}
        return cls(sizes=dict(r.sizes), layer_weights=list(r.layer_weights), mcog=r.mcog,
                   memorisation={role: {k: getattr(st, k) for k in STATS} for role, st in r.memorisation.items()},
                   memorised=r.memorisation_guard.memorised, recall=recall)


class AnalysisRerun(_Strict):
    """The numbers an analysis result's re-run measured."""

    kind: Literal["analysis"] = "analysis"
    sizes: dict[str, int]
    seeds: list[int] = Field(description="the model seeds analysed")
    summary: dict[str, float | None]
    memorised: dict[str, bool] = Field(default_factory=dict, description="model seed -> its guard's verdict")
    noisy_fit: dict[str, float] = Field(default_factory=dict,
                                        description="model seed -> its memorising model's noisy fit")


Rerun = Annotated[Union[MethodRerun, AnalysisRerun], Discriminator("kind")]


class VerifiedResult(_Strict):
    """The outcome for one re-run result file."""

    result: str = Field(description="file name inside the submission")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the file as verified")
    passed: bool
    kind: Literal["method", "analysis"] | None = None
    rerun: Rerun | None = Field(None, description="the re-run's numbers (what the page compares the file with)")
    submitted_mcog: float | None = None
    rerun_mcog: float | None = None
    max_profile_diff: float | None = None
    mcog_diff: float | None = None
    max_stats_diff: float | None = None
    max_summary_diff: float | None = None
    cached: dict[str, bool] = Field(default_factory=dict, description="stages the re-run took from the store")
    problem: str = ""


class VerificationRecord(_Strict):
    """``<submission>/verification.json``."""

    kind: str = Field("verification", pattern=r"^verification$")
    memlocbench_version: str
    verified_at: str
    tolerance: Tolerance
    sample_seed: int
    results_in_submission: int = Field(ge=0)
    checked: list[VerifiedResult]

    @property
    def passed(self) -> bool:
        return bool(self.checked) and all(c.passed for c in self.checked)


def _largest(pairs) -> float:
    return max((abs(a - b) for a, b in pairs), default=0.0)


def method_differences(r: Result, rerun: MethodRerun, tol: Tolerance) -> tuple[list[str], dict[str, float]]:
    """(why the re-run is outside ``tol``, the largest differences) for a method result."""
    if r.sizes != rerun.sizes:
        return [f"the re-run's dataset sizes {rerun.sizes} differ from the submitted {r.sizes} (another data "
                "source?)"], {}
    if len(rerun.layer_weights) != len(r.layer_weights):
        return [f"the re-run has {len(rerun.layer_weights)} layers, the submitted result {len(r.layer_weights)}"], {}
    diffs = {"max_profile_diff": _largest(zip(r.layer_weights, rerun.layer_weights)),
             "mcog_diff": abs(r.mcog - rerun.mcog)}
    stats = [(getattr(r.memorisation[role], k), rerun.memorisation.get(role, {}).get(k, float("inf")))
             for role in r.memorisation for k in STATS]
    stats += [(getattr(r.control, k), rerun.recall.get(k, float("inf")))
              for k in RECALLS if r.control is not None and getattr(r.control, k, None) is not None]
    diffs["max_stats_diff"] = _largest(stats)
    why = []
    if diffs["max_profile_diff"] > tol.profile_abs:
        why.append(f"a layer's weight differs by {diffs['max_profile_diff']:.4f} (> {tol.profile_abs})")
    if diffs["mcog_diff"] > tol.mcog_abs:
        why.append(f"M-CoG differs by {diffs['mcog_diff']:.4f} (> {tol.mcog_abs})")
    if diffs["max_stats_diff"] > tol.stats_abs:
        worst = max(((role, k) for role in r.memorisation for k in STATS), key=lambda rk: abs(
            getattr(r.memorisation[rk[0]], rk[1]) - rerun.memorisation.get(rk[0], {}).get(rk[1], float("inf"))))
        why.append(f"a memorisation statistic differs by {diffs['max_stats_diff']:.4f} (> {tol.stats_abs}; e.g. "
                   f"{worst[0]} {worst[1]}: submitted {getattr(r.memorisation[worst[0]], worst[1]):.4f}, re-run "
                   f"{rerun.memorisation.get(worst[0], {}).get(worst[1], float('nan')):.4f})")
    if r.memorisation_guard.memorised != rerun.memorised:
        why.append(f"the memorisation guard says memorised={rerun.memorised} on the re-run, "
                   f"{r.memorisation_guard.memorised} in the submitted result")
    return why, diffs


def _summary_differences(r: AnalysisResult, rerun: AnalysisRerun, tol: Tolerance) -> tuple[list[str], float]:
    why, largest = [], 0.0
    if set(r.summary) != set(rerun.summary):
        why.append(f"the re-run's summary has the keys {sorted(rerun.summary)}, the submitted {sorted(r.summary)}")
    for key in sorted(set(r.summary) & set(rerun.summary)):
        mine, theirs = r.summary[key], rerun.summary[key]
        if (mine is None) != (theirs is None):
            why.append(f"summary {key} is {mine} submitted, {theirs} on the re-run")
        elif mine is not None:
            largest = max(largest, abs(mine - theirs))
            if abs(mine - theirs) > tol.summary_abs + tol.summary_rel * abs(mine):
                why.append(f"summary {key} differs by {abs(mine - theirs):.4f} (submitted {mine:.4f}, re-run "
                           f"{theirs:.4f}; > {tol.summary_abs} + {tol.summary_rel:.0%})")
    return why, largest


def analysis_differences(r: AnalysisResult, rerun: AnalysisRerun,
                         tol: Tolerance) -> tuple[list[str], dict[str, float]]:
    """(why the re-run is outside ``tol``, the largest differences) for an analysis result."""
    if r.sizes != rerun.sizes:
        return [f"the re-run's dataset sizes {rerun.sizes} differ from the submitted {r.sizes}"], {}
    if sorted(r.seeds) != sorted(rerun.seeds):
        return [f"the re-run analysed model seeds {sorted(rerun.seeds)}, the submitted result {sorted(r.seeds)} "
                "(the memorisation guard decided otherwise)"], {}
    why, largest = _summary_differences(r, rerun, tol)
    fits = []
    for seed, g in sorted(r.memorisation_guard.items()):
        if rerun.memorised.get(seed) != g.memorised:
            why.append(f"model seed {seed}: memorised={rerun.memorised.get(seed)} on the re-run, {g.memorised} "
                       "submitted")
        fits.append((g.noisy_fit, rerun.noisy_fit.get(seed, float("inf"))))
    stats = _largest(fits)
    if stats > tol.stats_abs:
        why.append(f"a memorising model's noisy fit differs by {stats:.4f} (> {tol.stats_abs})")
    return why, {"max_summary_diff": largest, "max_stats_diff": stats}


def differences(result: Result | AnalysisResult, rerun: MethodRerun | AnalysisRerun,
                tol: Tolerance) -> tuple[list[str], dict[str, float]]:
    """(why ``rerun`` is outside ``tol`` of ``result``: empty when within; the largest differences)."""
    if isinstance(result, AnalysisResult) != isinstance(rerun, AnalysisRerun):
        kind = "analysis" if isinstance(result, AnalysisResult) else "method"
        return [f"the record holds a {rerun.kind} re-run for a {kind} result"], {}
    if isinstance(result, AnalysisResult):
        return analysis_differences(result, rerun, tol)
    return method_differences(result, rerun, tol)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_record(folder: Path) -> VerificationRecord | None:
    """The folder's verification record; None when it has none. Raises ValueError on an invalid record."""
    path = Path(folder) / VERIFICATION
    if not path.exists() and not path.is_symlink():
        return None
    try:
        return VerificationRecord.model_validate(read_json(path, MAX_RECORD_BYTES))
    except JSONFileError:
        raise
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{path}: field '{'.'.join(map(str, first['loc']))}': {first['msg']}") from None


def mark(result: Result | AnalysisResult, digest: str, name: str,
         record: VerificationRecord | None) -> tuple[bool | None, str | None]:
    """(the verified mark of a filed file, a note when the record's claim is not what the page shows).

    True: the record re-ran exactly these bytes (``digest``) and the re-run lies within ``STANDARD``;
    False: it re-ran them and the re-run lies outside; None: not re-run (or the record keeps no re-run
    numbers for it, so nothing can be checked)."""
    if record is None:
        return None, None
    mine = [c for c in record.checked if c.result == name and c.sha256 == digest]
    if not mine:
        return None, None
    c = mine[-1]
    if c.rerun is None:  # nothing to check: a claim, or a result verify could not re-run
        note = (f"{VERIFICATION}: {name} is recorded as passed without the re-run's numbers; not shown as "
                "verified (run `memlocbench verify` again)") if c.passed else None
        return None, note
    why, _ = differences(result, c.rerun, STANDARD)
    if c.passed and why:
        return False, (f"{VERIFICATION}: {name} is recorded as passed, but its re-run lies outside the standard "
                       f"tolerance ({'; '.join(why)[:300]}); shown as FAILED")
    return not why, None
