"""One test per defect of issue 11 in validation, submission and the leaderboard: path traversal,
forged control scores, validator gaps, --force / --not-run / run summaries, and `verify`.

Every attack starts from a real committed result (``leaderboard/submissions/``), copied with the
whole leaderboard folder to a temporary directory; the repository is never written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter, ValidationError

from memlocbench.cli import main
from memlocbench.errors import InvalidInputError
from memlocbench.scoring.layer_weights import mcog, normalise
from memlocbench.names import Name, path_inside
from memlocbench.config.profiles import config_hash
from memlocbench.results.run_result import read_result

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "leaderboard" / "submissions" / "memlocbench-cpu-baseline"
PLAIN = "sst2__minilm-l6__layer-swapping__2f5dae697d19.json"
CONTROL = "sst2__minilm-l6__layer-swapping__control-2-3__582ffc8deb01.json"


@pytest.fixture
def board(tmp_path) -> Path:
    """A copy of the committed leaderboard folder (submissions, page, figures)."""
    shutil.copytree(REPO / "leaderboard", tmp_path / "leaderboard")
    return tmp_path / "leaderboard"


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _lb(board: Path) -> list[str]:
    return ["--submissions", str(board / "submissions"), "--out", str(board / "README.md"),
            "--figures", str(board / "figures")]


def _load(name: str = PLAIN) -> dict:
    return json.loads((BASELINE / name).read_text())


def _write(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _set_profile(d: dict, raw: list[float]) -> dict:
    """Self-consistent layer weights: raw weights, their normalisation and M-CoG, under the file's own
    schema's names (schema 1: profile_raw / profile / profile_all_zero; schema 2: raw_weights / ...)."""
    raw_key, weights_key, zero_key = (("raw_weights", "layer_weights", "weights_all_zero") if d["schema_version"] >= 2
                                      else ("profile_raw", "profile", "profile_all_zero"))
    d[raw_key], d["num_layers"] = raw, len(raw)
    d[weights_key] = normalise(raw)
    d[zero_key] = sum(raw) == 0
    d["mcog"] = mcog(d[weights_key])
    return d


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


# -- 1. path traversal ----------------------------------------------------------------------------
@pytest.mark.parametrize("evil", ["../memlocbench-cpu-baseline/cola", "../../evil"])
def test_traversal_in_task_name_is_rejected_and_the_baseline_untouched(tmp_path, board, evil):
    d = _load()
    d["task"]["name"] = evil  # the name is not part of the config, so the config hash stays valid
    bad = _write(tmp_path / "in" / "forged.json", d)
    before = _tree(tmp_path)
    res = _invoke("submit", bad, "--name", "Innocent lab", *_lb(board))
    assert res.exit_code == 2, res.output
    assert "field 'task.name': must be a name of lower-case letters" in res.output and "nothing was written" in res.output
    assert _tree(tmp_path) == before  # the baseline's cola result, the page, nothing outside: all unchanged
    res = _invoke("validate", bad)
    assert res.exit_code == 2 and "Traceback" not in res.output


@pytest.mark.parametrize("name", [".", "..", "a..b", "../x", "a/b", "Sst2", "<b>x</b>", "[x](y)", "x.", "a" * 65, ""])
def test_path_like_or_markup_names_fail_the_name_pattern(name):
    with pytest.raises(ValidationError):
        TypeAdapter(Name).validate_python(name)


@pytest.mark.parametrize("name", ["sst2", "minilm-l6", "layer-swapping", "my_method.v2"])
def test_ordinary_names_pass_the_name_pattern(name):
    assert TypeAdapter(Name).validate_python(name) == name


def test_every_write_target_stays_inside_its_folder(tmp_path):
    assert path_inside(tmp_path, "a.json") == tmp_path / "a.json"
    for bad in ["../a.json", "x/../../a.json", "/etc/passwd", "..", "sub/a.json"]:
        with pytest.raises(InvalidInputError, match="would not lie directly inside"):
            path_inside(tmp_path, bad)
    # a result that skipped validation (model_construct) still cannot write outside --out
    r = read_result(BASELINE / PLAIN)
    forged = r.model_copy(update={"task": r.task.model_copy(update={"name": "../../evil"})})
    with pytest.raises(InvalidInputError):
        forged.write(tmp_path / "out")
    assert not (tmp_path.parent / "evil__minilm-l6__layer-swapping__37c611d62816.json").exists()


