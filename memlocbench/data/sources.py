"""Raw splits from the Hugging Face hub, or from a local mirror with the hub's own splits and columns.

Local mirror layout: ``<data_dir>/<task name>/<split>.jsonl``. Both routes go through
``datasets.load_dataset``; the mirror uses its ``json`` builder.
"""

from __future__ import annotations

import os
from pathlib import Path

from memlocbench.errors import DataUnavailableError
from memlocbench.protocols import TaskMetadata

DATA_DIR_ENV = "MEMLOCBENCH_DATA_DIR"


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
        files = {s: str(folder / f"{s}.jsonl") for s in splits}
        datasets.disable_progress_bars()  # a local read takes a second; no bars for it
        try:
            return datasets.load_dataset("json", data_files=files)
        finally:
            datasets.enable_progress_bars()

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
