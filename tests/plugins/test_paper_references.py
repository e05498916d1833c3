"""Independent references, written the paper's way (vernadankers/memorisation_localisation; they live in
``references/``), compared with memlocbench's fast methods run through their public entry points
(``localise`` on a method context, ``sentence_features`` / ``train_probes``).

No reference imports a fast path's helpers: each rebuilds its method from the paper's code
(whole-network forward passes, one example at a time where the paper does so, its split arithmetic,
its selection rule, its heat-map averaging). Where the fast path deviates on purpose (README,
"Deviations from the paper") the reference takes the fast path's side and says so, so that the
comparison tests everything else. Random numbers: where the paper draws from a global generator, the
reference draws the same numbers as the fast path's documented seeding, so that both see the same
batches, masks and initialisations and can be compared example by example.

The model is a tiny randomly initialised BERT (3 layers, 32 wide, dropout 0 so that train and eval
mode agree) with MiniLM's tokenizer, on the first SST-2 training rows: each test runs in seconds.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from conftest import single_thread
from transformers import BertConfig

from memlocbench.data.encoding import encode
from memlocbench.run.method_context import MethodContext
from memlocbench.run.settings import profile_config
from memlocbench_methods.gradient_attribution import GradientAttribution
from memlocbench_methods.layer_retraining import LayerRetraining
from memlocbench_methods.probing import DEFAULTS as PROBE_DEFAULTS
from memlocbench_methods.probing import sentence_features, train_probes
from memlocbench_models.bert import BertAdapter, minilm_source
from references.gradient_attribution import paper_forget_gradients, paper_per_layer
from references.layer_retraining import paper_heatmap_weights, paper_retrain, paper_windows
from references.probing import paper_features, paper_probe

N_ROWS, N_NOISY, L = 48, 8, 3


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    with single_thread():
        yield


@dataclass
class _Data:  # the part of a NoisyDataset the methods read
    noisy_idx: list[int]
    clean_idx: list[int]
    noisy_labels: list[int]
    original_labels: list[int] = field(default_factory=list)


class _Models:
    """Stands in for TrainedModels: the given models by role."""

    def __init__(self, models: dict[str, torch.nn.Module], pretrained: torch.nn.Module):
        self.models, self.base = models, pretrained

    def load(self, role, checkpoint="final"):
        return copy.deepcopy(self.models[role]).eval()

    def pretrained(self):
        return copy.deepcopy(self.base)

    def meta(self, role):
        return {"first_fit_epoch": 1}

    def resolve(self, role):
        return role


@pytest.fixture(scope="module")
def tiny(mirror):
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=L, num_attention_heads=4,
                     intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    adapter = BertAdapter(name="tiny-bert", hub_id="tests/tiny-bert", description="tiny", source=minilm_source,
                          config=cfg)
    tok = adapter.load_tokenizer()
    rows = [json.loads(x) for x in (mirror / "sst2" / "train.jsonl").read_text().splitlines()[:N_ROWS]]
    texts, original = [r["sentence"] for r in rows], [r["label"] for r in rows]
    noisy = sorted(random.Random(5).sample(range(N_ROWS), N_NOISY))
    labels = [1 - y if i in noisy else y for i, y in enumerate(original)]
    data = _Data(noisy, [i for i in range(N_ROWS) if i not in noisy], labels, original)
    enc = encode(tok, texts, 32)
    torch.manual_seed(0)
    pretrained = adapter.load_model(2).eval()
    # a "memorising" model: the pretrained one, fitted briefly to the noisy labels (all but the embeddings)
    mem = copy.deepcopy(pretrained)
    params = [p for n, p in mem.named_parameters() if adapter.parameter_group(n) != "embeddings"]
    opt = torch.optim.AdamW(params, lr=3e-3)
    mem.train()
    for _ in range(15):
        for k in range(0, N_ROWS, 16):
            idx = list(range(k, min(k + 16, N_ROWS)))
            loss = F.cross_entropy(mem(**enc.batch(idx)).logits, torch.tensor([labels[i] for i in idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    mem.eval()
    return adapter, tok, texts, enc, data, pretrained, mem


def _ctx(tiny, models, config):
    adapter, tok, _, enc, data, _, _ = tiny
    return MethodContext("sst2", adapter, tok, data, enc, models, config, L, progress=False)


# -- layer retraining --------------------------------------------------------------------------------
def test_layer_retraining_matches_the_papers_procedure(tiny):
    """Tolerance: every window's noisy accuracy equal (the same examples recovered), and layer
    weights within 1e-6 (floating-point summation order only)."""
    adapter, _, _, enc, data, pretrained, mem = tiny
    p = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 8, "eval_batch_size": 16}
    config = profile_config("cpu", methods={"layer-retraining": p})
    fast = LayerRetraining().localise(_ctx(tiny, _Models({"memorising": mem}, pretrained), config))

    # the paper: random.shuffle of the clean indices under seed 42; the first |noisy| are held out
    order = list(data.clean_idx)
    random.Random(42).shuffle(order)
    held, train = order[: len(data.noisy_idx)], sorted(order[len(data.noisy_idx):])
    assert fast.details["n_retrain"] == len(train) and fast.details["n_heldout_clean"] == len(held)
    full = {**p, "weight_decay": 0.01}
    acc = {}
    for window in paper_windows(L):
        acc[window] = paper_retrain(pretrained, mem, window, enc, data.noisy_labels, train,
                                    {"noisy": data.noisy_idx, "clean": sorted(held)}, full, seed=1)
    assert 0 < acc[tuple(range(L))]["noisy"] < 1, "the all-layer run must leave some contrast"
    for window, a in acc.items():
        got = fast.details["windows"][f"{window[0]}-{window[-1]}"]
        assert got["noisy_acc"] == pytest.approx(a["noisy"], abs=1e-9), window
        assert got["heldout_clean_acc"] == pytest.approx(a["clean"], abs=1e-9), window
    ref = paper_heatmap_weights({w: a["noisy"] for w, a in acc.items()}, L)
    assert fast.raw == pytest.approx(ref, abs=1e-6)


# -- gradient attribution ----------------------------------------------------------------------------
def test_gradient_attribution_matches_the_papers_procedure(tiny):
    """Tolerance: relative 1e-4 on every layer's L1 norm and on the normalised profile."""
    adapter, _, _, enc, data, pretrained, mem = tiny
    frozen = copy.deepcopy(pretrained)  # a classifier-only model: the pretrained layers, another head
    with torch.no_grad():
        frozen.classifier.weight.add_(0.5)
    config = profile_config("cpu")
    fast = GradientAttribution().localise(
        _ctx(tiny, _Models({"memorising": mem, "classifier-only": frozen}, pretrained), config))

    # the paper: set_seed(model_seed); random.shuffle(clean); as many clean as noisy examples
    clean = list(data.clean_idx)
    random.Random(config.train.seed).shuffle(clean)
    groups = {"noisy": data.noisy_idx, "clean": clean[: len(data.noisy_idx)]}
    per_model = {}
    for role, model in (("memorising", mem), ("frozen", frozen)):
        grads = {g: paper_forget_gradients(copy.deepcopy(model), enc, idx, data.noisy_labels)
                 for g, idx in groups.items()}
        per_model[role] = paper_per_layer(grads)
    assert fast.details["l1_memorising"] == pytest.approx([per_model["memorising"][i] for i in range(L)], rel=1e-4)
    assert fast.details["l1_classifier_only"] == pytest.approx([per_model["frozen"][i] for i in range(L)], rel=1e-4)
    ratio = {k: per_model["memorising"][k] / per_model["frozen"][k] for k in range(L)}  # normalise_by_frozen
    ref = [ratio[k] / sum(ratio.values()) for k in range(L)]
    total = sum(fast.raw)
    assert [w / total for w in fast.raw] == pytest.approx(ref, rel=1e-4)


