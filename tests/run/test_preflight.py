"""Bad settings and bad data found before any training (issue 11, item 7)."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.errors import InvalidDataError


def _run(mirror, tmp_path, *args):
    base = ["run", "--method", "layer-swapping", "--task", "sst2", "--epochs", "1", "--max-length", "16",
            "--data-dir", str(mirror), "--out", str(tmp_path / "res"), "--cache-dir", str(tmp_path / "store"),
            "--quiet"]
    return CliRunner().invoke(main, base + list(args))


def _nothing_trained(tmp_path):
    models = tmp_path / "store" / "models"
    return not models.exists() or not any(models.iterdir())


@pytest.mark.parametrize("args,expected", [
    (["--noise", "0"], "'--noise': 0.0 is not in the range 0<x<1"),
    (["--noise", "1"], "'--noise'"),
    (["--seed", "1e23"], "'--seed'"),
    (["--seed", str(2**32)], "'--seed'"),
    (["--data-seed", "-1"], "'--data-seed': -1 is not in the range 0<=x<=4294967295"),
    (["--epochs", "1e20"], "'--epochs'"),
    (["--epochs", "100000"], "'--epochs': 100000 is not in the range 1<=x<=1000"),
    (["--lr", "inf"], "learning_rate: Input should be a finite number"),
    (["--lr", "nan"], "learning_rate"),
    (["--lr", "0"], "learning_rate"),
])
def test_bad_settings_are_clean_errors(mirror, tmp_path, args, expected):
    res = _run(mirror, tmp_path, *args)
    assert res.exit_code == 2, res.output
    assert expected in res.output and "Traceback" not in res.output
    assert _nothing_trained(tmp_path)


@pytest.mark.parametrize("args,expected", [
    (["--train-size", "12"], ["12 training examples", "at least 7 examples", "--train-size of at least about 14", "--noise of at least 0.167"]),
    (["--train-size", "40", "--noise", "0.01"], ["with noise 0.01", "at least 100 examples", "--noise of at least 0.048"]),
    (["--max-length", "4096"], ["--max-length 4096 exceeds model 'minilm-l6''s 512 positions"]),
])
def test_runs_that_cannot_work_fail_before_training(mirror, tmp_path, args, expected):
    res = _run(mirror, tmp_path, *args)
    assert res.exit_code == 2, res.output
    for text in expected:
        assert text in res.output
    assert _nothing_trained(tmp_path)


@pytest.mark.parametrize("option", ["--out", "--cache-dir"])
def test_unwritable_store_or_output_fails_first(mirror, tmp_path, option):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = _run(mirror, tmp_path, option, str(blocker / "sub"))  # root can write anywhere, but not under a file
    assert res.exit_code == 2, res.output
    assert f"{blocker / 'sub'} is not writable" in res.output and option in res.output


_TRAIN = [{"sentence": f"sentence {i}", "label": i % 2} for i in range(20)]


@pytest.mark.parametrize("split,line,content,expected", [
    ("train", 3, '{"sentence": "cut off', "line 3: not valid JSON"),
    ("train", 2, b"\x89PNG\r\n\x1a\x00\xff\xfe", "line 2: not UTF-8 text"),
    ("train", 4, '{"sentence": "no label"}', "line 4: the label 'label' is missing"),
    ("train", 5, '{"sentence": null, "label": 1}', "line 5: the text field 'sentence' is null"),
    ("train", 6, '{"sentence": "x", "label": 0.7}', "line 6: the label 'label' is 0.7, not an integer"),
    ("validation", 7, '{"sentence": "x", "label": 5}', "line 7: label 5 is out of range"),
    ("validation", 2, '{"sentence": "x", "label": "maybe"}', "line 2: the label 'label' is \"maybe\", a str, but line 1's is a number"),
    ("validation", 1, '[1, 2]', "line 1: a JSON list, not an object"),
    ("train", None, "", "is empty"),
])
def test_bad_data_rows_name_the_file_and_line(plugins, tmp_path, split, line, content, expected):
    folder = tmp_path / "sst2"
    folder.mkdir()
    for s in ("train", "validation"):
        rows = [json.dumps(r).encode() for r in _TRAIN]
        if s == split:
            if line is None:
                rows = []
            else:
                rows[line - 1] = content if isinstance(content, bytes) else content.encode()
        (folder / f"{s}.jsonl").write_bytes(b"\n".join(rows) + (b"\n" if rows else b""))
    with pytest.raises(InvalidDataError) as exc:
        plugins.tasks.get("sst2").load(tmp_path, 1, "[SEP]")
    message = str(exc.value)
    assert str(folder / f"{split}.jsonl") in message and expected in message
    assert "valid" in message or "expected" in message


def test_one_broken_task_does_not_abort_list_tasks(mirror, tmp_path):
    shutil.copytree(mirror / "rte", tmp_path / "rte")
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.jsonl").write_text('{"sentence": "a", "label": 0}\n{"sentence": "b", "lab')
    (tmp_path / "sst2" / "validation.jsonl").write_text('{"sentence": "a", "label": 0}\n')
    res = CliRunner().invoke(main, ["list", "tasks", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = {line.split("|")[1].strip(): line for line in res.output.splitlines() if line.startswith("| ")}
    assert "n/a" in rows["sst2"] and "n/a" not in rows["rte"]
    assert "sst2:" in res.output and "line 2: not valid JSON" in res.output
