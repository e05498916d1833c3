"""The record that `memlocbench verify` writes into a submission folder (``verification.json``), and
which results of the folder it still vouches for: a result counts as verified only while its file
has the sha256 recorded here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

VERIFICATION = "verification.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Tolerance(_Strict):
    """How far a re-run may land from the submitted numbers. Re-runs on the same machine and
    software are bit-identical (tests/leaderboard/test_submission_hardening.py::test_verify_*); across machines,
    thread counts and torch builds, float rounding can change training slightly, so a per-layer
    weight may move by up to ``profile_abs`` and M-CoG by up to ``mcog_abs``."""

    profile_abs: float = Field(0.05, ge=0, description="largest |submitted - re-run| of any layer's weight")
    mcog_abs: float = Field(0.1, ge=0, description="largest |submitted - re-run| of M-CoG")


class VerifiedResult(_Strict):
    """The outcome for one re-run result file."""

    result: str = Field(description="file name inside the submission")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the file as verified")
    passed: bool
    submitted_mcog: float | None = None
    rerun_mcog: float | None = None
    max_profile_diff: float | None = None
    mcog_diff: float | None = None
    cached: dict[str, bool] = Field(default_factory=dict, description="stages the re-run took from the store")
    problem: str = ""


class VerificationRecord(_Strict):
    """``<submission>/verification.json``."""

    kind: str = Field("verification", pattern=r"^verification$")
    memlocbench_version: str
    verified_at: str
    tolerance: Tolerance
    sample_seed: int
    results_in_submission: int = Field(ge=0)
    checked: list[VerifiedResult]

    @property
    def passed(self) -> bool:
        return bool(self.checked) and all(c.passed for c in self.checked)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_record(folder: Path) -> VerificationRecord | None:
    """The folder's verification record; None when it has none. Raises on an invalid record."""
    path = Path(folder) / VERIFICATION
    if not path.is_file():
        return None
    return VerificationRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))


def verified_files(folder: Path, record: VerificationRecord | None) -> dict[str, bool]:
    """File name -> passed, for the verified results whose file is unchanged since."""
    if record is None:
        return {}
    out = {}
    for c in record.checked:
        path = Path(folder) / c.result
        if path.is_file() and file_sha256(path) == c.sha256:
            out[c.result] = c.passed
    return out
