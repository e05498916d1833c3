"""The page as a function of the submissions alone, checked as `memlocbench validate` checks them (issue 33:
items 2, 3 and 5; defects D1, D5, D12 (the leaderboard's part), D23, D24; the old defects about
submissions: folders created 0700, non-ASCII names refused, repeated JSON keys accepted).

Every attack starts from the committed baseline, copied with the whole leaderboard folder to a temporary
directory; the repository is never written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from memlocbench.cli import app, main
from memlocbench.config.profiles import config_hash
from memlocbench.leaderboard import Cell, Collected, Entry, ModelTable, pearson, pooled_agreement, render, slugify
from memlocbench.registry import Provider, load_plugins
from memlocbench.results.analysis_result import AnalysisResult
from memlocbench.results.run_result import Result, read_result
from memlocbench.scoring.layer_weights import mcog, normalise

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "leaderboard" / "submissions"
BASELINE = COMMITTED / "memlocbench-cpu-baseline"
EXAMPLE = REPO / "examples" / "memlocbench-example-plugin"
PLAIN = "sst2__minilm-l6__layer-swapping__2f5dae697d19.json"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _lb(board: Path) -> list:
    return ["--submissions", board / "submissions", "--out", board / "README.md", "--figures", board / "figures"]


@pytest.fixture
def board(tmp_path) -> Path:
    shutil.copytree(REPO / "leaderboard", tmp_path / "leaderboard")
    return tmp_path / "leaderboard"


def _load(name: str = PLAIN) -> dict:
    return json.loads((BASELINE / name).read_text())


def _name_of(d: dict) -> str:
    return (AnalysisResult if d.get("kind") == "analysis" else Result).model_validate(d).filename()


def _file_by_hand(subs: Path, name: str, files: dict[str, str], slug: str | None = None) -> Path:
    """A submission folder laid out as `submit` lays it out, written by hand (as a pull request would)."""
    slug = slug or slugify(name)
    folder = subs / slug
    folder.mkdir(parents=True)
    for fname, text in files.items():
        (folder / fname).write_text(text)
    (folder / "submission.json").write_text(json.dumps({"name": name, "slug": slug, "results": sorted(files)}))
    return folder


def _section(page: str, title: str) -> str:
    return page.split(f"## {title}")[1].split("\n## ")[0]


def _set_profile(d: dict, raw: list[float]) -> dict:
    d["raw_weights"], d["num_layers"] = raw, len(raw)
    d["layer_weights"] = normalise(raw)
    d["weights_all_zero"] = sum(raw) == 0
    d["mcog"] = mcog(d["layer_weights"])
    return d


def _unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# -- item 2: the page depends on the submissions alone -------------------------------------------------
def _with_third_party(monkeypatch):
    """The installed plugins plus a third-party package: a task (emotion-binary), a paper-suite method
    (weight-change), two analyses, one declaring a location measure (the example plugin), and a 3-layer model."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    import memlocbench_example
    from tiny_models import TinyModels, tiny_adapter

    prov = Provider("memlocbench-example-plugin", "0.1.0")
    plugins = load_plugins(extra=[(memlocbench_example, prov), (TinyModels([tiny_adapter("bert", {"vocab": 0})]), prov)])
    assert {"emotion-binary"} <= set(plugins.tasks.names()) and "weight-change" in plugins.methods.names()
    assert "weight-change-layer" in plugins.analyses.names() and "tiny-bert" in plugins.models.names()
    monkeypatch.setattr(app, "cli_plugins", lambda: plugins)
    return plugins


def test_committed_page_is_byte_identical_with_a_third_party_plugin_installed(monkeypatch, tmp_path):
    _with_third_party(monkeypatch)
    out = tmp_path / "README.md"
    res = _invoke("leaderboard", "--submissions", COMMITTED, "--out", out, "--figures", tmp_path / "figures")
    assert res.exit_code == 0, res.output
    assert out.read_bytes() == (REPO / "leaderboard" / "README.md").read_bytes()
    for png in (REPO / "leaderboard" / "figures").glob("*.png"):
        assert (tmp_path / "figures" / png.name).read_bytes() == png.read_bytes(), png.name


