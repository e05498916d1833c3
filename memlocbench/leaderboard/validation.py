"""Checking result files before they are filed.

``validate_file`` reads a result JSON (never executing or unpickling anything) and applies every
check the leaderboard relies on: the schema and its version (``results.Result``: names, finite
numbers, ranges, and every derived number recomputed), JSON no deeper than ``MAX_JSON_DEPTH`` and
without NaN or infinity anywhere, and, against the installed plugins, the task/model/method
versions, the providing package of every built-in name and the model's layer count. A run summary
(``*.summary.json``) is checked as a summary. Any failure, even an unexpected one, becomes a
problem reported for that file.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from memlocbench.leaderboard.collect import SUBMISSION_META
from memlocbench.leaderboard.verification_record import VERIFICATION
from memlocbench.results.analysis_result import check_analysis_record, is_analysis_record, recheck_problems
from memlocbench.results.run_result import SCHEMA_VERSION, Result, RunSummary, field_path
from memlocbench.results.upgrade import RESULT_STEPS, SUMMARY_STEPS

MAX_RESULT_BYTES = 20_000_000
MAX_JSON_DEPTH = 32



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
    if ref.package != provider:
        problems.append(f"{path}: field '{kind}.package' is {ref.package!r}, but {kind} {ref.name!r} is "
                        f"provided by {provider!r} here; a result cannot claim another package's {kind}")
    if ref.version != info.version:
        problems.append(f"{path}: field '{kind}.version' is {ref.version}, but the installed {kind} "
                        f"{ref.name!r} is version {info.version}; re-run with the current plugin")
    layers = getattr(info, "num_layers", None) if kind == "model" else None
    if layers is not None and result.num_layers != layers:
        problems.append(f"{path}: field 'num_layers' is {result.num_layers}, but model {ref.name!r} has "
                        f"{layers} layers")
    return problems


def plugin_problems(path: Path, result, plugins,
                    kinds: tuple[str, ...] = ("task", "model", "method")) -> tuple[list[str], list[str]]:
    """(problems, notes): a task/model/method that is installed here must match the installed plugin:
    its version and its providing package (a plugin cannot claim another package's name), and for the
    model the declared layer count. One that is not installed here (a third-party plugin) must be
    declared with its package and package version."""
    problems, notes = [], []
    for kind in kinds:
        ref = getattr(result, kind)
        reg = plugins.registry(kind)
        if ref.name in reg.items:
            problems += _installed_problems(path, result, kind, reg)
        elif ref.package in {prov.package for prov in reg.providers.values()}:
            problems.append(f"{path}: field '{kind}.name' is {ref.name!r}, but package {ref.package!r} (installed "
                            f"here) provides no such {kind}; its {kind}s: {', '.join(reg.names())}")
        else:
            notes.append(f"{path}: {kind} {ref.name!r} comes from {ref.package} {ref.package_version}, "
                         "which is not installed here; its version and layer count cannot be checked")
    return problems, notes


def _json_problem(data: Any) -> str | None:
    """Depth beyond MAX_JSON_DEPTH or a non-finite number anywhere (an iterative walk: no recursion)."""
    stack = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels (at '{where}')"
        if isinstance(value, float) and not math.isfinite(value):
            return f"field '{where or '(whole record)'}' is {value}; every number must be finite"
        if isinstance(value, dict):
            stack += [(v, depth + 1, f"{where}.{k}" if where else str(k)) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, depth + 1, f"{where}.{i}") for i, v in enumerate(value)]
    return None


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
    """(the parsed file, None) or (None, what is wrong with it): size, encoding, syntax, depth, numbers."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return None, f"{path}: cannot read ({exc.strerror})"
    if not path.is_file():
        return None, f"{path}: not a file"
    if size > MAX_RESULT_BYTES:
        return None, f"{path}: {size} bytes; a result file may have at most {MAX_RESULT_BYTES}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, f"{path}: not UTF-8 text; expected a JSON result file"
    except json.JSONDecodeError as exc:
        return None, f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    except RecursionError:
        return None, f"{path}: JSON nested too deeply; a result is at most {MAX_JSON_DEPTH} levels deep"
    problem = _json_problem(data)
    return (None, f"{path}: {problem}") if problem else (data, None)


def _check_analysis(out: Checked, data: dict, plugins) -> Checked:
    out.result, out.problems = check_analysis_record(out.path, data)
    if out.result is not None and plugins is not None:
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
