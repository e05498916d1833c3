"""`memlocbench verify`: re-run a sample of a submission's results from their recorded configs and
compare the numbers with the submitted ones.

Validation recomputes every number that follows from others (profile, M-CoG, control scores), but
a file whose measured numbers were edited, with its config hash recomputed, is still consistent;
only a re-run catches it. Every kind of result the sample can draw is re-run:

- a method result (standard, control placement or planted neurons) through ``run.method_run.run`` with its
  recorded config, task, model, method and control placement: the dataset sizes must be equal, and the
  layer weights, M-CoG, the memorisation statistics of both models (noisy fit, accuracies), the guard's
  verdict and, on the neuron track, recall@k must agree within ``Tolerance``;
- an analysis result through ``run.analysis_run.compute_analysis`` with its recorded config (its
  parameters and every requested model seed): the dataset sizes, the model seeds analysed and each
  seed's guard verdict must be equal, and every summary number and noisy fit must agree within ``Tolerance``.

A result that cannot be re-run here (its plugin is not installed, its data is missing) is recorded as
failed with the reason, naming the package, and the others are still re-run. The outcome, with each
re-run's own numbers, is written atomically to ``<submission>/verification.json``
(``verification_record``); the page checks every mark again from those numbers and the file's sha256.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path

from memlocbench import __version__
from memlocbench.config.profiles import RunConfig
from memlocbench.errors import InvalidInputError, MemlocbenchError
from memlocbench.leaderboard.filing import binding_problem, filed_paths, read_filing_record
from memlocbench.leaderboard.validation import validate_file
from memlocbench.leaderboard.verification_record import (VERIFICATION, AnalysisRerun, MethodRerun, Tolerance,
                                                         VerificationRecord, VerifiedResult, differences, file_sha256)
from memlocbench.names import path_inside
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import Result
from memlocbench.store import ArtefactStore, atomic_write_text

__all__ = ["Tolerance", "VerificationRecord", "VerifiedResult", "compare", "verify_submission"]


def compare(submitted, rerun, tol: Tolerance) -> tuple[bool, str, float, float]:
    """(passed, why not, largest layer difference, M-CoG difference) of two method ``Result``s."""
    why, diffs = differences(submitted, MethodRerun.of(rerun), tol)
    return not why, "; ".join(why), diffs.get("max_profile_diff", float("nan")), diffs.get("mcog_diff", float("nan"))


def _rerun(r: Result, plugins, data_dir: Path | None, store: ArtefactStore, log) -> Result:
    """The method result re-run from its recorded config, task, model, method and control placement."""
    from memlocbench.run.method_run import RunRequest, run  # (lazy: the pipeline imports torch)

    with tempfile.TemporaryDirectory(prefix="memlocbench-verify-") as out_dir:
        req = RunRequest(task=r.task.name, model=r.model.name, methods=[r.method.name],
                         config=RunConfig.model_validate(r.config), data_dir=data_dir, out_dir=Path(out_dir),
                         store=store, progress=False, control=r.control is not None,
                         control_track=r.control.track if r.control else "pair",
                         placements=[tuple(r.control.placement)]
                         if r.control is not None and r.control.track not in ("planted", "planted-routed") else None)
        return run(plugins, req, log=log).results[0]


def _rerun_analysis(r: AnalysisResult, plugins, data_dir: Path | None, store: ArtefactStore,
                    log) -> tuple[AnalysisRerun, dict[str, bool]]:
    """The analysis result re-run from its recorded config (parameters, every requested model seed):
    its numbers and which stages came from the store."""
    from memlocbench.run.analysis_run import AnalysisRequest, compute_analysis  # (lazy: it imports torch)

    config = RunConfig.model_validate(r.config)
    if isinstance(r.params, dict) and r.params:  # the parameters it ran with, not today's profile's
        config = config.model_copy(update={"analyses": {**config.analyses, r.analysis.name: dict(r.params)}})
    with tempfile.TemporaryDirectory(prefix="memlocbench-verify-") as out_dir:
        req = AnalysisRequest(analysis=r.analysis.name, task=r.task.name, model=r.model.name, config=config,
                              seeds=list(config.seeds), data_dir=data_dir, out_dir=Path(out_dir), store=store,
                              progress=False)
        outcome = compute_analysis(plugins, req, log=log)
    numbers = AnalysisRerun(sizes=outcome.prep.dataset.sizes(), seeds=list(outcome.seeds),
                            summary=dict(outcome.output.summary),
                            memorised={str(s): g.memorised for s, g in outcome.guards.items()},
                            noisy_fit={str(s): g.noisy_fit for s, g in outcome.guards.items()})
    return numbers, {"analysis": outcome.cached}


def _rerun_numbers(r, plugins, data_dir, store, log) -> tuple[MethodRerun | AnalysisRerun, dict[str, bool]]:
    if isinstance(r, AnalysisResult):
        return _rerun_analysis(r, plugins, data_dir, store, log)
    rerun = _rerun(r, plugins, data_dir, store, log)
    return MethodRerun.of(rerun), dict(rerun.cached)


def _describe(r, rerun, diffs: dict[str, float], passed: bool, why: list[str]) -> str:
    if isinstance(rerun, AnalysisRerun):
        head = (f"analysis {r.analysis.name}: {len(rerun.summary)} summary number(s), largest difference "
                f"{diffs.get('max_summary_diff', float('nan')):.4f}")
    else:
        head = (f"M-CoG submitted {r.mcog:.4f}, re-run {rerun.mcog:.4f}; largest layer difference "
                f"{diffs.get('max_profile_diff', float('nan')):.4f}, statistics {diffs.get('max_stats_diff', 0.0):.4f}")
    return f"  {head}: " + ("within tolerance" if passed else f"FAILED ({'; '.join(why)})")


def _failed(path: Path, digest: str, kind: str | None, problem: str) -> VerifiedResult:
    return VerifiedResult(result=path.name, sha256=digest, passed=False, kind=kind, problem=problem[:1000])


def _verify_one(path: Path, plugins, data_dir, store, tol: Tolerance, log, counter: str) -> VerifiedResult:
    check = validate_file(path, plugins)
    if check.problems or check.result is None:
        digest = file_sha256(path) if path.is_file() else "0" * 64
        return _failed(path, digest, None, "; ".join(check.problems) or "not a result file")
    digest = file_sha256(path)
    r = check.result
    kind = "analysis" if isinstance(r, AnalysisResult) else "method"
    log(f"[{counter}] re-running {path.name}")
    try:
        rerun, cached = _rerun_numbers(r, plugins, data_dir, store, log)
    except MemlocbenchError as exc:  # this result cannot be re-run here; the others still are
        log(f"  could not re-run it: {exc}")
        return _failed(path, digest, kind, f"could not re-run it: {exc}")
    why, diffs = differences(r, rerun, tol)
    log(_describe(r, rerun, diffs, not why, why))
    return VerifiedResult(result=path.name, sha256=digest, passed=not why, kind=kind, rerun=rerun,
                          submitted_mcog=getattr(r, "mcog", None), rerun_mcog=getattr(rerun, "mcog", None),
                          max_profile_diff=diffs.get("max_profile_diff"), mcog_diff=diffs.get("mcog_diff"),
                          max_stats_diff=diffs.get("max_stats_diff"), max_summary_diff=diffs.get("max_summary_diff"),
                          cached=cached, problem="; ".join(why)[:1000])


def submission_files(folder: Path) -> list[Path]:
    """The result files of a submission folder, as its filing record lists them; InvalidInputError when the
    folder is not a filed submission."""
    folder = Path(folder)
    meta = read_filing_record(folder)
    unbound = binding_problem(folder, meta)
    if unbound:
        raise InvalidInputError(unbound)
    files, _ = filed_paths(folder, meta)
    if not files:
        raise InvalidInputError(f"{folder} holds no result files; give a folder under leaderboard/submissions/")
    return sorted(files)


def verify_submission(folder: Path, plugins, *, sample: int, seed: int = 0, data_dir: Path | None = None,
                      store=None, tolerance: Tolerance | None = None, log=print) -> VerificationRecord:
    """Re-run ``sample`` results of the submission in ``folder`` (chosen with ``seed``) and record
    the comparison in ``folder/verification.json``."""
    folder = Path(folder)
    if sample < 1:
        raise InvalidInputError(f"--sample {sample}: re-run at least 1 result")
    files = submission_files(folder)
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
