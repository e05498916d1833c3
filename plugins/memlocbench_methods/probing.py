"""Probing (Dankers & Titov 2024, section 4): from which layer on can a small classifier tell the
noisy examples from the clean ones?

From every hidden state of the memorising model (embeddings plus each layer: L+1 of them) we take
the sentence representation and train an MLP probe (dropout 0.1, two hidden layers of 128 with
GELU, as in the paper's code) to predict noisy vs clean: class-weighted NLL loss (weights 0.33 / 0.67
as in the paper's code), a seeded 70/10/20 split (sizes int(0.7 n) and int(0.8 n) - int(0.7 n), as
the paper's code), AdamW (lr 2e-4, weight decay 1e-5), 100 epochs over fixed chunks of 32 training
examples whose order is reshuffled every epoch (the paper's code), keeping the probe of the epoch with
the best validation F1 among epochs 26..99 (0-based, as the paper's ``epoch > 25``), a later epoch
only if strictly better, and, when validation F1 never rises above 0, the last epoch's probe (the
paper's code keeps it then). We report the test F1 of the noisy class, averaged over probe seeds 0..4. A layer's weight is max(0, F1 at that layer - F1 at the
layer below), the layer below layer 1 being the embeddings.

Speed: all hidden states come from one batched forward pass (no gradients, ``sentence_features``), and
the (L+1) x seeds probes are trained together as one stacked model (``fit_probes``, the core's
stacked-probe engine): each probe keeps its own initialisation, dropout generator, split and batch
order, and AdamW is element-wise, so every probe follows exactly the path it would follow alone
(``train_probes`` with one probe at a time is the reference).
"""

from __future__ import annotations

import torch

from memlocbench.api import hookimpl
from memlocbench.api import PROBE_DEFAULTS, f1_per_class, fit_probes, sentence_features
from memlocbench.api import LayerScores, MethodInfo
from memlocbench_methods import minimum_checks

#: the paper's probe settings (``memlocbench.api.PROBE_DEFAULTS``)
DEFAULTS = dict(PROBE_DEFAULTS)

#: fewer noisy examples than this in a probe's test split flags the profile as degenerate: with n noisy
#: test examples one example moves the noisy-class recall by 1/n, and at a recall of 0.5 its standard
#: error is 0.5/sqrt(n), 0.11 at n = 20 and 0.17 at n = 9, as large as the per-layer F1 gains the
#: profile is made of (the paper's test splits hold hundreds). A statistical floor, chosen before any
#: result was read against it.
MIN_TEST_NOISY = 20


def noisy_class_f1(pred: list[int], gold: list[int]) -> float:
    """F1 of the noisy class (1): the probes' validation and test score."""
    return f1_per_class(pred, gold, 1)


def train_probes(features: torch.Tensor, targets: torch.Tensor, jobs: list[tuple[int, int]], p: dict) -> list[dict]:
    """Train one noisy-vs-clean probe per (hidden-state index, seed) job, all stacked; returns per-job results."""
    splits, best = fit_probes(features, targets, jobs, p, 2, p["class_weights"], noisy_class_f1)
    results = []
    for j, (layer, s) in enumerate(jobs):
        test_idx = splits[s][2]
        gold = targets[test_idx].tolist()
        results.append({"hidden_state": layer, "seed": s, "val_f1": best[j][0], "selected_epoch": best[j][2],
                        "test_f1": f1_per_class(best[j][1], gold, 1),
                        "n_train": len(splits[s][0]), "n_val": len(splits[s][1]), "n_test": len(test_idx),
                        "n_test_noisy": int(sum(gold)), "n_test_predicted_noisy": int(sum(best[j][1]))})
    return results


def weights_from_f1(f1: list[float]) -> list[float]:
    """f1[0] is the embeddings, f1[l] layer l (1..L): weight_l = max(0, f1[l] - f1[l-1])."""
    return [max(0.0, f1[l] - f1[l - 1]) for l in range(1, len(f1))]


class Probing:
    info = MethodInfo(
        name="probing",
        description="MLP probes on every hidden state tell noisy from clean examples; weight = gain in F1 per layer",
        version=2,  # 2: int() splits, fixed chunks reshuffled per epoch, the paper's selection rule
        suites=("paper",),
    )
    defaults = DEFAULTS
    check_params = minimum_checks({"hidden": 1, "epochs": 1, "batch_size": 1, "feature_batch_size": 1},
                                  positive=("learning_rate",), below_one=("dropout",))
    suite_position = 4
    # seconds per row: CPU, MiniLM-L6 (README: 24 s / 600 rows); GPU, 12 layers
    default_rates = {"cpu": 0.04, "cuda": 0.003}

    @staticmethod
    def flags(details: dict) -> list[str]:
        """Degenerate when a probe's test split holds fewer than MIN_TEST_NOISY noisy examples."""
        counts = [p.get("n_test_noisy") for p in details.get("probes", []) if isinstance(p, dict)]
        counts = [c for c in counts if isinstance(c, int)]
        if counts and min(counts) < MIN_TEST_NOISY:
            lo, hi = min(counts), max(counts)
            span = f"{lo}" if lo == hi else f"{lo}-{hi}"
            return [f"the probes' test splits hold {span} noisy examples (fewer than {MIN_TEST_NOISY}): "
                    f"one example moves the noisy-class F1 by a step of about 1/{lo}"]
        return []

    def localise(self, ctx) -> LayerScores:
        p = ctx.params(self.info.name, DEFAULTS)
        model = ctx.models.load("memorising")
        feats = sentence_features(ctx.adapter, model, ctx.train_enc, p["feature_batch_size"])
        targets = torch.zeros(feats.shape[1], dtype=torch.long)
        targets[ctx.dataset.noisy_idx] = 1
        jobs = [(layer, s) for s in p["seeds"] for layer in range(feats.shape[0])]
        runs = train_probes(feats, targets, jobs, p)
        f1 = [sum(r["test_f1"] for r in runs if r["hidden_state"] == h) / len(p["seeds"]) for h in range(feats.shape[0])]
        return LayerScores(raw=weights_from_f1(f1), details={"f1_per_hidden_state": f1, "probes": runs, "params": p})


@hookimpl
def register_methods(register):
    register(Probing())
