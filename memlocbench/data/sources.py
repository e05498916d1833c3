"""Raw splits from the Hugging Face hub, or from a local mirror with the hub's own splits and columns.

Local mirror layout: ``<data_dir>/<task name>/<split>.jsonl``. Both routes go through
``datasets.load_dataset``; the mirror uses its ``json`` builder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from memlocbench.errors import DataUnavailableError, InvalidDataError
from memlocbench.contracts.protocols import TaskMetadata

DATA_DIR_ENV = "MEMLOCBENCH_DATA_DIR"
#: columns added to rows read from a local mirror, so later checks can name the file and line
SOURCE_COLUMN, LINE_COLUMN = "_memlocbench_file", "_memlocbench_line"


def _expected(meta: TaskMetadata) -> str:
    fields = ", ".join(f'"{f}": <text>' for f in meta.text_fields)
    return (f"one JSON object per line, e.g. {{{fields}, \"{meta.label_field}\": <label>}}, the label an integer "
            f"0..{meta.num_labels - 1} or one of {list(meta.label_names)} (the hub dataset's own label values)")


def check_mirror_file(path: Path, meta: TaskMetadata) -> list[int]:
    """Read a mirror file line by line before the ``json`` builder sees it; returns the line numbers
    of its rows. Raises InvalidDataError naming the file, the line and what is valid."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data.strip():
        raise InvalidDataError(f"{path} is empty; expected {_expected(meta)}")
    lines: list[int] = []
    first_kind: tuple[str, int] | None = None  # the JSON type of the first row's label, and its line
    for no, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        where = f"{path}, line {no}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidDataError(f"{where}: not UTF-8 text (binary data?); expected {_expected(meta)}") from None
        except ValueError as exc:
            raise InvalidDataError(f"{where}: not valid JSON ({getattr(exc, 'msg', exc)}: the line is truncated "
                                   f"or malformed); expected {_expected(meta)}") from None
        except RecursionError:
            raise InvalidDataError(f"{where}: arrays or objects nested too deeply to read; expected "
                                   f"{_expected(meta)}") from None
        if not isinstance(row, dict):
            raise InvalidDataError(f"{where}: a JSON {type(row).__name__}, not an object; expected {_expected(meta)}")
        for f in meta.text_fields:
            if f not in row:
                raise InvalidDataError(f"{where}: the text field {f!r} is missing; expected {_expected(meta)}")
            if not isinstance(row[f], str):
                raise InvalidDataError(f"{where}: the text field {f!r} is {json.dumps(row[f])[:40]}, not a string; "
                                       f"expected {_expected(meta)}")
        label = row.get(meta.label_field)
        if label is None:
            what = "missing" if meta.label_field not in row else "null"
            raise InvalidDataError(f"{where}: the label {meta.label_field!r} is {what}; expected {_expected(meta)}")
        if isinstance(label, bool) or (isinstance(label, float) and not label.is_integer()):
            raise InvalidDataError(f"{where}: the label {meta.label_field!r} is {json.dumps(label)}, not an integer; "
                                   f"expected {_expected(meta)}")
        kind = "number" if isinstance(label, (int, float)) else type(label).__name__
        if first_kind is None:
            first_kind = (kind, no)
        elif kind != first_kind[0]:
            raise InvalidDataError(f"{where}: the label {meta.label_field!r} is {json.dumps(label)[:40]}, a {kind}, "
                                   f"but line {first_kind[1]}'s is a {first_kind[0]}; expected {_expected(meta)}")
        lines.append(no)
    return lines


def tag_rows(loaded, files: dict[str, Path], line_numbers: dict[str, list[int]]):
    """Add each row's file and line (``SOURCE_COLUMN``, ``LINE_COLUMN``) to the splits of ``loaded``, so
    later checks can name them; a split whose row count differs from its line count is left as is."""
    for s, path in files.items():
        ds = loaded[s]
        if len(ds) == len(line_numbers[s]):
            ds = ds.add_column(LINE_COLUMN, line_numbers[s])
            ds = ds.add_column(SOURCE_COLUMN, [str(path)] * len(ds))
        loaded[s] = ds
    return loaded


