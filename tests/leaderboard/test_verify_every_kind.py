"""`memlocbench verify` over every kind of result, and what the page makes of its record (issue 33: item 1,
defects D2, D3, D4 and D27).

The fast tests replace the re-run itself (``verification._rerun`` for method results,
``verification._rerun_analysis`` for analysis results) by one that returns the submitted numbers, or
changed ones; everything around it (sampling, validation, the comparison, the record, the rebuild) is the
real code. ``test_verify_reruns_a_real_analysis`` re-runs a tiny real analysis end to end. Every attack
starts from the committed baseline, copied to a temporary folder; the repository is never written."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.leaderboard import collect, slugify
from memlocbench.leaderboard import verification, verification_record
from memlocbench.results.analysis_result import AnalysisResult, read_analysis_result
from memlocbench.results.run_result import read_result
from memlocbench.scoring.layer_weights import mcog, normalise

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "leaderboard" / "submissions" / "memlocbench-cpu-baseline"
KINDS = {  # one committed file of each kind the sample can draw
    "standard": "sst2__minilm-l6__layer-swapping__2f5dae697d19.json",
    "pair": "sst2__minilm-l6__layer-swapping__control-2-3__582ffc8deb01.json",
    "single": "sst2__minilm-l6__layer-swapping__control-3-3__582ffc8deb01.json",
    "planted": "sst2__minilm-l6__zero-out__planted-neurons__46279e1b77ef.json",
    "analysis": "mrpc__minilm-l6__analysis-centroids__1f4fea4b556c.json",
}


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _lb(board: Path) -> list[str]:
    return ["--submissions", board / "submissions", "--out", board / "README.md", "--figures", board / "figures"]


@pytest.fixture
def board(tmp_path) -> Path:
    """A copy of the committed leaderboard folder."""
    shutil.copytree(REPO / "leaderboard", tmp_path / "leaderboard")
    return tmp_path / "leaderboard"


def _file_by_hand(subs: Path, name: str, files: dict[str, str]) -> Path:
    """A submission folder as `submit` lays it out, written by hand (as a pull request would)."""
    folder = subs / slugify(name)
    folder.mkdir(parents=True)
    for fname, text in files.items():
        (folder / fname).write_text(text)
    (folder / "submission.json").write_text(json.dumps({"name": name, "slug": slugify(name), "results": sorted(files)}))
    return folder


def _faithful(r, plugins, *args, **kwargs):
    """A re-run that reproduces the submitted method result exactly (it looks the method up, as the
    real re-run does)."""
    plugins.methods.get(r.method.name)
    plugins.models.get(r.model.name)
    return r


def _faithful_analysis(r, plugins, *args, **kwargs):
    return verification.AnalysisRerun(
        sizes=dict(r.sizes), seeds=list(r.seeds), summary=dict(r.summary),
        memorised={s: g.memorised for s, g in r.memorisation_guard.items()},
        noisy_fit={s: g.noisy_fit for s, g in r.memorisation_guard.items()}), {"analysis": False}


@pytest.fixture
def faithful(monkeypatch):
    monkeypatch.setattr(verification, "_rerun", _faithful)
    monkeypatch.setattr(verification, "_rerun_analysis", _faithful_analysis, raising=False)


def _section(page: str, title: str) -> str:
    return page.split(f"## {title}")[1].split("\n## ")[0]


def _csv_rows(board: Path) -> list[dict]:
    """The rows of the results.csv written beside the page (one per result file, with its verified mark)."""
    return list(csv.DictReader((board / "results.csv").open()))


def _submission_row(page: str, name: str) -> str:
    return next(line for line in _section(page, "Submissions").splitlines() if line.startswith(f"| {name} "))


def test_verify_samples_every_kind_of_result(board, faithful):
    """Item 1: a sample that covers a standard, a two-layer, a single-layer, a planted-neuron and an analysis
    result is re-run kind by kind; each is recorded with its re-run's numbers, and the page marks all five."""
    folder = _file_by_hand(board / "submissions", "Every kind", {f: (BASELINE / f).read_text() for f in KINDS.values()})
    res = _invoke("verify", folder, "--sample", 5, *_lb(board))
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "has no attribute" not in res.output
    for f in KINDS.values():
        assert f"ok: {f}" in res.output
    assert f"ok: {KINDS['analysis']} (analysis: 6 summary number(s)" in res.output
    assert "memorisation statistics (noisy fit, accuracies, recall@k) within 0.05" in res.output
    record = json.loads((folder / "verification.json").read_text())
    kinds = {c["result"]: (c["kind"], c["rerun"]["kind"]) for c in record["checked"]}
    assert kinds[KINDS["analysis"]] == ("analysis", "analysis")
    assert all(kinds[f] == ("method", "method") for k, f in KINDS.items() if k != "analysis")
    assert "| 5 of 5 re-run, all within tolerance (" in _submission_row((board / "README.md").read_text(), "Every kind")


