"""``memlocbench schema``: the JSON Schema it prints is a valid draft-2020-12 schema that accepts every
committed result file (schema-1 method results once upgraded, as memlocbench reads them), every file
memlocbench writes now, and rejects what the models reject structurally; a bad option exits non-zero
with a clear message; the copy the docs link (``docs/result-schema.json``) is the command's output."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from memlocbench.cli import main
from memlocbench.cli.schema import KINDS, result_schema
from memlocbench.results.analysis_result import AnalysisResult, is_analysis_record
from memlocbench.results.run_result import Result, summarise
from memlocbench.results.upgrade import RESULT_STEPS, SUMMARY_STEPS, upgrade

REPO = Path(__file__).resolve().parents[2]
#: metadata files of a submission folder, not result files
METADATA = {"submission.json", "verification.json"}
COMMITTED = sorted(p for folder in (REPO / "leaderboard" / "submissions", REPO / "results", REPO / "tests" / "legacy_results")
                   if folder.is_dir() for p in folder.rglob("*.json") if p.name not in METADATA)


def _printed(*args: str) -> dict:
    out = CliRunner().invoke(main, ["schema", *args])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = _printed()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _as_read(path: Path) -> dict:
    """A result file as memlocbench reads it: older method results and summaries upgraded in memory."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if is_analysis_record(data):
        return data
    return upgrade(data, SUMMARY_STEPS if path.name.endswith(".summary.json") else RESULT_STEPS)


def _errors(validator, data) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:200]}" for e in validator.iter_errors(data)]


def test_every_kind_prints_a_valid_schema():
    for kind in KINDS:
        schema = _printed("--kind", kind)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and "memlocbench" in schema["title"]
    assert len(_printed()["anyOf"]) == 3
    assert _printed("--kind", "run")["properties"]["schema_version"]["const"] == 2
    assert _printed("--kind", "analysis")["properties"]["kind"]["const"] == "analysis"


def test_every_committed_result_file_validates(validator):
    assert len(COMMITTED) > 300  # the committed baseline (384 results) and the legacy files
    kinds = {"run": 0, "analysis": 0}
    for path in COMMITTED:
        data = _as_read(path)
        kinds["analysis" if is_analysis_record(data) else "run"] += 1
        assert not _errors(validator, data), (path.name, _errors(validator, data)[:3])
    assert kinds["run"] > 0 and kinds["analysis"] > 0


def test_each_file_validates_against_its_own_kind_only():
    run = jsonschema.Draft202012Validator(result_schema("run"))
    analysis = jsonschema.Draft202012Validator(result_schema("analysis"))
    for path in COMMITTED[:: max(1, len(COMMITTED) // 40)]:
        data = _as_read(path)
        mine, other = (analysis, run) if is_analysis_record(data) else (run, analysis)
        assert mine.is_valid(data) and not other.is_valid(data), path.name


def test_schema_1_files_validate_only_once_upgraded(validator):
    """The schema describes the files written now; the committed baseline is schema 1 and its raw form
    (``profile_raw``, ``profile``, ...) is rejected, its upgraded form accepted (docs/results.md says so)."""
    path = next(p for p in COMMITTED if not is_analysis_record(json.loads(p.read_text())))
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 1 and not validator.is_valid(raw)
    assert validator.is_valid(_as_read(path))


def test_what_memlocbench_writes_now_validates(validator):
    """Method results and analysis results re-serialised by their models (the form ``write`` produces),
    and a run summary of them."""
    runs = [p for p in COMMITTED if "__analysis-" not in p.name and "legacy" not in str(p)]
    results = [Result.model_validate(json.loads(p.read_text())) for p in runs[:4]]
    for r in results:
        assert not _errors(validator, json.loads(r.model_dump_json())), r.filename()
    analysis = next(p for p in COMMITTED if "__analysis-" in p.name)
    dumped = json.loads(AnalysisResult.model_validate(json.loads(analysis.read_text())).model_dump_json())
    assert not _errors(validator, dumped)
    same = [r for r in results if (r.task, r.config_hash) == (results[0].task, results[0].config_hash)]
    summary = json.loads(summarise(same, control=False).model_dump_json())
    assert not _errors(validator, summary)
    assert jsonschema.Draft202012Validator(result_schema("summary")).is_valid(summary)


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d.update(mcog="3.1"), "mcog"),
    (lambda d: d.pop("raw_weights"), "raw_weights"),
    (lambda d: d.update(surprise=1), "surprise"),
    (lambda d: d["task"].update(name="../etc"), "task"),
    (lambda d: d["memorisation"]["memorising"].update(noisy_fit_perturbed=1.5), "noisy_fit_perturbed"),
    (lambda d: d.update(schema_version=3), "schema_version"),
])
def test_structural_errors_are_rejected(validator, mutate, where):
    path = next(p for p in COMMITTED if "__analysis-" not in p.name and "legacy" not in str(p))
    data = _as_read(path)
    mutate(data)
    assert not validator.is_valid(data), where


def test_bad_options_exit_non_zero_with_a_clear_message():
    out = CliRunner().invoke(main, ["schema", "--kind", "everything"])
    assert out.exit_code == 2
    assert "Invalid value for '--kind'" in out.output and "'run'" in out.output and "'analysis'" in out.output
    out = CliRunner().invoke(main, ["schema", "--indent", "-1"])
    assert out.exit_code == 2 and "--indent" in out.output
    out = CliRunner().invoke(main, ["schema", "extra-argument"])
    assert out.exit_code == 2 and "unexpected extra argument" in out.output.lower()


def test_the_docs_link_the_printed_schema():
    """docs/result-schema.json is what `memlocbench schema` prints (regenerate it with
    `memlocbench schema > docs/result-schema.json`), and docs/results.md links it."""
    committed = json.loads((REPO / "docs" / "result-schema.json").read_text(encoding="utf-8"))
    assert committed == _printed(), "docs/result-schema.json is stale: run `memlocbench schema > docs/result-schema.json`"
    assert "(result-schema.json)" in (REPO / "docs" / "results.md").read_text(encoding="utf-8")
