"""Centroid analysis (Dankers & Titov 2024, section 5): when do noisy examples move from their
original class towards the class of their perturbed label?

On the final memorising model, for hidden states 1..L (the model adapter's sentence representation)
and every ordered class pair (c1, c2): A = clean examples of c1 plus noisy examples with perturbed
label c1 and original label c2; B the converse. mu1, mu2 are the centroids of the clean members of A
and B; every point gets t = (x - mu1) . (mu2 - mu1) / |mu2 - mu1|^2 (0 at mu1, 1 at mu2).

- crossing layer: the last layer at which the mean t of A's noisy members drops from above 0.5 to
  below 0.5 (the layer before layer 1 counts as above);
- initiation layer: the first layer from which the 87.5th percentile of clean A's t stays below the
  12.5th percentile of clean B's t at every later layer.

Layers are 1-based. Events are computed per (model seed, class pair) and averaged over those where
they exist; the paper's notebook instead pools the t values of all pairs before finding the events,
which we report too (``*_pooled``). ``*_sd``: the standard deviation over model seeds of each seed's
mean event (None with fewer than two seeds where it exists). Fast path: all layers, all examples and the projections of a
pair in one tensor expression; the paper-style loop is in the tests (``tests/references/centroids.py``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from memlocbench.api import hookimpl
from memlocbench.api import AnalysisInfo, AnalysisOutput, InvalidInputError, Measure, sentence_features
from memlocbench_analyses import at_least, mean_defined, sd_defined, summary_mismatches

DEFAULTS = {"feature_batch_size": 64, "threshold": 0.5, "percentiles": [87.5, 12.5]}


def param_problems(p: dict) -> list[str]:
    """What is wrong with merged parameters ``p`` (checked before any training)."""
    problems = at_least(p, "feature_batch_size", 1)
    pct = p.get("percentiles")
    if not (isinstance(pct, list) and len(pct) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 100 for x in pct)):
        problems.append(f"percentiles must be two numbers in [0, 100] (clean A's upper and clean B's lower "
                        f"percentile, e.g. [87.5, 12.5]), got {pct!r}")
    return problems


def crossing_layer(mean_t: torch.Tensor, threshold: float = 0.5) -> int | None:
    """Last 1-based layer l with mean_t[l-1] < threshold while the layer before was above it."""
    prev = torch.cat([torch.tensor([math.inf], dtype=mean_t.dtype), mean_t[:-1]])
    hits = torch.nonzero((prev > threshold) & (mean_t < threshold)).flatten()
    return int(hits[-1]) + 1 if len(hits) else None


def initiation_layer(upper_a: torch.Tensor, lower_b: torch.Tensor) -> int | None:
    """First 1-based layer from which upper_a < lower_b holds at that and every later layer."""
    below = (upper_a < lower_b).flip(0).to(torch.int64).cumprod(0).flip(0).bool()  # below at l and all later
    hits = torch.nonzero(below).flatten()
    return int(hits[0]) + 1 if len(hits) else None


def pair_members(noisy_labels, original_labels, noisy_mask, c1: int, c2: int):
    y, o = torch.as_tensor(noisy_labels), torch.as_tensor(original_labels)
    a_clean = ~noisy_mask & (y == c1)
    a_noisy = noisy_mask & (y == c1) & (o == c2)
    b_clean = ~noisy_mask & (y == c2)
    b_noisy = noisy_mask & (y == c2) & (o == c1)
    return a_clean, a_noisy, b_clean, b_noisy


def projections(feats: torch.Tensor, a_clean: torch.Tensor, b_clean: torch.Tensor) -> torch.Tensor:
    """feats [L, N, d] -> t [L, N] on the line from the clean-A centroid (0) to the clean-B one (1)."""
    mu1 = feats[:, a_clean].double().mean(1)
    mu2 = feats[:, b_clean].double().mean(1)
    diff = mu2 - mu1
    return torch.einsum("lnd,ld->ln", feats.double() - mu1[:, None], diff) / (diff * diff).sum(-1)[:, None]


def centroid_events(feats: torch.Tensor, noisy_labels, original_labels, noisy_mask: torch.Tensor,
                    num_labels: int, p: dict = DEFAULTS) -> dict:
    """Everything for one model: per ordered pair, the mean-t curves and the two events; pooled t
    values per layer for the paper's pooled events. ``feats``: hidden states 1..L, [L, N, d]."""
    hi, lo = p["percentiles"]
    pairs, pooled = [], {"a_clean": [], "a_noisy": [], "b_clean": []}
    for c1 in range(num_labels):
        for c2 in range(num_labels):
            if c1 == c2:
                continue
            a_clean, a_noisy, b_clean, _ = pair_members(noisy_labels, original_labels, noisy_mask, c1, c2)
            if not a_clean.any() or not b_clean.any():
                continue
            t = projections(feats, a_clean, b_clean)
            ta, tn, tb = t[:, a_clean], t[:, a_noisy], t[:, b_clean]
            noisy_curve = tn.mean(1) if a_noisy.any() else None
            pairs.append({
                "pair": [c1, c2], "n_clean_a": int(a_clean.sum()), "n_noisy_a": int(a_noisy.sum()),
                "n_clean_b": int(b_clean.sum()),
                "mean_t_clean_a": ta.mean(1).tolist(), "mean_t_clean_b": tb.mean(1).tolist(),
                "mean_t_noisy_a": noisy_curve.tolist() if noisy_curve is not None else None,
                "crossing": crossing_layer(noisy_curve, p["threshold"]) if noisy_curve is not None else None,
                "initiation": initiation_layer(torch.quantile(ta, hi / 100, dim=1), torch.quantile(tb, lo / 100, dim=1)),
            })
            pooled["a_clean"].append(ta)
            pooled["a_noisy"].append(tn)
            pooled["b_clean"].append(tb)
    out = {"pairs": pairs, "crossing_pooled": None, "initiation_pooled": None}
    if pairs:
        ta, tn, tb = (torch.cat(pooled[k], dim=1) for k in ("a_clean", "a_noisy", "b_clean"))
        if tn.shape[1]:
            out["crossing_pooled"] = crossing_layer(tn.mean(1), p["threshold"])
        out["initiation_pooled"] = initiation_layer(torch.quantile(ta, hi / 100, dim=1),
                                                    torch.quantile(tb, lo / 100, dim=1))
    return out


