"""Submitting, validating and rendering the leaderboard, on the real result files committed in
``leaderboard/submissions/`` (copied to a temporary folder; the repository is never written)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.results.run_result import read_result

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboard" / "submissions"


def _committed() -> list[Path]:
    return sorted(p for p in COMMITTED.glob("*/*.json")
                  if p.name not in ("submission.json", "verification.json") and "__analysis-" not in p.name)


@pytest.fixture(scope="module")
def picked() -> dict[str, list[Path]]:
    """Real results: standard runs of two methods on three tasks, and one control result."""
    files = [(p, read_result(p)) for p in _committed()]
    # memorised results (the guard leaves the others out of the tables) of methods whose installed
    # version still matches the committed files (submit refuses the others)
    plain = [(p, r) for p, r in files if r.control is None and r.memorisation_guard.memorised]
    by_task: dict[str, dict[str, Path]] = {}
    for p, r in plain:
        by_task.setdefault(r.task.name, {})[r.method.name] = p
    pair = ("layer-retraining", "layer-swapping")
    tasks = sorted(t for t, ms in by_task.items() if all(m in ms for m in pair))[:3]
    control = [p for p, r in files if r.control is not None and r.method.name == "layer-swapping"][:1]
    assert len(tasks) == 3 and control, "the committed seed results should cover this (leaderboard/submissions/)"
    return {"plain": [by_task[t][m] for t in tasks for m in pair], "control": control}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()} \
        if root.exists() else {}


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _lb_args(tmp: Path) -> list[str]:
    return ["--submissions", str(tmp / "subs"), "--out", str(tmp / "lb" / "README.md"),
            "--figures", str(tmp / "lb" / "figures")]


def test_valid_submission_appears_in_every_section(tmp_path, picked):
    files = [str(p) for p in picked["plain"] + picked["control"]]
    res = _invoke("submit", *files, "--name", "Lab X (v2) *bold* | [x](y)", "--description", "test run",
                  "--not-run", "boolq=no train split offline", *_lb_args(tmp_path))
    assert res.exit_code == 0, res.output
    slug_dir = tmp_path / "subs" / "lab-x-v2-bold-x-y"
    assert sorted(p.name for p in slug_dir.iterdir()) == sorted(
        [read_result(Path(f)).filename() for f in files] + ["submission.json"])
    page = (tmp_path / "lb" / "README.md").read_text()
    sections = re.split(r"^## ", page, flags=re.M)
    control, where, agree, subs = (next(s for s in sections if s.startswith(h))
                                   for h in ("1.", "2.", "3.", "Submissions"))
    shown = r"Lab X \(v2\) \*bold\* \| \[x\]\(y\)"  # escaped, so it cannot break a table or make a link
    assert shown in subs and "*bold*" not in page and "[x](y)" not in page
    own_page = tmp_path / "lb" / "submissions" / slug_dir.name / "README.md"  # beside the page (--out)
    assert own_page.read_text().startswith(f"# {shown}")
    c = read_result(picked["control"][0])
    assert f"| {c.control.accuracy_at_2:.2f} " in re.sub(" +", " ", control)
    for f in picked["plain"]:
        r = read_result(f)
        row = next(line for line in where.splitlines() if line.startswith(f"| {r.task.name} "))
        assert f" {r.mcog:.2f} " in row
    assert re.search(r"^\| boolq .*not run", where, flags=re.M) and "Not run: boolq: no train split offline." in where
    assert re.search(r"^\| method +\| layer-swapping +\|$", agree, flags=re.M)  # one matrix
    assert re.search(r"^\| layer-retraining +\| n < 5 +\|$", agree, flags=re.M)  # 3 tasks: no rho
    import matplotlib.image

    links = re.findall(r"\]\((figures/[^)]+\.png)\)", where)
    assert len(links) == 3  # the M-CoG summary and one heatmap per method
    for link in links:
        img = matplotlib.image.imread(tmp_path / "lb" / link)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300


def test_same_inputs_give_byte_identical_page(tmp_path, picked):
    assert _invoke("submit", *map(str, picked["plain"]), "--name", "lab", *_lb_args(tmp_path)).exit_code == 0
    first = (tmp_path / "lb" / "README.md").read_bytes()
    assert _invoke("leaderboard", *_lb_args(tmp_path)).exit_code == 0
    assert (tmp_path / "lb" / "README.md").read_bytes() == first


def _broken_json(d):
    return "{ not json"


def _missing_field(d):
    del d["mcog"]
    return d


def _profile_sum(d):
    d["profile"][0] += 0.1
    return d


def _config_hash(d):
    d["config"]["train"]["epochs"] += 1
    return d


def _schema_version(d):
    d["schema_version"] = 99
    return d


def _task_version(d):
    d["task"]["version"] = 7
    return d


@pytest.mark.parametrize("mutate, expected", [
    (_broken_json, "not valid JSON"),
    (_missing_field, "field 'mcog': Field required"),
    (_profile_sum, "layer_weights sum to"),
    (_config_hash, "config_hash does not match"),
    (_schema_version, "field 'schema_version' is 99, which this memlocbench cannot read"),
    (_task_version, "field 'task.version' is 7, but the installed task"),
])
def test_malformed_result_is_rejected_and_nothing_written(tmp_path, picked, mutate, expected):
    good = picked["plain"][0]
    bad = tmp_path / "in" / "bad.json"
    bad.parent.mkdir()
    out = mutate(json.loads(good.read_text()))
    bad.write_text(out if isinstance(out, str) else json.dumps(out))
    before = _tree(tmp_path)
    res = CliRunner().invoke(main, ["submit", str(good), str(bad), "--name", "lab", *_lb_args(tmp_path)])
    assert res.exit_code == 2, res.output
    assert str(bad) in res.output and expected in res.output and "nothing was written" in res.output
    assert _tree(tmp_path) == before
    res = CliRunner().invoke(main, ["validate", str(good), str(bad)])
    assert res.exit_code == 2 and expected in res.output and f"ok: {good}" in res.output
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("name", ["../../escape", "a/b", "back\\slash", "new\nline", "   ", "!!!"])
def test_path_like_names_are_rejected(tmp_path, picked, name):
    res = CliRunner().invoke(main, ["submit", str(picked["plain"][0]), "--name", name, *_lb_args(tmp_path)])
    assert res.exit_code == 2 and "--name" in res.output
    assert not (tmp_path / "subs").exists() and not (tmp_path / "lb").exists()
    assert not any(p.name == "escape" for p in tmp_path.parent.rglob("escape"))


def test_existing_submission_needs_force(tmp_path, picked):
    one, two = picked["plain"][:2]
    assert _invoke("submit", str(one), "--name", "lab", *_lb_args(tmp_path)).exit_code == 0
    before = _tree(tmp_path)
    res = CliRunner().invoke(main, ["submit", str(two), "--name", "lab", *_lb_args(tmp_path)])
    assert res.exit_code == 2 and "already exists" in res.output and "--force" in res.output
    assert _tree(tmp_path) == before
    assert _invoke("submit", str(two), "--name", "lab", "--force", *_lb_args(tmp_path)).exit_code == 0
    assert [p.name for p in (tmp_path / "subs" / "lab").glob("*.json") if p.name != "submission.json"] == \
        [read_result(two).filename()]
    assert [p.name for p in (tmp_path / "subs").iterdir()] == ["lab"]  # no staging folders left


def test_duplicate_results_in_one_submission_are_rejected(tmp_path, picked):
    one = picked["plain"][0]
    copy = tmp_path / "copy.json"
    shutil.copy(one, copy)
    res = CliRunner().invoke(main, ["submit", str(one), str(copy), "--name", "lab", *_lb_args(tmp_path)])
    assert res.exit_code == 2 and "the same task, model, method" in res.output
    assert not (tmp_path / "subs").exists()


def test_committed_leaderboard_is_up_to_date(tmp_path):
    """The committed page is what `memlocbench leaderboard` makes of the committed submissions."""
    out = tmp_path / "README.md"
    res = _invoke("leaderboard", "--submissions", str(COMMITTED), "--out", str(out),
                  "--figures", str(tmp_path / "figures"))
    assert res.exit_code == 0, res.output
    committed = (REPO / "leaderboard" / "README.md").read_text()
    assert out.read_text() == committed
