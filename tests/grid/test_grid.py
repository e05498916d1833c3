"""`memlocbench grid`: units keyed by the store, local and Ray executors, resuming, concurrency,
dry-run counts. One tiny grid (SST-2 and MRPC x layer swapping and gradient attribution x seed 1,
32 rows, max length 16, 1 epoch) is trained once by the local executor; the Ray tests start from a
copy of its store with some entries removed, so that Ray trains and localises only those."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from safetensors.torch import load_file

from memlocbench.cli import main
from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import dry_run, run_grid
from memlocbench.grid.plan import build_plan
from memlocbench.grid.executors import LocalExecutor, RayExecutor
from memlocbench.store import ArtefactStore
from store_faults import crash_once_env

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TINY = {"tasks": ["sst2", "mrpc"], "methods": ["layer-swapping", "gradient-attribution"], "seeds": [1],
        "train_size": 32, "max_length": 16, "epochs": 1}
# fields of a result that may differ between two runs of the same settings
VOLATILE = {"created_at", "timings", "cached", "environment"}


def _config(mirror, store, out, **over):
    # one unit at a time with the torch default (the thread count of `memlocbench run`, whose files these
    # tests compare with); two workers: tests/grid/test_local_workers.py
    return load_grid_config(None, {**TINY, "data_dir": mirror, "cache_dir": store, "out": out,
                                   "executor_options": {"workers": 1}, **over})


def _results(out: Path) -> dict[str, dict]:
    """file name -> content without the volatile fields (and training wall times)."""
    found = {}
    for path in sorted(out.glob("*.json")):
        data = json.loads(path.read_text())
        for key in VOLATILE:
            data.pop(key, None)
        for stats in data.get("memorisation", {}).values():
            stats.pop("train_seconds"), stats.pop("trained_in_this_run")
            for epoch in stats["epochs"]:
                epoch.pop("seconds")
        found[path.name] = data
    return found


def _entries_intact(root: Path) -> int:
    """Every committed entry has readable JSON metadata and loadable tensors; returns their number."""
    n = 0
    for kind in ("models", "layer-scores"):
        for entry in (root / kind).iterdir():
            if entry.name.startswith("."):
                continue  # an uncommitted write (.tmp-*), never read as an entry
            json.loads((entry / "meta.json").read_text())
            for f in entry.glob("*.safetensors"):
                load_file(str(f))
            n += 1
    return n


@pytest.fixture(scope="module")
def local_grid(plugins, mirror, tmp_path_factory):
    """The tiny grid run by the local executor on a fresh store, with its dry-run before and after."""
    base = tmp_path_factory.mktemp("local")
    cfg = _config(mirror, base / "store", base / "out")
    before = dry_run(plugins, cfg)
    report = run_grid(plugins, cfg, log=lambda m: None, progress=False)
    return cfg, before, report


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    ray = pytest.importorskip("ray")
    marker = tmp_path_factory.mktemp("hook") / "armed" / "crashed"  # armed once the folder exists
    # the test-only crash hook (store_faults.py) in every worker: the first model commit dies once
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning",
             runtime_env={"env_vars": crash_once_env("models/", marker),
                          "worker_process_setup_hook": "store_faults.install_crash_once"})
    yield ray, marker
    ray.shutdown()


def test_dry_run_counts_the_units_the_local_grid_executes(local_grid):
    cfg, before, report = local_grid
    # 2 tasks x (memorising, clean, classifier-only for gradient attribution) + 2 tasks x 2 methods
    assert before.counts["train"]["pending"] == 4 and before.counts["train-classifier-only"]["pending"] == 2
    assert sum(c["pending"] for c in before.counts.values()) == 10 and not before.done
    assert report.count("failed") == 0, report.outcomes
    assert report.executed == 10 == len(before.plan.units)
    assert sorted(p.name for p in report.written) == sorted(p.name for p in cfg.out.glob("*.json"))
    assert len(report.written) == 6  # 2 tasks x 2 methods + a summary per task, as `memlocbench run` writes


def test_rerun_executes_nothing_and_dry_run_sees_everything_done(plugins, local_grid):
    cfg, _, first = local_grid
    again = run_grid(plugins, cfg, log=lambda m: None, progress=False)
    assert again.executed == 0 and again.count("skipped") == 10
    after = dry_run(plugins, cfg)
    assert len(after.done) == 10 and after.estimate.seconds == 0
    # measured per-unit times were logged by the first run and are what the estimator now uses
    assert any((Path(cfg.cache_dir) / "timings").glob("train__minilm-l6__cpu__cpu.json"))


def test_grid_results_are_the_files_memlocbench_run_writes(plugins, mirror, local_grid, tmp_path):
    """`memlocbench run` with the same settings, on the grid's store, writes the same files and numbers."""
    cfg, _, _ = local_grid
    args = ["run", "--method", "layer-swapping", "--method", "gradient-attribution", "--task", "mrpc", "--seed", "1",
            "--train-size", "32", "--max-length", "16", "--epochs", "1", "--data-dir", str(mirror),
            "--cache-dir", str(cfg.cache_dir), "--out", str(tmp_path), "--quiet", "--device", "cpu"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    ran = _results(tmp_path)
    grid = {k: v for k, v in _results(cfg.out).items() if k.startswith("mrpc")}
    assert ran == grid and len(ran) == 3


def _one_unit_store(plugins, cfg, store: Path) -> None:
    """A copy of the local grid's store without SST-2's layer-swapping scores: one unit to run."""
    shutil.copytree(cfg.cache_dir, store)
    plan = build_plan(plugins, cfg, ArtefactStore(cfg.cache_dir))
    (unit,) = [u for u in plan.units if u.id.startswith("sst2") and u.payload.get("method") == "layer-swapping"]
    shutil.rmtree(store / "layer-scores" / unit.key)


ONE_UNIT = ["--tasks", "sst2", "--methods", "layer-swapping", "--seeds", "1", "--train-size", "32", "--max-length",
            "16", "--epochs", "1", "--quiet"]
# the local executor one unit at a time in the grid's process: the thread count (part of every key) of the
# local_grid fixture
LOCAL_ONE_UNIT = ONE_UNIT + ["--executor-option", "workers=1"]


def test_a_damaged_timing_log_does_not_fail_the_grid(plugins, mirror, local_grid, tmp_path):
    """Issue 33, D14: the unit's artefact is committed before its time is logged; a timing log that is a
    folder (cannot be replaced) or not a log (replaced) gives a warning, never a failed unit."""
    cfg, _, _ = local_grid
    store = tmp_path / "store"
    _one_unit_store(plugins, cfg, store)
    timings = store / "timings"
    (timings / "method-layer-swapping__minilm-l6__cpu__cpu.json").unlink()
    (timings / "method-layer-swapping__minilm-l6__cpu__cpu.json").mkdir()
    res = CliRunner().invoke(main, ["grid", *LOCAL_ONE_UNIT, "--data-dir", str(mirror), "--cache-dir", str(store),
                                    "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "done 1, skipped 2" in res.output and "failed 0" in res.output
    assert "warning: sst2/minilm-l6/seed1" in res.output and "was not written" in res.output
    assert _entries_intact(store) == 10


def test_ray_without_an_address_starts_a_private_instance_and_relative_paths_hold(
        request, monkeypatch, plugins, mirror, local_grid, tmp_path):
    """Issue 33, D8 and D9 on a real Ray: no address, so the executor starts a private local instance
    (``address="local"``: never a cluster it did not start) and shuts it down; the store, mirror and
    output folder are given relative to the folder the grid starts in, and the worker, whose working
    folder is another, writes to that store (it wrote elsewhere, 0 result files, exit 0, before)."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("this process is connected to a Ray instance already (run this test on its own)")
    cfg, _, _ = local_grid
    _one_unit_store(plugins, cfg, tmp_path / "store")
    monkeypatch.chdir(tmp_path)
    addresses, init = [], ray.init

    def spy(*args, **kwargs):
        addresses.append(kwargs.get("address"))
        return init(*args, **kwargs)

    monkeypatch.setattr(ray, "init", spy)
    res = CliRunner().invoke(main, ["grid", *ONE_UNIT, "--data-dir", os.path.relpath(mirror, tmp_path),
                                    "--cache-dir", "store", "--out", "out", "--executor", "ray",
                                    "--cpus-per-unit", "2"])  # the thread count of this process (see below)
    assert not ray.is_initialized()
    assert res.exit_code == 0, res.output
    assert addresses == ["local"] and "starting a private local Ray instance" in res.output
    assert "done 1, skipped 2" in res.output
    assert [p.name.split("__")[2] for p in (tmp_path / "out").glob("*.json")] == ["layer-swapping"]
    assert _entries_intact(tmp_path / "store") == 10


def test_ray_grid_matches_local_and_survives_a_killed_worker(plugins, local_grid, ray_instance, tmp_path):
    """Ray on a copy of the local store without MRPC's two trained models and without any layer
    scores: it trains those two models (the first MRPC unit's worker dies just before it commits, and
    Ray retries it) and runs the four method units, and writes the same result files."""
    ray, marker = ray_instance
    cfg, _, _ = local_grid
    store = tmp_path / "store"
    shutil.copytree(cfg.cache_dir, store)
    shutil.rmtree(store / "layer-scores")
    plan = build_plan(plugins, cfg, ArtefactStore(cfg.cache_dir))
    for unit in plan.units:
        if unit.id.startswith("mrpc") and unit.payload.get("role") in ("memorising", "clean"):
            shutil.rmtree(store / "models" / unit.key)
    marker.parent.mkdir()  # arm the crash hook
    # 2 CPUs per unit: Ray gives a task's worker as many torch threads as CPUs, and the same thread count
    # as this process is what makes float sums (gradient attribution) identical to the last bit
    rcfg = cfg.model_copy(update={"cache_dir": store, "out": tmp_path / "out", "executor": "ray", "max_retries": 2,
                                  "cpus_per_unit": 2, "executor_options": {}})
    report = run_grid(plugins, rcfg, log=lambda m: None, progress=False)
    assert report.count("failed") == 0, report.outcomes
    assert report.executed == 6 and report.count("skipped") == 4
    assert marker.read_text().startswith("crashed")  # a worker really died mid-unit
    assert {o["pid"] for o in report.outcomes.values() if "pid" in o} - {os.getpid()}  # ran in Ray workers
    assert _entries_intact(store) == 10
    assert _results(rcfg.out) == _results(cfg.out)


@pytest.mark.parametrize("executor,given,expected", [
    ("local", ["debug=true", "workers=1"], {"debug": True, "workers": 1}),
    ("ray", ["max_retries=1", "ray_address=null"], {"max_retries": 1, "ray_address": None,
                                                     "connect_timeout_s": 60.0, "stall_timeout_s": 86400.0}),
])
def test_executor_options_reach_the_executor(request, monkeypatch, mirror, local_grid, tmp_path, executor, given,
                                             expected):
    """`--executor-option KEY=VALUE` through the CLI: the executor gets the checked values (JSON where
    they parse) and runs the grid with them (Ray: on the local instance), writing the local grid's result."""
    if executor == "ray":
        request.getfixturevalue("ray_instance")
    cls = {"local": LocalExecutor, "ray": RayExecutor}[executor]
    seen, execute = [], cls.execute

    def spy(self, units, options, report):
        seen.append((len(units), {k: v for k, v in options.items() if k not in ("progress", "log")}))
        return execute(self, units, options, report)

    monkeypatch.setattr(cls, "execute", spy)
    cfg, _, _ = local_grid
    store = tmp_path / "store"
    shutil.copytree(cfg.cache_dir, store)
    shutil.rmtree(store / "layer-scores")  # the one unit to run: SST-2's layer swapping
    args = ["grid", "--tasks", "sst2", "--methods", "layer-swapping", "--seeds", "1", "--train-size", "32",
            "--max-length", "16", "--epochs", "1", "--data-dir", str(mirror), "--cache-dir", str(store),
            "--out", str(tmp_path / "out"), "--quiet", "--executor", executor, "--cpus-per-unit", "2"]
    res = CliRunner().invoke(main, args + [a for option in given for a in ("--executor-option", option)])
    assert res.exit_code == 0, res.output
    assert seen == [(1, expected)] and "done 1, skipped 2" in res.output

    def swapping(out):
        return {k: v for k, v in _results(out).items()
                if k.startswith("sst2") and "layer-swapping" in k and not k.endswith(".summary.json")}
    assert swapping(tmp_path / "out") == swapping(cfg.out) != {}


@pytest.mark.parametrize("args,expected", [
    (["--cpus-per-unit", "3"], ["--cpus-per-unit 3: no node of the Ray instance has that many CPUs",
                                "the largest has 2"]),
    (["--device", "cuda"], ["--device cuda: each unit asks for 1 GPU", "use --device cpu"]),
])
def test_ray_refuses_units_no_node_can_run(ray_instance, plugins, mirror, local_grid, tmp_path, args, expected):
    """Issue 33, D10: on the 2-CPU instance without a GPU these waited for ever; now they stop before
    anything is submitted, naming the flag. (Run in a thread, so that a hang fails the test.)"""
    if "cuda" in args and pytest.importorskip("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg, _, _ = local_grid
    store = tmp_path / "store"
    _one_unit_store(plugins, cfg, store)
    got = []
    worker = threading.Thread(target=lambda: got.append(CliRunner().invoke(main, [
        "grid", *ONE_UNIT, "--data-dir", str(mirror), "--cache-dir", str(store), "--out", str(tmp_path / "out"),
        "--executor", "ray", *args])), daemon=True)
    worker.start()
    worker.join(240)
    assert not worker.is_alive(), "the ray executor is still waiting"
    (res,) = got
    assert res.exit_code == 2, res.output
    for text in expected:
        assert text in res.output
    assert not (tmp_path / "out").exists()


def test_two_grids_on_one_store_at_once(mirror, tmp_path):
    store = tmp_path / "store"
    args = ["--tasks", "sst2", "--methods", "layer-swapping", "--seeds", "1", "--train-size", "32",
            "--max-length", "16", "--epochs", "1", "--data-dir", str(mirror), "--cache-dir", str(store), "--quiet"]
    procs = [subprocess.Popen([sys.executable, "-m", "memlocbench.cli", "grid", *args, "--out", str(tmp_path / f"out{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in (0, 1)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert _entries_intact(store) == 3  # memorising, clean, layer scores: one entry each
    assert _results(tmp_path / "out0") == _results(tmp_path / "out1") != {}


def test_cuda_without_cuda_is_a_clean_error(mirror, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for cmd in (["run", "--method", "layer-swapping", "--task", "sst2"], ["grid", "--tasks", "sst2"]):
        res = CliRunner().invoke(main, [*cmd, "--device", "cuda", "--data-dir", str(mirror),
                                        "--cache-dir", str(tmp_path)])
        assert res.exit_code == 2, res.output
        assert "--device cuda" in res.output and "use --device cpu or auto" in res.output


def test_shipped_grid_files_plan(plugins, mirror, tmp_path):
    cpu = dry_run(plugins, load_grid_config(REPO / "benchmarks/grids/cpu.toml",
                                            {"data_dir": mirror, "cache_dir": tmp_path}))
    # 3 seeds x 11 tasks x (3 trainings + 4 methods), 3 analyses per task over the seeds; the two-layer
    # control track on 3 tasks x 3 seeds: 6 control models, the control normaliser (control-none: the
    # control recipe with no main layers), 3 placements x 4 methods; the single-layer track on SST-2 x 3
    # seeds: 12 control models and 6 x 4 methods (its control-none is the pair track's: one unit)
    standard, analyses, pair, single = 3 * 11 * 7, 11 * 3, 3 * 3 * (7 + 12), 3 * (12 + 24)
    assert sum(c["units"] for c in cpu.counts.values()) == standard + analyses + pair + single
    assert cpu.counts["train-control"]["units"] == 3 * 3 * 7 + 3 * 12
    assert cpu.counts["analysis:memorisation-map"]["units"] == 11
    assert len(cpu.plan.groups) == 3 * 11 + 11 * 3 + 3 * 3 + 3
    assert cpu.estimate.default_units == standard + analyses + pair + single and cpu.estimate.seconds > 0
    paper = load_grid_config(REPO / "benchmarks/grids/paper.toml", {})
    block = paper.grids[0]
    assert (block.tasks, len(block.models), block.methods, block.seeds, block.control) == \
        ("all", 4, "all", [1, 2, 3], True)


def test_bad_grid_input_is_a_clean_error(tmp_path):
    bad = tmp_path / "g.toml"
    bad.write_text('tasks = ["sst2"]\nseeds = "one"\n')
    res = CliRunner().invoke(main, ["grid", str(bad), "--dry-run"])
    assert res.exit_code == 2 and "seeds" in res.output
    res = CliRunner().invoke(main, ["grid", "--tasks", "sst3", "--dry-run", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2 and "sst2" in res.output
    res = CliRunner().invoke(main, ["grid", "--tasks", "sst2", "--executor", "slurm", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2 and "local" in res.output


def test_a_plugin_executor_gets_json_units_in_dependency_order(mirror, tmp_path):
    """Executors are plugins (register_executors): the driver hands one JSON-able units in dependency
    order and reports what it says; runs with failed units write no result file."""
    from memlocbench import hookimpl
    from memlocbench.registry import Provider, load_plugins

    seen: list[str] = []

    class Recorder:
        name, description = "recorder", "records the units it is given"

        def execute(self, units, options, report):
            for unit in units:
                assert set(unit["deps"]) <= set(seen), unit["id"]
                json.dumps(unit)  # nothing but JSON crosses the executor boundary
                seen.append(unit["id"])
                report({"id": unit["id"], "status": "failed", "seconds": 0.0, "reason": "recorded only"})

    class Plugin:
        @hookimpl
        def register_executors(self, register):
            register(Recorder())

    plugins = load_plugins(extra=[(Plugin(), Provider("recorder-package", "1.0"))])
    assert {"local", "ray", "recorder"} <= set(plugins.executors.names())
    report = run_grid(plugins, _config(mirror, tmp_path / "s", tmp_path / "o", executor="recorder", executor_options={}),
                      log=lambda m: None, progress=False)
    assert len(seen) == 10 and report.count("failed") == 10
    assert not report.written and len(report.not_written) == 2
    res = CliRunner().invoke(main, ["list", "executors"])
    assert res.exit_code == 0 and "local" in res.output and "ray" in res.output


def test_an_analysis_that_reads_no_memorising_model_waits_only_for_the_clean_twins(plugins, mirror, tmp_path):
    """The memorisation map reads only the clean twins (``reads_memorising=False``): in a block with no
    standard run, the grid trains the twins alone, not the memorising models it would never read."""
    assert plugins.analyses.get("memorisation-map").info.reads_memorising is False
    out = dry_run(plugins, _config(mirror, tmp_path / "s", tmp_path / "o", tasks=["sst2"], methods=[],
                                   seeds=[1, 2], standard=False, analyses=["memorisation-map", "centroids"]))
    units = {u.id: u for u in out.plan.units}
    roles = {u.id: u.payload["role"] for u in units.values() if u.kind == "train"}
    deps = {u.payload["analysis"]: sorted(roles[d] for d in u.deps) for u in units.values() if u.kind == "analysis"}
    assert deps == {"memorisation-map": ["clean", "clean"],
                    "centroids": ["clean", "clean", "memorising", "memorising"]}


def test_a_routed_twin_waits_for_its_memorising_model(plugins, mirror, tmp_path):
    """On the routed tracks the twin trains as many epochs as its memorising model: its unit depends on
    that model's unit (and a method on both)."""
    out = dry_run(plugins, _config(mirror, tmp_path / "s", tmp_path / "o", tasks=["sst2"], methods=["weight-delta"],
                                   standard=False, control=True, control_track="routed-pair"))
    trains = {u.payload["role"]: u for u in out.plan.units if u.kind == "train"}
    assert {"routed-0-1", "routed-0-1-clean", "routed-4-5-clean"} <= set(trains)
    for a, b in ((0, 1), (2, 3), (4, 5)):
        assert trains[f"routed-{a}-{b}-clean"].deps == [trains[f"routed-{a}-{b}"].id]
        assert trains[f"routed-{a}-{b}"].deps == []
    order = [u.id for u in out.plan.units]
    assert order.index(trains["routed-2-3"].id) < order.index(trains["routed-2-3-clean"].id)


def test_grid_analyses_are_units_keyed_as_memlocbench_analyse_keys_them(plugins, mirror, local_grid, tmp_path):
    """Analyses in the grid: one unit each over the block's seeds, after the trainings they read; the
    output is the one `memlocbench analyse` then finds in the store (same key), and a rerun executes none."""
    cfg, _, _ = local_grid
    store = tmp_path / "store"
    shutil.copytree(cfg.cache_dir, store)
    acfg = _config(mirror, store, tmp_path / "out", tasks=["sst2"], methods=["layer-swapping"],
                   analyses=["centroids", "probing-events"])
    before = dry_run(plugins, acfg)
    analysis_units = [u for u in before.plan.units if u.kind == "analysis"]
    assert len(analysis_units) == 2 and all(u.key for u in analysis_units)
    trains = {u.id for u in before.plan.units if u.kind == "train"}
    assert all(set(u.deps) <= trains and len(u.deps) == 2 for u in analysis_units)
    assert before.counts["analysis:centroids"]["pending"] == 1 and before.estimate.seconds > 0
    assert {u.id for u in before.plan.units if u.id not in before.done} == {u.id for u in analysis_units}
    report = run_grid(plugins, acfg, log=lambda m: None, progress=False)
    assert report.count("failed") == 0, report.outcomes
    assert report.executed == 2
    written = sorted(p.name for p in report.written if "analysis-" in p.name)
    assert [n.split("__")[2] for n in written] == ["analysis-centroids", "analysis-probing-events"]
    again = run_grid(plugins, acfg, log=lambda m: None, progress=False)
    assert again.executed == 0
    res = CliRunner().invoke(main, ["analyse", "centroids", "--task", "sst2", "--seed", "1", "--train-size", "32",
                                    "--max-length", "16", "--epochs", "1", "--data-dir", str(mirror),
                                    "--cache-dir", str(store), "--out", str(tmp_path / "cli"), "--quiet"])
    assert res.exit_code == 0, res.output
    cli = json.loads(next((tmp_path / "cli").glob("*.json")).read_text())
    grid = json.loads(next((tmp_path / "out").glob("sst2__*analysis-centroids*.json")).read_text())
    assert cli["cached"] is True and cli["summary"] == grid["summary"]
    assert cli["config_hash"] == grid["config_hash"]
    # an unknown analysis fails before anything runs, with a suggestion
    with pytest.raises(Exception, match="centroids"):
        dry_run(plugins, _config(mirror, store, tmp_path / "out", analyses=["centroid"]))
