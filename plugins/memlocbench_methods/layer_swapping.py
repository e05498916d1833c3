"""Layer swapping (Dankers & Titov 2024, section 4): copy a window of consecutive layers from the
clean twin into the memorising model and see whether the noisy examples are still fitted.

For every window (all L(L+1)/2), accuracy is measured on the noisy training examples against
their perturbed labels and on the clean training examples. Error of a window = 1 - noisy accuracy;
a layer's raw weight is the mean over window sizes of the mean error of the windows of that size
containing it (``memlocbench.api.layer_weights_from_windows``).

Speed: per batch, the memorising model's hidden states are computed once; for a window starting at
layer s the clean layers s, s+1, ... are applied incrementally to the cached input of layer s, and
after each the remaining memorising layers run to the logits. Nothing below a window is recomputed
and no weights are copied. The plain reference (copy weights, full forward) is in the tests
(``tests/references/layer_swapping.py``).
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from memlocbench.api import hookimpl
from memlocbench.api import layer_weights_from_windows, window_key, windows
from memlocbench.api import autocast
from memlocbench.api import all_layer_inputs, logits_from, run_layers
from memlocbench.api import LayerScores, MethodInfo
from memlocbench_methods import minimum_checks

DEFAULTS = {"eval_batch_size": 64}


def _accuracies(correct: dict, noisy: set[int], n_noisy: int, n_clean: int) -> dict:
    return {
        window_key(w): {"noisy_acc": c["noisy"] / n_noisy if n_noisy else float("nan"),
                        "clean_acc": c["clean"] / n_clean if n_clean else float("nan")}
        for w, c in correct.items()
    }


@torch.no_grad()
def swap_cached(adapter, memorising, clean, enc, labels, noisy_idx, batch_size, progress=False,
                precision="fp32") -> dict:
    """Per-window accuracies with cached lower layers (see module docstring); ``precision="bf16"``
    runs the layers under bf16 autocast (``ComputeConfig``)."""
    L = len(adapter.layer_modules(memorising))
    noisy = set(noisy_idx)
    all_idx = list(range(len(labels)))
    correct = {w: {"noisy": 0, "clean": 0} for w in windows(L)}
    batches = enc.eval_batches(all_idx, batch_size)
    for chunk, batch in tqdm(batches, desc="layer swapping", disable=not progress, leave=False):
        device = batch["input_ids"].device
        gold = torch.tensor([labels[i] for i in chunk], device=device)
        is_noisy = torch.tensor([i in noisy for i in chunk], device=device)
        with autocast(memorising, precision):
            _swap_batch(adapter, memorising, clean, batch, L, gold, is_noisy, correct)
    return _accuracies(correct, noisy, len(noisy), len(labels) - len(noisy))


def _swap_batch(adapter, memorising, clean, batch, L, gold, is_noisy, correct) -> None:
    """Add one batch's correct predictions under every window to ``correct``."""
    inputs = all_layer_inputs(memorising, batch)
    for s in range(L):
        hidden = inputs[s]  # the memorising model's own embeddings when s == 0
        for e in range(s, L):
            hidden = run_layers(adapter, clean, batch, e, e + 1, hidden)
            pred = logits_from(adapter, memorising, batch, e + 1, hidden).argmax(-1)
            hit = pred == gold
            correct[(s, e)]["noisy"] += int(hit[is_noisy].sum())
            correct[(s, e)]["clean"] += int(hit[~is_noisy].sum())


class LayerSwapping:
    info = MethodInfo(
        name="layer-swapping",
        description="swap windows of layers from the clean twin into the memorising model",
        version=1,
        suites=("paper",),
        aggregation="windows",
        # the paper's code ranks its layers with np.argsort(weights)[-2:] (a stable ascending sort read
        # from the end): of two equal weights the higher layer ranks first
        tie_rule="higher-layer-first",
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"eval_batch_size": 1})
    suite_position = 1  # the paper's order: swapping, retraining, gradient attribution, probing
    # seconds per row: CPU, MiniLM-L6 (README: 26 s / 600 rows); CPU, 12 layers: 8x per layer pass and
    # 78 / 21 windows over twice the layers; GPU, 12 layers: 78 windows x half a forward pass of ~0.4 ms
    default_rates = {"cpu": 0.043, "cpu-large": 0.043 * 8 * 78 / 21 / 2, "cuda": 0.016}

    def localise(self, ctx) -> LayerScores:
        p = ctx.params(self.info.name, DEFAULTS)
        mem = ctx.models.load("memorising")
        clean = ctx.models.load("clean")
        d = ctx.dataset
        acc = swap_cached(ctx.adapter, mem, clean, ctx.train_enc, d.noisy_labels, d.noisy_idx,
                          p["eval_batch_size"], ctx.progress, ctx.config.compute.precision)
        L = ctx.num_layers
        error = {w: 1.0 - acc[window_key(w)]["noisy_acc"] for w in windows(L)}
        return LayerScores(
            raw=layer_weights_from_windows(L, error),
            details={"windows": acc, "window_error": "1 - noisy_acc (perturbed labels)", "params": p},
        )


@hookimpl
def register_methods(register):
    register(LayerSwapping())
