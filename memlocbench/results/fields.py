"""The building blocks of every result record: strict pydantic records, bounded number types, plugin
references, and the tolerance within which recomputed numbers must agree."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from memlocbench.names import Name

#: recomputed numbers (weights from raw weights, M-CoG, control scores) may differ by this much
RECOMPUTE_TOLERANCE = 1e-6

Fraction = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]
#: a package name (PEP 508) or version string: no spaces, markup or path characters
PackageText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+!-]*$", max_length=100)]
Text = Annotated[str, StringConstraints(max_length=500)]


class StrictRecord(BaseModel):
    # allow_inf_nan=False: every float field (nested ones too) must be finite; strict: no coercion
    # (true is not 1, 3.0 is not an integer, "1" is not a number)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


class PluginRef(StrictRecord):
    name: Name
    version: int = Field(ge=1, description="the task's / model's / method's own version")
    package: PackageText
    package_version: PackageText


