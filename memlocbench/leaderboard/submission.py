"""Filing result files as a leaderboard submission: ``submit`` files a set of results under
``leaderboard/submissions/<slug>/`` only if every one of them passes ``validation.validate_files``, and
never leaves a half-written submission behind. The folder and its ``submission.json`` (the filing record,
``filing``) are made readable as the umask allows, like any other file the user writes."""

from __future__ import annotations

from memlocbench.names import display_name_problem

import os
import re
import shutil
import tempfile
from pathlib import Path

from pydantic import ValidationError

from memlocbench.errors import InvalidInputError, UnknownNameError
from memlocbench.leaderboard.filing import (MAX_DESCRIPTION, MAX_NAME, MAX_REASON, SUBMISSION_META, FilingError,
                                            SubmissionMeta, read_meta, slugify)
from memlocbench.leaderboard.validation import Checked, validate_file, validate_files
from memlocbench.names import path_inside
from memlocbench.store import atomic_write_text

__all__ = ["SubmissionError", "Checked", "validate_file", "validate_files", "slugify", "check_writable", "submit"]

MAX_TEXT = MAX_REASON  # characters of a --not-run reason
_PATH_LIKE = re.compile(r"[/\\\x00-\x1f\x7f]|\.\.")


class SubmissionError(InvalidInputError):
    """One or more result files failed validation, or the submission could not be filed."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(*folders: Path) -> None:
    """Each folder (or, where it does not exist yet, its nearest existing parent) is writable, so a
    submission is not filed and then left without its page or figures."""
    for folder in folders:
        existing = Path(folder).absolute()
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise SubmissionError(f"cannot write to {folder} ({existing} is not a writable folder); nothing was written")


def _check_request(paths: list[Path], name: str, description: str, not_run: dict[str, str], plugins) -> None:
    """The submission's own inputs: files given, a name that is safe as a folder, short texts, and
    ``--not-run`` naming registered tasks only, each with a short reason."""
    if not paths:
        raise SubmissionError("no result files given; pass one or more RESULT.json files")
    if not name.strip():
        raise SubmissionError("--name is empty; give the team or method name to show on the leaderboard")
    if _PATH_LIKE.search(name) or len(name) > MAX_NAME:
        raise SubmissionError(f"--name {name!r} is not allowed: it must be at most {MAX_NAME} characters without '/', "
                              "'\\', '..' or control characters (markdown characters are fine: they are escaped), "
                              "e.g. 'Lab X (probing v2)'")
    problem = display_name_problem(name)
    if problem:
        raise SubmissionError(f"--name {name!r} is not allowed: {problem}; use one script, e.g. 'Lab X (probing v2)'")
    if len(description) > MAX_DESCRIPTION:
        raise SubmissionError(f"--description is longer than {MAX_DESCRIPTION} characters")
    for task, why in not_run.items():
        if plugins is not None and task not in plugins.tasks.items:
            raise UnknownNameError("task", task, plugins.tasks.names())
        if len(why) > MAX_TEXT or any(ord(ch) < 32 for ch in why):
            raise SubmissionError(f"--not-run {task}: the reason must be one line of at most {MAX_TEXT} characters")


def _passing(checked: list[Checked]) -> list[Checked]:
    """The results among ``checked``; raises when any file has a problem or none is a result."""
    problems = [p for c in checked for p in c.problems]
    if problems:
        raise SubmissionError(f"{len(problems)} problem(s); nothing was written:\n  " + "\n  ".join(problems))
    results = [c for c in checked if c.result is not None]
    if not results:
        raise SubmissionError("no result files among the files given (only run summaries); nothing was written")
    return results


def _check_replace(dest: Path, slug: str, name: str, force: bool) -> None:
    if not dest.exists():
        return
    existing = read_meta(dest).name
    if not force:
        raise SubmissionError(f"submission {slug!r} ({existing!r}) already exists at {dest}; pass --force to "
                              "replace it, or choose another --name")
    if existing != name:
        raise SubmissionError(f"--force replaces only a submission of the same name: {dest} holds {existing!r}, "
                              f"and {name!r} has the same folder name {slug!r}; choose another --name")


def _file(results: list[Checked], meta: SubmissionMeta, submissions_dir: Path, dest: Path) -> None:
    """Write the results and ``submission.json`` into a staging folder, then swap it in for ``dest``."""
    submissions_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{meta.slug}.", dir=submissions_dir))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private (0700); a submission is for everyone to read
        for c in results:
            atomic_write_text(path_inside(staging, c.result.filename()), c.result.model_dump_json(indent=2) + "\n")
        atomic_write_text(staging / SUBMISSION_META, meta.model_dump_json(indent=2) + "\n")
        old = None
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{meta.slug}.old.", dir=submissions_dir))
            dest.rename(old / meta.slug)
        staging.rename(dest)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def submit(paths: list[Path], name: str, submissions_dir: Path, *, description: str = "",
           not_run: dict[str, str] | None = None, force: bool = False, plugins=None) -> tuple[Path, list[Checked]]:
    """Validate ``paths`` and, only if all pass, file them as ``submissions_dir/<slug>/``.
    Run summaries among ``paths`` are checked and left out (noted)."""
    not_run = dict(not_run or {})
    _check_request(paths, name, description, not_run, plugins)
    try:
        slug = slugify(name)
    except FilingError as exc:
        raise SubmissionError(str(exc)) from None
    submissions_dir = Path(submissions_dir)
    dest = path_inside(submissions_dir, slug)
    checked = validate_files(paths, plugins)
    results = _passing(checked)
    _check_replace(dest, slug, name, force)
    try:
        meta = SubmissionMeta(name=name, slug=slug, description=description, not_run=not_run,
                              results=sorted(c.result.filename() for c in results))
    except ValidationError as exc:  # e.g. a --not-run key that is no task name (without plugins to check it)
        first = exc.errors()[0]
        raise SubmissionError(f"cannot file {'.'.join(map(str, first['loc']))}: {first['msg']}; "
                              "nothing was written") from None
    _file(results, meta, submissions_dir, dest)
    return dest, checked
