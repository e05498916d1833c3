"""Raw splits from declared local data files, CSV or JSON lines, through ``datasets.load_dataset``.

Every file is read line by line first, so that a bad row is an InvalidDataError naming the file, the
line and what is valid; every row then carries its file and line (``sources.SOURCE_COLUMN`` /
``LINE_COLUMN``), which the task's own checks (``HubTask``) name. CSV files need a header row; the
text columns are read as strings as written (``05`` stays ``05``, an empty cell is ``""``), the label
column as integers when every label of the file is one, else as strings (label names).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from memlocbench.contracts.protocols import TaskMetadata
from memlocbench.data.sources import load_jsonl_files, tag_rows
from memlocbench.errors import InvalidDataError, NotARegularFileError
from memlocbench.files import read_regular_file

#: the formats a local data file may have, and the file extensions that imply each
FORMATS = {"csv": (".csv",), "jsonl": (".jsonl",)}
_INTEGER = re.compile(r"^-?\d+$")


def _expected(meta: TaskMetadata) -> str:
    columns = ",".join([*meta.text_fields, meta.label_field])
    return (f"a header row {columns} (in any order, other columns allowed), then one row per example, the label "
            f"an integer 0..{meta.num_labels - 1} or one of {list(meta.label_names)}")


def _text(path: Path, meta: TaskMetadata) -> str:
    try:
        data = read_regular_file(path, max_bytes=None)
    except NotARegularFileError as exc:
        raise InvalidDataError(f"{exc}; expected {_expected(meta)}") from None
    except OSError as exc:
        raise InvalidDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidDataError(f"{path}: not UTF-8 text (binary data?); expected {_expected(meta)}") from None
    if not text.strip():
        raise InvalidDataError(f"{path} is empty; expected {_expected(meta)}")
    return text


def _header(path: Path, header: list[str], meta: TaskMetadata) -> dict[str, int]:
    """Column -> position of the declared columns; an error naming what is missing or repeated."""
    wanted = [*meta.text_fields, meta.label_field]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InvalidDataError(f"{path}, line 1: the header has no column(s) {', '.join(map(repr, missing))} "
                               f"(it has: {', '.join(map(repr, header))}); expected {_expected(meta)}")
    repeated = [c for c in wanted if header.count(c) > 1]
    if repeated:
        raise InvalidDataError(f"{path}, line 1: the column(s) {', '.join(map(repr, repeated))} appear more than "
                               f"once in the header")
    return {c: header.index(c) for c in wanted}


def check_csv_file(path: Path, meta: TaskMetadata) -> tuple[list[int], bool]:
    """Read a CSV file row by row before ``datasets`` sees it: (the first line of each row, whether every
    label is an integer). Raises InvalidDataError naming the file, the line and what is valid."""
    reader = csv.reader(io.StringIO(_text(path, meta), newline=""))
    try:
        header = next(reader)
        columns = _header(path, header, meta)
        lines: list[int] = []
        integers = True
        start = reader.line_num + 1
        for row in reader:
            if row:  # blank lines are skipped, as pandas skips them
                if len(row) != len(header):
                    raise InvalidDataError(f"{path}, line {start}: {len(row)} field(s), but the header has "
                                           f"{len(header)}; quote a field that holds a comma")
                label = row[columns[meta.label_field]]
                if label == "":
                    raise InvalidDataError(f"{path}, line {start}: the label {meta.label_field!r} is empty; "
                                           f"expected {_expected(meta)}")
                integers = integers and bool(_INTEGER.match(label))
                lines.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidDataError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    if not lines:
        raise InvalidDataError(f"{path} has a header but no rows; expected {_expected(meta)}")
    return lines, integers


def _read_csv(meta: TaskMetadata, path: Path, integer_labels: bool):
    """One checked CSV file as a ``datasets.Dataset`` of the declared columns."""
    import datasets

    label = datasets.Value("int64" if integer_labels else "string")
    features = datasets.Features({**{c: datasets.Value("string") for c in meta.text_fields}, meta.label_field: label})
    try:
        return datasets.load_dataset("csv", data_files=str(path), split="train", features=features,
                                     usecols=list(features), keep_default_na=False, na_filter=False)
    except Exception as exc:
        raise InvalidDataError(
            f"task {meta.name!r}: {path} cannot be read as a table ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); expected {_expected(meta)}") from None


def load_csv_files(meta: TaskMetadata, files: dict[str, Path]):
    """A ``datasets.DatasetDict`` of CSV ``files`` (split -> file) holding the declared columns, every row
    checked first (:func:`check_csv_file`) and tagged with its file and line. Each file's labels are read
    as integers if they all are, else as strings (label names)."""
    import datasets

    checked = {s: check_csv_file(path, meta) for s, path in files.items()}
    datasets.disable_progress_bars()  # a local read takes a second; no bars for it
    try:
        loaded = datasets.DatasetDict({s: _read_csv(meta, path, checked[s][1]) for s, path in files.items()})
    finally:
        datasets.enable_progress_bars()
    return tag_rows(loaded, files, {s: lines for s, (lines, _) in checked.items()})


def load_local_files(meta: TaskMetadata, files: dict[str, Path], fmt: str):
    """The raw splits (a ``datasets.DatasetDict`` keyed like ``files``) of local files in format ``fmt``."""
    if fmt == "csv":
        return load_csv_files(meta, files)
    if fmt == "jsonl":
        return load_jsonl_files(meta, files)
    raise InvalidDataError(f"task {meta.name!r}: unknown data format {fmt!r}; valid: {', '.join(FORMATS)}")


def file_columns(path: Path, fmt: str) -> list[str]:
    """The column names of a data file, read from its first row (CSV: the header; JSON lines: the keys
    of the first object), without reading the rest. A first row nested too deeply for JSON's reader is a
    ValueError, as is any other unreadable one."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        if fmt == "csv":
            return next(csv.reader(f), [])
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except RecursionError:
                    raise ValueError("the first row nests arrays or objects too deeply to read") from None
                return list(row) if isinstance(row, dict) else []
    return []
