"""``memlocbench schema``: the JSON Schema of the result files, generated from their pydantic models.

Kinds: ``run`` (one method's result, ``Result``), ``analysis`` (``AnalysisResult``), ``summary`` (a run
summary, ``*.summary.json``, ``RunSummary``) and ``all`` (the default: a file of any of the three,
``anyOf``). The schema describes the files memlocbench writes now (run results and summaries of schema
version 2, analysis results of version 1). Files of an older schema validate once upgraded
(``memlocbench.results.upgrade``), which is what memlocbench does on reading them. The schema checks
structure, types, patterns and ranges; the consistency checks that need computation (weights recomputed
from raw weights, M-CoG, the config hash, control scores, the guard) are ``memlocbench validate``'s.
"""

from __future__ import annotations

import json

import click
from pydantic.json_schema import models_json_schema

from memlocbench.results.analysis_result import ANALYSIS_SCHEMA_VERSION, AnalysisResult
from memlocbench.results.run_result import SCHEMA_VERSION, Result, RunSummary

#: kind -> the pydantic model of that kind of result file
MODELS = {"run": Result, "analysis": AnalysisResult, "summary": RunSummary}
KINDS = ("all", *MODELS)
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_TITLES = {
    "all": "memlocbench result file (a run result, an analysis result or a run summary)",
    "run": f"memlocbench run result (schema version {SCHEMA_VERSION})",
    "analysis": f"memlocbench analysis result (schema version {ANALYSIS_SCHEMA_VERSION})",
    "summary": f"memlocbench run summary (schema version {SCHEMA_VERSION})",
}


def result_schema(kind: str = "all") -> dict:
    """The JSON Schema (draft 2020-12) of a result file of ``kind`` (one of ``KINDS``): pydantic's
    validation-mode schema of its model, or, for ``all``, an ``anyOf`` of the three over shared ``$defs``."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    models = list(MODELS.values()) if kind == "all" else [MODELS[kind]]
    refs, schema = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    branches = [refs[(m, "validation")] for m in models]
    out: dict = {"$schema": DIALECT, "title": _TITLES[kind]}
    if kind == "all":
        out["anyOf"] = branches
    else:
        # the one model's own schema at the top level, the others' definitions below it
        name = branches[0]["$ref"].rsplit("/", 1)[1]
        top = schema["$defs"].pop(name)
        out.update({k: v for k, v in top.items() if k != "title"})
        out["description"] = top.get("description", "")
    if schema.get("$defs"):
        out["$defs"] = schema["$defs"]
    return out


@click.command()
@click.option("--kind", type=click.Choice(KINDS), default="all", show_default=True,
              help="run: one method's result; analysis: an analysis result; summary: a run summary "
                   "(*.summary.json); all: any of the three (anyOf)")
@click.option("--indent", type=click.IntRange(min=0), default=2, show_default=True,
              help="spaces per indentation level of the printed JSON (0: one line)")
def schema(kind: str, indent: int) -> None:
    """Print the JSON Schema of memlocbench's result files, generated from their pydantic models.

    It describes the current schema versions; older files validate once upgraded, as memlocbench
    upgrades them on reading. Consistency checks that need computation are `memlocbench validate`'s.
    """
    click.echo(json.dumps(result_schema(kind), indent=indent or None, ensure_ascii=False))
