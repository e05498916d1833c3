"""Independent references, written the paper's way (vernadankers/memorisation_localisation), compared
with memlocbench's fast methods run through their public entry points (``localise`` on a method
context, ``sentence_features`` / ``train_probes``).

Nothing here imports a fast path's helpers: each reference rebuilds its method from the paper's code
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
import math
import random
import re
from dataclasses import dataclass, field

import pytest
import torch
from conftest import single_thread
import torch.nn.functional as F
from transformers import BertConfig, get_linear_schedule_with_warmup

from memlocbench.data.encoding import encode
from memlocbench.run.method_context import MethodContext
from memlocbench.config.profiles import build_config
from memlocbench_methods.gradient_attribution import GradientAttribution
from memlocbench_methods.layer_retraining import LayerRetraining
from memlocbench_methods.probing import DEFAULTS as PROBE_DEFAULTS
from memlocbench_methods.probing import sentence_features, train_probes
from memlocbench_models.bert import BertAdapter, minilm_source

N_ROWS, N_NOISY, L = 48, 8, 3
_LAYER = re.compile(r"^bert\.encoder\.layer\.(\d+)\.")


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


def _layer_of(name: str) -> int | None:
    m = _LAYER.match(name)
    return int(m.group(1)) if m else None


# -- layer retraining --------------------------------------------------------------------------------
def _paper_windows(n: int) -> list[tuple[int, ...]]:
    """The paper's retrain configurations: sorted(set(tuple(range(i, min(i + k, n))))) over sizes and starts."""
    return sorted({tuple(range(i, min(i + k, n))) for k in range(1, n + 1) for i in range(n)})


def _paper_heatmap_weights(acc_noisy: dict[tuple[int, ...], float], n: int) -> list[float]:
    """``get_heatmap_and_averages(retraining=True)``: normalise by the all-layer run, collect per
    (window size, layer), heat map = 1 - mean, weight = the column mean."""
    full = acc_noisy[tuple(range(n))]
    cells: dict[tuple[int, int], list[float]] = {}
    for window, acc in acc_noisy.items():
        for layer in window:
            cells.setdefault((len(window), layer), []).append((acc - full) / (1 - full))
    heat = [[1 - sum(cells[(k, j)]) / len(cells[(k, j)]) for j in range(n)] for k in range(1, n + 1)]
    return [sum(heat[k][j] for k in range(n)) / n for j in range(n)]