# -- item 3: models of different depth are never pooled ------------------------------------------------
def _table(model: str, layers: int, a: list[float], b: list[float]) -> ModelTable:
    tasks = [f"t{i}" for i in range(len(a))]
    cells = {**{(t, "a"): Cell([SimpleNamespace(mcog=x)]) for t, x in zip(tasks, a)},
             **{(t, "b"): Cell([SimpleNamespace(mcog=y)]) for t, y in zip(tasks, b)}}
    return ModelTable(model, ["a", "b"], cells, tasks, num_layers=layers)


def test_pooled_agreement_is_on_a_depth_free_scale():
    """Within each model the two methods disagree (r < 0); pooled on raw M-CoG a 1..4 scale and a 1..6
    scale would make them agree (r near 1). Pooled on M-CoG / L they still disagree."""
    six = _table("six", 6, [3.0, 3.1, 2.9], [4.0, 3.9, 4.1])
    four = _table("four", 4, [2.0, 2.1, 1.9], [2.67, 2.6, 2.73])
    raw = pearson([3.0, 3.1, 2.9, 2.0, 2.1, 1.9], [4.0, 3.9, 4.1, 2.67, 2.6, 2.73])
    assert raw > 0.9  # the artefact the paper's pooling would show
    [(a, b, r, n)] = pooled_agreement([six, four])
    assert (a, b, n) == ("a", "b", 6)
    assert r == pytest.approx(pearson([x / 6 for x in (3.0, 3.1, 2.9)] + [x / 4 for x in (2.0, 2.1, 1.9)],
                                      [y / 6 for y in (4.0, 3.9, 4.1)] + [y / 4 for y in (2.67, 2.6, 2.73)]))
    assert r < 0


def _control_entry(r: Result, model: str, layers: int, placement: list[int]) -> Entry:
    """A committed control result moved onto a ``layers``-layer model (numbers only; render reads no more)."""
    weights = normalise([1.0 if i in placement else 0.1 for i in range(layers)])
    control = r.control.model_copy(update={"placement": placement, "chance": 2 / layers, "true_layer_rank": 1,
                                           "accuracy_at_1": 1.0, "accuracy_at_2": 1.0})
    moved = r.model_copy(update={"model": r.model.model_copy(update={"name": model}), "num_layers": layers,
                                 "layer_weights": weights, "raw_weights": weights, "mcog": mcog(weights),
                                 "control": control})
    return Entry("lab", moved)


def test_control_rankings_never_pool_depths():
    pair = read_result(BASELINE / "sst2__minilm-l6__layer-swapping__control-2-3__582ffc8deb01.json")
    entries = [_control_entry(pair, "deep", 6, [2, 3]), _control_entry(pair, "shallow", 4, [1, 2])]
    control = _section(render(_collected(entries)), "1. Methods on the control benchmark")
    four, six = control.split("#### 4-layer models")[1].split("#### 6-layer models")
    assert four.startswith(": shallow") and "deep" not in four and "accuracy@1 0.50" in four
    assert six.startswith(": deep") and "shallow" not in six and "accuracy@1 0.33" in six
    assert re.search(r"^\| 1 +\| layer-swapping +\| 1\.00 ", four, flags=re.M)
    assert re.search(r"^\| 1 +\| layer-swapping +\| 1\.00 ", six, flags=re.M)  # ranked within its depth
    assert "models of different depth are never ranked together" in control


def _collected(entries):  # noqa: N802 - a Collected of method results only
    from memlocbench.leaderboard import Collected

    return Collected(entries=entries)


