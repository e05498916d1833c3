"""A task declared in a TOML file, no Python: metadata, columns and local data files per split.

Example (``sentiment.toml``; relative paths resolve against the TOML file's folder)::

    name = "my-sentiment"
    description = "movie reviews, negative or positive"
    version = 1                      # bump whenever the data or their reading change
    license = "CC BY 4.0"
    citation = "Doe (2024), A Sentiment Corpus"
    label_names = ["negative", "positive"]
    text_columns = ["sentence"]      # several: joined with the model's separator, "a SEP b"
    label_column = "label"           # an integer 0..n-1, or one of label_names

    [data]
    format = "csv"                   # or "jsonl"; default: from the files' extensions
    train = "data/train.csv"
    evaluation = "data/dev.csv"      # halved into validation and test with the data seed
    # or, instead of evaluation: validation = "...", test = "..." (used as they are)
    # or: eval_fraction_of_train = 0.2 (held out of train with the data seed, then halved)

The task is a :class:`~memlocbench.data.hub.HubTask` whose raw splits come from these files
(:mod:`memlocbench.data.local_files`), so the paper's split procedure is the one every hub task
follows. Folders listed in ``$MEMLOCBENCH_TASK_PATH`` (``os.pathsep``-separated) are searched for
``*.toml`` task files, which the registry registers like any plugin's tasks.

A file task has no hub dataset (``TaskMetadata.hub_id`` is None); its ``splits`` map each declared role
to itself (e.g. ``{"train": "train", "evaluation": "evaluation"}``).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memlocbench.contracts.protocols import TaskMetadata
from memlocbench.contracts.task_data import TaskData
from memlocbench.data.hub import HubTask
from memlocbench.data.local_files import FORMATS, file_columns, load_local_files
from memlocbench.errors import InvalidInputError, NotARegularFileError
from memlocbench.files import read_regular_file
from memlocbench.names import Name

#: environment variable: folders (``os.pathsep``-separated) whose ``*.toml`` files declare tasks
TASK_PATH_ENV = "MEMLOCBENCH_TASK_PATH"
_FILE_ROLES = ("train", "evaluation", "validation", "test")
#: a task file is a few lines of TOML; anything larger is refused unread
MAX_TASK_FILE_BYTES = 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _unique(values: list[str], what: str) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what} must be distinct; repeated: {', '.join(map(repr, repeated))}")
    if any(not v for v in values):
        raise ValueError(f"{what} must not be empty strings")
    return values


class TaskFileData(_Strict):
    """The ``[data]`` table: the format and the file of each split (paths relative to the TOML file)."""

    format: Literal["csv", "jsonl"] | None = Field(None, description="default: from the files' extensions")
    train: str = Field(min_length=1)
    evaluation: str | None = Field(None, description="halved into validation and test with the data seed")
    validation: str | None = Field(None, description="with test: used as they are, instead of evaluation")
    test: str | None = None
    eval_fraction_of_train: float | None = Field(
        None, gt=0, lt=1, description="without evaluation files: the share of train held out with the data "
                                      "seed as evaluation data (then halved), as the paper does for train-only tasks")

    @model_validator(mode="after")
    def _one_evaluation_source(self) -> "TaskFileData":
        given = [k for k in ("evaluation", "validation", "test", "eval_fraction_of_train") if getattr(self, k)
                 is not None]
        if given in (["evaluation"], ["validation", "test"], ["eval_fraction_of_train"]):
            return self
        raise ValueError(f"give exactly one of: evaluation (a file, halved into validation and test), both "
                         f"validation and test (files), or eval_fraction_of_train (a share of train); got "
                         f"{', '.join(given) or 'none of them'}")

    def files(self) -> dict[str, str]:
        """Role ('train', 'evaluation', 'validation', 'test') -> the path as written."""
        return {r: getattr(self, r) for r in _FILE_ROLES if getattr(self, r) is not None}


class TaskFile(_Strict):
    """A task declared in a TOML file (the module docstring shows one)."""

    name: Name
    description: str = Field(min_length=1)
    version: int = Field(1, ge=1, description="bump whenever the data or their reading change")
    license: str
    citation: str
    label_names: list[str] = Field(min_length=2, description="class i is label_names[i]")
    text_columns: list[str] = Field(min_length=1, description="joined with the model's separator")
    label_column: str = Field(min_length=1)
    data: TaskFileData

    @field_validator("label_names")
    @classmethod
    def _distinct_labels(cls, v: list[str]) -> list[str]:
        return _unique(v, "label names")

    @field_validator("text_columns")
    @classmethod
    def _distinct_columns(cls, v: list[str]) -> list[str]:
        return _unique(v, "text columns")

    @model_validator(mode="after")
    def _label_not_a_text(self) -> "TaskFile":
        if self.label_column in self.text_columns:
            raise ValueError(f"label_column {self.label_column!r} is also one of text_columns")
        return self

    def metadata(self) -> TaskMetadata:
        """The task's ``TaskMetadata``: no hub dataset, each declared split a role of its own."""
        return TaskMetadata(name=self.name, description=self.description, hub_id=None,
                            splits={role: role for role in self.data.files()},
                            text_fields=tuple(self.text_columns), label_field=self.label_column,
                            label_names=tuple(self.label_names), license=self.license, citation=self.citation,
                            version=self.version)


