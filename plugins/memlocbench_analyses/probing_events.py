"""Probing events (Dankers & Titov 2024, section 5): label probes on every hidden state, trained once
on the perturbed labels and once on the original labels, with the stacked-probe engine the
probing method uses (``memlocbench.api.fit_probes``: same probes, splits, epochs and seeds; no class
weights, macro-F1 for model selection, as the paper's label probes).

Per hidden state l (0 = embeddings, l = output of layer l), averaged over probe seeds, macro-F1 on
the test split's noisy and clean examples:

- memorisation layer: the first l where F1(perturbed-label probe, noisy) > F1(original-label probe,
  noisy) + 0.1 (each against the labels it was trained on);
- initiation: the first l where (F1(original-label probe, clean) - rand) / (max over l - rand) > 0.9,
  rand being the macro-F1 of the original training labels against a seeded shuffle of themselves.

Events per model seed, averaged over the model seeds where they exist; ``*_sd``: their standard deviation
(None with fewer than two).
"""

from __future__ import annotations

import random

import torch

from memlocbench.api import hookimpl
from memlocbench.api import PROBE_DEFAULTS, fit_probes, macro_f1, sentence_features
from memlocbench.api import AnalysisInfo, AnalysisOutput, InvalidInputError, Measure
from memlocbench_analyses import at_least, mean_defined, sd_defined, summary_mismatches

DEFAULTS = {**PROBE_DEFAULTS, "class_weights": None, "margin": 0.1, "initiation_threshold": 0.9}


def param_problems(p: dict) -> list[str]:
    """What is wrong with merged parameters ``p`` (the probes' settings; checked before any training)."""
    problems = [*at_least(p, "hidden", 1), *at_least(p, "epochs", 1), *at_least(p, "batch_size", 1),
                *at_least(p, "feature_batch_size", 1)]
    if not (isinstance(p.get("dropout"), (int, float)) and 0 <= p["dropout"] < 1):
        problems.append(f"dropout must be in [0, 1), got {p.get('dropout')!r}")
    if not (isinstance(p.get("learning_rate"), (int, float)) and p["learning_rate"] > 0):
        problems.append(f"learning_rate must be positive, got {p.get('learning_rate')!r}")
    if not p.get("seeds"):
        problems.append(f"seeds must name at least one probe seed, got {p.get('seeds')!r}")
    split = p.get("split")
    if not (isinstance(split, list) and len(split) == 3 and all(isinstance(x, (int, float)) and 0 < x < 1 for x in split)
            and sum(split) <= 1 + 1e-9):
        problems.append(f"split must be three fractions in (0, 1) (train, validation, test) summing to at most 1, "
                        f"got {split!r}")
    weights = p.get("class_weights")
    if weights is not None and not (isinstance(weights, list) and weights and all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and w > 0 for w in weights)):
        problems.append(f"class_weights must be null or a list of positive numbers, one per class, got {weights!r}")
    return problems


def shuffled_label_f1(labels: list[int], seed: int) -> float:
    shuffled = list(labels)
    random.Random(seed).shuffle(shuffled)
    return macro_f1(shuffled, labels)


def memorisation_layer(f1_perturbed_noisy: list[float], f1_original_noisy: list[float], margin: float = 0.1) -> int | None:
    for l, (a, b) in enumerate(zip(f1_perturbed_noisy, f1_original_noisy)):
        if a > b + margin:
            return l
    return None


def initiation_layer(f1_original_clean: list[float], rand: float, threshold: float = 0.9) -> int | None:
    top = max(f1_original_clean)
    if top <= rand:
        return None
    for l, f in enumerate(f1_original_clean):
        if (f - rand) / (top - rand) > threshold:
            return l
    return None


def subset_f1(feats, labels: list[int], noisy: set[int], num_classes: int, p: dict) -> dict[str, list[float]]:
    """Label probes on every hidden state; per hidden state, macro-F1 on the noisy and on the clean
    test examples, averaged over probe seeds."""
    n_states = feats.shape[0]
    jobs = [(layer, s) for s in p["seeds"] for layer in range(n_states)]
    targets = torch.tensor(labels)
    splits, best = fit_probes(feats, targets, jobs, p, num_classes, p["class_weights"], macro_f1)
    sums = {"noisy": [0.0] * n_states, "clean": [0.0] * n_states}
    for (layer, s), (_, pred, _epoch) in zip(jobs, best):
        test = splits[s][2]
        for part in ("noisy", "clean"):
            keep = [k for k, i in enumerate(test) if (i in noisy) == (part == "noisy")]
            f1 = macro_f1([pred[k] for k in keep], [labels[test[k]] for k in keep]) if keep else 0.0
            sums[part][layer] += f1 / len(p["seeds"])
    return sums


