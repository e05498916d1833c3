"""Task files the hostile probe of issue 33 (D17) fed in: binary TOML, arrays and tables nested 5,000
deep, in the task file or in its data; each is a clear InvalidInputError / InvalidDataError naming the
file, never a traceback, through the API and through ``memlocbench list tasks``."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.data.task_file import task_from_file
from memlocbench.errors import InvalidDataError, InvalidInputError
from task_file_fixtures import BASE, toml_text, write_jsonl

DEEP = 5000
ROWS = [{"sentence": f"sentence {i}", "label": i % 2} for i in range(20)]


def _contents() -> dict[str, bytes]:
    """Broken task files, by name."""
    good = toml_text(BASE, {"train": "train.jsonl", "evaluation": "dev.jsonl"})
    return {
        "binary": bytes(range(256)) * 8,
        "utf16": good.encode("utf-16"),
        "deep-array": (good + f"extra = {'[' * DEEP}{']' * DEEP}\n").encode(),
        "deep-labels": toml_text({**BASE}, {"train": "train.jsonl", "evaluation": "dev.jsonl"}).replace(
            'label_names = ["negative", "positive"]', f"label_names = {'[' * DEEP}{']' * DEEP}").encode(),
        "deep-table": (good.replace("[data]", f"deep = {'{a = ' * DEEP}1{'}' * DEEP}\n[data]")).encode(),
        "nested-150": toml_text(BASE, {"train": "train.jsonl", "evaluation": "dev.jsonl"}).replace(
            'label_names = ["negative", "positive"]', f"label_names = {'[' * 150}{']' * 150}").encode(),
    }


@pytest.mark.parametrize("name,expected", [
    ("binary", "not UTF-8 text (binary data?)"), ("utf16", "not UTF-8 text"),
    ("deep-array", "nested too deeply"), ("deep-labels", "nested too deeply"), ("deep-table", "nested too deeply"),
    ("nested-150", "label_names.0: Input should be a valid string (got a list nested more than 20 deep)"),
])
def test_broken_task_files_are_clear_errors(tmp_path, name, expected):
    write_jsonl(tmp_path / "train.jsonl", ROWS)
    write_jsonl(tmp_path / "dev.jsonl", ROWS)
    path = tmp_path / f"{name}.toml"
    path.write_bytes(_contents()[name])
    with pytest.raises(InvalidInputError) as exc:
        task_from_file(path)
    message = str(exc.value)
    assert message.startswith(f"task file {path}: ") and expected in message and len(message) < 2000


def test_a_byte_order_mark_is_allowed(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", ROWS)
    write_jsonl(tmp_path / "dev.jsonl", ROWS)
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + toml_text(BASE, {"train": "train.jsonl", "evaluation": "dev.jsonl"}).encode())
    assert task_from_file(path).metadata.name == BASE["name"]


def test_an_oversized_task_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(toml_text(BASE, {"train": "train.jsonl", "evaluation": "dev.jsonl"}) + "# " + "x" * 2**20 + "\n")
    with pytest.raises(InvalidInputError, match=r"huge.toml is 1,048,843 bytes, more than the 1,048,576 allowed"):
        task_from_file(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_data_file_is_named_as_such(tmp_path):
    os.mkfifo(tmp_path / "train.jsonl")
    write_jsonl(tmp_path / "dev.jsonl", ROWS)
    path = tmp_path / "fifo.toml"
    path.write_text(toml_text(BASE, {"train": "train.jsonl", "evaluation": "dev.jsonl"}))
    with pytest.raises(InvalidInputError, match="data.train = 'train.jsonl': not a regular file"):
        task_from_file(path)


def test_data_rows_nested_5000_deep_are_clear_errors(tmp_path):
    deep = f'{{"sentence": {"[" * DEEP}{"]" * DEEP}, "label": 0}}'
    (tmp_path / "first.jsonl").write_text(deep + "\n" + json.dumps(ROWS[0]) + "\n")
    write_jsonl(tmp_path / "dev.jsonl", ROWS)
    path = tmp_path / "first.toml"
    path.write_text(toml_text({**BASE, "name": "first"}, {"train": "first.jsonl", "evaluation": "dev.jsonl"}))
    with pytest.raises(InvalidInputError, match=r"data.train .* cannot be read as jsonl .*nests arrays or objects "
                                                r"too deeply"):
        task_from_file(path)

    # on a later line, the rows are checked when the task loads
    (tmp_path / "later.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS) + deep + "\n")
    path = tmp_path / "later.toml"
    path.write_text(toml_text({**BASE, "name": "later"}, {"train": "later.jsonl", "evaluation": "dev.jsonl"}))
    with pytest.raises(InvalidDataError, match=r"later.jsonl, line 21: arrays or objects nested too deeply"):
        task_from_file(path).load(None, 1, "[SEP]")


def test_list_tasks_warns_about_each_broken_task_file_without_a_traceback(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "train.jsonl", ROWS)
    write_jsonl(tmp_path / "dev.jsonl", ROWS)
    for name, content in _contents().items():
        (tmp_path / f"{name}.toml").write_bytes(content)
    monkeypatch.setenv("MEMLOCBENCH_TASK_PATH", str(tmp_path))
    res = CliRunner().invoke(main, ["list", "tasks"])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "RecursionError" not in res.output
    for name in _contents():
        assert f"task file {tmp_path / name}.toml: " in res.output
