"""Reading the leaderboard's inputs: the submission folders (``submission.json``, the result files it
lists, ``verification.json``) and any local results folders.

Every file goes through the checks of ``memlocbench validate`` (``validation.validate_files``, with the
installed plugins when given), and each submission folder must be bound to its filing record
(``filing``: the folder is the slug of the record's name, and holds exactly the results it lists). What
fails is reported in ``Collected.problems`` (paths relative to the folder read) and enters no table. A
verified mark is the page's own judgement (``verification_record.mark``), never the record's claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from memlocbench.leaderboard.filing import (SUBMISSION_META, VERIFICATION, FilingError, SubmissionMeta,
                                            binding_problem, filed_paths, read_filing_record, read_meta)
from memlocbench.leaderboard.jsonfile import JSONFileError
from memlocbench.leaderboard.markdown import file_slug
from memlocbench.leaderboard.validation import Checked, validate_files
from memlocbench.leaderboard.verification_record import VerificationRecord, file_sha256, mark, read_record
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import Result

__all__ = ["AnalysisEntry", "Collected", "Entry", "SUBMISSION_META", "SubmissionMeta", "collect", "read_meta",
           "result_files"]

#: the longest problem line kept (the page lists them)
MAX_PROBLEM = 400


@dataclass(frozen=True)
class Entry:
    """A method result and the submission it came with."""

    submission: str  # display name
    result: Result
    verified: bool | None = None  # re-run by `memlocbench verify`: within the standard tolerance or not; None: not
    filename: str = ""


@dataclass(frozen=True)
class AnalysisEntry:
    """An analysis result, the submission it came with and its file name."""

    submission: str
    result: AnalysisResult
    filename: str
    verified: bool | None = None


@dataclass
class Collected:
    """Everything read: method results, analysis results, submissions, verification records, problems;
    ``local``: the display names of the local results folders read (not submissions: no folder, no page)."""

    entries: list[Entry] = field(default_factory=list)
    submissions: list[SubmissionMeta] = field(default_factory=list)
    verifications: dict[str, VerificationRecord] = field(default_factory=dict)  # display name -> record
    problems: list[str] = field(default_factory=list)
    analyses: list[AnalysisEntry] = field(default_factory=list)
    local: set[str] = field(default_factory=set)


def result_files(folder: Path) -> list[Path]:
    """The result files of a local results folder (recursively; no metadata, summaries or hidden
    folders). A submission folder's results are the ones its filing record lists (``filing.filed_paths``)."""
    folder = Path(folder)
    return [p for p in sorted(folder.rglob("*.json"))
            if p.name not in (SUBMISSION_META, VERIFICATION) and not p.name.endswith(".summary.json")
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


class _Reader:
    """Adds what one folder holds to ``out``, problems relative to ``root``."""

    def __init__(self, out: Collected, root: Path, plugins):
        self.out, self.root, self.plugins = out, Path(root), plugins

    def problem(self, text: str) -> None:
        text = text.replace(f"{self.root}/", "").replace(str(self.root), ".")
        self.out.problems.append(text if len(text) <= MAX_PROBLEM else text[:MAX_PROBLEM - 1] + "…")

    def record(self, folder: Path, name: str) -> VerificationRecord | None:
        try:
            record = read_record(folder)
        except (JSONFileError, ValueError) as exc:
            self.problem(f"{exc}; no result of {folder.name} is shown as verified")
            return None
        if record is not None:
            self.out.verifications[name] = record
        return record

    def add(self, checked: list[Checked], name: str, record: VerificationRecord | None) -> None:
        """The results among ``checked`` that passed every check, with their verified marks."""
        for c in checked:
            if c.problems:
                self.problem("; ".join(c.problems))
                continue
            if c.result is None:
                self.problem(f"{c.path}: not a result (a run summary or metadata); not counted")
                continue
            if c.path.name != c.result.filename():
                self.problem(f"{c.path}: the file of this result is named {c.result.filename()!r} (submit files each "
                             "result under its own name); not counted")
                continue
            verified = None
            if record is not None:
                verified, note = mark(c.result, file_sha256(c.path), c.path.name, record)
                if note:
                    self.problem(note)
            if isinstance(c.result, AnalysisResult):
                self.out.analyses.append(AnalysisEntry(name, c.result, c.path.name, verified))
            else:
                self.out.entries.append(Entry(name, c.result, verified, c.path.name))

    def submission(self, folder: Path) -> None:
        """A submission folder: its filing record, the binding, the files it lists."""
        try:
            meta = read_filing_record(folder)
        except FilingError as exc:
            self.problem(f"{exc}; the folder is not counted")
            return
        unbound = binding_problem(folder, meta)
        if unbound:
            self.problem(f"{unbound}; the folder is not counted")
            return
        self.out.submissions.append(meta)
        paths, problems = filed_paths(folder, meta)
        for p in problems:
            self.problem(p)
        self.add(validate_files(paths, self.plugins), meta.name, self.record(folder, meta.name))

    def local(self, folder: Path) -> None:
        """A local results folder (a preview of results not submitted)."""
        name = f"local results ({folder.name})"
        self.out.local.add(name)
        self.out.submissions.append(SubmissionMeta(name=name, slug=file_slug(name),
                                                   description=f"result files read from {folder}"))
        self.add(validate_files(result_files(folder), self.plugins), name, None)


def collect(submissions_dir: Path | None, extra_dirs: list[Path] = (), plugins=None) -> Collected:
    """Every result in ``submissions_dir/<slug>/`` and in ``extra_dirs`` (recursively) that passes the
    checks of ``memlocbench validate`` (against ``plugins`` when given: the CLI always gives them)."""
    out = Collected()
    if submissions_dir is not None and Path(submissions_dir).is_dir():
        reader = _Reader(out, Path(submissions_dir), plugins)
        for entry in sorted(p for p in Path(submissions_dir).iterdir() if not p.name.startswith(".")):
            if entry.is_symlink():
                reader.problem(f"{entry}: a link; a submission folder is a plain folder written by "
                               "`memlocbench submit`; not counted")
            elif entry.is_dir():
                reader.submission(entry)
            elif entry.suffix == ".json":
                reader.problem(f"{entry}: a file directly in the submissions folder; results belong in a "
                               "submission folder (`memlocbench submit`); not counted")
    for d in extra_dirs:
        if Path(d).is_dir():
            _Reader(out, Path(d).parent, plugins).local(Path(d))
    return out