# -- 2. forged control scores -----------------------------------------------------------------------
@pytest.mark.parametrize("forge, expected", [
    (lambda c: c.update(placement=[10, 11]), "control.placement [10, 11] is not one of"),
    (lambda c: c.update(placement=[3, 3]), "control.placement [3, 3] is not one of"),
    (lambda c: c.update(placement=[]), "field 'control.placement': List should have at least 2 items"),
    (lambda c: c.update(chance=0.0), "control.chance is 0.0, but the profile and the placement give 0.333"),
    (lambda c: c.update(accuracy_at_1=1.0, accuracy_at_2=1.0, chance=0.0), "but the profile and the placement give"),
])
def test_forged_control_scores_are_recomputed_and_rejected(tmp_path, board, forge, expected):
    d = _load(CONTROL)
    _set_profile(d, [1.0, 0.5, 0.1, 0.1, 0.1, 0.1])  # true scores for placement 2-3: acc@1 0, acc@2 0
    d["control"].update(accuracy_at_1=0.0, accuracy_at_2=0.0)
    ok = _write(tmp_path / "in" / "ok.json", d)
    assert _invoke("validate", ok).exit_code == 0  # the honest version of the forged file passes
    forge(d["control"])
    bad = _write(tmp_path / "in" / "forged.json", d)
    before = _tree(board)
    res = _invoke("submit", bad, "--name", "Forger", *_lb(board))
    assert res.exit_code == 2 and expected in res.output, res.output
    assert "Traceback" not in res.output and _tree(board) == before


# -- 3. validator gaps -------------------------------------------------------------------------------
def _rehash(d: dict) -> dict:
    d["config_hash"] = config_hash(d["config"])
    return d


GAPS = {
    "mcog NaN": (lambda d: d.update(mcog=float("nan")), "field 'mcog' is nan; every number must be finite"),
    "profile_raw NaN": (lambda d: d["profile_raw"].__setitem__(0, float("nan")), "field 'profile_raw.0' is nan"),
    "profile_raw inf": (lambda d: d["profile_raw"].__setitem__(0, float("inf")), "field 'profile_raw.0' is inf"),
    "profile_raw 1e999": (lambda d: d.update(profile_raw="1e999"), None),  # parses to inf
    "profile_raw negative": (lambda d: _set_profile(d, [0.0, 1, 1, 1, 1, 1]) and d["profile_raw"].__setitem__(0, -0.5),
                             "field 'raw_weights.0': Input should be greater than or equal to 0"),  # schema 1's name upgraded
    "profile_raw edited": (lambda d: d["profile_raw"].__setitem__(0, d["profile_raw"][0] * 3),
                           "layer_weights do not follow from raw_weights"),
    "12 layers on minilm-l6": (lambda d: _set_profile(d, [1.0] * 11 + [2.0]), "but model 'minilm-l6' has 6 layers"),
    "accuracy 5.0": (lambda d: d["memorisation"]["memorising"].update(validation_acc=5.0), "validation_acc"),
    "accuracy -3": (lambda d: d["memorisation"]["clean"].update(clean_train_acc=-3), "clean_train_acc"),
    "epoch accuracy 5.0": (lambda d: d["memorisation"]["clean"]["epochs"][0].update(noisy_acc=5.0),
                           "epochs.0.noisy_acc is 5.0; it must be in [0, 1]"),
    "negative epoch loss": (lambda d: d["memorisation"]["memorising"]["epochs"][1].update(loss=-3.0),
                            "epochs.1.loss is -3.0; it must be non-negative"),
    "fitted after training ended": (lambda d: d["memorisation"]["memorising"].update(first_fit_epoch=99),
                                    "first_fit_epoch is 99, but training recorded"),
    "shares over 1": (lambda d: d["memorisation"]["memorising"].update(noisy_original_acc=0.5, noisy_fit_perturbed=0.9),
                      "exceed 1"),
    "negative size": (lambda d: d["sizes"].update(n_clean=-5), "sizes.n_clean"),
    "inconsistent sizes": (lambda d: d["sizes"].update(n_clean=1), "n_noisy + n_clean"),
    "not a date": (lambda d: d.update(created_at="not a date"), "is not an ISO 8601 time"),
    "date without zone": (lambda d: d.update(created_at="2026-11-27T20:31:25"), "has no time zone"),
    "negative timing": (lambda d: d["timings"].update(method=-1.0), "timings.method"),
    "impostor method package": (lambda d: d["method"].update(package="evil-plugins"),
                                "is provided by 'memlocbench' here; a result cannot claim another package's method"),
    "built-in package, unknown task": (lambda d: d["task"].update(name="sst3"), "provides no such task"),
    "HTML method name": (lambda d: d["method"].update(name="<img src=x onerror=alert(1)>"), "field 'method.name'"),
    "markdown profile name": (lambda d: d.update(profile_name="[x](y)"), "field 'settings_profile'"),
    "seeds disagree with config": (lambda d: d["seeds"].update(model_seed=7), "but the config gives"),
    "config out of range": (lambda d: _rehash(d) if d["config"]["train"].update(epochs=0) is None else d,
                            "config.train.epochs"),
    "wrong roles": (lambda d: d["memorisation"]["memorising"].update(role="control-0-1"), "memorisation roles"),
    "no clean twin": (lambda d: d["memorisation"].pop("clean"), "memorisation needs both"),
    "nested 50 deep": (lambda d: d["details"].update(x=json.loads("[" * 50 + "]" * 50)), "nested deeper than 32"),
}


