"""`memlocbench grid` against the hostile probe of issue 33 (no training here; the runs that train or
start Ray are in test_grid.py and test_ray_executor.py):

- D16, D29, "grid seed ranges": seeds outside 0..2**32-1 and an empty seed list are clear errors;
- D10: CPUs per unit and retries are checked before any work (inf, 1e-9, nan, 1e20);
- D16: a failed unit's reason is the whole exception, every line, with what it was raised from;
- D14: a damaged timing log never fails a unit or a dry run: it is replaced or ignored, with a warning;
- D15: no shipped module reads a fault-injection switch (the crash hook lives in tests/store_faults.py);
- D9: relative paths are made absolute before they reach a worker; a unit reported done whose
  artefact is not in the store, or never reported, fails, and the CLI exits 1 when a planned run
  wrote no result files;
- D29: a training size larger than the task: the dry run counts the task's rows and exits 2, a run
  refuses before any work;
- item 7: assumed rates scale with the model's size (parameters x tokens), and the dry run says which
  rates are measured and which assumed.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from memlocbench import hookimpl
from memlocbench.cli import app, main
from memlocbench.errors import InvalidInputError
from memlocbench.grid import estimate as est
from memlocbench.grid.config import load_grid_config
from memlocbench.grid.driver import dry_run, run_grid
from memlocbench.grid.executors import LocalExecutor, RayExecutor, executor_options
from memlocbench.grid.plan import build_plan
from memlocbench.registry import Provider, load_plugins
from memlocbench.store import ArtefactStore

REPO = Path(__file__).resolve().parents[2]
SMALL = {"tasks": ["sst2"], "methods": ["layer-swapping"], "seeds": [1], "train_size": 32, "max_length": 16,
         "epochs": 1}


def _invoke(*args: str):
    return CliRunner().invoke(main, ["grid", *args])


# -- D16, D29, grid seed ranges; D10: options checked before any work ---------------------------------
@pytest.mark.parametrize("args,expected", [
    (["--seeds=-1"], ["seeds", "greater than or equal to 0", "-1"]),
    (["--seeds", "1,4294967296"], ["seeds", "less than or equal to 4294967295"]),
    (["--seeds", ""], ["no seeds given", "leave seeds out for the profile's"]),
    (["--seeds", ","], ["no seeds given"]),
    (["--cpus-per-unit", "inf"], ["cpus_per_unit", "finite number"]),
    (["--cpus-per-unit", "nan"], ["cpus_per_unit", "finite number"]),
    (["--cpus-per-unit", "1e-9"], ["cpus_per_unit", "greater than or equal to 0.0001"]),
    (["--cpus-per-unit", "0"], ["cpus_per_unit", "greater than or equal to 0.0001"]),
    (["--executor", "ray", "--max-retries", "1000"], ["max_retries", "less than or equal to 100"]),
    (["--executor", "ray", "--max-retries", "1e20"], ["--max-retries", "not a valid integer"]),
    (["--executor", "ray", "--max-retries", "100000000000000000000"], ["max_retries", "less than or equal to 100"]),
    (["--executor", "ray", "--executor-option", "max_retries=100000000000000000000"],
     ["max_retries", "less than or equal to 100"]),
    (["--executor", "ray", "--executor-option", "stall_timeout_s=0"], ["stall_timeout_s", "greater than 0"]),
])
@pytest.mark.parametrize("dry", [True, False])
def test_bad_seeds_and_options_are_clear_errors_before_any_work(tmp_path, args, expected, dry):
    store, out = tmp_path / "store", tmp_path / "out"
    res = _invoke("--tasks", "sst2", "--cache-dir", str(store), "--out", str(out), *args,
                  *(["--dry-run"] if dry else []))
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)  # a message, not a traceback
    for text in expected:
        assert text in res.output
    assert not store.exists() and not out.exists()


def test_seeds_in_a_grid_file_are_checked_too(tmp_path):
    grid = tmp_path / "g.toml"
    for seeds, text in (("[]", "no seeds given"), ("[1, -1]", "seeds.1"), ("[4294967296]", "seeds.0")):
        grid.write_text(f'tasks = ["sst2"]\nseeds = {seeds}\n')
        res = _invoke(str(grid), "--dry-run", "--cache-dir", str(tmp_path / "s"))
        assert res.exit_code == 2 and text in res.output, res.output
    cfg = load_grid_config(None, {"tasks": ["sst2"], "seeds": [0, 2**32 - 1]})  # the ends of the range
    assert cfg.grids[0].seeds == [0, 2**32 - 1]


def test_a_config_changed_without_validation_is_checked_before_planning(tmp_path):
    """``model_copy(update=...)`` skips pydantic's checks: the grid validates what it is handed again."""
    cfg = load_grid_config(None, {"tasks": ["sst2"], "cache_dir": tmp_path / "s"})
    for seeds in ([-1], [2**32], []):
        bad = cfg.model_copy(update={"grids": [cfg.grids[0].model_copy(update={"seeds": seeds})]})
        for run in (dry_run, lambda p, c: run_grid(p, c, log=lambda m: None, progress=False)):
            with pytest.raises(InvalidInputError, match="invalid grid settings: grids.0.seeds"):
                run(load_plugins(), bad)
    assert not (tmp_path / "s").exists()


