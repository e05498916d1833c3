"""`memlocbench verify`: re-run a sample of a submission's results from their recorded configs and
compare the numbers with the submitted ones.

Validation recomputes every number that follows from others (profile, M-CoG, control scores), but
a file whose measured numbers were edited, with its config hash recomputed, is still consistent;
only a re-run catches it. Each sampled result is re-run through ``pipeline.run`` with its recorded
config, task, model, method and control placement, and passes when the dataset sizes are equal and
the profile and M-CoG agree within ``Tolerance``. The outcome is written atomically to
``<submission>/verification.json``, which the leaderboard reads: a result counts as verified only
while its file still has the sha256 recorded here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from memlocbench.names import path_inside
from memlocbench.store import atomic_write_text

VERIFICATION = "verification.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Tolerance(_Strict):
    """How far a re-run may land from the submitted numbers. Re-runs on the same machine and
    software are bit-identical (tests/test_submission_hardening.py::test_verify_*); across machines,
    thread counts and torch builds, float rounding can change training slightly, so a per-layer
    weight may move by up to ``profile_abs`` and M-CoG by up to ``mcog_abs``."""

    profile_abs: float = Field(0.05, ge=0, description="largest |submitted - re-run| of any layer's weight")
    mcog_abs: float = Field(0.1, ge=0, description="largest |submitted - re-run| of M-CoG")


class VerifiedResult(_Strict):
    result: str = Field(description="file name inside the submission")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the file as verified")
    passed: bool
    submitted_mcog: float | None = None
    rerun_mcog: float | None = None
    max_profile_diff: float | None = None
    mcog_diff: float | None = None
    cached: dict[str, bool] = Field(default_factory=dict, description="stages the re-run took from the store")
    problem: str = ""


class VerificationRecord(_Strict):
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


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_record(folder: Path) -> VerificationRecord | None:
    path = Path(folder) / VERIFICATION
    if not path.is_file():
        return None
    return VerificationRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))


def verified_files(folder: Path, record: VerificationRecord | None) -> dict[str, bool]:
    """File name -> passed, for the verified results whose file is unchanged since."""
    if record is None:
        return {}
    out = {}
    for c in record.checked:
        path = Path(folder) / c.result
        if path.is_file() and file_sha256(path) == c.sha256:
            out[c.result] = c.passed
    return out


def compare(submitted, rerun, tol: Tolerance) -> tuple[bool, str, float, float]:
    """(passed, why not, largest layer difference, M-CoG difference) of two ``Result``s."""
    if submitted.sizes != rerun.sizes:
        return False, (f"the re-run's dataset sizes {rerun.sizes} differ from the submitted {submitted.sizes} "
                       "(another data source?)"), float("nan"), float("nan")
    diff = max(abs(a - b) for a, b in zip(submitted.profile, rerun.profile))
    mdiff = abs(submitted.mcog - rerun.mcog)
    why = []
    if diff > tol.profile_abs:
        why.append(f"a layer's weight differs by {diff:.4f} (> {tol.profile_abs})")
    if mdiff > tol.mcog_abs:
        why.append(f"M-CoG differs by {mdiff:.4f} (> {tol.mcog_abs})")
    return not why, "; ".join(why), diff, mdiff


def verify_submission(folder: Path, plugins, *, sample: int, seed: int = 0, data_dir: Path | None = None,
                      store=None, tolerance: Tolerance | None = None, log=print) -> VerificationRecord:
    """Re-run ``sample`` results of the submission in ``folder`` (chosen with ``seed``) and record
    the comparison in ``folder/verification.json``."""
    from memlocbench import __version__
    from memlocbench.errors import InvalidInputError
    from memlocbench.leaderboard.page import result_files
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.config.profiles import RunConfig
    from memlocbench.store import ArtefactStore
    from memlocbench.leaderboard.submission import validate_file

    folder = Path(folder)
    files = result_files(folder)
    if not files:
        raise InvalidInputError(f"{folder} holds no result files; give a folder under leaderboard/submissions/")
    if sample < 1:
        raise InvalidInputError(f"--sample {sample}: re-run at least 1 result")
    tol = tolerance or Tolerance()
    store = store if store is not None else ArtefactStore()
    picked = sorted(random.Random(seed).sample(files, min(sample, len(files))))
    checked = []
    for i, path in enumerate(picked, 1):
        digest = file_sha256(path)
        check = validate_file(path, plugins)
        if check.problems or check.result is None:
            checked.append(VerifiedResult(result=path.name, sha256=digest, passed=False,
                                          problem="; ".join(check.problems)[:1000] or "not a result file"))
            continue
        r = check.result
        log(f"[{i}/{len(picked)}] re-running {path.name}")
        with tempfile.TemporaryDirectory(prefix="memlocbench-verify-") as out_dir:
            req = RunRequest(task=r.task.name, model=r.model.name, methods=[r.method.name],
                             config=RunConfig.model_validate(r.config), data_dir=data_dir, out_dir=Path(out_dir),
                             store=store, progress=False, control=r.control is not None,
                             control_track=r.control.track if r.control else "pair",
                             placements=[tuple(r.control.placement)]
                             if r.control is not None and r.control.track != "neurons" else None)
            rerun = run(plugins, req, log=log).results[0]
        passed, why, diff, mdiff = compare(r, rerun, tol)
        log(f"  M-CoG submitted {r.mcog:.4f}, re-run {rerun.mcog:.4f}; largest layer difference {diff:.4f}: "
            + ("within tolerance" if passed else f"FAILED ({why})"))
        checked.append(VerifiedResult(result=path.name, sha256=digest, passed=passed, submitted_mcog=r.mcog,
                                      rerun_mcog=rerun.mcog, max_profile_diff=None if diff != diff else diff,
                                      mcog_diff=None if mdiff != mdiff else mdiff, cached=rerun.cached,
                                      problem=why))
    record = VerificationRecord(memlocbench_version=__version__,
                                verified_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                                tolerance=tol, sample_seed=seed, results_in_submission=len(files), checked=checked)
    atomic_write_text(path_inside(folder, VERIFICATION), record.model_dump_json(indent=2) + "\n")
    return record