def _mean_curves(curves: list[list[float] | None]) -> list[float] | None:
    curves = [c for c in curves if c is not None]
    return np.mean(np.array(curves), axis=0).tolist() if curves else None


def summarise(per_seed: dict[int, dict]) -> dict[str, float | None]:
    pairs = [pr for out in per_seed.values() for pr in out["pairs"]]
    return {"crossing_layer": mean_defined(pr["crossing"] for pr in pairs),
            "initiation_layer": mean_defined(pr["initiation"] for pr in pairs),
            "crossing_layer_pooled": mean_defined(out["crossing_pooled"] for out in per_seed.values()),
            "initiation_layer_pooled": mean_defined(out["initiation_pooled"] for out in per_seed.values()),
            **{f"{event}_layer_sd": sd_defined(mean_defined(pr[event] for pr in out["pairs"])
                                               for out in per_seed.values())
               for event in ("crossing", "initiation")}}


class Centroids:
    info = AnalysisInfo(
        name="centroids",
        description="per layer, where noisy examples sit between their original and perturbed class centroids: "
                    "crossing and initiation layers",
        version=2,  # 2: the sd over model seeds
        measures=(Measure(key="crossing_layer", label="centroid crossing", kind="location", paper_rho=0.75,
                          paper_rho_validation=0.70,
                          paper_ordering={"rte": 10, "wic": 11, "cola": 13, "boolq": 13, "mrpc": 14, "sst2": 16,
                                          "sst5": 16, "implicithate": 17, "emotion": 18, "stormfront": 18,
                                          "trec": 19, "reuters": 19},
                          paper_ordering_source="Dankers & Titov 2024, the paper code's notebooks: the centroid "
                                                "crossing layer per task of OPT-1.3B (24 layers; its ordering "
                                                "correlates 0.94 with the 125M models' mean there), read "
                                                "approximately from the published figure",
                          description="the layer (1..L) where noisy examples move to their perturbed label's "
                                      "centroid"),
                  Measure(key="initiation_layer", label="centroid initiation", kind="location",
                          description="the layer where clean examples first sit nearer their own class centroid")),
    )
    defaults = DEFAULTS
    # seconds per training row: CPU, MiniLM-L6 (README "Analyses": 8 s on SST-2, 600 rows); GPU, 12 layers
    default_rates = {"cpu": 0.013, "cuda": 0.002}

    @staticmethod
    def check_params(params: dict, registered: dict) -> list[str]:
        return param_problems(params)

    def analyse(self, ctx) -> AnalysisOutput:
        p = ctx.params(self.info.name, DEFAULTS)
        problems = param_problems(p)
        if problems:
            raise InvalidInputError(f"analysis {self.info.name!r}: {'; '.join(problems)}")
        d = ctx.dataset
        noisy_mask = torch.zeros(d.train_size, dtype=torch.bool)
        noisy_mask[d.noisy_idx] = True
        per_seed = {}
        for seed in ctx.seeds:
            model = ctx.models_for_seed(seed).load("memorising")
            feats = sentence_features(ctx.adapter, model, ctx.train_enc, p["feature_batch_size"])[1:]
            per_seed[seed] = centroid_events(feats, d.noisy_labels, d.original_labels, noisy_mask, d.num_labels, p)
        pairs = [pr for out in per_seed.values() for pr in out["pairs"]]
        details = {"params": p, "per_seed": {str(s): out for s, out in per_seed.items()},
                   "mean_t_clean": _mean_curves([pr["mean_t_clean_a"] for pr in pairs]),
                   "mean_t_noisy": _mean_curves([pr["mean_t_noisy_a"] for pr in pairs]),
                   "mean_t_clean_other": _mean_curves([pr["mean_t_clean_b"] for pr in pairs])}
        return AnalysisOutput(summary=summarise(per_seed), details=details)

    def recheck(self, summary: dict, details: dict) -> list[str]:
        return summary_mismatches(summary, summarise(details["per_seed"]), "per-pair events")


@hookimpl
def register_analyses(register):
    register(Centroids())