def test_ray_options_are_bounded():
    assert executor_options(RayExecutor(), {})["max_retries"] == 2
    for bad in ({"max_retries": 10**20}, {"max_retries": 1e20}, {"connect_timeout_s": float("inf")},
                {"stall_timeout_s": -1}):
        with pytest.raises(InvalidInputError, match="executor 'ray': invalid option"):
            executor_options(RayExecutor(), bad)


# -- D16: the whole exception ---------------------------------------------------------------------------
def test_a_failed_units_reason_is_the_whole_exception(monkeypatch):
    def fail(payload):
        try:
            raise KeyError("the inner cause")
        except KeyError as inner:
            raise ValueError("first line of the problem\nsecond line\nlast line") from inner

    monkeypatch.setattr("memlocbench.grid.executors.run_unit", fail)
    seen = []
    LocalExecutor().execute([{"id": "u", "deps": [], "payload": {}, "resources": {}}], {"progress": False},
                            seen.append)
    (out,) = seen
    assert out["status"] == "failed"
    for text in ("ValueError: first line of the problem", "second line", "last line", "KeyError", "the inner cause"):
        assert text in out["reason"]


# -- D14: damaged timing logs ---------------------------------------------------------------------------
DAMAGES = {
    "a list": lambda p: p.write_text("[1, 2, 3]"),
    "no samples": lambda p: p.write_text('{"category": "train"}'),
    "bad samples": lambda p: p.write_text('{"samples": [{"seconds": "x", "work": 3}, 7, {"seconds": 1}]}'),
    "not JSON": lambda p: p.write_bytes(b"\xff\xfe not json"),
    "a folder": lambda p: p.mkdir(),
    "a pipe": lambda p: os.mkfifo(p),
    "too deep": lambda p: p.write_text("[" * 100_000),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_timing_log_warns_and_never_fails(tmp_path, damage):
    path = est._log_path(tmp_path, "train", "minilm-l6", "cpu", "cpu")
    path.parent.mkdir(parents=True)
    DAMAGES[damage](path)
    assert est.measured_rate(tmp_path, "train", "minilm-l6", "cpu", "cpu") is None  # ignored, not a crash
    warning = est.record_timing(tmp_path, "train", "minilm-l6", "cpu", "cpu", 2.0, 10)
    if damage == "bad samples":  # the usable ones are kept (none here), the new one appended
        assert warning is None
    else:
        assert warning and str(path) in warning
    if damage != "a folder":  # replaced by a good log with this unit's time (a pipe too: no read, a rename)
        assert json.loads(path.read_text())["samples"] == [{"seconds": 2.0, "work": 10}]
        assert est.measured_rate(tmp_path, "train", "minilm-l6", "cpu", "cpu") == (0.2, 1)
    else:
        assert "not written" in warning


def test_the_dry_run_ignores_a_damaged_timing_log_and_says_so(plugins, mirror, tmp_path):
    cfg = load_grid_config(None, {**SMALL, "data_dir": mirror, "cache_dir": tmp_path / "store"})
    log = est._log_path(tmp_path / "store", "train", "minilm-l6", "cpu", "cpu")
    log.parent.mkdir(parents=True)
    log.write_text('{"samples": 5}')
    d = dry_run(plugins, cfg)
    assert d.estimate.default_units == 3 and d.estimate.seconds > 0
    assert any("not a timing log" in x for x in d.estimate.ignored_logs)


# -- D15: no crash switch in shipped code --------------------------------------------------------------
def test_no_shipped_module_reads_a_fault_injection_switch():
    """The crash hook of earlier sessions is gone from shipped code (it is tests/store_faults.py, which
    nothing shipped imports): no shipped module names a crash/fault/test environment variable, reads
    the test hook's variable, imports store_faults, or calls os._exit."""
    from store_faults import CRASH_ONCE_ENV

    suspicious = re.compile(r"^MEMLOCBENCH_\w*(CRASH|FAULT|INJECT|TEST|KILL|EXIT|DEBUG_HOOK)\w*$")
    sources = [p for root in ("memlocbench", "plugins") for p in (REPO / root).rglob("*.py")]
    assert len(sources) > 50
    found = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if suspicious.match(node.value) or CRASH_ONCE_ENV in node.value:
                    found.append(f"{path}:{node.lineno}: {node.value!r}")
            elif isinstance(node, ast.Attribute) and node.attr == "_exit":
                found.append(f"{path}:{node.lineno}: os._exit")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any("store_faults" in n for n in names):
                    found.append(f"{path}:{node.lineno}: imports store_faults")
    assert not found, found


# -- D9: paths, and what executors report against the store --------------------------------------------
def test_relative_paths_are_absolute_before_they_reach_a_worker(plugins, mirror, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEMLOCBENCH_CACHE_DIR", raising=False)
    cfg = load_grid_config(None, {**SMALL, "data_dir": os.path.relpath(mirror, tmp_path), "cache_dir": Path("st"),
                                  "out": Path("res")})
    assert (cfg.cache_dir, cfg.out, cfg.data_dir) == (tmp_path / "st", tmp_path / "res", Path(os.path.abspath(mirror)))
    plan = build_plan(plugins, cfg, ArtefactStore(cfg.cache_dir))
    for unit in plan.units:
        assert unit.payload["store"] == str(tmp_path / "st") and Path(unit.payload["data_dir"]).is_absolute()


class _Liar:
    """An executor that reports every unit done without running anything (as a worker writing to
    another store would look to the driver), or reports nothing at all."""

    name, description = "liar", "reports done, writes nothing"

    def __init__(self, say: bool = True):
        self.say = say
        if not say:
            self.name = "mute"

    def execute(self, units, options, report):
        if self.say:
            for unit in units:
                report({"id": unit["id"], "status": "done", "seconds": 1.0})


def _plugins_with(*executors):
    class Plugin:
        @hookimpl
        def register_executors(self, register):
            for e in executors:
                register(e)

    return load_plugins(extra=[(Plugin(), Provider("liar-package", "1.0"))])


def test_units_reported_done_but_not_in_the_store_have_failed(mirror, tmp_path, monkeypatch):
    plugins = _plugins_with(_Liar(), _Liar(say=False))
    for name, reason in (("liar", "not in the store at"), ("mute", "did not report")):
        cfg = load_grid_config(None, {**SMALL, "data_dir": mirror, "cache_dir": tmp_path / name,
                                      "out": tmp_path / f"out-{name}", "executor": name})
        report = run_grid(plugins, cfg, log=lambda m: None, progress=False)
        assert report.count("failed") == 3 and report.count("done") == 0
        assert all(reason in o["reason"] for o in report.outcomes.values())
        assert not report.written and len(report.not_written) == 1 == report.runs
    monkeypatch.setattr(app, "cli_plugins", lambda: plugins)
    res = _invoke("--tasks", "sst2", "--methods", "layer-swapping", "--seeds", "1", "--train-size", "32",
                  "--max-length", "16", "--epochs", "1", "--data-dir", str(mirror), "--cache-dir",
                  str(tmp_path / "cli"), "--out", str(tmp_path / "cli-out"), "--executor", "liar", "--quiet")
    assert res.exit_code == 1, res.output
    assert "1 of 1 planned run(s) wrote no result files" in res.output


# -- D29: a training size larger than the task -----------------------------------------------------------
def test_an_oversize_training_size_is_estimated_at_the_tasks_size_and_refused(plugins, mirror, tmp_path):
    store = tmp_path / "store"
    over = load_grid_config(None, {**SMALL, "train_size": 10**8, "data_dir": mirror, "cache_dir": store})
    full = load_grid_config(None, {**SMALL, "train_size": 6920, "data_dir": mirror, "cache_dir": store})
    d_over, d_full = dry_run(plugins, over), dry_run(plugins, full)
    assert d_over.plan.errors and "exceeds the 6920 training examples of task 'sst2'" in d_over.plan.errors[0]
    rows = {u.cost["rows"] for u in d_over.plan.units}
    assert rows == {u.cost["rows"] for u in d_full.plan.units} == {6920}  # SST-2's training split
    assert d_over.estimate.seconds == pytest.approx(d_full.estimate.seconds, rel=0.05)
    with pytest.raises(InvalidInputError, match="exceeds the 6920 training examples of task 'sst2'"):
        run_grid(plugins, over, log=lambda m: None, progress=False)
    assert not (store / "models").exists()  # nothing ran
    res = _invoke("--tasks", "sst2", "--methods", "layer-swapping", "--seeds", "1", "--train-size", "100000000",
                  "--data-dir", str(mirror), "--cache-dir", str(store), "--dry-run")
    assert res.exit_code == 2 and "exceeds the 6920 training examples of task 'sst2'" in res.output and "| total" in res.output and "error: InvalidInputError" not in res.output, res.output
    assert "15,111" not in res.output  # the old estimate: 10^8 rows


# -- item 7: assumed rates scale with the model's size, and say so ---------------------------------------
@pytest.fixture(scope="module")
def tiny_plugins():
    from tiny_models import TinyModels, tiny_adapter

    return load_plugins(extra=[(TinyModels([tiny_adapter("bert", {"vocab": 0})]), Provider("tiny-models", "1"))])


def test_an_unknown_models_assumed_rates_scale_with_its_size(tiny_plugins, mirror, tmp_path, monkeypatch):
    """A 3-layer, 32-wide BERT (its parameters mostly the embeddings) on the same tokenizer as MiniLM-L6:
    its assumed rates are MiniLM's x the ratio of parameters (the tokens are the same), not MiniLM's."""
    cfg = load_grid_config(None, {**SMALL, "models": ["minilm-l6", "tiny-bert"], "data_dir": mirror,
                                  "cache_dir": tmp_path / "store"})
    d = dry_run(tiny_plugins, cfg)
    rates = {(u.payload["model"], u.cost["category"]): u.cost["default_rates"] for u in d.plan.units}
    sizes = {m: sum(p.numel() for p in tiny_plugins.models.get(m).load_model(2).parameters())
             for m in ("minilm-l6", "tiny-bert")}
    ratio = sizes["tiny-bert"] / sizes["minilm-l6"]
    assert ratio < 0.1
    for category in ("train", "method:layer-swapping"):
        small, tiny = rates[("minilm-l6", category)], rates[("tiny-bert", category)]
        assert tiny["cpu"] == pytest.approx(small["cpu"] * ratio, rel=1e-6)
        assert tiny["cuda"] <= small["cuda"]  # a quarter of the GPU reference at least, for both
    descriptions = d.plan.sizes
    assert any(k.startswith("sst2/tiny-bert") and "parameters x" in v and "tokens per row" in v
               for k, v in descriptions.items()), descriptions
    assert d.estimate.sources["train"] == {"measured": 0, "assumed": 4, "samples": 0}

    # one measured MiniLM training: its units are estimated from it, the tiny model's still assumed
    est.record_timing(tmp_path / "store", "train", "minilm-l6", "cpu", "cpu", 3.0, 30)
    d = dry_run(tiny_plugins, cfg)
    assert d.estimate.sources["train"] == {"measured": 2, "assumed": 2, "samples": 1}
    monkeypatch.setattr(app, "cli_plugins", lambda: tiny_plugins)
    res = _invoke("--tasks", "sst2", "--models", "minilm-l6,tiny-bert", "--methods", "layer-swapping", "--seeds", "1",
                  "--train-size", "32", "--max-length", "16", "--epochs", "1", "--data-dir", str(mirror),
                  "--cache-dir", str(tmp_path / "store"), "--dry-run")
    assert res.exit_code == 0, res.output
    assert "2 measured (1 timed), 2 assumed" in res.output
    assert "assumed rates, scaled by size:" in res.output and "sst2/tiny-bert" in res.output


def test_sizes_scale_the_stated_rates_as_documented():
    ref = est.CPU_REFERENCE
    assert est.training_rates("train", ref) == pytest.approx(
        {"cpu": est.TRAINING_RATES["cpu"]["train"], "cuda": est.TRAINING_RATES["cuda"]["train"] * 0.25})
    double = est.ModelSize(ref.parameters * 2, ref.tokens * 3, 6)
    assert est.training_rates("train", double)["cpu"] == pytest.approx(6 * est.TRAINING_RATES["cpu"]["train"])
    big = est.ModelSize(est.GPU_REFERENCE.parameters, est.REFERENCE_TOKENS, 12)
    assert est.training_rates("train", big)["cuda"] == pytest.approx(est.TRAINING_RATES["cuda"]["train"])
    swapping = {"cpu": 0.043, "cpu-large": 0.5, "cuda": 0.016}
    assert est.sized_rates(swapping, big)["cpu"] == pytest.approx(0.5)  # its own large-model rate
    unknown = est.ModelSize(None, None, 12)  # cannot be built here: the declared layers decide
    assert est.sized_rates({"cpu": 1.0, "cuda": 1.0}, unknown) == {"cpu": 8.0, "cuda": 1.0}
    assert "size unknown here" in est.describe_size(unknown)


def test_a_plugins_own_parameter_check_is_a_plan_error(plugins, mirror, tmp_path, monkeypatch):
    """The planner runs each method's and analysis' check_params on the parameters the grid gives it (its
    profile's), as `memlocbench run` does: a failing check is a plan error, before any unit."""
    method = plugins.methods.get("layer-swapping")
    analysis = plugins.analyses.get("centroids")
    monkeypatch.setattr(method, "check_params", lambda p, r: ["batch_size is wrong here"], raising=False)
    monkeypatch.setattr(analysis, "check_params", lambda p, r: ["percentile is wrong here"], raising=False)
    cfg = load_grid_config(None, {"tasks": ["sst2"], "methods": ["layer-swapping"], "analyses": ["centroids"],
                                  "seeds": [1], "train_size": 32, "data_dir": mirror, "cache_dir": tmp_path})
    plan = build_plan(plugins, cfg, ArtefactStore(tmp_path))
    assert any("layer-swapping" in e and "batch_size is wrong here" in e for e in plan.errors), plan.errors
    assert any("centroids" in e and "percentile is wrong here" in e for e in plan.errors), plan.errors
