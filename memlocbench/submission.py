"""Checking result files and filing them as a leaderboard submission.

``validate_file`` reads a result JSON (never executing or unpickling anything) and applies every
check the leaderboard relies on: the schema and its version, the config hash, one profile entry per
layer summing to 1, M-CoG following from the profile, and task/model/method versions that are either
those of the installed plugins or declared with their package. ``submit`` files a set of results
under ``leaderboard/submissions/<slug>/`` only if every one of them passes, and never leaves a
half-written submission behind.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from memlocbench.errors import InvalidInputError
from memlocbench.leaderboard import SUBMISSION_META, SubmissionMeta, file_slug
from memlocbench.results import SCHEMA_VERSION, Result
from memlocbench.store import atomic_write_text

MAX_RESULT_BYTES = 20_000_000
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
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(whole record)"


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


def _plugin_problems(path: Path, result: Result, plugins) -> tuple[list[str], list[str]]:
    """A task/model/method must match the installed plugin's version, or, if it is not installed
    here (a third-party plugin), be declared with its package and package version."""
    problems, notes = [], []
    for kind in ("task", "model", "method"):
        ref = getattr(result, kind)
        reg = plugins.registry(kind)
        if ref.name in reg.items:
            obj = reg.items[ref.name]
            known = obj.metadata.version if kind == "task" else obj.info.version
            if ref.version != known:
                problems.append(f"{path}: field '{kind}.version' is {ref.version}, but the installed {kind} "
                                f"{ref.name!r} is version {known}; re-run with the current plugin")
        elif not ref.package.strip() or not ref.package_version.strip():
            problems.append(f"{path}: {kind} {ref.name!r} is not installed here, so '{kind}.package' and "
                            f"'{kind}.package_version' must name the plugin package that provides it")
        else:
            notes.append(f"{path}: {kind} {ref.name!r} comes from {ref.package} {ref.package_version}, "
                         "which is not installed here")
    return problems, notes


def validate_file(path: Path, plugins=None) -> Checked:
    """Every check on one result file; ``problems`` lists each failure with the file and the field."""
    path = Path(path)
    out = Checked(path)
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
    data, problems = _schema_problems(path, data)
    if problems:
        out.problems += problems
        return out
    try:
        out.result = Result.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors():
            msg = e["msg"].removeprefix("Value error, ")
            where = _field(e["loc"])
            detail = "" if e["type"] in ("missing", "value_error") else f" (got {str(e.get('input'))[:60]!r})"
            out.problems.append(f"{path}: field '{where}': {msg}{detail}")
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


def submit(paths: list[Path], name: str, submissions_dir: Path, *, description: str = "",
           not_run: dict[str, str] | None = None, force: bool = False, plugins=None) -> tuple[Path, list[Checked]]:
    """Validate ``paths`` and, only if all pass, file them as ``submissions_dir/<slug>/``."""
    if not paths:
        raise SubmissionError("no result files given; pass one or more RESULT.json files")
    if not name.strip():
        raise SubmissionError("--name is empty; give the team or method name to show on the leaderboard")
    if _PATH_LIKE.search(name) or len(name) > 100:
        raise SubmissionError(f"--name {name!r} is not allowed: it must be at most 100 characters without '/', "
                              "'\\', '..' or control characters (markdown characters are fine: they are escaped), "
                              "e.g. 'Lab X (probing v2)'")
    slug = slugify(name)
    submissions_dir = Path(submissions_dir)
    dest = submissions_dir / slug
    if dest.resolve().parent != submissions_dir.resolve():  # cannot happen after slugify; checked anyway
        raise SubmissionError(f"submission folder {dest} would lie outside {submissions_dir}")
    checked = validate_files(paths, plugins)
    problems = [p for c in checked for p in c.problems]
    if problems:
        raise SubmissionError(f"{len(problems)} problem(s); nothing was written:\n  " + "\n  ".join(problems))
    if dest.exists() and not force:
        raise SubmissionError(f"submission {slug!r} already exists at {dest}; pass --force to replace it, "
                              "or choose another --name")
    submissions_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{slug}.", dir=submissions_dir))
    try:
        for c in checked:
            atomic_write_text(staging / c.result.filename(), c.result.model_dump_json(indent=2) + "\n")
        meta = SubmissionMeta(name=name, slug=slug, description=description, not_run=dict(not_run or {}),
                              results=sorted(c.result.filename() for c in checked))
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
