"""Task files for tests: SST-2 rows from the mirror, written as CSV or JSON lines, and the TOML file
that declares them (``memlocbench.data.task_file``); shared by the tests of several stages."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

LABELS = ("negative", "positive")
BASE = {"name": "tiny-sst", "description": "SST-2 sentences, a few dozen", "license": "see SST-2",
        "citation": "Socher et al. (2013)", "label_names": list(LABELS), "text_columns": ["sentence"],
        "label_column": "label"}


@pytest.fixture(scope="module")
def sst2_rows(mirror) -> list[dict]:
    with open(mirror / "sst2" / "train.jsonl", encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(100)]


def toml_text(fields: dict, data: dict) -> str:
    """Fields as TOML (json.dumps of a string or list of strings is a TOML value)."""
    top = "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())
    return top + "\n[data]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in data.items())


def write_csv(path: Path, rows: list[dict], header=("sentence", "label"), label_names: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            label = LABELS[r["label"]] if label_names else r["label"]
            w.writerow([r["sentence"] if h == "sentence" else label if h == "label" else "x" for h in header])
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_task_file(folder: Path, fields: dict | None = None, data: dict | None = None, name: str = "task.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(toml_text({**BASE, **(fields or {})}, data or {"train": "train.csv", "evaluation": "dev.csv"}))
    return path


def csv_task(folder: Path, rows: list[dict], n_train: int = 40, n_eval: int = 21, **fields) -> Path:
    write_csv(folder / "data" / "train.csv", rows[:n_train])
    write_csv(folder / "data" / "dev.csv", rows[n_train:n_train + n_eval], label_names=False)
    return write_task_file(folder, fields, {"train": "data/train.csv", "evaluation": "data/dev.csv"},
                      name=f"{fields.get('name', BASE['name'])}.toml")
