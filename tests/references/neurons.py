"""Plain references for the neuron-level methods, written MemPi's way (terarachang/MemPi: baselines.py
``slow_zero_out_vector``, knowledge_neuron.py ``largest_act`` and ``integrated_gradients``) and carried to
classification as the methods' docstrings state: one example at a time (batch of one, so no padding),
one neuron at a time for zero-out, one integration step at a time for integrated gradients, whole-model
forward passes, and their own hooks on BERT's feed-forward down-projection
(``bert.encoder.layer[l].output.dense``, or the ``projections`` given for another family). Nothing here
imports the methods' helpers; ``tests/plugins/test_neuron_methods.py`` and
``benchmarks/test_neuron_method_speed.py`` compare them with the methods' fast paths.

Each returns [L, d_ff] float64 scores: mean over ``noisy`` minus mean over ``clean`` of the per-example
quantity, with ``labels[i]`` the target of example i. Also here: the stand-ins both comparisons run the
methods with (a tiny BERT adapter, the dataset fields and the model a method reads).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import BertConfig

from memlocbench_models.bert import BertAdapter, minilm_source


def tiny_bert_adapter(name: str, layers: int, hidden: int, d_ff: int) -> BertAdapter:
    """A randomly initialised BERT with MiniLM's tokenizer, dropout 0 (train and eval mode agree)."""
    cfg = BertConfig(vocab_size=30522, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=d_ff, max_position_embeddings=64, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    return BertAdapter(name=name, hub_id=f"tests/{name}", description="tiny", source=minilm_source, config=cfg)


@dataclass
class MethodData:
    """The part of a NoisyDataset the neuron methods read."""

    noisy_idx: list[int]
    clean_idx: list[int]
    noisy_labels: list[int]


class GivenModel:
    """Stands in for TrainedModels: a copy of the given model as the memorising model's final weights."""

    def __init__(self, model):
        self.model = model

    def load(self, role, checkpoint="final"):
        assert role == "memorising" and checkpoint == "final"
        return copy.deepcopy(self.model).eval()


def clean_sample(clean_idx, size, seed):
    """The clean examples contrasted with: the clean indices shuffled with ``seed``, the first ``size``."""
    order = list(clean_idx)
    random.Random(seed).shuffle(order)
    return sorted(order[:size])


def _down_projections(model, given=None):
    return given if given is not None else [layer.output.dense for layer in model.bert.encoder.layer]


def _one(enc, i):
    ids = torch.tensor([enc.ids[i]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _positions(x):
    """[T, d_ff] of a batch of one ([1, T, d_ff]; OPT's feed-forward block sees [T, d_ff])."""
    return x.double().reshape(-1, x.shape[-1])


def _log_p(model, inputs, target):
    return F.log_softmax(model(**inputs).logits[0].double(), dim=-1)[target]


def _contrast(per_example, noisy, clean):
    return sum(per_example[i] for i in noisy) / len(noisy) - sum(per_example[i] for i in clean) / len(clean)


@torch.no_grad()
def zero_out_reference(model, enc, labels, noisy, clean, projections=None):
    """Per example: log p(label) - log p(label | neuron j of layer l zeroed), one neuron at a time."""
    model.eval()
    projections = _down_projections(model, projections)
    width = projections[0].in_features
    per_example = {}
    for i in noisy + clean:
        inputs = _one(enc, i)
        base = _log_p(model, inputs, labels[i])
        effect = torch.zeros(len(projections), width, dtype=torch.float64)
        for layer, proj in enumerate(projections):
            for j in range(width):
                def zero_j(module, args, j=j):
                    x = args[0].clone()
                    x[..., j] = 0
                    return (x,)
                handle = proj.register_forward_pre_hook(zero_j)
                effect[layer, j] = base - _log_p(model, inputs, labels[i])
                handle.remove()
        per_example[i] = effect
    return _contrast(per_example, noisy, clean)


@torch.no_grad()
def activations_reference(model, enc, noisy, clean, projections=None):
    """Per example: |mean over positions of the activation| x ||output weights||, per neuron."""
    model.eval()
    projections = _down_projections(model, projections)
    norms = torch.stack([p.weight.double().norm(dim=0) for p in projections])
    per_example = {}
    for i in noisy + clean:
        seen = {}
        handles = [p.register_forward_pre_hook(lambda m, a, k=k: seen.__setitem__(k, _positions(a[0])))
                   for k, p in enumerate(projections)]
        model(**_one(enc, i))
        for h in handles:
            h.remove()
        per_example[i] = torch.stack([seen[k].mean(0).abs() for k in range(len(projections))]) * norms
    return _contrast(per_example, noisy, clean)


def integrated_gradients_reference(model, enc, labels, noisy, clean, steps, projections=None):
    """Per example and layer: the layer's recorded activations a replaced by alpha_k a (alpha_k =
    linspace(0, 1, steps)), one step at a time; attribution_j = sum_t a_j(t) x mean_k grad_j(t)."""
    model.eval()
    projections = _down_projections(model, projections)
    per_example = {}
    for i in noisy + clean:
        inputs = _one(enc, i)
        recorded = {}
        handles = [p.register_forward_pre_hook(lambda m, a, k=k: recorded.__setitem__(k, a[0].detach()))
                   for k, p in enumerate(projections)]
        with torch.no_grad():
            model(**inputs)
        for h in handles:
            h.remove()
        rows = []
        for layer, proj in enumerate(projections):
            a = recorded[layer]
            grad_sum = torch.zeros_like(a, dtype=torch.float64)
            for alpha in torch.linspace(0, 1, steps).tolist():
                x = (alpha * a).requires_grad_(True)
                handle = proj.register_forward_pre_hook(lambda m, args, x=x: (x,))
                log_p = _log_p(model, inputs, labels[i])
                handle.remove()
                (g,) = torch.autograd.grad(log_p, x)
                grad_sum += g.double()
            rows.append(_positions(a.double() * grad_sum / steps).sum(0))
        per_example[i] = torch.stack(rows)
    return _contrast(per_example, noisy, clean)
