"""Issue 30, items 2-4: the "Memorisation vs generalisation" section built from hand-made analysis results:
flagged values out of every statistic, "n < 5", measures an older result does not compute, training sizes
side by side, the paper's comparators and task orderings."""

from __future__ import annotations

import re

import pytest

from memlocbench.config.profiles import PROFILES
from memlocbench.contracts.protocols import Measure
from memlocbench.leaderboard import AnalysisEntry, Collected, DeclaredMeasure, LeaderboardSpec, render
from memlocbench.leaderboard.aggregate import rank_statistics as rs
from memlocbench.leaderboard.aggregate.analyses import groups, statistic
from memlocbench.leaderboard.sections.generalisation import statistic_text
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import PluginRef

G, L = "generalisation", "location"
GS = DeclaredMeasure("gen-x", Measure(key="generalisation_score", label="generalisation score", kind=G))
GSC = DeclaredMeasure("gen-x", Measure(key="generalisation_score_corrected",
                                       label="chance-corrected generalisation score", kind=G))
PAPER = {"t0": 1.0, "t1": 2.0, "t2": 2.0, "t3": 4.0, "t4": 5.0, "t5": 6.0, "t9": 7.0}
TOP = DeclaredMeasure("loc-y", Measure(key="top", label="top layer", kind=L, paper_rho=0.75, paper_rho_validation=0.7,
                                       paper_ordering=PAPER, paper_ordering_source="a figure, read by eye"))
GENS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
TOPS = [1.0, 2.0, 3.0, 4.0, 5.0, 0.5]  # monotone in the score but for t5


def _flags(summary: dict, details: dict) -> dict[str, str]:
    if details.get("explode"):
        raise RuntimeError("no runs recorded")
    return {"generalisation_score": "2 of 8 map runs did not fit their half"} if details.get("unfit") else {}


def _result(task: str, analysis: str, summary: dict, size: int = 300, details: dict | None = None,
            version: int = 1) -> AnalysisResult:
    ref = lambda n, v=1: PluginRef(name=n, version=v, package="pkg", package_version="1")  # noqa: E731
    cfg = PROFILES["cpu"].model_copy(update={"data": PROFILES["cpu"].data.model_copy(update={"train_size": size})})
    return AnalysisResult(memlocbench_version="0.1.0", created_at="2026-01-01T00:00:00+00:00", task=ref(task),
                          model=ref("m"), analysis=ref(analysis, version), profile_name="cpu",
                          config=cfg.model_dump(mode="json"), config_hash=cfg.hash(), params={}, seeds=[1],
                          data_seed=1, sizes={}, num_layers=6, summary=summary, details=details or {}, timings={},
                          cached=False, environment={})


def _collected(size: int = 300, n: int = 6, unfit: tuple[str, ...] = (), corrected: bool = True,
               tops: list[float] = TOPS, **details) -> list[AnalysisEntry]:
    out = []
    for i, (g, top) in enumerate(zip(GENS[:n], tops[:n])):
        task = f"t{i}"
        summary = {"generalisation_score": g, **({"generalisation_score_corrected": g / 2} if corrected else {})}
        out += [_result(task, "gen-x", summary, size, {"unfit": task in unfit, **details},
                        version=4 if corrected else 3),
                _result(task, "loc-y", {"top": top}, size)]
    return [AnalysisEntry("s", r, f"{size}-{i}.json") for i, r in enumerate(out)]


def _spec(flags=_flags) -> LeaderboardSpec:
    return LeaderboardSpec(measures=(GS, GSC, TOP), analysis_flaggers=(("gen-x", flags),))


def _section(entries: list[AnalysisEntry], spec: LeaderboardSpec | None = None) -> str:
    page = render(Collected(analyses=entries), spec=spec or _spec())
    return page.split("## Memorisation vs generalisation")[1].split("\n## ")[0]


def _row(part: str, *cells: str) -> str:
    """The table line whose first cells are ``cells``."""
    pattern = "^" + "".join(rf"\| {re.escape(c)} +" for c in cells) + r"\|.*$"
    return re.search(pattern, part, re.M).group(0)


def test_flagged_values_are_marked_and_left_out_of_every_correlation():
    part = _section(_collected(unfit=("t5",)))
    assert re.search(r"\| t5 +\| 0\.60 † +\|", part)  # shown, marked
    assert "- † t5, generalisation score: 2 of 8 map runs did not fit their half" in part
    # t5 (the one task out of order) is out: the other five are perfectly monotone
    rows = groups(_collected(unfit=("t5",)), [], _spec())[("m", 300)]
    five = rs.rank_statistic(TOPS[:5], GENS[:5])
    assert statistic(rows, TOP, GS) == five and five.rho == pytest.approx(1.0) and five.n == 5
    assert re.search(rf"\| {re.escape(statistic_text(five))} +\| 0\.75 +\|$",
                     _row(part, "top layer", "generalisation score"))
    assert statistic(rows, TOP, GSC).n == 6  # its unflagged corrected score still counts
    # without the flag, t5 counts
    assert "n = 6 " in _row(_section(_collected()), "top layer", "generalisation score")