_FIELDS = {(): TaskFile, ("data",): TaskFileData}


def _short_repr(value) -> str:
    """At most 80 characters of ``repr(value)``; nested lists too deep to show are summarised."""
    if isinstance(value, (list, dict)) and _depth(value) > 20:
        return f"a {type(value).__name__} nested more than 20 deep"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _depth(value, limit: int = 21) -> int:
    """How deeply lists and dicts nest in ``value``, counted up to ``limit`` (level by level, no recursion)."""
    depth, level = 0, [value]
    while depth < limit:
        nested = [x for x in level if isinstance(x, (list, dict))]
        if not nested:
            break
        depth += 1
        level = [v for x in nested for v in (x.values() if isinstance(x, dict) else x)]
    return depth


def _problem(error: dict) -> str:
    """One pydantic error as 'field: what is wrong (got ...)', naming the valid fields for an unknown one."""
    loc = tuple(str(p) for p in error["loc"])
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        model = _FIELDS.get(loc[:-1])
        valid = f"; valid fields here: {', '.join(model.model_fields)}" if model else ""
        return f"{where}: unknown field{valid}"
    if error["type"] == "missing":
        return f"{where}: required, missing"
    if loc == ("name",) and error["type"] == "string_pattern_mismatch":
        return (f"name: {error['input']!r} is not a valid name: lower-case letters, digits, '_', '-' and single "
                f"dots between them")
    if error["type"] == "value_error":  # our own validators' messages say what is valid
        return f"{where}: {error['ctx']['error']}" if loc else str(error["ctx"]["error"])
    got = f" (got {_short_repr(error['input'])})" if "input" in error and not isinstance(error["input"], dict) else ""
    return f"{where}: {error['msg']}{got}"


def _read_bytes(path: Path) -> bytes:
    """A task file's bytes, refusing anything but a regular file of at most ``MAX_TASK_FILE_BYTES``."""
    try:
        return read_regular_file(path, MAX_TASK_FILE_BYTES)
    except NotARegularFileError as exc:
        raise InvalidInputError(f"task file {exc}; a task file is a small TOML text file that declares a task "
                                f"and names its data files") from None
    except OSError as exc:
        raise InvalidInputError(f"task file {path}: cannot be read ({exc.strerror or exc})") from None