def test_the_page_says_what_the_pooled_statistic_is_on(board):
    page = (REPO / "leaderboard" / "README.md").read_text()
    agree = _section(page, "3. Agreement between methods")
    assert "Computed on M-CoG / L, a depth-free scale, pooled over every model × task point" in agree
    assert "Spearman" in agree and "within one model, the same ρ as raw M-CoG" in agree
    assert len(re.findall(r"^\| method ", agree, flags=re.M)) == 1  # one matrix, not a list per pair


# -- item 5 and D5: what validate rejects never reaches the page -----------------------------------------
def _forged_analysis() -> dict:
    d = _load("sst2__minilm-l6__analysis-neuron-ablation__3c4270a67207.json")
    d["analysis"] = {"name": "acme-ablation", "version": 1, "package": "acme-plugins", "package_version": "1.2"}
    return d


def _uninstalled_method() -> dict:
    d = _load("cola__minilm-l6__layer-swapping__2f5dae697d19.json")
    d["method"] = {"name": "acme-method", "version": 1, "package": "acme-plugins", "package_version": "1.2"}
    return d


def test_item5_a_result_whose_plugin_is_not_installed_is_rejected(tmp_path):
    for d in (_forged_analysis(), _uninstalled_method()):
        path = tmp_path / _name_of(d)
        path.write_text(json.dumps(d))
        res = _invoke("validate", path)
        assert res.exit_code == 2, res.output
        assert "'acme-plugins' 1.2, which is not installed here" in res.output and "not accepted" in res.output


def test_item5_and_d5_the_rebuild_applies_every_check_of_validate(board):
    """An uninstalled analysis (ablation-shaped, so the page would show it by its shape), an uninstalled
    method, an impostor package, 12 layers on the 6-layer model, and a file over the size limit: all filed
    by hand with a valid filing record; none reaches any table, each is listed with its reason."""
    impostor = _load("mrpc__minilm-l6__layer-swapping__2f5dae697d19.json")
    impostor["method"]["package"] = "evil-plugins"
    twelve = _set_profile(_load(), [1.0] * 11 + [2.0])
    big = _load("rte__minilm-l6__layer-swapping__2f5dae697d19.json")
    files = {_name_of(d): json.dumps(d) for d in (_forged_analysis(), _uninstalled_method(), impostor, twelve)}
    files[_name_of(big)] = json.dumps(big) + " " * 21_000_000
    _file_by_hand(board / "submissions", "Lab X", files)
    res = _invoke("leaderboard", *_lb(board))
    assert res.exit_code == 0, res.output
    page = (board / "README.md").read_text()
    assert "Lab X" not in _section(page, "All results") and "acme" not in _section(page, "Causal ablation track")
    assert "acme-method" not in _section(page, "2. Where memorisation lives")
    assert re.search(r"\| Lab X +\| 0 +\| no ", _section(page, "Submissions"))
    gone = _unescaped(_section(page, "Not counted"))
    assert gone.count("lab-x/") == 5
    assert "which is not installed here" in gone and "provided by 'memlocbench' here" in gone
    assert "but model 'minilm-l6' has 6 layers" in gone and "more than the 20,000,000 allowed" in gone
    assert "Traceback" not in res.output and res.output.count("warning: not counted: lab-x/") == 5