def test_a_failing_flags_is_noted_and_breaks_nothing():
    part = _section(_collected(explode=True))
    assert "Not checked for degenerate values (the analysis' flags failed; the values count):" in part
    assert "- t0: the flags of gen-x raised RuntimeError: no runs recorded" in part
    assert "n = 6 " in _row(part, "top layer", "generalisation score") and not re.search(r"^\| t\d.*†", part, re.M)


def test_fewer_than_five_tasks_give_no_statistic():
    part = _section(_collected(n=4))
    assert re.search(r"\| n < 5 \(n = 4\) +\| 0\.75 +\|$", _row(part, "top layer", "generalisation score"))
    assert "(0.00)" not in part and "n/a" not in part


def test_a_measure_the_results_version_does_not_compute_shows_a_dash():
    part = _section(_collected(corrected=False))
    assert re.search(r"\| t0 +\| 0\.10 +\| — +\| 1\.00 +\|", part)
    assert "- — *chance-corrected generalisation score*: not computed (`gen-x` version 3)" in part
    assert re.search(r"\| n < 5 \(n = 0\) +\| +\|$", _row(part, "top layer", "chance-corrected generalisation score"))


def test_the_paper_values_stand_beside_their_comparators():
    nva = DeclaredMeasure("gen-x", Measure(key="normalised_validation_accuracy", label="norm acc", kind=G))
    assert TOP.paper_rho_against(GS) == 0.75 and TOP.paper_rho_against(nva) == 0.7
    assert TOP.paper_rho_against(GSC) is None  # the paper has no chance-corrected score
    spec = LeaderboardSpec(measures=(GSC, GS, nva, TOP))
    assert [spec.paper_rho(TOP, g) for g in (GSC, GS, nva)] == [None, 0.75, 0.7]
    # a third party's scores under other keys: the paper's rho beside the first, as before
    own = [DeclaredMeasure("z", Measure(key=k, label=k, kind=G)) for k in ("transfer", "other")]
    spec = LeaderboardSpec(measures=(*own, TOP))
    assert [spec.paper_rho(TOP, g) for g in own] == [0.75, None]


def test_training_sizes_stand_side_by_side():
    down = [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    entries = _collected(300) + _collected(1000, tops=down)
    part = _section(entries)
    assert part.index("#### m, training size 300") < part.index("#### m, training size 1000")
    header = next(line for line in part.splitlines() if line.startswith("| location measure") and "against" in line)
    assert re.findall(r"\| ([^|]+?) +(?=\|)", header) == [
        "location measure", "against", "training size 300", "training size 1000", "paper"]
    small, large = rs.rank_statistic(TOPS, GENS), rs.rank_statistic(down, GENS)
    assert small.rho == pytest.approx(1 - 6 * 30 / (6 * 35)) and large.rho == pytest.approx(-1.0)
    assert re.search(rf"\| {re.escape(statistic_text(small))} +\| {re.escape(statistic_text(large))} +\| 0\.75 +\|$",
                     _row(part, "top layer", "generalisation score"))
    found = groups(entries, [], _spec())
    assert sorted(found) == [("m", 300), ("m", 1000)] and all(len(rows) == 6 for rows in found.values())


def test_the_task_ordering_against_the_papers():
    other = DeclaredMeasure("loc-y", Measure(key="other", label="other layer", kind=L))
    part = _section(_collected(), LeaderboardSpec(measures=(GS, TOP, other)))
    ordering = part.split("task ordering against the paper's")[1]
    assert "- *top layer*: a figure, read by eye" in ordering and "other layer" not in ordering
    # over the tasks both have (t9 only in the paper's), the paper's tie t1 = t2 shared
    want = rs.rank_statistic(TOPS, [PAPER[f"t{i}"] for i in range(6)])
    assert want.n == 6 and want.rho == pytest.approx(rs.spearman(TOPS, [1, 2, 2, 4, 5, 6]))
    assert re.search(rf"\| {re.escape(statistic_text(want))} +\| 7 +\|$", _row(ordering, "top layer"))
    # a flagged value leaves the ordering too
    flagged = _section(_collected(), LeaderboardSpec(
        measures=(GS, TOP), analysis_flaggers=(("loc-y", lambda s, d: {"top": "degenerate"}),)))
    ordering = flagged.split("task ordering against the paper's")[1]
    assert re.search(r"\| n < 5 \(n = 0\) +\| 7 +\|$", _row(ordering, "top layer"))
