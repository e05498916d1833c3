"""Layer retraining (Dankers & Titov 2024, section 4): reset a window of layers to their pretrained
weights, retrain it on clean examples only, and see whether the noisy examples come back.

For every window of consecutive layers: start from the memorising model, reset the window to the
pretrained weights, freeze everything else except the classification head, and retrain for 5 epochs
(lr 3e-5, batch 8, AdamW with the training loop's warm-up and clipping) on the clean training
examples, holding out as many clean examples as there are noisy ones (seed 42, as in the paper's
code). Accuracy is measured on the noisy examples against their perturbed labels, and on the held-out
clean ones. Noisy accuracy is normalised by the run that retrains all layers,
acc' = (acc - acc_all) / (1 - acc_all); the window's error is 1 - acc'. Per-layer weights as for
layer swapping.

Speed: the layers below a window are frozen and equal the memorising model's, so their outputs are
computed once for every example and layer, and each retraining run starts its forward pass (and
ends its backward pass) at the window; evaluation happens once, after the last epoch.
``retrain_window(paper_style=True)`` runs the whole network instead (the reference). The run's
``ComputeConfig`` (``cpu-fast``: bf16 autocast, length-grouped batches) applies to every window.
"""

from __future__ import annotations

import copy
import random

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from memlocbench.api import hookimpl
from memlocbench.api import layer_weights_from_windows, window_key, windows
from memlocbench.api import autocast, training_batches
from memlocbench.api import all_layer_inputs, cache_per_example, logits_from, pad_hidden
from memlocbench.api import ComputeConfig
from memlocbench.api import LayerScores, MethodInfo
from memlocbench_methods import minimum_checks

DEFAULTS = {"epochs": 5, "learning_rate": 3e-5, "batch_size": 8, "heldout_seed": 42, "warmup_fraction": 0.1,
            "max_grad_norm": 1.0, "weight_decay": 0.01, "eval_batch_size": 64}


def layer_input_cache(adapter, model, enc, batch_size) -> list[list[torch.Tensor]]:
    """cache[i][k]: input of layer k for example i, without padding ([len_i, d])."""
    model.eval()
    L = len(adapter.layer_modules(model))
    return cache_per_example(enc, batch_size, lambda batch: all_layer_inputs(model, batch)[:L])


def heldout_split(clean_idx: list[int], n_heldout: int, seed: int) -> tuple[list[int], list[int]]:
    """(retraining set, held-out clean set), as the paper: shuffle the clean indices, hold out the first n."""
    order = list(clean_idx)
    random.Random(seed).shuffle(order)
    return sorted(order[n_heldout:]), sorted(order[:n_heldout])


def retrain_window(adapter, memorising, pretrained, window, enc, labels, train_idx, eval_sets, p, seed,
                   cache=None, return_model=False, paper_style=False, compute=None):
    """Retrain ``window`` and return accuracy on each of ``eval_sets`` (name -> indices), and the
    retrained model if asked. With ``cache`` (from ``layer_input_cache``) the forward pass starts at
    the window. ``paper_style`` is the reference: every parameter keeps requires_grad (frozen ones are
    only left out of the optimizer, so backward runs through the whole network) and the full training
    set is evaluated after every epoch. ``compute`` (a ``ComputeConfig``): precision and batching;
    default exact (fp32, random batches)."""
    compute = compute or ComputeConfig()
    lengths = [len(x) for x in enc.ids]
    s, e = window
    model = copy.deepcopy(memorising)
    layers, base = adapter.layer_modules(model), adapter.layer_modules(pretrained)
    for k in range(s, e + 1):
        layers[k].load_state_dict(base[k].state_dict())
    train_names = {n for n, _ in model.named_parameters()
                   if adapter.parameter_group(n) == "head" or (isinstance(adapter.parameter_group(n), int)
                                                               and s <= adapter.parameter_group(n) <= e)}
    params = []
    for n, prm in model.named_parameters():
        prm.requires_grad_(paper_style or n in train_names)
        if n in train_names:
            params.append(prm)
    opt = torch.optim.AdamW(params, lr=p["learning_rate"], weight_decay=p["weight_decay"], fused=True)
    steps = (len(train_idx) + p["batch_size"] - 1) // p["batch_size"] * p["epochs"]
    sched = get_linear_schedule_with_warmup(opt, int(p["warmup_fraction"] * steps), steps)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    y = torch.tensor(labels, device=next(model.parameters()).device)
    start = s if cache is not None else 0

    def forward(chunk):
        batch = enc.batch(chunk)
        hidden = pad_hidden([cache[i][s] for i in chunk], batch["input_ids"].shape[1]) if start > 0 else None
        with autocast(model, compute.precision):
            return logits_from(adapter, model, batch, start, hidden).float()

    backbone = next(c for _, c in model.named_children() if any(m is layers[0] for m in c.modules()))
    for _ in range(p["epochs"]):
        # Train mode from the window up (dropout there and in the head); the embeddings and the
        # frozen layers below the window stay deterministic, as the cached inputs are.
        model.train()
        backbone.eval()
        for k in range(s, len(layers)):
            layers[k].train()
        for chunk in training_batches(train_idx, lengths, p["batch_size"], gen, compute.batching,
                                      compute.group_size):
            loss = torch.nn.functional.cross_entropy(forward(chunk), y[chunk])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, p["max_grad_norm"])
            opt.step()
            sched.step()
        if paper_style:  # the paper's code scores the whole training set after every epoch
            model.eval()
            with torch.no_grad():
                for b in range(0, len(labels), p["eval_batch_size"]):
                    forward(list(range(b, min(b + p["eval_batch_size"], len(labels)))))
    model.eval()
    acc = {}
    with torch.no_grad():
        for name, idx in eval_sets.items():
            correct = 0
            for b in range(0, len(idx), p["eval_batch_size"]):
                chunk = idx[b : b + p["eval_batch_size"]]
                correct += int((forward(chunk).argmax(-1) == y[chunk]).sum())
            acc[name] = correct / len(idx) if idx else float("nan")
    return (acc, model) if return_model else acc


