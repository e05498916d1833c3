"""docs/plugins.md, the hook reference, stays complete and accurate (in the manner of datasette's
``test_plugin_hooks_are_documented``): every hook spec has a section with its signature and a test that
implements it; every method of every plugin protocol (the optional ones its docstring names as calls
included) has a section of its own, headed by its call as the protocol declares it; every member of every
plugin protocol and every field of the metadata records is mentioned in its hook's section; the examples
import only ``memlocbench.api`` (and ``memlocbench.testing``), register without a warning, and do what the
page says; and the documentation site's pages link only what exists."""

from __future__ import annotations

import builtins
import dataclasses
import inspect
import json
import re
import types
from pathlib import Path

import pytest

from memlocbench.contracts import hookspecs, protocols
from memlocbench.registry import Provider, load_plugins

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "plugins.md"
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, f"{hookspecs.PROJECT}_spec"))
#: hook -> (the protocol its objects satisfy, the records and return types they carry)
CONTRACTS = {
    "register_tasks": (protocols.Task, [protocols.TaskMetadata]),
    "register_models": (protocols.ModelAdapter, [protocols.ModelInfo]),
    "register_methods": (protocols.LocalisationMethod, [protocols.MethodInfo, protocols.LayerScores]),
    "register_analyses": (protocols.Analysis, [protocols.AnalysisInfo, protocols.Measure, protocols.AnalysisOutput]),
    "register_executors": (protocols.Executor, []),
}
#: what each example on the page registers
EXAMPLES = {"register_tasks": ("tasks", "emotion-binary"), "register_models": ("models", "my-bert"),
            "register_methods": ("methods", "weight-change"), "register_analyses": ("analyses", "noisy-fit"),
            "register_executors": ("executors", "subprocesses")}


def _text() -> str:
    return DOCS.read_text(encoding="utf-8")


def _section(hook: str) -> str:
    """The text under the heading naming ``hook``, up to the next heading of the same level or higher."""
    text = _text()
    match = re.search(rf"^(#+) [^\n]*\b{hook}\b[^\n]*$", text, re.M)
    assert match, f"docs/plugins.md has no heading naming the hook {hook}"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
    return text[match.end(): end.start() if end else len(text)]


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def _example(hook: str) -> str:
    """The section's full example: the Python block that defines a class and implements the hook."""
    blocks = [b for b in _code_blocks(_section(hook)) if re.search(r"^class ", b, re.M)
              and re.search(rf"^@hookimpl\ndef {hook}\(", b, re.M)]
    assert len(blocks) == 1, f"the section of {hook} should have one full example, found {len(blocks)}"
    return blocks[0]


def _optional_members(protocol: type) -> set[str]:
    """What a protocol's docstring names in double backticks as a bare name, a call ``name(...`` or a
    typed ``name: ...``: its optional members and the arguments and keys it describes (Python builtins
    such as ``getattr`` aside)."""
    names = re.findall(r"``([a-z_][a-z0-9_]*)(?:\(|:|``)", inspect.getdoc(protocol) or "")
    return {n for n in names if not hasattr(builtins, n)}


def _methods(protocol: type) -> dict[str, str]:
    """A protocol's methods, each with its call as declared: the required ones from their signatures
    (``load(data_dir, seed, separator)``), the optional ones as the protocol's docstring writes them
    (``ffn_projections(model)``)."""
    calls = {}
    for name, obj in vars(protocol).items():
        if not name.startswith("_") and callable(obj):
            args = [a for a in inspect.signature(obj).parameters if a != "self"]
            calls[name] = f"{name}({', '.join(args)})"
    for name, args in re.findall(r"``([a-z_][a-z0-9_]*)\(([^)]*)\)", inspect.getdoc(protocol) or ""):
        calls.setdefault(name, f"{name}({args})")
    return calls


def _headings(text: str) -> list[str]:
    return re.findall(r"^#{3,} (.*)$", text, re.M)


def _members(protocol: type) -> set[str]:
    required = {n for n in vars(protocol) if not n.startswith("_") and callable(vars(protocol)[n])}
    return required | set(protocol.__annotations__) | _optional_members(protocol)