# -- D1: a folder cannot claim another submission's name --------------------------------------------------
def test_d1_a_hand_made_folder_cannot_claim_another_teams_name(board):
    d = _set_profile(_load(), [0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    d["config"]["train"]["seed"] = 4
    d["seeds"]["model_seed"] = 4
    d["config_hash"] = config_hash(d["config"])
    for slug in ("impostor", "memlocbench-cpu-baseline-2"):
        _file_by_hand(board / "submissions", "memlocbench cpu baseline", {_name_of(d): json.dumps(d)}, slug=slug)
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    page = (board / "README.md").read_text()
    committed = (REPO / "leaderboard" / "README.md").read_text()
    where = _section(page, "2. Where memorisation lives")
    assert where == _section(committed, "2. Where memorisation lives")  # SST-2's cells as before (3.15 ± 0.05)
    assert re.search(r"^\| sst2 .*\| 3\.15 ", where, flags=re.M)  # the mean of seeds 1-3, not of seed 4
    assert len(re.findall(r"^\| memlocbench cpu baseline ", _section(page, "Submissions"), flags=re.M)) == 1
    gone = _unescaped(_section(page, "Not counted"))
    assert "impostor: the folder of submission 'memlocbench cpu baseline' must be named 'memlocbench-cpu-baseline'" in gone
    assert "memlocbench-cpu-baseline-2: the folder of submission" in gone


def test_a_folder_without_its_filing_record_or_with_unlisted_files_is_not_counted(board):
    folder = board / "submissions" / "no-record"
    folder.mkdir()
    shutil.copy(BASELINE / PLAIN, folder / PLAIN)
    shutil.copy(BASELINE / PLAIN, board / "submissions" / "memlocbench-cpu-baseline" / "renamed.json")
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    page = (board / "README.md").read_text()
    gone = _unescaped(_section(page, "Not counted"))
    assert "no-record/submission.json: missing" in gone
    assert "memlocbench-cpu-baseline/renamed.json: a file that submission.json does not list" in gone
    assert _section(page, "2. Where memorisation lives") == \
        _section((REPO / "leaderboard" / "README.md").read_text(), "2. Where memorisation lives")


# -- D23: a mistyped folder writes nothing ---------------------------------------------------------------
def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, expected", [
    (["--submissions", "{board}/submisions"], "--submissions {board}/submisions: no such folder; nothing was written"),
    (["--submissions", "{board}/empty"], "holds no submission folders; nothing was written"),
    (["--results", "{board}/nonexistent"], "--results {board}/nonexistent: no such folder; nothing was written"),
])
def test_d23_a_mistyped_folder_rewrites_nothing(board, args, expected):
    (board / "empty").mkdir()
    before = _tree(board)
    args = [a.format(board=board) for a in args]
    base = {"--submissions": str(board / "submissions"), "--out": str(board / "README.md"),
            "--figures": str(board / "figures")}
    flags = [x for k, v in base.items() if k not in args for x in (k, v)]
    res = _invoke("leaderboard", *flags, *args)
    assert res.exit_code == 2 and expected.format(board=board) in res.output, res.output
    assert _tree(board) == before


# -- D24: no field of a result can blow the page up ---------------------------------------------------------
def test_d24_a_huge_guard_reason_is_rejected_and_the_page_stays_small(board, tmp_path):
    name = "emotion__minilm-l6__gradient-attribution__19c4804b7792.json"  # not memorised: the page shows its reason
    d = _load(name)
    d["memorisation_guard"]["reason"] = "x" * 3_800_000
    bad = tmp_path / name
    bad.write_text(json.dumps(d))
    res = _invoke("validate", bad)
    assert res.exit_code == 2 and "field 'memorisation_guard.reason' is a string of 3800000 characters" in res.output
    d["memorisation_guard"]["reason"] = "fine, it memorised"  # short, but not what its numbers give
    bad.write_text(json.dumps(d))
    res = _invoke("validate", bad)
    assert res.exit_code == 2 and "its noisy fit, clean twin fit and thresholds give memorised=False" in res.output
    d["memorisation_guard"]["reason"] = "x" * 3_800_000
    shutil.copy(bad, board / "submissions" / "memlocbench-cpu-baseline" / name)  # edited in place
    d2 = _load("sst2__minilm-l6__layer-retraining__2f5dae697d19.json")
    d2["memorisation_guard"]["reason"] = "y" * 3_800_000
    (board / "submissions" / "memlocbench-cpu-baseline" / "sst2__minilm-l6__layer-retraining__2f5dae697d19.json") \
        .write_text(json.dumps(d2))
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    page = (board / "README.md").read_text()
    assert len(page) < 200_000 and "xxxxxxxxxx" not in page and "yyyyyyyyyy" not in page


