"""The page's "Compute" section (issue 30, item 5): built from the compute each result carries, once per
run for the training, never from results that predate it (no ``timings.wall``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from memlocbench.leaderboard import collect
from memlocbench.leaderboard.collect import Collected
from memlocbench.leaderboard.sections import compute

COMMITTED = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions"


@pytest.fixture(scope="module")
def committed() -> Collected:
    return collect(COMMITTED)


def _with_timings(entry, **timings):
    result = entry.result.model_copy(update={"timings": timings})
    return type(entry)(**{**entry.__dict__, "result": result})


def test_results_without_their_compute_give_no_table(committed):
    assert all("wall" not in e.result.timings for e in committed.entries)  # written before it was recorded
    without = Collected(entries=committed.entries, analyses=[_with_timings(a, analysis=5.0)  # no wall
                                                             for a in committed.analyses])
    assert compute.section(without)[-2] == "_No result carries its compute yet._"


def test_committed_maps_carry_the_compute_of_their_runs(committed):
    """The version 4 maps were computed with the compute recorded: the analysis seconds of the store entry
    (minutes of map runs), not the rerun's wall time that read it back."""
    maps = [a.result.timings for a in committed.analyses if a.result.analysis.name == "memorisation-map"]
    assert maps and all("wall" in t and t["analysis"] > 10 * t["wall"] for t in maps)
    md = "\n".join(compute.section(committed))
    assert "| analysis: memorisation-map" in md and f"| {len(maps)} " in md


def test_training_counts_once_per_run_and_methods_once_per_result(committed):
    sst2 = [e for e in committed.entries if e.result.task.name == "sst2" and e.result.control is None
            and e.result.seeds.get("model_seed") == 1 and e.result.method.name in ("layer-swapping", "probing")]
    assert len(sst2) == 2  # one run (model seed 1), two methods
    swap, probe = sorted(sst2, key=lambda e: e.result.method.name)
    maps = [a for a in committed.analyses if a.result.analysis.name == "memorisation-map"][:3]
    entries = [_with_timings(swap, wall=1.0, training=300.0, method=4.0),
               _with_timings(probe, wall=1.0, training=300.0, method=20.0),
               _with_timings(committed.entries[0], training=999.0, method=999.0)]  # no wall: not counted
    analyses = [_with_timings(a, wall=1.0, analysis=s) for a, s in zip(maps, (100.0, 200.0, 600.0))]
    found = compute.measurements(Collected(entries=entries, analyses=analyses))
    threads = swap.result.environment["torch_threads"]
    base = ("minilm-l6", "300", "standard", threads)
    assert found[(*base, "training: memorising model + twin")] == [300.0]
    assert found[(*base, "method: layer-swapping")] == [4.0] and found[(*base, "method: probing")] == [20.0]
    assert not any(999.0 in v for v in found.values())
    assert found[("minilm-l6", "300", "analysis", maps[0].result.environment["torch_threads"],
                  "analysis: memorisation-map")] == [100.0, 200.0, 600.0]
    md = "\n".join(compute.section(Collected(entries=entries, analyses=analyses)))
    assert "| analysis: memorisation-map" in md and "| 200 " in md and "| 100-600 " in md