@pytest.mark.parametrize("case", list(GAPS))
def test_validator_gap_is_closed(tmp_path, board, case):
    mutate, expected = GAPS[case]
    d = _load()
    out = mutate(d)
    text = json.dumps(d)
    if case == "profile_raw 1e999":
        text = text.replace('"1e999"', "[1e999, 1, 1, 1, 1, 1]")
        expected = "field 'profile_raw.0' is inf; every number must be finite"
    bad = _write(tmp_path / "in" / "bad.json", text)
    good = BASELINE / PLAIN
    res = _invoke("validate", good, bad)
    assert res.exit_code == 2, (case, res.output)
    assert expected in res.output, (case, res.output)
    assert f"ok: {good}" in res.output and "Traceback" not in res.output  # the good file is still reported
    before = _tree(board)
    res = _invoke("submit", bad, "--name", "lab", *_lb(board))
    assert res.exit_code == 2 and "nothing was written" in res.output and _tree(board) == before
    del out


def test_crashes_inside_validation_become_a_report_per_file(tmp_path):
    deep = _write(tmp_path / "deep.json", '{"schema_version": 1, "details": ' + "[" * 200_000 + "]" * 200_000 + "}")
    control = _load(CONTROL)
    control["control"]["placement"] = []
    empty = _write(tmp_path / "empty-placement.json", control)
    res = _invoke("validate", deep, empty, BASELINE / CONTROL)
    assert res.exit_code == 2 and "Traceback" not in res.output and res.exception is None or \
        isinstance(res.exception, SystemExit)
    assert f"error: {deep}: JSON nested too deeply" in res.output
    assert f"error: {empty}: field 'control.placement'" in res.output
    assert f"ok: {BASELINE / CONTROL}" in res.output and "2 of 3 file(s) failed validation" in res.output


def test_all_committed_results_still_validate():
    files = sorted(BASELINE.glob("*.json"))
    res = _invoke("validate", *files)
    assert res.exit_code == 0, res.output
    n = len(files) - 1  # submission.json is metadata, not a result
    assert f"all {len(files)} file(s) valid" in res.output and res.output.count("ok: ") == n
    # 11 tasks x 4 layer methods, 11 x 3 analyses, the sst2 neuron methods and ablation, the control results
    assert n >= 11 * 4 + 11 * 3
    assert f"skipped: {BASELINE / 'submission.json'}" in res.output  # metadata, not a result


