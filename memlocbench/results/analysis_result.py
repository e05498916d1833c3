"""The result record of one (task, model, analysis) run: versioned and strictly checked, with its own
schema version (analysis results and method results evolve separately).

Written as ``<task>__<model>__analysis-<name>__<hash>.json``, where the hash covers the run config
and the analysis' parameters. Every summary number must be finite (or null where undefined).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from memlocbench.config.profiles import config_hash
from memlocbench.results.run_result import MemorisationGuard, PluginRef
from memlocbench.store import atomic_write_text

ANALYSIS_SCHEMA_VERSION = 1
_NAME = r"^[a-z0-9][a-z0-9_.-]*$"


def _finite_tree(value: Any, where: str) -> str | None:
    """The first non-finite float inside ``value`` (JSON-like), as a path, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        for k, v in value.items():
            bad = _finite_tree(v, f"{where}.{k}")
            if bad:
                return bad
    if isinstance(value, list):
        for i, v in enumerate(value):
            bad = _finite_tree(v, f"{where}[{i}]")
            if bad:
                return bad
    return None


def guarded_seeds(guards: dict[int, MemorisationGuard]) -> tuple[list[int], bool]:
    """(the model seeds to analyse, whether they memorised): those that memorised, or all when none did."""
    kept = [s for s, g in guards.items() if g.memorised]
    return (kept, True) if kept else (list(guards), False)


class AnalysisResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = ANALYSIS_SCHEMA_VERSION
    kind: Literal["analysis"] = "analysis"
    memlocbench_version: str
    created_at: str
    task: PluginRef
    model: PluginRef
    analysis: PluginRef
    profile_name: str
    config: dict[str, Any]
    config_hash: str
    params: dict[str, Any]
    seeds: list[int] = Field(min_length=1, description="model seeds whose trained models were analysed")
    memorisation_guard: dict[str, MemorisationGuard] = Field(
        default_factory=dict, description="per requested model seed, whether its memorising model memorised; "
                                          "empty for analyses that do not read the memorising models (and results "
                                          "written before the guard). Seeds that failed are not in ``seeds`` "
                                          "unless every seed failed")
    data_seed: int
    sizes: dict[str, int]
    num_layers: int = Field(ge=1)
    summary: dict[str, float | None] = Field(description="task-level numbers; null where undefined")
    details: dict[str, Any]
    timings: dict[str, float]
    cached: bool
    environment: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> "AnalysisResult":
        for ref in (self.task, self.model, self.analysis):
            if not re.match(_NAME, ref.name):
                raise ValueError(f"name {ref.name!r} must match {_NAME}")
        if config_hash(self.config) != self.config_hash:
            raise ValueError("config_hash does not match the sha256 of the config")
        bad = _finite_tree(self.summary, "summary") or _finite_tree(self.details, "details")
        if bad:
            raise ValueError(f"{bad} is not a finite number (NaN and infinity are not allowed; use null)")
        if self.memorisation_guard:
            odd = [s for s in self.memorisation_guard if not s.lstrip("-").isdigit()]
            if odd:
                raise ValueError(f"memorisation_guard keys must be model seeds (integers), got {odd}")
            want = sorted(guarded_seeds({int(s): g for s, g in self.memorisation_guard.items()})[0])
            if sorted(self.seeds) != want:
                raise ValueError(f"seeds {self.seeds} must be the seeds whose memorising model memorised, {want} "
                                 f"(all requested seeds when none did)")
        return self

    @property
    def memorised(self) -> bool:
        """False when no analysed seed's memorising model memorised (the leaderboard leaves it out)."""
        return not self.memorisation_guard or any(g.memorised for g in self.memorisation_guard.values())

    def output_hash(self) -> str:
        return config_hash({"config": self.config_hash, "analysis": self.analysis.name,
                            "version": self.analysis.version, "params": self.params, "seeds": self.seeds})

    def filename(self) -> str:
        return f"{self.task.name}__{self.model.name}__analysis-{self.analysis.name}__{self.output_hash()[:12]}.json"

    def write(self, out_dir: Path) -> Path:
        path = Path(out_dir) / self.filename()
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return path


def is_analysis_record(data: Any) -> bool:
    """Whether a parsed JSON file is an analysis result (by its schema's ``kind``), not a method result."""
    return isinstance(data, dict) and data.get("kind") == "analysis"


def read_analysis_result(path: Path) -> AnalysisResult:
    return AnalysisResult.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def check_analysis_record(path: Path, data: dict) -> tuple[AnalysisResult | None, list[str]]:
    """The schema checks of ``memlocbench validate`` for an analysis result: its schema version and the
    strict model (names, config hash, finite numbers). Returns (result or None, problems)."""
    from pydantic import ValidationError

    version = data.get("schema_version")
    if version != ANALYSIS_SCHEMA_VERSION or isinstance(version, bool):
        return None, [f"{path}: field 'schema_version' is {version!r}; this memlocbench reads analysis results "
                      f"of version {ANALYSIS_SCHEMA_VERSION}"]
    try:
        return AnalysisResult.model_validate(data), []
    except ValidationError as exc:
        return None, [f"{path}: field '{'.'.join(map(str, e['loc'])) or '(whole record)'}': "
                      f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()]


def recheck_problems(path: Path, result: AnalysisResult, plugins) -> list[str]:
    """The summary recomputed from the details by the installed analysis of the same version (if it
    defines ``recheck``); a result of an analysis not installed here is not rechecked."""
    analysis = plugins.analyses.items.get(result.analysis.name)
    if analysis is None or analysis.info.version != result.analysis.version or not hasattr(analysis, "recheck"):
        return []
    try:
        return [f"{path}: {p}" for p in analysis.recheck(result.summary, result.details)]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        return [f"{path}: details do not have the shape analysis {result.analysis.name!r} writes "
                f"({type(exc).__name__}: {exc})"]