def events(f1: dict[str, list[float]], rand: float, p: dict) -> dict[str, int | None]:
    return {"memorisation": memorisation_layer(f1["perturbed_noisy"], f1["original_noisy"], p["margin"]),
            "initiation": initiation_layer(f1["original_clean"], rand, p["initiation_threshold"])}


def summarise(per_seed: dict) -> dict[str, float | None]:
    out = {}
    for event in ("memorisation", "initiation"):
        values = [v["events"][event] for v in per_seed.values()]
        out[f"{event}_layer"] = mean_defined(values)
        out[f"{event}_layer_sd"] = sd_defined(values)
    return out


class ProbingEvents:
    info = AnalysisInfo(
        name="probing-events",
        description="label probes per hidden state on perturbed vs original labels: memorisation layer and "
                    "initiation of classification",
        version=2,  # 2: the sd over model seeds
        measures=(Measure(key="memorisation_layer", label="probing memorisation layer", kind="location",
                          paper_rho=0.63, paper_rho_validation=0.61,
                          paper_ordering={"rte": 3.9, "wic": 4.6, "mrpc": 5.1, "boolq": 5.3, "cola": 6.2,
                                          "sst5": 6.3, "implicithate": 6.8, "sst2": 6.9, "stormfront": 7.0,
                                          "emotion": 7.7, "trec": 8.1, "reuters": 8.7},
                          paper_ordering_source="Dankers & Titov 2024, the paper code's notebooks: the probing "
                                                "memorisation layer per task, mean of its 4 models (layers "
                                                "1..12), read approximately from the published figure",
                          description="the hidden state (0 = embeddings) from which probes "
                                      "fit the noisy labels"),
                  Measure(key="initiation_layer", label="probing initiation", kind="location",
                          description="the hidden state from which probes classify the clean examples")),
    )
    defaults = DEFAULTS
    # seconds per training row: CPU, MiniLM-L6 (README "Analyses": 29 s on SST-2, 600 rows); GPU, 12 layers
    default_rates = {"cpu": 0.048, "cuda": 0.003}

    @staticmethod
    def check_params(params: dict, registered: dict) -> list[str]:
        return param_problems(params)

    def analyse(self, ctx) -> AnalysisOutput:
        p = ctx.params(self.info.name, DEFAULTS)
        problems = param_problems(p)
        if not problems and p["class_weights"] is not None and len(p["class_weights"]) != ctx.dataset.num_labels:
            problems = [f"class_weights has {len(p['class_weights'])} entries; the task has "
                        f"{ctx.dataset.num_labels} classes"]
        if problems:
            raise InvalidInputError(f"analysis {self.info.name!r}: {'; '.join(problems)}")
        d = ctx.dataset
        noisy = set(d.noisy_idx)
        rand = shuffled_label_f1(d.original_labels, ctx.config.data.seed)
        per_seed = {}
        for seed in ctx.seeds:
            model = ctx.models_for_seed(seed).load("memorising")
            feats = sentence_features(ctx.adapter, model, ctx.train_enc, p["feature_batch_size"])
            pert = subset_f1(feats, d.noisy_labels, noisy, d.num_labels, p)
            orig = subset_f1(feats, d.original_labels, noisy, d.num_labels, p)
            f1 = {"perturbed_noisy": pert["noisy"], "perturbed_clean": pert["clean"],
                  "original_noisy": orig["noisy"], "original_clean": orig["clean"]}
            per_seed[str(seed)] = {"f1": f1, "events": events(f1, rand, p)}
        return AnalysisOutput(summary=summarise(per_seed), details={"params": p, "rand": rand, "per_seed": per_seed})

    def recheck(self, summary: dict, details: dict) -> list[str]:
        p = {**DEFAULTS, **details.get("params", {})}
        problems = []
        for seed, v in details["per_seed"].items():
            want = events(v["f1"], details["rand"], p)
            if want != v["events"]:
                problems.append(f"details.per_seed.{seed}.events is {v['events']}, but its F1 table gives {want}")
        return problems + summary_mismatches(summary, summarise(details["per_seed"]), "per-seed events")


@hookimpl
def register_analyses(register):
    register(ProbingEvents())