def test_verify_of_the_committed_baseline_draws_an_analysis_without_crashing(board, faithful):
    """The issue's command (`verify ... --sample 1 --seed 18` draws an analysis result) and a larger sample."""
    folder = board / "submissions" / "memlocbench-cpu-baseline"
    res = _invoke("verify", folder, "--sample", 1, "--seed", 18, *_lb(board))
    assert res.exit_code == 0, res.output
    assert "ok: mrpc__minilm-l6__analysis-centroids__1f4fea4b556c.json (analysis:" in res.output
    res = _invoke("verify", folder, "--sample", 12, "--seed", 4, *_lb(board))
    assert res.exit_code == 0, res.output
    record = json.loads((folder / "verification.json").read_text())
    assert {c["kind"] for c in record["checked"]} == {"method", "analysis"} and all(c["passed"] for c in record["checked"])
    assert "| 12 of 383 re-run, all within tolerance (" in _submission_row((board / "README.md").read_text(),
                                                                          "memlocbench cpu baseline")


def test_analysis_outside_the_tolerance_fails(board, monkeypatch, faithful):
    def shifted(r, plugins, *args, **kwargs):
        numbers, cached = _faithful_analysis(r, plugins)
        numbers.summary["crossing_layer"] += 1.0  # the re-run's crossing layer one layer higher
        return numbers, cached

    monkeypatch.setattr(verification, "_rerun_analysis", shifted)
    folder = _file_by_hand(board / "submissions", "Analyses", {KINDS["analysis"]: (BASELINE / KINDS["analysis"]).read_text()})
    res = _invoke("verify", folder, *_lb(board))
    assert res.exit_code == 1 and f"FAILED: {KINDS['analysis']}: summary crossing_layer differs by 1.0000" in res.output
    page = (board / "README.md").read_text()
    assert "| 1 of 1 re-run, 1 outside tolerance (" in _submission_row(page, "Analyses")


def test_d4_verify_compares_the_memorisation_statistics(board, monkeypatch):
    """D4: a result that claims noisy fit 1.0 where the re-run gives 0.875 fails, and leaves the means."""
    def lower_fit(r, plugins, *args, **kwargs):
        mem = r.memorisation["memorising"]
        assert mem.noisy_fit_perturbed == 1.0
        return r.model_copy(update={"memorisation": {**r.memorisation, "memorising": mem.model_copy(
            update={"noisy_fit_perturbed": 0.875, "noisy_original_acc": 0.125})}})

    monkeypatch.setattr(verification, "_rerun", lower_fit)
    name = KINDS["standard"]
    folder = _file_by_hand(board / "submissions", "Lab X", {name: (BASELINE / name).read_text()})
    res = _invoke("verify", folder, *_lb(board))
    assert res.exit_code == 1, res.output
    assert f"FAILED: {name}: a memorisation statistic differs by 0.1250 (> 0.05; e.g. memorising noisy_fit_perturbed: " \
           "submitted 1.0000, re-run 0.8750)" in res.output
    page = (board / "README.md").read_text()
    assert "| 1 of 1 re-run, 1 outside tolerance (" in _submission_row(page, "Lab X")
    assert "layer-swapping (Lab X)" not in _section(page, "2. Where memorisation lives")  # in no mean
    assert "**Verification:** 1 result(s) whose re-run" in page
    assert [r["verified"] for r in _csv_rows(board) if r["submission"] == "lab-x"] == ["FAILED"]


