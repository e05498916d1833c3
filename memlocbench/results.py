"""The result record of one (task, model, method) run: a versioned, strictly checked pydantic model.

Results are written as JSON; reading one back never executes or unpickles anything. The checks
here (profile length and sum, M-CoG, config hash) are the ones the leaderboard applies to
submissions.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from memlocbench.layer_profile import mcog
from memlocbench.profiles import config_hash
from memlocbench.store import atomic_write_text

SCHEMA_VERSION = 1
PROFILE_SUM_TOLERANCE = 1e-6


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PluginRef(_Strict):
    name: str
    version: int = Field(ge=1, description="the task's / model's / method's own version")
    package: str
    package_version: str


class MemorisationStats(_Strict):
    role: str
    labels: Literal["noisy", "clean"]
    noisy_fit_perturbed: float = Field(description="share of noisy examples predicted as their perturbed label")
    noisy_original_acc: float = Field(description="share of noisy examples predicted as their original label")
    clean_train_acc: float
    validation_acc: float
    first_fit_epoch: int | None
    epochs: list[dict[str, float | None]]
    train_seconds: float
    trained_in_this_run: bool


class ControlScore(_Strict):
    """How well a profile finds the layers that the control setup forced memorisation into."""

    placement: list[int] = Field(description="0-based layers the main task could update")
    accuracy_at_1: float = Field(ge=0, le=1)
    accuracy_at_2: float = Field(ge=0, le=1)
    chance: float = Field(ge=0, le=1, description="2 / L")


class Result(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    memlocbench_version: str
    created_at: str
    task: PluginRef
    model: PluginRef
    method: PluginRef
    profile_name: str
    config: dict[str, Any]
    config_hash: str
    seeds: dict[str, int]
    sizes: dict[str, int]
    memorisation: dict[str, MemorisationStats]
    num_layers: int = Field(ge=1)
    details: dict[str, Any]
    profile_raw: list[float]
    profile: list[float]
    profile_all_zero: bool = Field(description="raw weights were all zero; profile set uniform")
    mcog: float
    control: ControlScore | None = None
    timings: dict[str, float]
    cached: dict[str, bool] = Field(description="which stages were reused from the artefact store")
    environment: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> "Result":
        L = self.num_layers
        for name in ("profile_raw", "profile"):
            values = getattr(self, name)
            if len(values) != L:
                raise ValueError(f"{name} has {len(values)} entries, expected one per layer ({L})")
        if any(not math.isfinite(x) or x < 0 for x in self.profile):
            raise ValueError("profile entries must be finite and non-negative")
        if abs(sum(self.profile) - 1) > PROFILE_SUM_TOLERANCE:
            raise ValueError(f"profile sums to {sum(self.profile):.8f}, expected 1")
        expected = mcog(self.profile)
        if abs(self.mcog - expected) > 1e-6:
            raise ValueError(f"mcog is {self.mcog}, but the profile gives {expected}")
        if config_hash(self.config) != self.config_hash:
            raise ValueError("config_hash does not match the sha256 of the config")
        return self

    def filename(self) -> str:
        setup = f"__control-{self.control.placement[0]}-{self.control.placement[1]}" if self.control else ""
        return f"{self.task.name}__{self.model.name}__{self.method.name}{setup}__{self.config_hash[:12]}.json"

    def write(self, out_dir: Path) -> Path:
        path = Path(out_dir) / self.filename()
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return path


def read_result(path: Path) -> Result:
    return Result.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def environment() -> dict[str, str]:
    import datasets
    import torch
    import transformers

    from memlocbench import __version__

    return {
        "memlocbench": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "torch_threads": str(torch.get_num_threads()),
    }


class RunSummary(_Strict):
    """One run of several methods on the same trained models: each method's M-CoG and their mean
    (the paper's per-task M-CoG), and, for control runs, the mean accuracies over placements."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["run-summary"] = "run-summary"
    task: str
    model: str
    profile_name: str
    config_hash: str
    control: bool
    mcog: dict[str, float] = Field(description="method -> M-CoG (mean over placements for control runs)")
    mean_mcog: float
    control_accuracy: dict[str, dict[str, float]] = Field(default_factory=dict,
                                                           description="method -> accuracy_at_1 / accuracy_at_2 / chance")
    results: list[str] = Field(description="file names of the results summarised")

    def write(self, out_dir: Path) -> Path:
        kind = "control-summary" if self.control else "summary"
        path = Path(out_dir) / f"{self.task}__{self.model}__{kind}__{self.config_hash[:12]}.summary.json"
        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")
        return path


def summarise(results: list[Result], control: bool) -> RunSummary:
    by_method: dict[str, list[Result]] = {}
    for r in results:
        by_method.setdefault(r.method.name, []).append(r)
    mcogs = {m: sum(r.mcog for r in rs) / len(rs) for m, rs in by_method.items()}
    acc = {}
    if control:
        for m, rs in by_method.items():
            acc[m] = {k: sum(getattr(r.control, k) for r in rs) / len(rs)
                      for k in ("accuracy_at_1", "accuracy_at_2", "chance")}
    first = results[0]
    return RunSummary(task=first.task.name, model=first.model.name, profile_name=first.profile_name,
                      config_hash=first.config_hash, control=control, mcog=mcogs,
                      mean_mcog=sum(mcogs.values()) / len(mcogs), control_accuracy=acc,
                      results=[r.filename() for r in results])
