"""Reading the leaderboard's inputs: the submission folders (``submission.json``, ``verification.json``,
method result files and analysis result files) and any local results folders. Invalid files are
reported in ``Collected.problems``, never trusted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from memlocbench.leaderboard.markdown import file_slug
from memlocbench.leaderboard.verification_record import VERIFICATION, VerificationRecord, read_record, verified_files
from memlocbench.results.analysis_result import AnalysisResult, is_analysis_record
from memlocbench.results.run_result import Result, read_result

SUBMISSION_META = "submission.json"


class SubmissionMeta(BaseModel):
    """``submission.json`` of a submission folder (written by ``memlocbench submit``)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    slug: str
    description: str = ""
    not_run: dict[str, str] = {}
    results: list[str] = []


@dataclass(frozen=True)
class Entry:
    """A method result and the submission it came with."""

    submission: str  # display name
    result: Result
    verified: bool | None = None  # re-run by `memlocbench verify`: within tolerance or not; None: not re-run


@dataclass(frozen=True)
class AnalysisEntry:
    """An analysis result, the submission it came with and its file name."""

    submission: str
    result: AnalysisResult
    filename: str


@dataclass
class Collected:
    """Everything read: method results, analysis results, submissions, verification records, problems."""

    entries: list[Entry] = field(default_factory=list)
    submissions: list[SubmissionMeta] = field(default_factory=list)
    verifications: dict[str, VerificationRecord] = field(default_factory=dict)  # display name -> record
    problems: list[str] = field(default_factory=list)
    analyses: list[AnalysisEntry] = field(default_factory=list)


def result_files(folder: Path) -> list[Path]:
    """The result files of a submission or results folder (recursively; no metadata, summaries or
    staging folders)."""
    folder = Path(folder)
    return [p for p in sorted(folder.rglob("*.json"))
            if p.name not in (SUBMISSION_META, VERIFICATION) and not p.name.endswith(".summary.json")
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


def read_meta(folder: Path) -> SubmissionMeta:
    """``submission.json`` of a submission folder; the folder name stands in where it is missing."""
    meta_path = Path(folder) / SUBMISSION_META
    if not meta_path.is_file():
        return SubmissionMeta(name=Path(folder).name, slug=Path(folder).name)
    return SubmissionMeta.model_validate(json.loads(meta_path.read_text(encoding="utf-8")))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0]


def read_analysis_into(out: Collected, path: Path, submission: str) -> bool:
    """If ``path`` is an analysis result, add it to ``out.analyses`` (or its problem to
    ``out.problems``) and return True; False for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # the method-result reader reports it
    if not is_analysis_record(data):
        return False
    try:
        out.analyses.append(AnalysisEntry(submission, AnalysisResult.model_validate(data), Path(path).name))
    except Exception as exc:  # invalid files are reported, never trusted
        out.problems.append(f"{path}: {_first_line(exc)}")
    return True


def _verified(folder: Path, name: str, out: Collected) -> dict[str, bool]:
    """The folder's verification record (kept in ``out``): file name -> passed."""
    try:
        record = read_record(folder)
    except (ValueError, ValidationError) as exc:
        out.problems.append(f"{folder / VERIFICATION}: {_first_line(exc)}")
        return {}
    if record is None:
        return {}
    out.verifications[name] = record
    return verified_files(folder, record)


def read_folder(folder: Path, name: str, out: Collected) -> None:
    """Add the results of ``folder`` (and its verification record) to ``out`` under submission ``name``."""
    verified = _verified(folder, name, out)
    for path in result_files(folder):
        if read_analysis_into(out, path, name):  # analysis results: their own schema and section
            continue
        try:
            out.entries.append(Entry(name, read_result(path), verified.get(path.name)))
        except Exception as exc:  # invalid files are reported, never trusted
            out.problems.append(f"{path}: {_first_line(exc)}")


def _submission_meta(folder: Path, out: Collected) -> SubmissionMeta:
    try:
        return read_meta(folder)
    except (ValueError, ValidationError) as exc:
        out.problems.append(f"{folder / SUBMISSION_META}: {_first_line(exc)}")
        return SubmissionMeta(name=folder.name, slug=folder.name)


def collect(submissions_dir: Path | None, extra_dirs: list[Path] = ()) -> Collected:
    """Every valid result in ``submissions_dir/<slug>/`` and in ``extra_dirs`` (recursively)."""
    out = Collected()
    if submissions_dir is not None and Path(submissions_dir).is_dir():
        for folder in sorted(p for p in Path(submissions_dir).iterdir() if p.is_dir() and not p.name.startswith(".")):
            meta = _submission_meta(folder, out)
            out.submissions.append(meta)
            read_folder(folder, meta.name, out)
    for d in extra_dirs:
        if Path(d).is_dir():
            name = f"local results ({Path(d).name})"
            out.submissions.append(SubmissionMeta(name=name, slug=file_slug(name),
                                                  description=f"result files read from {d}"))
            read_folder(Path(d), name, out)
    return out