def _fields(record: type) -> list[str]:
    if dataclasses.is_dataclass(record):
        return [f.name for f in dataclasses.fields(record)]
    return list(record.model_fields)


def test_the_hooks_and_their_contracts_are_known_here():
    """A new hook spec or protocol must be added to CONTRACTS (and so to the page) before this passes."""
    assert sorted(CONTRACTS) == HOOKS and len(HOOKS) == 5
    declared = {obj for obj in vars(protocols).values()
                if isinstance(obj, type) and getattr(obj, "_is_runtime_protocol", False)}
    assert declared == {protocol for protocol, _ in CONTRACTS.values()}


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_section_with_its_signature(hook):
    spec = getattr(hookspecs, hook)
    args = ", ".join(f"{a}: {spec.__annotations__[a]}" for a in inspect.signature(spec).parameters)
    signature = f"def {hook}({args}) -> {spec.__annotations__['return']}"
    assert signature in _section(hook), f"the section of {hook} should show `{signature}`"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_by_a_test(hook):
    implemented = re.compile(rf"@hookimpl\s*\n\s*def {hook}\(")
    files = [p.name for p in sorted(Path(__file__).resolve().parents[1].rglob("test_*.py"))
             if p.name != Path(__file__).name and implemented.search(p.read_text(encoding="utf-8"))]
    assert files, f"no test implements the hook {hook} (a @hookimpl def {hook}(...) in tests/**/test_*.py)"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_protocol_member_and_record_field_is_in_its_hooks_section(hook):
    protocol, records = CONTRACTS[hook]
    section = _section(hook)
    missing = sorted(m for m in _members(protocol) if not re.search(rf"`({protocol.__name__}\.)?{m}\b", section))
    assert not missing, f"{protocol.__name__} members not mentioned in the section of {hook}: {missing}"
    for record in records:
        missing = [f for f in _fields(record) if not re.search(rf"`{f}\b", section)]
        assert not missing, f"{record.__name__} fields not mentioned in the section of {hook}: {missing}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_protocol_method_has_a_section_headed_by_its_call(hook):
    """Each method of the hook's protocol, required or optional, is a subsection of the hook's section,
    headed by its call as the protocol declares it (so the page cannot drift from the signatures), and
    says something under its heading."""
    protocol, _ = CONTRACTS[hook]
    section = _section(hook)
    for name, call in _methods(protocol).items():
        heading = next((h for h in _headings(section) if f"`{protocol.__name__}.{call}" in h), None)
        assert heading, f"the section of {hook} has no heading naming `{protocol.__name__}.{call}`"
        body = section.split(heading, 1)[1].split("\n#", 1)[0]
        assert len(body.split()) >= 10, f"the section `{protocol.__name__}.{call}` says next to nothing"


def test_the_protocols_methods_are_found():
    """``_methods`` really finds them (else the previous test would check little)."""
    assert _methods(protocols.Task) == {"load": "load(data_dir, seed, separator)"}
    assert {"load_model", "parameter_group", "sentence_representation", "ffn_projections"} <= set(_methods(protocols.ModelAdapter))
    assert _methods(protocols.ModelAdapter)["ffn_projections"] == "ffn_projections(model)"
    assert set(_methods(protocols.LocalisationMethod)) == {"localise", "estimate_work", "flags"}
    assert set(_methods(protocols.Analysis)) == {"analyse", "recheck", "estimate_work", "flags"}
    assert _methods(protocols.Executor) == {"execute": "execute(units, options, report)"}


def test_the_page_is_in_the_site_and_links_only_existing_pages():
    """docs/plugins.md is a page of the documentation site (mkdocs.yml), and its links within the site
    name pages that exist."""
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+- [^\n]*: plugins\.md$", config, re.M)
    for target in re.findall(r"\]\(([a-z0-9_./-]+\.md)(?:#[^)]*)?\)", _text()):
        assert (DOCS.parent / target).is_file(), f"docs/plugins.md links {target}, which does not exist"


