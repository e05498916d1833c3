"""A submission folder's filing record, ``submission.json`` (written by ``memlocbench submit``), and what
binds the folder to it.

A folder under ``leaderboard/submissions/`` counts only as what ``submit`` filed: its name is the slug
of the display name in its ``submission.json`` (so a folder added by hand cannot claim another team's
name: two names with the same slug cannot both have a folder), and its results are exactly the files
the record lists, directly inside the folder. Anything else in the folder (an unlisted or renamed
file, a copy in a sub-folder) is not part of the submission.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from memlocbench.errors import InvalidInputError
from memlocbench.leaderboard.jsonfile import JSONFileError, read_json
from memlocbench.leaderboard.markdown import file_slug
from memlocbench.names import Name, display_name_problem

SUBMISSION_META = "submission.json"
#: the record `memlocbench verify` writes beside the results (``verification_record``)
VERIFICATION = "verification.json"
MAX_META_BYTES = 1_000_000
MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_REASON = 500
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
#: a filed result's file name (``Result.filename()`` / ``AnalysisResult.filename()``)
FiledName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][A-Za-z0-9_.-]*\.json$", max_length=300)]


class FilingError(InvalidInputError):
    """A submission folder that is not what ``memlocbench submit`` filed."""


class SubmissionMeta(BaseModel):
    """``submission.json`` of a submission folder (written by ``memlocbench submit``)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    slug: str = Field(pattern=SLUG_PATTERN, max_length=64)
    description: str = Field("", max_length=MAX_DESCRIPTION)
    not_run: dict[Name, Annotated[str, StringConstraints(max_length=MAX_REASON)]] = {}
    results: list[FiledName] = []


def slugify(name: str) -> str:
    """A folder name from a submission name: lower-case ASCII letters, digits and single hyphens only,
    so it can never leave ``leaderboard/submissions/``. Accents are dropped (``Café`` -> ``cafe``); a name
    with letters or digits outside ASCII (``日本語``) keeps a short digest of the whole name, so two such
    names never share a folder. A name without any letter or digit is refused."""
    if not any(ch.isalnum() for ch in name):
        raise FilingError(f"--name {name!r} has no letters or digits; give a name such as 'My lab, probing v2'")
    ascii_form = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    lost = any(ch.isalnum() for ch in unicodedata.normalize("NFKD", name) if not ch.isascii())
    slug = file_slug(ascii_form) if re.search(r"[A-Za-z0-9]", ascii_form) else ""
    if lost or not slug:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
        slug = f"{slug[:53].strip('-')}-{digest}" if slug else f"u-{digest}"
    return slug[:64].strip("-")


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(whole record)"
    return f"field '{where}': {first['msg'].removeprefix('Value error, ')}"


def read_filing_record(folder: Path) -> SubmissionMeta:
    """The folder's ``submission.json``, checked; FilingError (naming the file) when it is missing or invalid."""
    path = Path(folder) / SUBMISSION_META
    if not path.exists() and not path.is_symlink():
        raise FilingError(f"{path}: missing; a submission folder is made by `memlocbench submit`, which writes it")
    try:
        return SubmissionMeta.model_validate(read_json(path, MAX_META_BYTES))
    except JSONFileError as exc:
        raise FilingError(str(exc)) from None
    except ValidationError as exc:
        raise FilingError(f"{path}: {_validation_message(exc)}") from None


def read_meta(folder: Path) -> SubmissionMeta:
    """``submission.json`` of a folder ``submit`` may replace: the folder name stands in for a missing one."""
    if not (Path(folder) / SUBMISSION_META).exists():
        return SubmissionMeta(name=Path(folder).name, slug=file_slug(Path(folder).name))
    return read_filing_record(folder)


def binding_problem(folder: Path, meta: SubmissionMeta) -> str | None:
    """Why ``folder`` is not the folder of ``meta``'s name (None when it is)."""
    folder = Path(folder)
    try:
        expected = slugify(meta.name)
    except FilingError as exc:
        return f"{folder / SUBMISSION_META}: {exc}"
    problem = display_name_problem(meta.name)
    if problem:
        return f"{folder / SUBMISSION_META}: the name {meta.name!r} is not allowed: {problem}"
    if meta.slug != folder.name or expected != folder.name:
        return (f"{folder}: the folder of submission {meta.name!r} must be named {expected!r} (its slug), but it is "
                f"{folder.name!r} and submission.json says {meta.slug!r}; a folder may only hold the submission "
                "that `memlocbench submit` filed under its name")
    return None


def filed_paths(folder: Path, meta: SubmissionMeta) -> tuple[list[Path], list[str]]:
    """(the result files the record lists, in order; problems): listed files that are missing or not
    plain files (a link), and files or folders in ``folder`` that the record does not list (only
    ``README.md`` and ``verification.json`` may sit beside the results)."""
    folder = Path(folder)
    listed = sorted(set(meta.results))
    problems, paths = [], []
    for name in listed:
        path = folder / name
        if path.is_symlink():
            problems.append(f"{path}: a link; a filed result is a plain file written by `memlocbench submit`")
        elif not path.exists():
            problems.append(f"{path}: listed in submission.json but missing")
        else:
            paths.append(path)
    allowed = set(listed) | {SUBMISSION_META, VERIFICATION, "README.md"}
    for extra in sorted(folder.iterdir()):
        if extra.name not in allowed and not extra.name.startswith("."):
            what = "a folder" if extra.is_dir() else "a file"
            problems.append(f"{extra}: {what} that submission.json does not list; not part of the submission "
                            "(file results with `memlocbench submit`)")
    return paths, problems
