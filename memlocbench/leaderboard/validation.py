"""Checking result files before they are filed.

``validate_file`` reads a result JSON (``jsonfile.read_json``: a regular file of at most
``MAX_RESULT_BYTES``, no repeated key, no deeper than ``MAX_JSON_DEPTH``, no NaN or infinity, no overlong
string; never executing or unpickling anything) and applies every check the leaderboard relies on: the
schema and its version (``results.Result``: names, finite numbers, ranges, and every derived number
recomputed, the memorisation guard's reason included), and, against the installed plugins, the
task/model/method/analysis versions, the providing package of every name and the model's layer count.
A result whose task, model, method or analysis is not installed here is rejected: it could be neither
checked against its plugin nor re-run by `memlocbench verify`. A run summary (``*.summary.json``) is
checked as a summary. Any failure, even an unexpected one, becomes a problem reported for that file.
The leaderboard's rebuild (``collect``) applies these same checks to every filed file.
"""

from __future__ import annotations

from memlocbench.errors import plural
from memlocbench.registry import normalise_package

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from pydantic import ValidationError

from memlocbench.config.profiles import GuardConfig
from memlocbench.leaderboard.filing import SUBMISSION_META, VERIFICATION
from memlocbench.leaderboard.jsonfile import MAX_JSON_DEPTH, JSONFileError, read_json
from memlocbench.results.analysis_result import check_analysis_record, is_analysis_record, recheck_problems
from memlocbench.results.guard import MemorisationGuard, memorisation_guard
from memlocbench.results.run_result import SCHEMA_VERSION, Result, RunSummary, field_path
from memlocbench.results.upgrade import RESULT_STEPS, SUMMARY_STEPS

MAX_RESULT_BYTES = 20_000_000
__all__ = ["Checked", "MAX_JSON_DEPTH", "MAX_RESULT_BYTES", "is_summary", "plugin_problems", "validate_file",
           "validate_files"]


def _upgraders(data: dict[str, Any]) -> dict[int, Callable[[dict[str, Any]], dict[str, Any]]]:
    """The upgrade steps of the file's kind (``results.upgrade``), keyed by the version each reads."""
    return SUMMARY_STEPS if data.get("kind") == "run-summary" else RESULT_STEPS


@dataclass
class Checked:
    """The outcome for one file: the result or run summary read, the problems, and notes."""

    path: Path
    result: Result | None = None
    summary: RunSummary | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _schema_problems(path: Path, data: Any) -> tuple[dict | None, list[str]]:
    if not isinstance(data, dict):
        return None, [f"{path}: expected a JSON object (one result), got {type(data).__name__}"]
    version = data.get("schema_version")
    if version is None:
        return None, [f"{path}: field 'schema_version' is missing; expected {SCHEMA_VERSION}"]
    if not isinstance(version, int) or isinstance(version, bool):
        return None, [f"{path}: field 'schema_version' is {version!r}; expected the integer {SCHEMA_VERSION}"]
    steps = _upgraders(data)
    while version in steps:
        data = steps[version](data)
        version = data["schema_version"]
    if version != SCHEMA_VERSION:
        readable = sorted({SCHEMA_VERSION, *steps})
        return None, [f"{path}: field 'schema_version' is {version}, which this memlocbench cannot read "
                      f"(it reads {', '.join(map(str, readable))}); re-run with a matching memlocbench version"]
    return data, []


def _installed_problems(path: Path, result, kind: str, reg) -> list[str]:
    """A name installed here must match the installed plugin: provider, version and layer count."""
    ref = getattr(result, kind)
    obj = reg.items[ref.name]
    info = obj.metadata if kind == "task" else obj.info
    provider = reg.provider(ref.name).package
    problems = []
    if normalise_package(ref.package) != normalise_package(provider):  # PEP 503: My_Pkg is my-pkg
        problems.append(f"{path}: field '{kind}.package' is {ref.package!r}, but {kind} {ref.name!r} is "
                        f"provided by {provider!r} here; a result cannot claim another package's {kind}")
    if ref.version != info.version and ref.version not in getattr(info, "recheckable_versions", ()):
        problems.append(f"{path}: field '{kind}.version' is {ref.version}, but the installed {kind} "
                        f"{ref.name!r} is version {info.version}; re-run with the current plugin")
    layers = getattr(info, "num_layers", None) if kind == "model" else None
    if layers is not None and result.num_layers != layers:
        problems.append(f"{path}: field 'num_layers' is {result.num_layers}, but model {ref.name!r} has "
                        f"{layers} layers")
    return problems


def plugin_problems(path: Path, result, plugins,
                    kinds: tuple[str, ...] = ("task", "model", "method")) -> tuple[list[str], list[str]]:
    """(problems, notes): a task/model/method/analysis must be installed here and match the installed
    plugin: its version and its providing package (a plugin cannot claim another package's name), and for
    the model the declared layer count. One that is not installed here is a problem naming its package:
    nothing about the result could be checked against its plugin or re-run."""
    problems, notes = [], []
    for kind in kinds:
        ref = getattr(result, kind)
        reg = plugins.registry(kind)
        if ref.name in reg.items:
            problems += _installed_problems(path, result, kind, reg)
        elif normalise_package(ref.package) in {normalise_package(prov.package) for prov in reg.providers.values()}:
            problems.append(f"{path}: field '{kind}.name' is {ref.name!r}, but package {ref.package!r} (installed "
                            f"here) provides no such {kind}; its {plural(kind)}: {', '.join(reg.names())}")
        else:
            problems.append(f"{path}: {kind} {ref.name!r} comes from package {ref.package!r} "
                            f"{ref.package_version}, which is not installed here: the result can be neither checked "
                            f"against its {kind} nor re-run by `memlocbench verify`, so it is not accepted; install "
                            f"it (pip install '{ref.package}=={ref.package_version}') and check again")
    return problems, notes