# -- probing -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["selects-best", "never-above-zero", "one-eligible-epoch"])
def test_probing_matches_the_papers_procedure(tiny, case):
    """Tolerance: features within 1e-5; every probe's selected epoch and test F1 equal (F1 within 1e-9),
    split sizes int(0.7 n), int(0.8 n) - int(0.7 n), the rest."""
    adapter, _, _, enc, data, _, mem = tiny
    feats = sentence_features(adapter, mem, enc, 16)
    ref_feats = paper_features(mem, enc)
    assert torch.allclose(feats, ref_feats, atol=1e-5)
    targets = torch.zeros(N_ROWS, dtype=torch.long)
    targets[random.Random(1).sample(range(N_ROWS), 20)] = 1  # many positives: validation F1 moves
    p = {**PROBE_DEFAULTS, "epochs": 14, "select_after_epoch": 6, "batch_size": 8, "seeds": [0, 1]}
    if case == "one-eligible-epoch":  # the paper's `epoch > 6` (0-based) admits only the 8th and last epoch
        p["epochs"] = 8
    if case == "never-above-zero":  # no noisy example in any validation split: F1 is 0 at every epoch
        for s in p["seeds"]:
            order = torch.randperm(N_ROWS, generator=torch.Generator().manual_seed(s)).tolist()
            targets[order[int(N_ROWS * 0.7) : int(N_ROWS * 0.8)]] = 0
    jobs = [(layer, s) for s in p["seeds"] for layer in range(L + 1)]
    fast = train_probes(feats, targets, jobs, p)
    for (layer, s), got in zip(jobs, fast):
        ref = paper_probe(ref_feats, targets, layer, s, p)
        assert (got["n_train"], got["n_val"], got["n_test"]) == (33, 5, 10) == \
            (ref["n_train"], ref["n_val"], ref["n_test"])
        assert got["selected_epoch"] == ref["selected_epoch"], (layer, s)
        assert got["test_f1"] == pytest.approx(ref["test_f1"], abs=1e-9), (layer, s)
        if case in ("never-above-zero", "one-eligible-epoch"):
            assert got["selected_epoch"] == p["epochs"]
        else:
            assert got["selected_epoch"] is None or got["selected_epoch"] > p["select_after_epoch"] + 1