def test_d27_verify_names_the_missing_package_and_goes_on(board, monkeypatch):
    """D27: a result whose method is not installed is recorded as failed, naming its package; the other
    results of the sample are still re-run."""
    monkeypatch.setattr(verification, "_rerun", _faithful)
    d = json.loads((BASELINE / KINDS["standard"]).read_text())
    d["method"] = {"name": "acme-method", "version": 1, "package": "acme-plugins", "package_version": "1.2"}
    forged = read_result_from(d)
    other = KINDS["pair"]
    folder = _file_by_hand(board / "submissions", "Lab Y", {forged.filename(): json.dumps(d),
                                                             other: (BASELINE / other).read_text()})
    res = _invoke("verify", folder, "--sample", 2, *_lb(board))
    assert res.exit_code == 1, res.output
    assert f"ok: {other}" in res.output
    assert f"FAILED: {forged.filename()}: " in res.output and "'acme-plugins' 1.2, which is not installed here" in res.output
    assert "pip install 'acme-plugins==1.2'" in res.output
    record = json.loads((folder / "verification.json").read_text())
    assert sorted(c["passed"] for c in record["checked"]) == [False, True]


def read_result_from(d: dict):
    from memlocbench.results.run_result import Result

    return Result.model_validate(d)


def test_d2_a_forged_verification_record_is_not_taken(board):
    """D2: a hand-written verification.json that says passed (a 4.0 M-CoG difference, tolerance 1000) marks
    nothing: the page compares the file with the re-run's own numbers under the standard tolerance."""
    folder = board / "submissions" / "memlocbench-cpu-baseline"
    name = KINDS["standard"]
    digest = verification.file_sha256(folder / name)
    forged = {"kind": "verification", "memlocbench_version": "0.1.0", "verified_at": "2026-12-01T00:00:00+00:00",
              "tolerance": {"profile_abs": 1000, "mcog_abs": 1000}, "sample_seed": 0, "results_in_submission": 383,
              "checked": [{"result": name, "sha256": digest, "passed": True, "submitted_mcog": 3.18,
                           "rerun_mcog": 7.18, "mcog_diff": 4.0, "max_profile_diff": 0.9}]}
    (folder / "verification.json").write_text(json.dumps(forged))
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    page = (board / "README.md").read_text()
    assert re.search(r"\| memlocbench cpu baseline +\| [^|]+\| no +\|", _submission_row(page, "memlocbench cpu baseline"))
    assert not any(r["verified"] for r in _csv_rows(board))
    # the same claim with re-run numbers 4.0 away: the page recomputes the verdict and shows it FAILED
    r = read_result(folder / name)
    raw = [0.0] * (r.num_layers - 1) + [1.0]
    forged["checked"][0].update(kind="method", rerun={
        "kind": "method", "sizes": r.sizes, "layer_weights": normalise(raw), "mcog": mcog(normalise(raw)),
        "memorisation": {role: {k: getattr(st, k) for k in verification_record.STATS}
                         for role, st in r.memorisation.items()}, "memorised": True})
    (folder / "verification.json").write_text(json.dumps(forged))
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    page = (board / "README.md").read_text()
    assert "| 1 of 383 re-run, 1 outside tolerance" in _submission_row(page, "memlocbench cpu baseline")
    assert f"{name} is recorded as passed, but its re-run lies outside the standard tolerance" in \
        _section(page, "Not counted").replace("\\_", "_")