# -- D12 (the leaderboard's part): a FIFO or a link among the files hangs nothing -------------------------------
def test_a_fifo_or_a_link_in_a_submission_hangs_nothing(board, tmp_path):
    folder = _file_by_hand(board / "submissions", "Lab F", {})
    names = ["sst2__minilm-l6__layer-swapping__aaaaaaaaaaaa.json", "sst2__minilm-l6__layer-swapping__bbbbbbbbbbbb.json",
             "sst2__minilm-l6__layer-swapping__cccccccccccc.json"]
    os.mkfifo(folder / names[0])
    (folder / names[1]).symlink_to("/dev/zero")
    (folder / names[2]).symlink_to(tmp_path / "nowhere.json")
    (folder / "submission.json").write_text(json.dumps({"name": "Lab F", "slug": "lab-f", "results": names}))
    cmd = [sys.executable, "-m", "memlocbench.cli", "leaderboard", *map(str, _lb(board))]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    assert res.stderr.count("warning: not counted: lab-f/") == 3 and "Traceback" not in res.stderr


# -- the old defects: folder mode, non-ASCII names, repeated keys ---------------------------------------------
def test_submission_folders_are_readable_as_the_umask_allows(board):
    old = os.umask(0o022)
    try:
        assert _invoke("submit", BASELINE / PLAIN, "--name", "Lab M", *_lb(board)).exit_code == 0
    finally:
        os.umask(old)
    folder = board / "submissions" / "lab-m"
    assert oct(folder.stat().st_mode & 0o777) == oct(0o755)
    assert oct((folder / "submission.json").stat().st_mode & 0o777) == oct(0o644)


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # figure labels: the font has no CJK glyphs
@pytest.mark.parametrize("name", ["日本語", "Équipe Café", "Лаборатория 7"])
def test_non_ascii_names_are_filed_and_shown(board, name):
    res = _invoke("submit", BASELINE / PLAIN, "--name", name, *_lb(board))
    assert res.exit_code == 0, res.output
    [folder] = [p for p in (board / "submissions").iterdir() if p.name != "memlocbench-cpu-baseline"]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", folder.name) and folder.name == slugify(name)
    page = (board / "README.md").read_text()
    assert re.search(rf"^\| {re.escape(name)} +\| 1 +\| no ", _section(page, "Submissions"), flags=re.M)
    assert "Not counted" not in page
    assert slugify("日本語") != slugify("中文") and slugify("Équipe Café") == "equipe-cafe"


def test_repeated_json_keys_are_rejected(board, tmp_path):
    text = (BASELINE / PLAIN).read_text()
    forged = text.replace('"mcog":', '"mcog": 1.0,\n  "mcog":', 1)
    assert forged != text
    bad = tmp_path / PLAIN
    bad.write_text(forged)
    res = _invoke("validate", bad)
    assert res.exit_code == 2 and "key 'mcog' appears twice in one object" in res.output, res.output
    (board / "submissions" / "memlocbench-cpu-baseline" / PLAIN).write_text(forged)
    assert _invoke("leaderboard", *_lb(board)).exit_code == 0
    assert f"memlocbench-cpu-baseline/{PLAIN}" in _unescaped(_section((board / "README.md").read_text(), "Not counted"))


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
def test_two_non_ascii_submissions_of_one_method_get_their_own_figures(board):
    for name in ("日本語", "中文"):
        assert _invoke("submit", BASELINE / PLAIN, "--name", name, *_lb(board)).exit_code == 0
    figures = _section((board / "README.md").read_text(), "2. Where memorisation lives")
    links = re.findall(r"\]\((figures/minilm-l6__layer-swapping[^)]*\.png)\)", figures)
    assert len(links) == len(set(links)) == 3  # the baseline's column and one per new submission
    assert all((board / link).is_file() for link in links)
