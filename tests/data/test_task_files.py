"""Tasks declared in TOML files (memlocbench.data.task_file): fields and their errors, CSV and JSON-lines
data, the paper's split procedure, discovery through $MEMLOCBENCH_TASK_PATH, and a run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from memlocbench.data.task_file import TASK_PATH_ENV, FileTask, task_from_file
from memlocbench.errors import InvalidDataError, InvalidInputError
from memlocbench.registry import PluginWarning, Provider, load_plugins
from task_file_fixtures import csv_task, sst2_rows, write_csv, write_jsonl, write_task_file  # noqa: F401  (fixture)

# -- reading the data ---------------------------------------------------------------------------

def test_csv_task_follows_the_hub_procedure(tmp_path, sst2_rows, monkeypatch):
    path = csv_task(tmp_path / "tasks", sst2_rows)
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the TOML file's folder, not the cwd
    task = task_from_file(Path("tasks") / "tiny-sst.toml")
    assert isinstance(task, FileTask) and task.path == path.resolve()
    assert task.metadata.hub_id is None and task.metadata.splits == {"train": "train",
                                                                                   "evaluation": "evaluation"}
    data = task.load(None, 1, "[SEP]")
    # train as written (label names mapped to their index); the 21 evaluation rows halved: 10 / 11
    assert data.train.texts == [r["sentence"] for r in sst2_rows[:40]]
    assert data.train.labels == [r["label"] for r in sst2_rows[:40]]
    assert (len(data.validation), len(data.test)) == (10, 11)
    evaluation = Counter((r["sentence"], r["label"]) for r in sst2_rows[40:61])
    assert Counter(zip(data.validation.texts + data.test.texts, data.validation.labels + data.test.labels)) == evaluation
    again, other = task.load(None, 1, "[SEP]"), task.load(None, 2, "[SEP]")
    assert again == data and other.validation.texts != data.validation.texts  # the data seed shuffles


def test_jsonl_task_with_validation_and_test_files_and_two_text_columns(tmp_path):
    rows = [{"premise": f"premise {i}", "hypothesis": f"hypothesis {i}", "gold": i % 3} for i in range(12)]
    write_jsonl(tmp_path / "train.jsonl", rows[:6])
    write_jsonl(tmp_path / "val.jsonl", rows[6:9])
    write_jsonl(tmp_path / "test.jsonl", rows[9:])
    path = write_task_file(tmp_path, {"label_names": ["a", "b", "c"], "text_columns": ["premise", "hypothesis"],
                                 "label_column": "gold"},
                      {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"})
    data = task_from_file(path).load(None, 1, "</s>")
    assert data.train.texts[0] == "premise 0 </s> hypothesis 0" and data.train.labels == [0, 1, 2, 0, 1, 2]
    assert data.validation.texts == [f"premise {i} </s> hypothesis {i}" for i in (6, 7, 8)]  # as they are, in order
    assert data.test.labels == [0, 1, 2]


def test_train_only_task_holds_out_a_share_of_train(tmp_path, sst2_rows):
    write_csv(tmp_path / "all.csv", sst2_rows[:40], header=("id", "sentence", "label"))
    path = write_task_file(tmp_path, data={"train": "all.csv", "eval_fraction_of_train": 0.25})
    data = task_from_file(path).load(None, 1, "[SEP]")
    # ceil(0.25 * 40) = 10 held out, halved 5 / 5
    assert (len(data.train), len(data.validation), len(data.test)) == (30, 5, 5)
    assert sorted(data.train.texts + data.validation.texts + data.test.texts) == sorted(
        r["sentence"] for r in sst2_rows[:40])


def test_csv_texts_are_read_as_written(tmp_path):
    rows = [{"sentence": s, "label": i % 2} for i, s in enumerate(["05", "NA", "", "1,5", 'say "hi"\nthen go', "x"])]
    write_csv(tmp_path / "train.csv", rows, label_names=False)
    path = write_task_file(tmp_path, data={"train": "train.csv", "validation": "train.csv", "test": "train.csv"})
    assert task_from_file(path).load(None, 1, "[SEP]").train.texts == [r["sentence"] for r in rows]


# -- errors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fields,data,expected", [
    ({}, {"train": "train.csv", "evaluation": "dev.csv", "format": "tsv"}, "data.format: Input should be 'csv' or 'jsonl'"),
    ({"labels": ["a", "b"]}, None, "labels: unknown field; valid fields here: name, description, version, license"),
    ({}, {"train": "train.csv", "evalution": "dev.csv"}, "data.evalution: unknown field; valid fields here: format, "
                                                         "train, evaluation, validation, test, eval_fraction_of_train"),
    ({"version": 0}, None, "version: Input should be greater than or equal to 1 (got 0)"),
    ({"version": "2"}, None, "version: Input should be a valid integer (got '2')"),
    ({"name": "Tiny SST"}, None, "name: 'Tiny SST' is not a valid name: lower-case letters, digits"),
    ({"label_names": ["pos", "pos"]}, None, "label names must be distinct; repeated: 'pos'"),
    ({"label_names": ["only"]}, None, "label_names: List should have at least 2 items"),
    ({"text_columns": "sentence"}, None, "text_columns: Input should be a valid list (got 'sentence')"),
    ({"label_column": "sentence"}, None, "label_column 'sentence' is also one of text_columns"),
    ({}, {"train": "train.csv", "evaluation": "dev.csv", "test": "dev.csv"}, "give exactly one of: evaluation"),
    ({}, {"train": "train.csv"}, "got none of them"),
    ({}, {"train": "train.csv", "eval_fraction_of_train": 1.5}, "data.eval_fraction_of_train: Input should be less than 1"),
])
def test_bad_fields_name_the_field_and_what_is_valid(tmp_path, sst2_rows, fields, data, expected):
    write_csv(tmp_path / "train.csv", sst2_rows[:10])
    write_csv(tmp_path / "dev.csv", sst2_rows[10:20])
    path = write_task_file(tmp_path, fields, data)
    with pytest.raises(InvalidInputError) as info:
        task_from_file(path)
    assert str(info.value).startswith(f"task file {path}: ") and expected in str(info.value)


def test_missing_fields_files_and_columns(tmp_path, sst2_rows):
    (tmp_path / "bad.toml").write_text('name = "x"\n[data]\ntrain = "t.csv"\nevaluation = "d.csv"\n')
    with pytest.raises(InvalidInputError, match="description: required, missing; license: required, missing"):
        task_from_file(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text('name = "x\n')
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        task_from_file(tmp_path / "broken.toml")
    write_csv(tmp_path / "train.csv", sst2_rows[:10])
    with pytest.raises(InvalidInputError, match=r"data.evaluation = 'dev.csv': no such file"):
        task_from_file(write_task_file(tmp_path))
    write_csv(tmp_path / "dev.csv", sst2_rows[10:20])
    with pytest.raises(InvalidInputError, match=r"has no column\(s\) 'text' \(its first row has: 'sentence', 'label'\)"):
        task_from_file(write_task_file(tmp_path, {"text_columns": ["text"]}))
    (tmp_path / "train.txt").write_text("sentence,label\na,1\n")
    with pytest.raises(InvalidInputError, match=r"data.format is not given .* set data.format to one of: csv, jsonl"):
        task_from_file(write_task_file(tmp_path, data={"train": "train.txt", "evaluation": "dev.csv"}))
    assert task_from_file(write_task_file(tmp_path, data={"train": "train.txt", "evaluation": "dev.csv", "format": "csv"}))


def test_data_files_must_lie_in_the_task_files_folder(tmp_path, sst2_rows):
    """A data path from the file's content is resolved and must stay in the TOML file's folder (or below)."""
    inner = tmp_path / "tasks"
    write_csv(tmp_path / "outside.csv", sst2_rows[:10])
    write_csv(inner / "sub" / "dev.csv", sst2_rows[10:20])
    for train in ("../outside.csv", str(tmp_path / "outside.csv")):
        with pytest.raises(InvalidInputError, match=r"data.train = .* outside the task file's folder"):
            task_from_file(write_task_file(inner, data={"train": train, "evaluation": "sub/dev.csv"}))
    (inner / "train.csv").symlink_to(tmp_path / "outside.csv")  # a link that leads out counts as outside
    with pytest.raises(InvalidInputError, match="outside the task file's folder"):
        task_from_file(write_task_file(inner, data={"train": "train.csv", "evaluation": "sub/dev.csv"}))
    write_csv(inner / "sub" / "train.csv", sst2_rows[:10])
    assert task_from_file(write_task_file(inner, data={"train": "sub/train.csv", "evaluation": "sub/dev.csv"}))


@pytest.mark.parametrize("content,expected", [
    ("sentence,label\ngood,positive\nfine,neutral\n", r"train.csv, line 3: label 'neutral' cannot be read"),
    ("sentence,label\ngood,1\nfine,7\n", r"train.csv, line 3: label 7 is out of range; valid labels: 0..1"),
    ("sentence,label\ngood,1\nfine, ok,0\n", r"train.csv, line 3: 3 field\(s\), but the header has 2"),
    ('sentence,label\n"two\nlines",1\nfine,\n', r"train.csv, line 4: the label 'label' is empty"),
    ("sentence,label\n", r"train.csv has a header but no rows"),
])
def test_bad_csv_rows_name_the_file_and_line(tmp_path, content, expected):
    (tmp_path / "train.csv").write_text(content)
    path = write_task_file(tmp_path, data={"train": "train.csv", "validation": "train.csv", "test": "train.csv"})
    with pytest.raises(InvalidDataError, match=expected):
        task_from_file(path).load(None, 1, "[SEP]")


def test_bad_jsonl_row_names_the_file_and_line(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"sentence": "ok", "label": 0}, {"sentence": 3, "label": 1}])
    path = write_task_file(tmp_path, data={"train": "train.jsonl", "eval_fraction_of_train": 0.5})
    with pytest.raises(InvalidDataError, match=r"train.jsonl, line 2: the text field 'sentence' is 3, not a string"):
        task_from_file(path).load(None, 1, "[SEP]")


# -- discovery ------------------------------------------------------------------------------------

def _load_with_warnings():
    with pytest.warns(PluginWarning) as rec:
        plugins = load_plugins()
    return plugins, " | ".join(str(w.message) for w in rec)


def test_task_path_registers_task_files_and_one_broken_file_breaks_nothing(tmp_path, sst2_rows, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    csv_task(first, sst2_rows)
    csv_task(second, sst2_rows, name="other-sst", version=3)
    broken = write_task_file(first, {"name": "broken"}, {"train": "data/train.csv", "evaluation": "data/dev.csv",
                                                     "format": "tsv"}, name="broken.toml")
    monkeypatch.setenv(TASK_PATH_ENV, os.pathsep.join([str(first), str(tmp_path / "nowhere"), "", str(second)]))
    plugins, msg = _load_with_warnings()
    assert f"task file {broken}: data.format: Input should be 'csv' or 'jsonl'" in msg
    assert f"{TASK_PATH_ENV} lists '{tmp_path / 'nowhere'}', which is not a folder" in msg
    assert {"tiny-sst", "other-sst", "sst2", "mrpc"} <= set(plugins.tasks.names()) and "broken" not in plugins.tasks.names()
    assert plugins.tasks.provider("tiny-sst") == Provider("tiny-sst.toml", "1")
    assert plugins.tasks.provider("other-sst") == Provider("other-sst.toml", "3")
    assert isinstance(plugins.tasks.get("other-sst"), FileTask) and "layer-swapping" in plugins.methods.names()
    monkeypatch.delenv(TASK_PATH_ENV)
    assert "tiny-sst" not in load_plugins().tasks.names()


def test_task_files_cannot_take_a_builtin_name_and_the_first_of_two_wins(tmp_path, sst2_rows, monkeypatch):
    csv_task(tmp_path / "a", sst2_rows, name="sst2")
    csv_task(tmp_path / "a", sst2_rows, name="twice", description="first")
    csv_task(tmp_path / "b", sst2_rows, name="twice", description="second")
    monkeypatch.setenv(TASK_PATH_ENV, os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    plugins, msg = _load_with_warnings()
    assert "package sst2.toml 1 registers the task 'sst2', which the built-in package memlocbench" in msg
    assert plugins.tasks.provider("sst2").package == "memlocbench"
    assert "task 'twice' from package twice.toml 1 clashes" in msg
    assert plugins.tasks.get("twice").metadata.description == "first"



def test_cli_lists_task_files_and_warns_about_broken_ones(tmp_path, sst2_rows):
    csv_task(tmp_path, sst2_rows)
    (tmp_path / "broken.toml").write_text("name = [\n")
    env = {**os.environ, TASK_PATH_ENV: str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "memlocbench.cli", "list", "tasks"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "tiny-sst" in line)
    assert "tiny-sst.toml 1" in line and "sst2" in out.stdout
    assert f"task file {tmp_path / 'broken.toml'}: not valid TOML" in out.stderr

# -- end to end -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_task_file_runs_end_to_end(tmp_path, sst2_rows, monkeypatch):
    """A CSV task file found through $MEMLOCBENCH_TASK_PATH, a tiny random BERT, layer swapping: a valid
    result naming the task file as the task's package."""
    from tiny_models import TinyModels, tiny_adapter

    from memlocbench.run.settings import profile_config
    from memlocbench.results.run_result import Result
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.store import ArtefactStore

    csv_task(tmp_path / "tasks", sst2_rows, n_train=60, n_eval=24)
    monkeypatch.setenv(TASK_PATH_ENV, str(tmp_path / "tasks"))
    plugins = load_plugins(extra=[(TinyModels([tiny_adapter("bert", {"vocab": 0})]), Provider("tests", "0"))])
    assert not plugins.failures
    req = RunRequest(task="tiny-sst", model="tiny-bert", methods=["layer-swapping"],
                     config=profile_config("cpu", data={"train_size": 48, "max_length": 32},
                                         train={"epochs": 1, "batch_size": 8}),
                     out_dir=tmp_path / "results", store=ArtefactStore(tmp_path / "cache"), progress=False)
    out = run(plugins, req, log=lambda *_: None)
    (path,) = out.paths
    r = Result.model_validate(json.loads(path.read_text()))
    assert (r.task.name, r.task.package, r.task.package_version) == ("tiny-sst", "tiny-sst.toml", "1")
    assert r.sizes["original_train_size"] == 60 and r.sizes["effective_train_size"] == 48
    assert (r.sizes["validation_size"], r.sizes["test_size"]) == (12, 12)
    assert r.num_layers == 3 and len(r.layer_weights) == 3 and (abs(sum(r.layer_weights) - 1) < 1e-9 or r.weights_all_zero)