def test_d3_the_mark_follows_the_digest_not_the_file_name(board, faithful):
    """D3: after a verified run, a changed copy of the verified file under extra/ is no part of the
    submission (not filed) and is never shown as verified; the original keeps its mark."""
    folder = board / "submissions" / "memlocbench-cpu-baseline"
    record = verification.verify_submission(folder, _plugins(), sample=1, seed=0, log=lambda m: None)
    name = record.checked[0].result
    d = json.loads((folder / name).read_text())
    d["timings"] = {k: v + 1.0 for k, v in d["timings"].items()}  # a changed copy: another digest
    (folder / "extra").mkdir()
    (folder / "extra" / name).write_text(json.dumps(d))
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    page = (board / "README.md").read_text()
    assert sum(r["verified"] == "yes" for r in _csv_rows(board)) == 1
    assert "| 1 of 383 re-run, all within tolerance" in _submission_row(page, "memlocbench cpu baseline")
    assert "memlocbench-cpu-baseline/extra: a folder that submission.json does not list" in \
        _section(page, "Not counted").replace("\\", "")
    # the original itself, edited after verification, loses its mark
    (folder / name).write_text(json.dumps(d))
    collected = collect(board / "submissions")
    assert not any(e.verified for e in collected.entries)


def _plugins():
    from memlocbench.registry import load_plugins

    return load_plugins()


@pytest.mark.slow
def test_verify_reruns_a_real_analysis(tmp_path, mirror):
    """A tiny real analysis, submitted, then verified from an empty store (the models and the analysis
    re-computed): within tolerance; its summary edited (config unchanged): validation cannot tell, verify does."""
    lb = ["--submissions", tmp_path / "subs", "--out", tmp_path / "lb" / "README.md", "--figures", tmp_path / "lb" / "fig"]
    res = _invoke("analyse", "centroids", "--task", "sst2", "--train-size", 48, "--max-length", 32, "--epochs", 1,
                  "--batch-size", 16, "--seed", 1, "--data-dir", mirror, "--cache-dir", tmp_path / "store-a",
                  "--out", tmp_path / "results", "--quiet")
    assert res.exit_code == 0, res.output
    [result] = sorted((tmp_path / "results").glob("*.json"))
    assert _invoke("submit", result, "--name", "Tiny lab", *lb).exit_code == 0
    folder = tmp_path / "subs" / "tiny-lab"
    verify = ["verify", folder, "--data-dir", mirror, "--cache-dir", tmp_path / "store-b", *lb]
    res = _invoke(*verify)
    assert res.exit_code == 0, res.output
    record = json.loads((folder / "verification.json").read_text())
    [c] = record["checked"]
    assert c["passed"] and c["kind"] == "analysis" and c["cached"] == {"analysis": False}
    assert c["max_summary_diff"] == 0.0  # same machine, same software: bit-identical
    assert "| 1 of 1 re-run, all within tolerance (" in (tmp_path / "lb" / "README.md").read_text()

    from memlocbench_analyses.centroids import summarise

    d = json.loads(result.read_text())  # every event one layer later, the summary recomputed: consistent
    for out in d["details"]["per_seed"].values():
        for pair in out["pairs"]:
            pair.update({e: pair[e] + 1.0 for e in ("crossing", "initiation") if pair[e] is not None})
        out.update({k: out[k] + 1.0 for k in ("crossing_pooled", "initiation_pooled") if out[k] is not None})
    d["summary"] = summarise(d["details"]["per_seed"])
    assert d["summary"] != json.loads(result.read_text())["summary"]
    forged = tmp_path / "forged" / result.name
    forged.parent.mkdir()
    forged.write_text(json.dumps(d))
    assert AnalysisResult.model_validate(d).filename() == result.name
    assert _invoke("validate", forged).exit_code == 0  # consistent: only a re-run can catch it
    assert _invoke("submit", forged, "--name", "Tiny lab", "--force", *lb).exit_code == 0
    res = _invoke(*verify)
    assert res.exit_code == 1 and f"FAILED: {result.name}: summary " in res.output, res.output
    assert "differs by 1.0000" in res.output and read_analysis_result(folder / result.name).summary == d["summary"]
    assert "| 1 of 1 re-run, 1 outside tolerance (" in (tmp_path / "lb" / "README.md").read_text()