def _paper_retrain(pretrained, memorising, window, enc, labels, train_idx, eval_sets, p, seed):
    """One retraining run of the paper's ``layer_retraining.main``: a pretrained model with the
    memorising state dict loaded except the window's layers; everything but the window and the head
    frozen; the training loop of ``main.train`` (AdamW, linear schedule with 10% warm-up, clipping at
    1.0, whole-network forward and backward passes); accuracies on the evaluation sets.
    Taking the fast path's side (README "Deviations"): BERT's pooler trains with the head (the
    paper's code froze it) and clipping covers the optimised parameters only. The batch order is the
    fast path's seeded permutation per epoch (the paper's DataLoader(shuffle=True) draws one from the
    global generator)."""
    model = copy.deepcopy(pretrained)
    kept = {k: v for k, v in memorising.state_dict().items() if _layer_of(k) not in window}
    model.load_state_dict(kept, strict=False)
    trainable = [prm for n, prm in model.named_parameters()
                 if n.startswith(("classifier.", "bert.pooler.")) or _layer_of(n) in window]
    opt = torch.optim.AdamW(trainable, lr=p["learning_rate"], weight_decay=p["weight_decay"])
    n_batches = math.ceil(len(train_idx) / p["batch_size"])
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * n_batches * p["epochs"]), n_batches * p["epochs"])
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for _ in range(p["epochs"]):
        perm = torch.randperm(len(train_idx), generator=gen).tolist()
        order = [train_idx[i] for i in perm]
        for k in range(0, len(order), p["batch_size"]):
            chunk = order[k : k + p["batch_size"]]
            model.train()
            loss = F.cross_entropy(model(**enc.batch(chunk)).logits, torch.tensor([labels[i] for i in chunk]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
            model.zero_grad()
    model.eval()
    out = {}
    with torch.no_grad():
        for name, idx in eval_sets.items():
            pred = [int(model(**enc.batch([i])).logits.argmax(-1)) for i in idx]
            out[name] = sum(int(a == labels[i]) for a, i in zip(pred, idx)) / len(idx)
    return out


def test_layer_retraining_matches_the_papers_procedure(tiny):
    """Tolerance: every window's noisy accuracy equal (the same examples recovered), and layer
    weights within 1e-6 (floating-point summation order only)."""
    adapter, _, _, enc, data, pretrained, mem = tiny
    p = {"epochs": 2, "learning_rate": 1e-3, "batch_size": 8, "eval_batch_size": 16}
    config = build_config("cpu", methods={"layer-retraining": p})
    fast = LayerRetraining().localise(_ctx(tiny, _Models({"memorising": mem}, pretrained), config))

    # the paper: random.shuffle of the clean indices under seed 42; the first |noisy| are held out
    order = list(data.clean_idx)
    random.Random(42).shuffle(order)
    held, train = order[: len(data.noisy_idx)], sorted(order[len(data.noisy_idx):])
    assert fast.details["n_retrain"] == len(train) and fast.details["n_heldout_clean"] == len(held)
    full = {**p, "weight_decay": 0.01}
    acc = {}
    for window in _paper_windows(L):
        acc[window] = _paper_retrain(pretrained, mem, window, enc, data.noisy_labels, train,
                                     {"noisy": data.noisy_idx, "clean": sorted(held)}, full, seed=1)
    assert 0 < acc[tuple(range(L))]["noisy"] < 1, "the all-layer run must leave some contrast"
    for window, a in acc.items():
        got = fast.details["windows"][f"{window[0]}-{window[-1]}"]
        assert got["noisy_acc"] == pytest.approx(a["noisy"], abs=1e-9), window
        assert got["heldout_clean_acc"] == pytest.approx(a["clean"], abs=1e-9), window
    ref = _paper_heatmap_weights({w: a["noisy"] for w, a in acc.items()}, L)
    assert fast.raw == pytest.approx(ref, abs=1e-6)


# -- gradient attribution ----------------------------------------------------------------------------
def _paper_forget_gradients(model, enc, indices, labels) -> dict[str, torch.Tensor]:
    """``gradient_analysis.main``: batch size 1, loss = -NLLLoss(logits, label) (i.e. the label's raw
    logit), backward, gradients summed over the group and divided by its size; embeddings and pooler
    skipped."""
    model.eval()
    for prm in model.parameters():
        prm.requires_grad_(True)
    total: dict[str, torch.Tensor] = {}
    for i in indices:
        logits = model(**enc.batch([i])).logits
        loss = -F.nll_loss(logits, torch.tensor([labels[i]]))
        loss.backward()
        for k, v in model.named_parameters():
            if v.grad is None or any(s in k for s in ("embed", "wpe", "wte", "project_in", "pooler")):
                continue
            total[k] = total.get(k, 0) + v.grad.detach().clone()
        model.zero_grad()
    return {k: v / len(indices) for k, v in total.items()}


def _paper_per_layer(grads: dict[str, dict[str, torch.Tensor]]) -> dict[int, float]:
    """``visualise_gradients.process_gradients`` with normalise_by_clean and the L1 norm: per layer
    the summed |noisy - clean| over its parameters (head and final norms skipped)."""
    per_layer: dict[int, float] = {}
    for k, v in grads["noisy"].items():
        if any(s in k for s in ("embed", "final", "wte", "wpe", "ln_f", "pooler", "classifier")):
            continue
        layer = int(k.split(".")[3])
        per_layer[layer] = per_layer.get(layer, 0.0) + float((v - grads["clean"][k]).abs().sum())
    return per_layer


def test_gradient_attribution_matches_the_papers_procedure(tiny):
    """Tolerance: relative 1e-4 on every layer's L1 norm and on the normalised profile."""
    adapter, _, _, enc, data, pretrained, mem = tiny
    frozen = copy.deepcopy(pretrained)  # a classifier-only model: the pretrained layers, another head
    with torch.no_grad():
        frozen.classifier.weight.add_(0.5)
    config = build_config("cpu")
    fast = GradientAttribution().localise(
        _ctx(tiny, _Models({"memorising": mem, "classifier-only": frozen}, pretrained), config))

    # the paper: set_seed(model_seed); random.shuffle(clean); as many clean as noisy examples
    clean = list(data.clean_idx)
    random.Random(config.train.seed).shuffle(clean)
    groups = {"noisy": data.noisy_idx, "clean": clean[: len(data.noisy_idx)]}
    per_model = {}
    for role, model in (("memorising", mem), ("frozen", frozen)):
        grads = {g: _paper_forget_gradients(copy.deepcopy(model), enc, idx, data.noisy_labels)
                 for g, idx in groups.items()}
        per_model[role] = _paper_per_layer(grads)
    assert fast.details["l1_memorising"] == pytest.approx([per_model["memorising"][i] for i in range(L)], rel=1e-4)
    assert fast.details["l1_classifier_only"] == pytest.approx([per_model["frozen"][i] for i in range(L)], rel=1e-4)
    ratio = {k: per_model["memorising"][k] / per_model["frozen"][k] for k in range(L)}  # normalise_by_frozen
    ref = [ratio[k] / sum(ratio.values()) for k in range(L)]
    total = sum(fast.raw)
    assert [w / total for w in fast.raw] == pytest.approx(ref, rel=1e-4)


# -- probing -----------------------------------------------------------------------------------------
class _PaperProbe(torch.nn.Module):
    """The paper's ``FeedForwardClassifier``: dropout, d -> 128 -> 128 -> 2 with GELU, LogSoftmax."""

    def __init__(self, d: int, h: int, init: list[torch.Tensor]):
        super().__init__()
        self.in_layer, self.hidden_layer, self.out_layer = (torch.nn.Linear(d, h), torch.nn.Linear(h, h),
                                                            torch.nn.Linear(h, 2))
        with torch.no_grad():  # the fast path's documented initial values (weights stored input-major)
            for lin, (w, b) in zip((self.in_layer, self.hidden_layer, self.out_layer), zip(init[::2], init[1::2])):
                lin.weight.copy_(w.T)
                lin.bias.copy_(b)

    def forward(self, x, mask=None):
        if mask is not None:  # dropout, with the mask drawn outside (the fast path's generator)
            x = x * mask
        x = F.gelu(self.in_layer(x))
        return F.log_softmax(self.out_layer(F.gelu(self.hidden_layer(x))), dim=-1)


def _init_values(d: int, h: int, seed: int) -> list[torch.Tensor]:
    """The fast path's seeding (docstring of ``probing``): nn.Linear's default uniform bounds, drawn
    from a generator seeded with 1000 * probe seed + hidden state, weights [in, out] then bias."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for fan_in, fan_out in ((d, h), (h, h), (h, 2)):
        bound = 1 / math.sqrt(fan_in)
        out.append((torch.rand(fan_in, fan_out, generator=g) * 2 - 1) * bound)
        out.append((torch.rand(fan_out, generator=g) * 2 - 1) * bound)
    return out


def _f1_noisy(pred: list[int], gold: list[int]) -> float:
    tp = sum(p == g == 1 for p, g in zip(pred, gold))
    fp = sum(p == 1 and g == 0 for p, g in zip(pred, gold))
    fn = sum(p == 0 and g == 1 for p, g in zip(pred, gold))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def _paper_probe(features, targets, layer, seed, p) -> dict:
    """``probing.probe`` + ``FeedForwardClassifier.train_``: shuffle, cut at int(0.7 n) and int(0.8 n);
    fixed chunks of 32 whose order is reshuffled every epoch; class-weighted NLL; AdamW; keep the
    state of an epoch with index > 25 (0-based) whose validation F1 beats the best so far (start 0);
    if none ever did, the last epoch's state stays."""
    n = features.shape[1]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()  # the shuffle
    a, b = int(n * 0.7), int(n * 0.8)  # the paper's literals
    train, valid, test = order[:a], order[a:b], order[b:]
    x = features[layer]
    probe = _PaperProbe(x.shape[-1], p["hidden"], _init_values(x.shape[-1], p["hidden"], 1000 * seed + layer))
    crit = torch.nn.NLLLoss(weight=torch.tensor(p["class_weights"]))
    opt = torch.optim.AdamW(probe.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    drop = torch.Generator().manual_seed(7919 * seed + layer)
    chunk_order = torch.Generator().manual_seed(p["chunk_order_seed"])
    keep = 1 - p["dropout"]
    starts = list(range(0, len(train), p["batch_size"]))
    best_f1, best_sd, best_epoch = 0.0, None, None

    def predict(idx):
        probe.eval()
        with torch.no_grad():
            return probe(x[idx]).argmax(-1).tolist()

    for epoch in range(p["epochs"]):  # 0-based, as the paper's loop
        probe.train()
        for c in torch.randperm(len(starts), generator=chunk_order).tolist():
            idx = train[starts[c] : starts[c] + p["batch_size"]]
            mask = torch.bernoulli(torch.full((len(idx), x.shape[-1]), keep), generator=drop) / keep
            loss = crit(probe(x[idx], mask), targets[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        f1 = _f1_noisy(predict(valid), targets[valid].tolist())
        if epoch > p["select_after_epoch"] and f1 > best_f1:
            best_sd, best_f1, best_epoch = copy.deepcopy(probe.state_dict()), f1, epoch + 1
    if best_f1 != 0:
        probe.load_state_dict(best_sd)
    else:
        best_epoch = p["epochs"]
    gold = targets[test].tolist()
    return {"test_f1": _f1_noisy(predict(test), gold), "selected_epoch": best_epoch,
            "n_train": len(train), "n_val": len(valid), "n_test": len(test)}


def _paper_features(model, enc) -> torch.Tensor:
    """``get_representations``: one example at a time, every hidden state, the first token (BERT)."""
    model.eval()
    with torch.no_grad():
        per = [model(**enc.batch([i]), output_hidden_states=True).hidden_states for i in range(len(enc.ids))]
    return torch.stack([torch.stack([hs[k][0, 0] for hs in per]) for k in range(len(per[0]))])


@pytest.mark.parametrize("case", ["selects-best", "never-above-zero", "one-eligible-epoch"])
def test_probing_matches_the_papers_procedure(tiny, case):
    """Tolerance: features within 1e-5; every probe's selected epoch and test F1 equal (F1 within 1e-9),
    split sizes int(0.7 n), int(0.8 n) - int(0.7 n), the rest."""
    adapter, _, _, enc, data, _, mem = tiny
    feats = sentence_features(adapter, mem, enc, 16)
    ref_feats = _paper_features(mem, enc)
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
        ref = _paper_probe(ref_feats, targets, layer, s, p)
        assert (got["n_train"], got["n_val"], got["n_test"]) == (33, 5, 10) == \
            (ref["n_train"], ref["n_val"], ref["n_test"])
        assert got["selected_epoch"] == ref["selected_epoch"], (layer, s)
        assert got["test_f1"] == pytest.approx(ref["test_f1"], abs=1e-9), (layer, s)
        if case in ("never-above-zero", "one-eligible-epoch"):
            assert got["selected_epoch"] == p["epochs"]
        else:
            assert got["selected_epoch"] is None or got["selected_epoch"] > p["select_after_epoch"] + 1
