"""`memlocbench verify`: re-run a sample of a submission's results from their recorded configs and
compare the numbers with the submitted ones.

Validation recomputes every number that follows from others (profile, M-CoG, control scores), but
a file whose measured numbers were edited, with its config hash recomputed, is still consistent;
only a re-run catches it. Each sampled result is re-run through ``run.method_run.run`` with its recorded
config, task, model, method and control placement, and passes when the dataset sizes are equal and
the profile and M-CoG agree within ``Tolerance``. The outcome is written atomically to
``<submission>/verification.json`` (``verification_record``), which the leaderboard reads: a result
counts as verified only while its file still has the sha256 recorded there.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

from memlocbench import __version__
from memlocbench.config.profiles import RunConfig
from memlocbench.errors import InvalidInputError
from memlocbench.leaderboard.collect import result_files
from memlocbench.leaderboard.validation import validate_file
from memlocbench.leaderboard.verification_record import (VERIFICATION, Tolerance, VerificationRecord, VerifiedResult,
                                                         file_sha256)
from memlocbench.names import path_inside
from memlocbench.results.run_result import Result
from memlocbench.store import ArtefactStore, atomic_write_text

__all__ = ["Tolerance", "VerificationRecord", "VerifiedResult", "compare", "verify_submission"]


def compare(submitted, rerun, tol: Tolerance) -> tuple[bool, str, float, float]:
    """(passed, why not, largest layer difference, M-CoG difference) of two ``Result``s."""
    if submitted.sizes != rerun.sizes:
        return False, (f"the re-run's dataset sizes {rerun.sizes} differ from the submitted {submitted.sizes} "
                       "(another data source?)"), float("nan"), float("nan")
    diff = max(abs(a - b) for a, b in zip(submitted.layer_weights, rerun.layer_weights))
    mdiff = abs(submitted.mcog - rerun.mcog)
    why = []
    if diff > tol.profile_abs:
        why.append(f"a layer's weight differs by {diff:.4f} (> {tol.profile_abs})")
    if mdiff > tol.mcog_abs:
        why.append(f"M-CoG differs by {mdiff:.4f} (> {tol.mcog_abs})")
    return not why, "; ".join(why), diff, mdiff


def _rerun(r: Result, plugins, data_dir: Path | None, store: ArtefactStore, log) -> Result:
    """The result re-run from its recorded config, task, model, method and control placement."""
    from memlocbench.run.method_run import RunRequest, run  # (lazy: the pipeline imports torch)

    with tempfile.TemporaryDirectory(prefix="memlocbench-verify-") as out_dir:
        req = RunRequest(task=r.task.name, model=r.model.name, methods=[r.method.name],
                         config=RunConfig.model_validate(r.config), data_dir=data_dir, out_dir=Path(out_dir),
                         store=store, progress=False, control=r.control is not None,
                         control_track=r.control.track if r.control else "pair",
                         placements=[tuple(r.control.placement)]
                         if r.control is not None and r.control.track != "planted" else None)
        return run(plugins, req, log=log).results[0]


def _verify_one(path: Path, plugins, data_dir, store, tol: Tolerance, log, counter: str) -> VerifiedResult:
    digest = file_sha256(path)
    check = validate_file(path, plugins)
    if check.problems or check.result is None:
        return VerifiedResult(result=path.name, sha256=digest, passed=False,
                              problem="; ".join(check.problems)[:1000] or "not a result file")
    r = check.result
    log(f"[{counter}] re-running {path.name}")
    rerun = _rerun(r, plugins, data_dir, store, log)
    passed, why, diff, mdiff = compare(r, rerun, tol)
    log(f"  M-CoG submitted {r.mcog:.4f}, re-run {rerun.mcog:.4f}; largest layer difference {diff:.4f}: "
        + ("within tolerance" if passed else f"FAILED ({why})"))
    return VerifiedResult(result=path.name, sha256=digest, passed=passed, submitted_mcog=r.mcog,
                          rerun_mcog=rerun.mcog, max_profile_diff=None if diff != diff else diff,
                          mcog_diff=None if mdiff != mdiff else mdiff, cached=rerun.cached, problem=why)


def verify_submission(folder: Path, plugins, *, sample: int, seed: int = 0, data_dir: Path | None = None,
                      store=None, tolerance: Tolerance | None = None, log=print) -> VerificationRecord:
    """Re-run ``sample`` results of the submission in ``folder`` (chosen with ``seed``) and record
    the comparison in ``folder/verification.json``."""
    folder = Path(folder)
    files = result_files(folder)
    if not files:
        raise InvalidInputError(f"{folder} holds no result files; give a folder under leaderboard/submissions/")
    if sample < 1:
        raise InvalidInputError(f"--sample {sample}: re-run at least 1 result")
    tol = tolerance or Tolerance()
    store = store if store is not None else ArtefactStore()
    picked = sorted(random.Random(seed).sample(files, min(sample, len(files))))
    checked = [_verify_one(path, plugins, data_dir, store, tol, log, f"{i}/{len(picked)}")
               for i, path in enumerate(picked, 1)]
    record = VerificationRecord(memlocbench_version=__version__,
                                verified_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                tolerance=tol, sample_seed=seed, results_in_submission=len(files), checked=checked)
    atomic_write_text(path_inside(folder, VERIFICATION), record.model_dump_json(indent=2) + "\n")
    return record