def _pydantic_problems(path: Path, exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        where = field_path(e["loc"]) or "(whole record)"
        if e["type"] == "string_pattern_mismatch" and "a-z0-9" in str(e.get("ctx", {}).get("pattern", "")):
            msg = "must be a name of lower-case letters, digits, '_', '-' and single dots, starting with a letter or digit"
        detail = "" if e["type"] in ("missing", "value_error") else f" (got {str(e.get('input'))[:60]!r})"
        out.append(f"{path}: field '{where}': {msg}{detail}")
    return out


def is_summary(path: Path, data: Any = None) -> bool:
    """Whether a file is a run summary (by its name, or its ``kind``)."""
    return Path(path).name.endswith(".summary.json") or (isinstance(data, dict) and data.get("kind") == "run-summary")


def validate_file(path: Path, plugins=None) -> Checked:
    """Every check on one result file; ``problems`` lists each failure with the file and the field.
    Never raises: an unexpected failure is reported as a problem of this file."""
    path = Path(path)
    try:
        return _validate_file(path, plugins)
    except Exception as exc:  # noqa: BLE001 - one bad file must not hide the report on the others
        out = Checked(path)
        out.problems.append(f"{path}: could not be checked ({type(exc).__name__}: {str(exc)[:200]}); "
                            "expected a result file written by `memlocbench run`")
        return out


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(the parsed file, None) or (None, what is wrong with it): kind of file, size, encoding, syntax,
    repeated keys, depth, numbers, string lengths."""
    try:
        return read_json(path, MAX_RESULT_BYTES), None
    except JSONFileError as exc:
        return None, str(exc)


def expected_reason(g: MemorisationGuard) -> tuple[bool, str | None]:
    """(memorised, reason) that a guard's own numbers and thresholds give (``results.guard``'s rule)."""
    stats = {"memorising": SimpleNamespace(noisy_fit_perturbed=g.noisy_fit, epochs_trained=g.epochs_trained,
                                           epochs=[]),
             "clean": SimpleNamespace(noisy_fit_perturbed=g.clean_twin_fit)}
    derived = memorisation_guard(stats, GuardConfig(min_noisy_fit=g.min_noisy_fit,
                                                    max_clean_twin_fit=g.max_clean_twin_fit))
    return derived.memorised, derived.reason


def guard_problems(path: Path, where: str, g: MemorisationGuard) -> list[str]:
    """A stated guard's verdict and reason must be what its numbers give (the page shows the reason)."""
    memorised, reason = expected_reason(g)
    if g.memorised != memorised or g.reason != reason:
        return [f"{path}: field '{where}': memorised={g.memorised}, reason {str(g.reason)[:80]!r}; its noisy fit, "
                f"clean twin fit and thresholds give memorised={memorised}, reason {reason!r}"]
    return []


def _check_analysis(out: Checked, data: dict, plugins) -> Checked:
    out.result, out.problems = check_analysis_record(out.path, data)
    if out.result is not None:
        out.problems += [p for seed, g in sorted(out.result.memorisation_guard.items())
                         for p in guard_problems(out.path, f"memorisation_guard.{seed}", g)]
    if out.result is not None and not out.problems and plugins is not None:
        problems, out.notes = plugin_problems(out.path, out.result, plugins, ("task", "model", "analysis"))
        out.problems += problems or recheck_problems(out.path, out.result, plugins)
    return out


def _check_summary(out: Checked, data: dict) -> Checked:
    try:
        out.summary = RunSummary.model_validate(data)
    except ValidationError as exc:
        out.problems += _pydantic_problems(out.path, exc)
        return out
    out.notes.append(f"{out.path}: a run summary (checked as one); summaries are not filed, "
                     "the leaderboard recomputes them from the results")
    return out


def _check_result(out: Checked, data: dict, plugins) -> Checked:
    try:
        out.result = Result.model_validate(data)
    except ValidationError as exc:
        out.problems += _pydantic_problems(out.path, exc)
        return out
    out.problems += guard_problems(out.path, "memorisation_guard", out.result.memorisation_guard)
    if plugins is not None:
        problems, notes = plugin_problems(out.path, out.result, plugins)
        out.problems += problems
        out.notes += notes
    return out


def _validate_file(path: Path, plugins) -> Checked:
    out = Checked(path)
    if path.name in (SUBMISSION_META, VERIFICATION):
        out.notes.append(f"{path}: a submission's metadata, not a result; skipped")
        return out
    data, problem = _read_json(path)
    if problem:
        out.problems.append(problem)
        return out
    if is_analysis_record(data):  # an analysis result: its own schema and checks
        return _check_analysis(out, data, plugins)
    data, problems = _schema_problems(path, data)
    if problems:
        out.problems += problems
        return out
    return _check_summary(out, data) if is_summary(path, data) else _check_result(out, data, plugins)


def validate_files(paths: list[Path], plugins=None) -> list[Checked]:
    """``validate_file`` on each, plus: no two results of the same task, model, method, setup and config."""
    checked = [validate_file(p, plugins) for p in paths]
    seen: dict[str, Path] = {}
    for c in checked:
        if c.result is None:
            continue
        name = c.result.filename()
        if name in seen:
            c.problems.append(f"{c.path}: the same task, model, method, setup and config as {seen[name]}")
        seen.setdefault(name, c.path)
    return checked