def test_declared_layer_count_matches_the_model(plugins):
    adapter = plugins.models.get("minilm-l6")
    assert adapter.info.num_layers == len(adapter.layer_modules(adapter.load_model(2))) == 6
    assert {plugins.models.get(m).info.num_layers for m in plugins.models.names() if m != "minilm-l6"} == {12}


# -- 8. --force, --not-run, run summaries ----------------------------------------------------------
def test_force_replaces_only_a_submission_of_the_same_name(board):
    one, two = BASELINE / PLAIN, BASELINE / CONTROL
    assert _invoke("submit", one, "--name", "Lab A", *_lb(board)).exit_code == 0
    before = _tree(board)
    res = _invoke("submit", two, "--name", "lab a", "--force", *_lb(board))
    assert res.exit_code == 2 and "'Lab A'" in res.output and "'lab a'" in res.output, res.output
    assert "same folder name 'lab-a'" in res.output and _tree(board) == before
    assert _invoke("submit", two, "--name", "Lab A", "--force", *_lb(board)).exit_code == 0
    assert sorted(p.name for p in (board / "submissions" / "lab-a").iterdir()) == sorted(
        [CONTROL, "submission.json", "README.md"])  # README.md: the submission's page


def test_not_run_accepts_registered_tasks_only(board):
    before = _tree(board)
    res = _invoke("submit", BASELINE / PLAIN, "--name", "lab", "--not-run", "boolk=no data", *_lb(board))
    assert res.exit_code == 2 and "unknown task 'boolk'. Did you mean 'boolq'?" in res.output, res.output
    assert _tree(board) == before
    assert _invoke("submit", BASELINE / PLAIN, "--name", "lab", "--not-run", "boolq=no data", *_lb(board)).exit_code == 0


def test_validate_and_submit_understand_run_summaries(tmp_path, board):
    results = [BASELINE / f"sst2__minilm-l6__{m}__2f5dae697d19.json" for m in ("layer-swapping", "layer-retraining")]
    from memlocbench.results.run_result import summarise

    summary = summarise([read_result(p) for p in results], control=False)
    out = tmp_path / "results"
    out.mkdir()
    for p in results:
        shutil.copy(p, out)
    spath = summary.write(out)
    res = _invoke("validate", *sorted(out.glob("*.json")))
    assert res.exit_code == 0, res.output
    assert f"ok: {spath} (run summary: sst2, minilm-l6, 2 method(s)" in res.output and "all 3 file(s) valid" in res.output
    res = _invoke("submit", *sorted(out.glob("*.json")), "--name", "lab", *_lb(board))
    assert res.exit_code == 0 and "submitted 2 result(s)" in res.output, res.output
    assert not list((board / "submissions" / "lab").glob("*.summary.json"))
    forged = json.loads(spath.read_text())
    forged["mean_mcog"] = 1.0
    spath.write_text(json.dumps(forged))
    res = _invoke("validate", spath)
    assert res.exit_code == 2 and "mean_mcog is 1.0, but the methods' M-CoGs give" in res.output