def read_task_file(path: Path) -> TaskFile:
    """Parse and validate a task file; InvalidInputError naming the file, each bad field and what is valid."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is allowed
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"task file {path}: not UTF-8 text (binary data?): byte {exc.start} cannot be "
                                f"decoded; a task file is TOML text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"task file {path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise InvalidInputError(f"task file {path}: arrays or tables nested too deeply to read; a task file's "
                                f"values are strings, numbers and lists of strings") from None
    try:
        return TaskFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors())
        raise InvalidInputError(f"task file {path}: {problems}") from None
    except RecursionError:
        raise InvalidInputError(f"task file {path}: values nested too deeply; a task file's values are strings, "
                                f"numbers and lists of strings") from None


def _format(spec: TaskFile, files: dict[str, Path], path: Path) -> str:
    if spec.data.format is not None:
        return spec.data.format
    by_ext = {ext: fmt for fmt, exts in FORMATS.items() for ext in exts}
    found = {by_ext.get(p.suffix.lower()) for p in files.values()}
    if len(found) == 1 and None not in found:
        return found.pop()
    raise InvalidInputError(f"task file {path}: data.format is not given and cannot be told from the file "
                            f"extensions ({', '.join(sorted({p.suffix or '(none)' for p in files.values()}))}); "
                            f"set data.format to one of: {', '.join(FORMATS)}")


def _data_files(spec: TaskFile, path: Path) -> dict[str, Path]:
    """Role -> absolute data file; InvalidInputError naming the field of a file that is missing."""
    folder = path.resolve().parent
    files = {role: (folder / p).resolve() for role, p in spec.data.files().items()}
    for role, file in files.items():
        if not file.is_relative_to(folder):
            raise InvalidInputError(f"task file {path}: data.{role} = {getattr(spec.data, role)!r} resolves to "
                                    f"{file}, outside the task file's folder {folder}; data files must lie in "
                                    f"that folder or below it")
        if not file.is_file():
            what = "not a regular file (a folder, FIFO or device?)" if file.exists() else "no such file"
            raise InvalidInputError(f"task file {path}: data.{role} = {getattr(spec.data, role)!r}: {what} "
                                    f"({file})")
    return files


def _check_columns(spec: TaskFile, files: dict[str, Path], fmt: str, path: Path) -> None:
    for role, file in files.items():
        try:
            have = file_columns(file, fmt)
        except (OSError, ValueError, RecursionError) as exc:
            raise InvalidInputError(f"task file {path}: data.{role} ({file}) cannot be read as {fmt} "
                                    f"({type(exc).__name__}: {str(exc)[:200]})") from None
        missing = [c for c in [*spec.text_columns, spec.label_column] if c not in have]
        if missing:
            raise InvalidInputError(f"task file {path}: data.{role} ({file}) has no column(s) "
                                    f"{', '.join(map(repr, missing))} (its first row has: "
                                    f"{', '.join(map(repr, have)) or 'nothing'})")


class FileTask(HubTask):
    """A task from a task file: ``HubTask``'s procedure on the declared local files. ``data_dir`` is
    not used: the files are where the task file says."""

    def __init__(self, spec: TaskFile, path: Path, files: dict[str, Path], fmt: str):
        super().__init__(spec.metadata(), eval_fraction_of_train=spec.data.eval_fraction_of_train)
        self.spec, self.path, self.files, self.format = spec, Path(path), files, fmt

    def __repr__(self) -> str:
        return f"<task {self.metadata.name} from {self.path}>"

    def raw_splits(self, data_dir: Path | None):
        """The declared files as a ``datasets.DatasetDict`` keyed by role, after :meth:`preprocess`."""
        return self.preprocess(load_local_files(self.metadata, self.files, self.format))

    def load(self, data_dir: Path | None, seed: int, separator: str) -> TaskData:
        """Train / validation / test: given validation and test files are used as they are; otherwise
        ``HubTask.load`` halves the evaluation data (a file, or a share of train) with ``seed``."""
        if "validation" not in self.files:
            return super().load(data_dir, seed, separator)
        raw = self.raw_splits(data_dir)
        return TaskData(*(self._examples(raw[role], separator, role) for role in ("train", "validation", "test")))


def task_from_file(path: str | Path) -> FileTask:
    """The task a TOML task file declares; InvalidInputError naming the file and the problem (a bad
    field, a missing data file, a declared column the data lack)."""
    path = Path(path).expanduser()
    spec = read_task_file(path)
    files = _data_files(spec, path)
    fmt = _format(spec, files, path)
    _check_columns(spec, files, fmt, path)
    return FileTask(spec, path.resolve(), files, fmt)


def task_file_paths(environ: dict[str, str] | None = None) -> tuple[list[Path], list[str]]:
    """The ``*.toml`` files in the folders of ``$MEMLOCBENCH_TASK_PATH`` (in the order listed, each
    folder's files sorted), and a problem for each listed entry that is not a folder."""
    raw = (os.environ if environ is None else environ).get(TASK_PATH_ENV, "")
    found: list[Path] = []
    problems: list[str] = []
    for entry in raw.split(os.pathsep):
        if not entry.strip():
            continue
        folder = Path(entry.strip()).expanduser().resolve()
        if not folder.is_dir():
            problems.append(f"${TASK_PATH_ENV} lists {entry.strip()!r}, which is not a folder; it was skipped")
            continue
        found += [p for p in sorted(folder.glob("*.toml")) if p.is_file() and p not in found]
    return found, problems


def provider_package(path: Path) -> str:
    """The package name a task file's tasks are registered under: the file's name (e.g. 'sentiment.toml'),
    with characters a package name cannot hold replaced by '-'."""
    name = re.sub(r"[^A-Za-z0-9._+!-]", "-", Path(path).name)
    name = name if name[:1].isalnum() else f"task-file-{name}"
    return name[:100]