def test_the_optional_members_are_found_in_the_protocols_docstrings():
    """The docstring parsing above really finds them (else the previous test would check nothing)."""
    assert {"defaults", "estimate_work", "default_rates", "suite_position"} <= _members(protocols.LocalisationMethod)
    assert {"recheck", "defaults", "estimate_work", "default_rates"} <= _members(protocols.Analysis)
    assert "ffn_projections" in _members(protocols.ModelAdapter)
    assert {"name", "description", "execute", "options_schema", "report"} <= _members(protocols.Executor)
    assert "getattr" not in _members(protocols.LocalisationMethod)


def test_the_page_imports_only_the_public_api():
    """The plugin API (``memlocbench.api``) and the plugin author's checks (``memlocbench.testing``)."""
    import memlocbench.api
    import memlocbench.testing

    public = {"memlocbench.api": set(memlocbench.api.__all__), "memlocbench.testing": set(memlocbench.testing.__all__)}
    imports = [line.strip() for block in _code_blocks(_text()) for line in block.splitlines()
               if re.match(r"\s*(from|import) memlocbench\b", line)]
    assert imports
    for line in imports:
        module = line.split()[1]
        assert line.startswith("from ") and module in public, line
        names = {n.strip() for n in line.split(" import ", 1)[1].split(",")}
        assert names <= public[module], names - public[module]


@pytest.fixture(scope="module")
def examples(monkeypatch_module):
    """The page's five examples, each executed as a module, registered beside the built-ins."""
    monkeypatch_module.setenv("MEMLOCBENCH_LOAD_PLUGINS", "")
    modules = {}
    for hook in HOOKS:
        module = types.ModuleType(f"docs_example_{hook}")
        exec(compile(_example(hook), f"docs/plugins.md ({hook})", "exec"), module.__dict__)  # noqa: S102
        modules[hook] = module
    plugins = load_plugins(extra=[(m, Provider("docs-example", "0.0")) for m in modules.values()], task_files=False)
    return plugins, modules


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.mark.parametrize("hook", HOOKS)
def test_every_example_registers_without_a_warning(examples, hook):
    plugins, _ = examples
    assert not plugins.failures, plugins.failures
    kind, name = EXAMPLES[hook]
    registry = getattr(plugins, kind)
    assert name in registry.names() and registry.provider(name) == Provider("docs-example", "0.0")


def test_the_task_example_loads_two_classes_from_the_mirror(examples, mirror):
    task = examples[0].tasks.get("emotion-binary")
    data = task.load(mirror, 1, "[SEP]")
    assert len(data.train) == 16000 and set(data.train.labels) == {0, 1}
    assert len(data.validation) + len(data.test) == 2000


def test_the_model_example_groups_parameters_as_documented(examples):
    adapter = examples[0].models.get("my-bert")
    assert adapter.parameter_group("bert.encoder.layer.3.attention.self.query.weight") == 3
    assert adapter.parameter_group("bert.embeddings.word_embeddings.weight") == "embeddings"
    assert adapter.parameter_group("classifier.weight") == "head"
    assert adapter.info.sentence_representation == "first-token" and adapter.info.family == "bert"


def test_the_executor_example_reports_a_failed_unit_and_skips_its_dependants(examples):
    """A unit whose payload names no run fails in its subprocess (reported with the reason); the unit
    depending on it is reported failed without running."""
    executor = examples[0].executors.get("subprocesses")
    seen = []
    units = [{"id": "a", "deps": [], "payload": {"kind": "train"}, "resources": {"num_cpus": 1, "num_gpus": 0}},
             {"id": "b", "deps": ["a"], "payload": {"kind": "train"}, "resources": {"num_cpus": 1, "num_gpus": 0}}]
    json.dumps(units)
    executor.execute(units, {"progress": False, "log": print}, seen.append)
    assert [(r["id"], r["status"]) for r in seen] == [("a", "failed"), ("b", "failed")]
    assert "KeyError" in seen[0]["reason"] and seen[1]["reason"] == "dependency failed"
