"""Checking result files and filing them as a leaderboard submission.

``validate_file`` reads a result JSON (never executing or unpickling anything) and applies every
check the leaderboard relies on: the schema and its version (``results.Result``: names, finite
numbers, ranges, and every derived number recomputed), JSON no deeper than ``MAX_JSON_DEPTH`` and
without NaN or infinity anywhere, and, against the installed plugins, the task/model/method
versions, the providing package of every built-in name and the model's layer count. A run summary
(``*.summary.json``) is checked as a summary. Any failure, even an unexpected one, becomes a
problem reported for that file. ``submit`` files a set of results under
``leaderboard/submissions/<slug>/`` only if every one of them passes, and never leaves a
half-written submission behind.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from memlocbench.results.analysis_result import check_analysis_record, is_analysis_record, recheck_problems
from memlocbench.errors import InvalidInputError, UnknownNameError
from memlocbench.leaderboard.page import SUBMISSION_META, SubmissionMeta, file_slug, read_meta
from memlocbench.names import path_inside
from memlocbench.results.run_result import SCHEMA_VERSION, Result, RunSummary, field_path
from memlocbench.store import atomic_write_text
from memlocbench.leaderboard.verification import VERIFICATION

MAX_RESULT_BYTES = 20_000_000
MAX_JSON_DEPTH = 32
MAX_TEXT = 500  # characters of a --not-run reason
_PATH_LIKE = re.compile(r"[/\\\x00-\x1f\x7f]|\.\.")

# Upgrades from older schema versions, keyed by the version they read: each returns the next version's
# dict. Version 1 is the first, so there is nothing to upgrade yet; older or newer numbers are rejected.
UPGRADERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class SubmissionError(InvalidInputError):
    """One or more result files failed validation, or the submission could not be filed."""


@dataclass
class Checked:
    path: Path
    result: Result | None = None
    summary: RunSummary | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _field(loc: tuple) -> str:
    return field_path(loc) or "(whole record)"


def _schema_problems(path: Path, data: Any) -> tuple[dict | None, list[str]]:
    if not isinstance(data, dict):
        return None, [f"{path}: expected a JSON object (one result), got {type(data).__name__}"]
    version = data.get("schema_version")
    if version is None:
        return None, [f"{path}: field 'schema_version' is missing; expected {SCHEMA_VERSION}"]
    if not isinstance(version, int) or isinstance(version, bool):
        return None, [f"{path}: field 'schema_version' is {version!r}; expected the integer {SCHEMA_VERSION}"]
    while version in UPGRADERS:
        data = UPGRADERS[version](data)
        version = data["schema_version"]
    if version != SCHEMA_VERSION:
        readable = sorted({SCHEMA_VERSION, *UPGRADERS})
        return None, [f"{path}: field 'schema_version' is {version}, which this memlocbench cannot read "
                      f"(it reads {', '.join(map(str, readable))}); re-run with a matching memlocbench version"]
    return data, []


def _plugin_problems(path: Path, result: Result, plugins,
                     kinds: tuple[str, ...] = ("task", "model", "method")) -> tuple[list[str], list[str]]:
    """A task/model/method that is installed here must match the installed plugin: its version and
    its providing package (a plugin cannot claim another package's name), and for the model the
    declared layer count. One that is not installed here (a third-party plugin) must be declared
    with its package and package version."""
    problems, notes = [], []
    for kind in kinds:
        ref = getattr(result, kind)
        reg = plugins.registry(kind)
        if ref.name in reg.items:
            obj = reg.items[ref.name]
            info = obj.metadata if kind == "task" else obj.info
            provider = reg.provider(ref.name).package
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
        where = _field(e["loc"])
        if e["type"] == "string_pattern_mismatch" and "a-z0-9" in str(e.get("ctx", {}).get("pattern", "")):
            msg = "must be a name of lower-case letters, digits, '_', '-' and single dots, starting with a letter or digit"
        detail = "" if e["type"] in ("missing", "value_error") else f" (got {str(e.get('input'))[:60]!r})"
        out.append(f"{path}: field '{where}': {msg}{detail}")
    return out


def is_summary(path: Path, data: Any = None) -> bool:
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


def _validate_file(path: Path, plugins) -> Checked:
    out = Checked(path)
    if path.name in (SUBMISSION_META, VERIFICATION):
        out.notes.append(f"{path}: a submission's metadata, not a result; skipped")
        return out
    try:
        size = path.stat().st_size
    except OSError as exc:
        out.problems.append(f"{path}: cannot read ({exc.strerror})")
        return out
    if not path.is_file():
        out.problems.append(f"{path}: not a file")
        return out
    if size > MAX_RESULT_BYTES:
        out.problems.append(f"{path}: {size} bytes; a result file may have at most {MAX_RESULT_BYTES}")
        return out
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        out.problems.append(f"{path}: not UTF-8 text; expected a JSON result file")
        return out
    except json.JSONDecodeError as exc:
        out.problems.append(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")
        return out
    except RecursionError:
        out.problems.append(f"{path}: JSON nested too deeply; a result is at most {MAX_JSON_DEPTH} levels deep")
        return out
    problem = _json_problem(data)
    if problem:
        out.problems.append(f"{path}: {problem}")
        return out
    if is_analysis_record(data):  # an analysis result: its own schema and checks
        out.result, out.problems = check_analysis_record(path, data)
        if out.result is not None and plugins is not None:
            problems, out.notes = _plugin_problems(path, out.result, plugins, ("task", "model", "analysis"))
            out.problems += problems or recheck_problems(path, out.result, plugins)
        return out
    data, problems = _schema_problems(path, data)
    if problems:
        out.problems += problems
        return out
    if is_summary(path, data):
        try:
            out.summary = RunSummary.model_validate(data)
        except ValidationError as exc:
            out.problems += _pydantic_problems(path, exc)
            return out
        out.notes.append(f"{path}: a run summary (checked as one); summaries are not filed, "
                         "the leaderboard recomputes them from the results")
        return out
    try:
        out.result = Result.model_validate(data)
    except ValidationError as exc:
        out.problems += _pydantic_problems(path, exc)
        return out
    if plugins is not None:
        problems, notes = _plugin_problems(path, out.result, plugins)
        out.problems += problems
        out.notes += notes
    return out


def validate_files(paths: list[Path], plugins=None) -> list[Checked]:
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


def slugify(name: str) -> str:
    """A folder name from a submission name: lower-case letters, digits and single hyphens only,
    so it can never leave ``leaderboard/submissions/``."""
    slug = file_slug(name)[:64].strip("-")
    if not re.search(r"[a-z0-9]", name.lower()):
        raise SubmissionError(f"--name {name!r} has no letters or digits; "
                              "give a name such as 'My lab, probing v2'")
    return slug


def check_writable(*folders: Path) -> None:
    """Each folder (or, where it does not exist yet, its nearest existing parent) is writable, so a
    submission is not filed and then left without its page or figures."""
    import os

    for folder in folders:
        existing = Path(folder).absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise SubmissionError(f"cannot write to {folder} ({existing} is not a writable folder); nothing was written")


def _not_run_problems(not_run: dict[str, str], plugins) -> None:
    """``--not-run`` names registered tasks only, each with a short reason."""
    for task, why in not_run.items():
        if plugins is not None and task not in plugins.tasks.items:
            raise UnknownNameError("task", task, plugins.tasks.names())
        if len(why) > MAX_TEXT or any(ord(ch) < 32 for ch in why):
            raise SubmissionError(f"--not-run {task}: the reason must be one line of at most {MAX_TEXT} characters")


def submit(paths: list[Path], name: str, submissions_dir: Path, *, description: str = "",
           not_run: dict[str, str] | None = None, force: bool = False, plugins=None) -> tuple[Path, list[Checked]]:
    """Validate ``paths`` and, only if all pass, file them as ``submissions_dir/<slug>/``.
    Run summaries among ``paths`` are checked and left out (noted)."""
    if not paths:
        raise SubmissionError("no result files given; pass one or more RESULT.json files")
    if not name.strip():
        raise SubmissionError("--name is empty; give the team or method name to show on the leaderboard")
    if _PATH_LIKE.search(name) or len(name) > 100:
        raise SubmissionError(f"--name {name!r} is not allowed: it must be at most 100 characters without '/', "
                              "'\\', '..' or control characters (markdown characters are fine: they are escaped), "
                              "e.g. 'Lab X (probing v2)'")
    if len(description) > 2000:
        raise SubmissionError("--description is longer than 2000 characters")
    not_run = dict(not_run or {})
    _not_run_problems(not_run, plugins)
    slug = slugify(name)
    submissions_dir = Path(submissions_dir)
    dest = path_inside(submissions_dir, slug)
    checked = validate_files(paths, plugins)
    problems = [p for c in checked for p in c.problems]
    if problems:
        raise SubmissionError(f"{len(problems)} problem(s); nothing was written:\n  " + "\n  ".join(problems))
    results = [c for c in checked if c.result is not None]
    if not results:
        raise SubmissionError("no result files among the files given (only run summaries); nothing was written")
    if dest.exists():
        existing = read_meta(dest).name
        if not force:
            raise SubmissionError(f"submission {slug!r} ({existing!r}) already exists at {dest}; pass --force to "
                                  "replace it, or choose another --name")
        if existing != name:
            raise SubmissionError(f"--force replaces only a submission of the same name: {dest} holds {existing!r}, "
                                  f"and {name!r} has the same folder name {slug!r}; choose another --name")
    submissions_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{slug}.", dir=submissions_dir))
    try:
        for c in results:
            atomic_write_text(path_inside(staging, c.result.filename()), c.result.model_dump_json(indent=2) + "\n")
        meta = SubmissionMeta(name=name, slug=slug, description=description, not_run=not_run,
                              results=sorted(c.result.filename() for c in results))
        atomic_write_text(staging / SUBMISSION_META, meta.model_dump_json(indent=2) + "\n")
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{slug}.old.", dir=submissions_dir))
            dest.rename(old / slug)
        staging.rename(dest)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest, checked