def normalised_errors(acc_noisy: dict, num_layers: int) -> dict:
    """error = 1 - (acc - acc_all) / (1 - acc_all), acc_all from the window of all layers."""
    acc_all = acc_noisy[(0, num_layers - 1)]
    if acc_all >= 1.0:  # retraining everything still recalls every noisy label: no contrast left
        return {w: 0.0 for w in acc_noisy}
    return {w: 1.0 - (a - acc_all) / (1.0 - acc_all) for w, a in acc_noisy.items()}


class LayerRetraining:
    info = MethodInfo(
        name="layer-retraining",
        description="reset a window of layers to pretrained weights, retrain on clean data, test the noisy labels",
        version=1,
        suites=("paper",),
        aggregation="windows",
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"epochs": 1, "batch_size": 1, "eval_batch_size": 1}, positive=("learning_rate",))
    # Per settings profile. Layer retraining costs 21 windows x 5 epochs of fine-tuning in the paper; on
    # 2 cores that is 2-3x the training of both models. The cpu profile retrains 2 epochs of batch 16 at
    # the lr the models were trained with (the `paper` profile keeps the paper's DEFAULTS).
    profile_params = {"cpu": {"epochs": 2, "batch_size": 16, "learning_rate": 1e-4}}
    suite_position = 2
    # seconds per row-epoch: CPU, MiniLM-L6 (README: 343 s / (600 rows x 2 epochs)); CPU, 12 layers: 8x per
    # layer pass and 78 / 21 windows over twice the layers; GPU, 12 layers: 78 windows x half a training
    # step per row (2.5 ms)
    default_rates = {"cpu": 0.29, "cpu-large": 0.29 * 8 * 78 / 21 / 2, "cuda": 0.2}

    @staticmethod
    def estimate_work(params: dict, rows: int) -> int:
        """The grid's cost model: every window retrains for ``epochs`` over the training rows."""
        return rows * params.get("epochs", 1)

    def localise(self, ctx) -> LayerScores:
        p = ctx.params(self.info.name, DEFAULTS)
        d = ctx.dataset
        mem = ctx.models.load("memorising")
        pretrained = ctx.models.pretrained()
        train_idx, heldout = heldout_split(d.clean_idx, len(d.noisy_idx), p["heldout_seed"])
        cache = layer_input_cache(ctx.adapter, mem, ctx.train_enc, p["eval_batch_size"])
        results = {}
        for w in tqdm(windows(ctx.num_layers), desc="layer retraining", disable=not ctx.progress, leave=False):
            results[w] = retrain_window(ctx.adapter, mem, pretrained, w, ctx.train_enc, d.noisy_labels, train_idx,
                                        {"noisy": list(d.noisy_idx), "heldout_clean": heldout}, p,
                                        ctx.config.train.seed, cache=cache, compute=ctx.config.compute)
        error = normalised_errors({w: r["noisy"] for w, r in results.items()}, ctx.num_layers)
        return LayerScores(
            raw=layer_weights_from_windows(ctx.num_layers, error),
            details={"windows": {window_key(w): {"noisy_acc": r["noisy"], "heldout_clean_acc": r["heldout_clean"],
                                                 "error": error[w]} for w, r in results.items()},
                     "n_retrain": len(train_idx), "n_heldout_clean": len(heldout), "params": p},
        )


@hookimpl
def register_methods(register):
    register(LayerRetraining())
