"""Issue 32 item 3, a page led by its answers: the headline control tables (no misleading accuracy@2 on a
single-layer track, any track value), the agreement matrix ("n < 5", "p < 0.01"), results.csv (one row
per result file), the per-submission pages (notes kept), the M-CoG bounds beside the grids, and cells
flagged by a method's ``flags(details)`` (a plugin's error never breaks the page)."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.leaderboard import (NOTES_MARK, Cell, Collected, Entry, MethodSpec, ModelTable, collect,
                                     results_csv, render, submission_pages)
from memlocbench.leaderboard.markdown import fmt_p, fmt_statistic, mean_sd
from memlocbench.leaderboard.method_spec import flagger
from memlocbench.leaderboard.sections import agreement
from memlocbench.results.run_result import read_result

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboard" / "submissions"
BASELINE = COMMITTED / "memlocbench-cpu-baseline"
PLAIN = "sst2__minilm-l6__layer-swapping__2f5dae697d19.json"
SEED = "582ffc8deb01"


def _section(page: str, title: str) -> str:
    return page.split(f"## {title}")[1].split("\n## ")[0]


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _entries(*names: str) -> list[Entry]:
    return [Entry("lab", read_result(BASELINE / n), filename=n) for n in names]


# -- the agreement matrix: "n < 5" and "p < 0.01" --------------------------------------------------------
def _table(cols: dict[str, list[float]], layers: int = 6) -> ModelTable:
    cells = {(f"t{i}", c): Cell([SimpleNamespace(mcog=x, details={})]) for c, xs in cols.items()
             for i, x in enumerate(xs)}
    return ModelTable("m", sorted(cols), cells, sorted({t for t, _ in cells}), num_layers=layers)


def test_the_agreement_matrix_shows_n_below_5_and_p_below_0_01():
    t = _table({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "b": [1.5, 2.5, 3.5, 4.5, 5.5, 5.9], "c": [2.0, 1.0, 4.0, 3.0]})
    md = "\n".join(agreement.section([t]))
    row_a = next(line for line in md.splitlines() if line.startswith("| a "))
    cells = [c.strip() for c in row_a.strip("|").split("|")]
    assert cells == ["a", "1.00 (p < 0.01, n = 6)", "n < 5"]  # over 4 points: no rho
    row_b = next(line for line in md.splitlines() if line.startswith("| b "))
    assert [c.strip() for c in row_b.strip("|").split("|")] == ["b", "", "n < 5"]  # the upper triangle
    assert "(0.00)" not in md and "p = 0.00" not in md
    assert fmt_p(0.0049) == "p < 0.01" and fmt_p(0.0123) == "p = 0.01" and fmt_p(0.5) == "p = 0.50"
    assert fmt_statistic(0.9, 0.001, 4) == "n < 5" and fmt_statistic(0.9, 0.001, 5) == "0.90 (p < 0.01, n = 5)"


def test_no_spread_over_fewer_than_5_seeds():
    assert mean_sd([1.0, 2.0, 3.0]) == "2.00"
    assert mean_sd([1.0, 2.0, 3.0, 4.0, 5.0]) == "3.00 ± 1.58"


# -- the headline tables: one per track, accuracy@2 only where it can reach 1 ------------------------------
def test_the_single_layer_track_has_no_misleading_accuracy_at_2():
    pair = _entries(f"sst2__minilm-l6__layer-swapping__control-2-3__{SEED}.json",
                    f"sst2__minilm-l6__layer-swapping__control-0-1__{SEED}.json")
    single = _entries(*(f"sst2__minilm-l6__layer-swapping__control-{k}-{k}__{SEED}.json" for k in range(6)))
    # a baseline method (any name) and a new track value, from the same files
    random = [Entry("lab", e.result.model_copy(update={"method": e.result.method.model_copy(update={"name": "random"})}))
              for e in pair]
    routed = [Entry("lab", e.result.model_copy(update={"control": e.result.control.model_copy(
        update={"track": "routed-single"})})) for e in single]
    control = _section(render(Collected(entries=pair + single + random + routed)), "1. Methods on the control benchmark")
    assert control.index("### Two-layer placements") < control.index("### Single-layer placements") \
        < control.index("### Routed single-layer placements")
    two, one, routed_part = re.split(r"^### Single-layer placements.*$|^### Routed single-layer placements.*$",
                                     control.split("Means over tasks")[0], flags=re.M)  # the tables, not the note
    assert re.search(r"^\| rank +\| method +\| accuracy@1 +\| accuracy@2 +\| mean rank of true layer +\| tasks × seeds",
                     two, flags=re.M)
    assert re.search(r"^\| \d +\| random ", two, flags=re.M)  # every method with results, baselines too
    for part in (one, routed_part):
        assert "accuracy@2" not in part
        assert re.search(r"^\| rank +\| method +\| accuracy@1 +\| mean rank of true layer +\| tasks × seeds", part,
                         flags=re.M)
        assert re.search(r"^\| 1 +\| layer-swapping +\| 1\.00 +\| 1\.00 +\| 1 × 1 ", part, flags=re.M)
        assert "accuracy@1 0.17 and a mean rank of the true layer of 3.50 on these 6 placements" in part
    assert "accuracy@1 0.33, accuracy@2 0.33 and a mean rank of the true layer of 2.33" in two
    assert "#### 6-layer models: minilm-l6" in two and "| lab " not in control  # one submission, one model


# -- results.csv and the per-submission pages ----------------------------------------------------------------
def _an_analysis_result() -> Path:
    """A committed analysis result that the installed analysis still accepts (submit refuses the others)."""
    from memlocbench.leaderboard import validate_files
    from memlocbench.registry import load_plugins

    candidates = sorted(BASELINE.glob("cola__minilm-l6__analysis-*.json"))
    return next(c.path for c in validate_files(candidates, load_plugins()) if not c.problems)


@pytest.fixture
def submitted(tmp_path) -> Path:
    files = [BASELINE / PLAIN, BASELINE / "cola__minilm-l6__layer-swapping__2f5dae697d19.json",
             BASELINE / f"sst2__minilm-l6__layer-swapping__control-2-3__{SEED}.json", _an_analysis_result()]
    res = _invoke("submit", *files, "--name", "Lab *Z*", "--description", "two tasks", "--submissions",
                  tmp_path / "subs", "--out", tmp_path / "lb" / "README.md", "--figures", tmp_path / "lb" / "figures")
    assert res.exit_code == 0, res.output
    return tmp_path


def test_results_csv_holds_one_row_per_result_file(submitted):
    rows = list(csv.DictReader((submitted / "lb" / "results.csv").open()))
    filed = sorted(p.name for p in (submitted / "subs" / "lab-z").glob("*.json") if p.name != "submission.json")
    assert len(filed) == 4 and sorted(Path(r["file"]).name for r in rows) == filed
    for row in rows:
        path = submitted / "lb" / row["file"]  # relative to the csv
        assert path.is_file() and row["submission"] == "lab-z"
        data = json.loads(path.read_text())
        assert row["task"] == data["task"]["name"] and row["model"] == data["model"]["name"]
        if row["kind"] == "method":
            assert float(row["mcog"]) == data["mcog"] and row["model_seed"] == str(data["seeds"]["model_seed"])
        else:
            assert json.loads(row["summary"]) == data["summary"]
    control = next(r for r in rows if r["track"])
    assert (control["track"], control["placement"], control["setup"]) == ("pair", "3-4", "control 3-4")
    page = (submitted / "lb" / "README.md").read_text()
    assert "[results.csv](results.csv)" in page and "| standard " in _section(page, "All results")
    assert "| sst2 " not in _section(page, "All results")  # no row per result on the page


def test_each_submission_gets_a_generated_page_that_keeps_its_notes(submitted, tmp_path):
    lb = ["--submissions", submitted / "subs", "--out", submitted / "lb" / "README.md", "--figures",
          submitted / "lb" / "figures"]
    page_file = submitted / "lb" / "submissions" / "lab-z" / "README.md"
    text = page_file.read_text()
    assert text.startswith(r"# Lab \*Z\*") and NOTES_MARK in text and "two tasks" in text
    assert "| machines " in text and "## Control benchmark, in detail" in text and "compute (s)" in text
    assert "[page](submissions/lab-z/README.md)" in _section((submitted / "lb" / "README.md").read_text(), "Submissions")
    # notes below the mark survive a rebuild; the generated part is rebuilt
    notes = "## How we ran it\n\n`memlocbench run --task sst2`"
    page_file.write_text(text.replace("two tasks", "edited by hand") + notes + "\n")
    shutil.copy(page_file, submitted / "subs" / "lab-z" / "README.md")  # the submission's own README.md
    assert _invoke("leaderboard", *lb).exit_code == 0
    again = page_file.read_text()
    assert again == text.rstrip("\n") + "\n\n" + notes + "\n"
    # a README.md written before the pages existed is kept whole as the notes (less its title line)
    (submitted / "subs" / "lab-z" / "README.md").write_text("# Lab *Z*\n\nOur commands.\n")
    assert _invoke("leaderboard", *lb).exit_code == 0
    assert page_file.read_text().endswith(NOTES_MARK + "\n\nOur commands.\n")


def test_the_committed_csv_and_submission_pages_are_up_to_date():
    """As the committed page (test_leaderboard.py): what `memlocbench leaderboard` makes of the submissions."""
    from memlocbench.leaderboard import LeaderboardSpec, page_spec
    from memlocbench.registry import load_plugins

    collected = collect(COMMITTED, plugins=load_plugins())
    assert results_csv(collected) == (REPO / "leaderboard" / "results.csv").read_text()
    spec = page_spec(collected, LeaderboardSpec.from_plugins(load_plugins()))
    for slug, text in submission_pages(collected, COMMITTED, spec.higher_layer_ties).items():
        assert text == (COMMITTED / slug / "README.md").read_text(), slug
    assert "memlocbench grid --tasks" in (BASELINE / "README.md").read_text()  # the submitters' notes kept


# -- the M-CoG bounds and flagged cells -------------------------------------------------------------------
def _where(methods: MethodSpec | None) -> str:
    entries = _entries(PLAIN, "cola__minilm-l6__layer-swapping__2f5dae697d19.json")
    return _section(render(Collected(entries=entries), methods=methods), "2. Where memorisation lives")


def test_the_mcog_bounds_stand_beside_the_grid():
    windows = _where(MethodSpec(aggregations=(("layer-swapping", "windows"),)))
    assert re.search(r"^\| method +\| aggregation +\| lowest M-CoG +\| highest M-CoG", windows, flags=re.M)
    assert re.search(r"^\| layer-swapping +\| windows +\| 2\.54 +\| 4\.46 +\|$", windows, flags=re.M)
    layers = _where(None)  # no registry: MethodInfo's default aggregation
    assert re.search(r"^\| layer-swapping +\| layers +\| 1\.00 +\| 6\.00 +\|$", layers, flags=re.M)


class _FakeMethod:
    info = SimpleNamespace(granularity="layer", aggregation="windows")

    def __init__(self, flags):
        self.flags = flags


def test_cells_a_method_flags_are_marked_and_its_errors_never_break_the_page():
    seen = []

    def flags(details):
        seen.append(details)
        details.clear()  # a copy: the result keeps its details
        return ["the profile is flat"] if seen and len(seen) == 1 else []

    plugins = SimpleNamespace(methods=SimpleNamespace(items={"layer-swapping": _FakeMethod(flags)}))
    where = _where(MethodSpec.from_plugins(plugins))
    cola = next(line for line in where.splitlines() if line.startswith("| cola "))
    sst2 = next(line for line in where.splitlines() if line.startswith("| sst2 "))
    assert "†1" in cola and "†" not in sst2  # tasks by name: cola's result is checked first
    assert "- †1 layer-swapping, cola: the profile is flat" in where
    assert read_result(BASELINE / PLAIN).details  # untouched

    def broken(details):
        raise RuntimeError("no such key")

    where = _where(MethodSpec(flaggers=(("layer-swapping", broken),)))
    assert re.search(r"^\| cola .*‡1", where, flags=re.M)
    assert "- ‡1 layer-swapping, cola, sst2: could not check: its flags() raised RuntimeError: no such key" in where
    # a method without flags, or whose attribute itself fails, is read with care
    assert flagger(SimpleNamespace()) is None

    class Exploding:
        @property
        def flags(self):
            raise ValueError("bad plugin")

    with pytest.raises(ValueError):
        flagger(Exploding())({})
    assert "‡1" in _where(MethodSpec(flaggers=(("layer-swapping", flagger(Exploding())),)))