def load_jsonl_files(meta: TaskMetadata, files: dict[str, Path]):
    """A ``datasets.DatasetDict`` of JSON-lines ``files`` (split -> file), every line checked first
    (:func:`check_mirror_file`) and every row tagged with its file and line. Raises InvalidDataError
    naming the file (and line) that cannot be read."""
    import datasets

    line_numbers = {s: check_mirror_file(path, meta) for s, path in files.items()}
    datasets.disable_progress_bars()  # a local read takes a second; no bars for it
    try:
        loaded = datasets.load_dataset("json", data_files={s: str(p) for s, p in files.items()})
    except Exception as exc:  # rows that parse one by one but not as one table (mixed types)
        raise InvalidDataError(
            f"task {meta.name!r}: the files {', '.join(str(p) for p in files.values())} cannot be read "
            f"as one table ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
            f"every row needs the same fields with the same types: {_expected(meta)}") from None
    finally:
        datasets.enable_progress_bars()
    return tag_rows(loaded, files, line_numbers)


def resolve_data_dir(data_dir: str | Path | None) -> Path | None:
    """The explicit argument wins; else ``$MEMLOCBENCH_DATA_DIR``; else None (use the hub)."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    return Path(data_dir).expanduser().resolve() if data_dir else None


def _hub_call(meta: TaskMetadata) -> str:
    args = repr(meta.hub_id) + (f", {meta.hub_config!r}" if meta.hub_config else "")
    args += f", revision={meta.hub_revision!r}" if meta.hub_revision else ""
    return f"datasets.load_dataset({args})"


def load_raw_splits(meta: TaskMetadata, data_dir: str | Path | None, splits: list[str]):
    """Return a ``datasets.DatasetDict`` holding ``splits`` of the task's hub dataset."""
    import datasets

    root = resolve_data_dir(data_dir)
    if root is not None:
        folder = root / (meta.mirror_folder or meta.name)
        if not folder.is_dir():
            raise DataUnavailableError(
                f"task {meta.name!r}: the local mirror {root} has no folder {folder.name}/. "
                f"Either add {folder}/<split>.jsonl files with the hub's columns, or drop "
                f"--data-dir/${DATA_DIR_ENV} to use the hub ({_hub_call(meta)})."
            )
        missing = [s for s in splits if not (folder / f"{s}.jsonl").is_file()]
        if missing:
            have = sorted(p.stem for p in folder.glob("*.jsonl"))
            raise DataUnavailableError(
                f"task {meta.name!r}: the local mirror {folder} lacks the split(s) "
                f"{', '.join(missing)} (it has: {', '.join(have) or 'nothing'}). "
                f"With access to the Hugging Face hub, {_hub_call(meta)} provides them: "
                f"run without --data-dir/${DATA_DIR_ENV}."
            )
        return load_jsonl_files(meta, {s: folder / f"{s}.jsonl" for s in splits})

    if meta.hub_id is None:
        raise DataUnavailableError(f"task {meta.name!r} has no hub dataset (TaskMetadata.hub_id is None) and no "
                                   f"local mirror was given: pass --data-dir or ${DATA_DIR_ENV}")
    try:
        loaded = datasets.load_dataset(meta.hub_id, meta.hub_config, revision=meta.hub_revision)
    except Exception as exc:
        raise DataUnavailableError(
            f"task {meta.name!r}: could not load {_hub_call(meta)} from the Hugging Face hub "
            f"({type(exc).__name__}: {str(exc)[:200]}). Either give a local mirror laid out as "
            f"<dir>/{meta.mirror_folder or meta.name}/<split>.jsonl with --data-dir or ${DATA_DIR_ENV}, or make the hub reachable."
        ) from exc
    missing = [s for s in splits if s not in loaded]
    if missing:
        raise DataUnavailableError(
            f"task {meta.name!r}: {_hub_call(meta)} has no split(s) {', '.join(missing)}"
        )
    return datasets.DatasetDict({s: loaded[s] for s in splits})