# -- 5. verify --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_verify_reruns_results_and_catches_edited_numbers(tmp_path, mirror, session_store):
    """A tiny real run, submitted to a temporary leaderboard, verified; then its numbers are edited
    consistently (raw and normalised layer weights, M-CoG; the config and its hash unchanged): validation cannot
    tell, verify does, and the page says so."""
    lb = ["--submissions", tmp_path / "subs", "--out", tmp_path / "lb" / "README.md", "--figures", tmp_path / "lb" / "fig"]
    res = _invoke("run", "--method", "layer-swapping", "--task", "sst2", "--train-size", 48, "--max-length", 32,
                  "--epochs", 1, "--batch-size", 16, "--data-dir", mirror, "--cache-dir", session_store.root,
                  "--out", tmp_path / "results", "--quiet")
    assert res.exit_code == 0, res.output
    [result] = sorted((tmp_path / "results").glob("*.json"))
    assert _invoke("submit", result, "--name", "Tiny lab", *lb).exit_code == 0
    folder = tmp_path / "subs" / "tiny-lab"
    verify = ["verify", folder, "--sample", 3, "--data-dir", mirror, "--cache-dir", session_store.root, *lb]
    res = _invoke(*verify)
    assert res.exit_code == 0, res.output
    assert f"ok: {result.name}" in res.output and "tolerance: each layer's weight within 0.05, M-CoG within 0.1" in res.output
    record = json.loads((folder / "verification.json").read_text())
    assert [c["result"] for c in record["checked"]] == [result.name] and record["checked"][0]["passed"]
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "| 1 of 1 re-run, all within tolerance (" in page

    submitted = folder / result.name
    d = _set_profile(json.loads(submitted.read_text()), [1.0, 0, 0, 0, 0, 0])  # "memorisation lives in layer 1"
    forged = _write(tmp_path / "forged" / result.name, d)
    assert _invoke("validate", forged).exit_code == 0  # consistent: only a re-run can catch it
    shutil.copy(forged, submitted)  # edited after verification: the mark no longer counts
    assert _invoke("leaderboard", *lb).exit_code == 0
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "| Tiny lab | 1 | no |" in " ".join(page.split()) and "of 1 re-run" not in page
    assert _invoke("submit", forged, "--name", "Tiny lab", "--force", *lb).exit_code == 0
    res = _invoke(*verify)
    assert res.exit_code == 1 and f"FAILED: {result.name}: a layer's weight differs by" in res.output, res.output
    assert not json.loads((folder / "verification.json").read_text())["checked"][0]["passed"]
    page = (tmp_path / "lb" / "README.md").read_text()
    assert "| 1 of 1 re-run, 1 outside tolerance (" in page and "(marked FAILED in [results.csv]" in page
    assert ",FAILED," in (tmp_path / "lb" / "results.csv").read_text()  # the result's row


def test_unwritable_figures_folder_is_found_before_filing(tmp_path, board):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = _tree(board)
    res = _invoke("submit", BASELINE / PLAIN, "--name", "lab", "--submissions", board / "submissions",
                  "--out", board / "README.md", "--figures", blocker / "figures")
    assert res.exit_code == 2 and f"cannot write to {blocker / 'figures'}" in res.output, res.output
    assert _tree(board) == before  # no half-filed submission


def test_verify_reruns_only_the_recorded_control_placement(plugins, mirror, tmp_path):
    """verify asks the pipeline for one control placement; one that the model does not have is refused
    before any training."""
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore

    cfg = profile_config("cpu", data={"train_size": 64, "max_length": 32}, train={"epochs": 1})
    req = RunRequest(task="sst2", model="minilm-l6", methods=["layer-swapping"], config=cfg, data_dir=mirror,
                     out_dir=tmp_path / "out", store=ArtefactStore(tmp_path / "store"), progress=False,
                     control=True, placements=[(3, 3)])
    with pytest.raises(InvalidInputError, match=r"control placements \[\(3, 3\)\] are not among"):
        run(plugins, req, log=lambda m: None)
    assert not (tmp_path / "store" / "models").exists() or not any((tmp_path / "store" / "models").iterdir())


@pytest.mark.parametrize("spelling", ["Memlocbench", "MEMLOCBENCH", "memlocbench "])
def test_package_names_are_compared_normalised(tmp_path, spelling):
    """D26: a result's package is compared by its PEP 503 name, so the same package spelled another way
    (as pip or another packaging tool may record it) is not mistaken for a foreign one."""
    data = _load(PLAIN)
    data["method"]["package"] = spelling.strip() if spelling.strip() != spelling else spelling
    path = _write(tmp_path / PLAIN, data)
    res = _invoke("validate", path)
    assert res.exit_code == 0, res.output
    data["method"]["package"] = "memlocbench-impostor"
    res = _invoke("validate", _write(tmp_path / PLAIN, data))
    assert res.exit_code == 2 and "field 'method.package' is 'memlocbench-impostor'" in res.output
