"""Memorisation map (Dankers & Titov 2024, section 5; Feldman & Zhang's counterfactual memorisation):
how well does a task generalise to examples held out of training?

R training runs with seeds s = 0..R-1: each shuffles the training indices with Python's ``random``
seeded s and trains a fresh pretrained model (head initialised under seed s) with the project's
trainer on the first int(0.5 N) of them; the rest is held out. With ``max_epochs`` unset (the paper,
its ``paper`` profile) a run trains exactly ``epochs`` epochs. With ``max_epochs`` set (the ``cpu``
profile, version 4) it trains until it fits its half, by the memorising model's until-fit rule: at
least ``epochs`` epochs, on to ``max_epochs``, until its accuracy on its training half (against the
labels trained on) reaches ``fit_threshold``, then ``extra_epochs`` more; the learning-rate schedule
spans ``max_epochs``. Each run records its epochs and its training-half accuracy; a map with a run
that did not fit is flagged (``flags``) and the leaderboard keeps its scores out of the correlations.
Softmax probabilities of the label
trained on (the perturbed label for noisy examples) are scored on both halves. For example x:

- TM(x): mean p(y|x) over the runs that trained on x;
- GS(x): mean p(y|x) over the runs that held x out;
- CM(x) = max(0, round(TM - GS, 1)).

Task-level generalisation score: mean GS over the training examples held out at least once, overall
and split into noisy and clean ones. A second score: (validation accuracy of the clean twin -
chance) / (1 - chance), chance being the accuracy of guessing labels with the training-label
frequencies (sum over classes of train share x validation share). The chance-corrected score
GS_c = (GS - b) / (1 - b), with b = sum over classes of p_c^2 for the prior p of the labels trained
on: the expected GS of a predictor that outputs that prior, whatever the example. with several model seeds, the mean
over their clean twins, and ``*_sd`` the standard deviation. The generalisation score has no model-seed
spread: its R runs are its own seeds. The map reads no memorising model, so the memorisation guard does
not leave seeds out of it.

Each run's logits are stored (store kind ``memorisation-map-runs``, one entry per run), never the
model: an interrupted map resumes at the first missing run.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import torch

from memlocbench.api import hookimpl
from memlocbench.api import autocast
from memlocbench.api import Encoded
from memlocbench.api import InvalidInputError
from memlocbench.api import AnalysisInfo, AnalysisOutput, Measure
from memlocbench_analyses import at_least, mean_defined, sd_defined, summary_mismatches
from memlocbench.api import TRAINING_CODE_VERSION, TrainUntilFit
from memlocbench.api import chance_corrected, label_prior_agreement
from memlocbench.api import train_classifier

#: the paper's settings (fixed epochs: ``max_epochs`` None); the cpu profile overrides them (profile_params)
DEFAULTS = {"runs": 30, "epochs": 10, "learning_rate": 3e-5, "batch_size": 8, "fraction": 0.5,
            "max_epochs": None, "fit_threshold": 0.9, "extra_epochs": 1}
#: the summary scores computed from the runs' held-out probabilities (flagged when a run did not fit)
RUN_SCORES = ("generalisation_score", "generalisation_score_noisy", "generalisation_score_clean",
              "generalisation_score_corrected", "mean_counterfactual_memorisation_noisy",
              "mean_counterfactual_memorisation_clean")
RUN_KIND = "memorisation-map-runs"


def split_for_run(n: int, seed: int, fraction: float = 0.5) -> tuple[list[int], list[int]]:
    """The paper's split: indices shuffled by Python's ``random`` seeded ``seed``; train on the first int(fraction n)."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    mid = int(len(idx) * fraction)
    return idx[:mid], idx[mid:]


def label_probabilities(logits: torch.Tensor, labels: list[int]) -> torch.Tensor:
    """[R, N, C] logits -> [R, N] softmax probability of each example's label."""
    probs = torch.softmax(logits.double(), dim=-1)
    y = torch.tensor(labels).expand(probs.shape[0], -1)
    return probs.gather(-1, y.unsqueeze(-1)).squeeze(-1)


def _nan_to_none(values: list[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


def map_scores(prob: torch.Tensor, trained: torch.Tensor) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """TM, GS and CM per example from p(y|x) [R, N] and whether run r trained on x [R, N] (bool).
    None where an example was never (held out of / trained on) any run."""
    t = trained.double()
    h = (~trained).double()
    tm = ((prob * t).sum(0) / t.sum(0)).tolist()  # 0/0 = nan: never trained on
    gs = ((prob * h).sum(0) / h.sum(0)).tolist()
    cm = [None if math.isnan(a) or math.isnan(b) else max(0.0, round(a - b, 1)) for a, b in zip(tm, gs)]
    return _nan_to_none(tm), _nan_to_none(gs), cm


def task_scores(gs: list[float | None], noisy: list[bool]) -> dict[str, float | None]:
    """Mean GS over the examples held out at least once, overall and for noisy / clean ones."""
    return {"generalisation_score": mean_defined(gs),
            "generalisation_score_noisy": mean_defined(g for g, n in zip(gs, noisy) if n),
            "generalisation_score_clean": mean_defined(g for g, n in zip(gs, noisy) if not n)}


def unfitted_runs(details: dict) -> list[dict]:
    """The runs whose accuracy on their own training half stayed below the fit threshold (version 3
    maps, trained for fixed epochs, are held to the threshold's default too)."""
    threshold = (details.get("params") or {}).get("fit_threshold", DEFAULTS["fit_threshold"])
    return [r for r in details.get("runs", []) if isinstance(r, dict)
            and isinstance(r.get("train_accuracy"), (int, float)) and r["train_accuracy"] < threshold]


def chance_accuracy(train_labels: list[int], val_labels: list[int]) -> float:
    """Expected accuracy of guessing with the training-label frequencies."""
    tr, va = Counter(train_labels), Counter(val_labels)
    return sum(tr[c] / len(train_labels) * va[c] / len(val_labels) for c in va)


def normalised_accuracy(acc: float, chance: float) -> float:
    return (acc - chance) / (1 - chance)


def param_problems(p: dict) -> list[str]:
    """What is wrong with merged parameters ``p`` (checked before any training)."""
    problems = [*at_least(p, "runs", 1), *at_least(p, "epochs", 1), *at_least(p, "batch_size", 1)]
    if not (isinstance(p.get("fraction"), (int, float)) and 0 < p["fraction"] < 1):
        problems.append(f"fraction must be in (0, 1) (the share of the training set each run trains on), got "
                        f"{p.get('fraction')!r}")
    if not (isinstance(p.get("learning_rate"), (int, float)) and p["learning_rate"] > 0):
        problems.append(f"learning_rate must be positive, got {p.get('learning_rate')!r}")
    if p.get("max_epochs") is not None:
        if not (isinstance(p["max_epochs"], int) and not isinstance(p["max_epochs"], bool)
                and isinstance(p.get("epochs"), int) and p["epochs"] <= p["max_epochs"] <= 1000):
            problems.append(f"max_epochs must be None (fixed epochs) or an integer from epochs ({p.get('epochs')!r}) "
                            f"to 1000, got {p['max_epochs']!r}")
        problems += at_least(p, "extra_epochs", 0)
    if not (isinstance(p.get("fit_threshold"), (int, float)) and 0 < p["fit_threshold"] <= 1):
        problems.append(f"fit_threshold must be in (0, 1] (accuracy on a run's training half), got "
                        f"{p.get('fit_threshold')!r}")
    return problems


class MemorisationMap:
    info = AnalysisInfo(
        name="memorisation-map",
        description="R runs on random halves: training memorisation, generalisation score and counterfactual "
                    "memorisation per example; the task's generalisation score",
        # 2: map runs train fixed epochs (no train_until_fit); 3: validation accuracy over model seeds;
        # 4: runs train until they fit their half (max_epochs), GS_c, each run's epochs and fit recorded
        version=4,
        # version 3 results (fixed-epoch runs) are rechecked as they are, and flagged where a run did not fit
        recheckable_versions=(3,),
        reads_memorising=False,
        measures=(Measure(key="generalisation_score", label="generalisation score", kind="generalisation",
                          description="mean probability of the training label on examples held out of the "
                                      "memorisation map's runs (overall, noisy, clean)"),
                  Measure(key="generalisation_score_corrected", label="chance-corrected generalisation score",
                          kind="generalisation",
                          description="(GS − b) / (1 − b), b = Σ p_c² for the prior of the labels trained on: "
                                      "0 for a predictor that outputs the label prior, 1 for a perfect one"),
                  Measure(key="normalised_validation_accuracy", label="normalised validation accuracy",
                          description="the clean twin's validation accuracy, (acc − chance) / (1 − chance)",
                          kind="generalisation")),
    )
    defaults = DEFAULTS
    # Per settings profile. The paper trains 30 runs of 10 epochs (lr 3e-5, batch 8) on half the data
    # (DEFAULTS, the `paper` profile's: its runs of 1,245-8,000 examples fit in 10 epochs). On 2 cores:
    # 8 runs on the until-fit rule of the cpu profile's memorising model (at least 6 epochs, at most 30,
    # until 90% of the half is fitted, then 1 more): 6 fixed epochs left the many-class tasks' runs at
    # 0.66-0.85 accuracy on their own half.
    profile_params = {"cpu": {"runs": 8, "epochs": 6, "learning_rate": 1e-4, "batch_size": 16,
                              "max_epochs": 30, "fit_threshold": 0.9, "extra_epochs": 1}}
    # seconds per trained row-epoch: CPU, MiniLM-L6 (README "Analyses": 342 s for 8 runs x 6 epochs x 300
    # rows on SST-2); GPU, 12 layers: a training step, as for the trainings
    default_rates = {"cpu": 0.024, "cuda": 0.0067}

    @staticmethod
    def check_params(params: dict, registered: dict) -> list[str]:
        return param_problems(params)

    @staticmethod
    def estimate_work(params: dict, rows: int) -> int:
        """The grid's cost model: ``runs`` trainings of ``epochs`` epochs on a ``fraction`` of the rows
        (until-fit runs: the midpoint of ``epochs`` and ``max_epochs``)."""
        epochs = params["epochs"] if params.get("max_epochs") is None else (params["epochs"] + params["max_epochs"]) / 2
        return int(params["runs"] * epochs * int(params["fraction"] * rows))

    def run_spec(self, ctx, seed: int, p: dict) -> dict:
        return {"kind": RUN_KIND, "training_code_version": TRAINING_CODE_VERSION, "seed": seed,
                "fraction": p["fraction"], "task": ctx.task_name, "data": ctx.config.data.model_dump(mode="json"),
                "data_fingerprint": ctx.dataset.fingerprint(), "model": ctx.adapter.info.name,
                "model_version": ctx.adapter.info.version, **ctx.models.identity(),
                "train": self.train_config(ctx, seed, p).model_dump(mode="json"),
                "compute": ctx.config.compute.model_dump(mode="json"), "frozen": ["embeddings"]}

    @staticmethod
    def train_config(ctx, seed: int, p: dict):
        # the map's own rule, never the profile's train_until_fit: fixed epochs (the paper's), or until the
        # run fits its whole training half (max_epochs set; the criterion is scored on every example of the
        # half, which one_run hands the trainer as the examples to fit)
        until = (None if p.get("max_epochs") is None else
                 TrainUntilFit(max_epochs=p["max_epochs"], extra_epochs=p["extra_epochs"], noisy_fit=p["fit_threshold"]))
        return ctx.config.train.model_copy(update={"seed": seed, "epochs": p["epochs"], "until_fit": until,
                                                   "learning_rate": p["learning_rate"], "batch_size": p["batch_size"]})

    def one_run(self, ctx, seed: int, p: dict) -> tuple[torch.Tensor, list[int], dict]:
        """Train on the run's half and return logits for every training example [N, C]."""
        d = ctx.dataset
        train_idx, _ = split_for_run(d.train_size, seed, p["fraction"])
        enc = ctx.train_enc
        sub = Encoded([enc.ids[i] for i in train_idx], enc.pad_id, enc.device)
        labels = [d.noisy_labels[i] for i in train_idx]
        noisy = set(d.noisy_idx)
        sub_noisy = [k for k, i in enumerate(train_idx) if i in noisy]
        sub_clean = [k for k, i in enumerate(train_idx) if i not in noisy]
        torch.manual_seed(seed)
        model = ctx.adapter.load_model(d.num_labels).to(ctx.models.device)
        names = ctx.models.main_parameter_names(model, "memorising")  # head and every layer; embeddings frozen
        # training-set scores only until the first fit: the same weights, fewer evaluation passes
        compute = ctx.config.compute.model_copy(update={"train_eval": "until-fit"})
        cfg = self.train_config(ctx, seed, p)
        # until-fit runs: the criterion is the accuracy on the whole half (every example is one to fit)
        to_fit, others = (list(range(len(train_idx))), []) if cfg.until_fit is not None else (sub_noisy, sub_clean)
        t0 = time.perf_counter()
        outcome = train_classifier(model, names, sub, labels, to_fit, others, Encoded([], enc.pad_id, enc.device), [],
                                   cfg, desc=f"map run {seed} ({ctx.task_name})", progress=ctx.progress,
                                   compute=compute)
        model.eval()
        logits = torch.zeros(d.train_size, d.num_labels)
        with torch.no_grad():
            for chunk, batch in enc.eval_batches(list(range(d.train_size)), ctx.config.train.eval_batch_size):
                with autocast(model, compute.precision):
                    logits[chunk] = model(**batch).logits.float().cpu()
        return logits, train_idx, {"seconds": time.perf_counter() - t0, "epochs": outcome.epochs_trained,
                                   "fit_epoch": outcome.until_fit_epoch,
                                   "final_train_macro_f1": outcome.history[-1].train_macro_f1}

    def analyse(self, ctx) -> AnalysisOutput:
        p = ctx.params(self.info.name, DEFAULTS)
        problems = param_problems(p)
        if problems:
            raise InvalidInputError(f"analysis 'memorisation-map': {'; '.join(problems)}")
        d = ctx.dataset
        all_logits, masks, runs = [], [], []
        y = torch.tensor(d.noisy_labels)  # the labels trained on
        noisy_mask = torch.zeros(d.train_size, dtype=torch.bool)
        noisy_mask[d.noisy_idx] = True
        for seed in range(p["runs"]):
            key = ctx.store.key(self.run_spec(ctx, seed, p))
            if not ctx.store.has(RUN_KIND, key):
                logits, train_idx, info = self.one_run(ctx, seed, p)
                mask = torch.zeros(d.train_size, dtype=torch.bool)
                mask[train_idx] = True
                ctx.store.put(RUN_KIND, key, {"spec": self.run_spec(ctx, seed, p), **info},
                              {"run": {"logits": logits, "trained": mask}})
                ctx.log(f"memorisation map: run {seed + 1}/{p['runs']} trained in {info['seconds']:.0f} s")
            saved = ctx.store.tensors(RUN_KIND, key, "run")
            meta = ctx.store.meta(RUN_KIND, key)
            all_logits.append(saved["logits"])
            masks.append(saved["trained"].bool())
            pred = saved["logits"].argmax(-1)
            held = ~masks[-1]
            trained_noisy = ~held & noisy_mask
            runs.append({"seed": seed, "seconds": meta["seconds"], "epochs": meta.get("epochs"),
                         "fit_epoch": meta.get("fit_epoch"),
                         "heldout_accuracy": float((pred[held] == y[held]).double().mean()),
                         "train_accuracy": float((pred[~held] == y[~held]).double().mean()),
                         "train_noisy_accuracy": (float((pred[trained_noisy] == y[trained_noisy]).double().mean())
                                                  if bool(trained_noisy.any()) else None)})
        prob = label_probabilities(torch.stack(all_logits), d.noisy_labels)
        tm, gs, cm = map_scores(prob, torch.stack(masks))
        noisy_set = set(d.noisy_idx)
        noisy = [i in noisy_set for i in range(d.train_size)]
        seeds = list(ctx.seeds) or [ctx.config.train.seed]
        models = ctx.models_for_seed or (lambda s: ctx.models)
        val_acc = {s: models(s).memorisation_stats("clean")["validation_acc"] for s in seeds}
        chance = chance_accuracy(d.original_labels, d.validation.labels)
        clean_acc = mean_defined(val_acc.values())
        scores = task_scores(gs, noisy)
        b = label_prior_agreement(d.noisy_labels)
        summary = {**scores, "label_prior_agreement": b,
                   "generalisation_score_corrected": (None if scores["generalisation_score"] is None or b >= 1 else
                                                      chance_corrected(scores["generalisation_score"], b)),
                   "runs_fitted_share": sum(r["train_accuracy"] >= p["fit_threshold"] for r in runs) / len(runs),
                   "clean_validation_accuracy": clean_acc, "chance_accuracy": chance,
                   "normalised_validation_accuracy": normalised_accuracy(clean_acc, chance),
                   "normalised_validation_accuracy_sd": sd_defined(normalised_accuracy(a, chance)
                                                                   for a in val_acc.values()),
                   "mean_counterfactual_memorisation_noisy": mean_defined(c for c, n in zip(cm, noisy) if n),
                   "mean_counterfactual_memorisation_clean": mean_defined(c for c, n in zip(cm, noisy) if not n)}
        details = {"params": p, "runs": runs, "tm": tm, "gs": gs, "cm": cm, "noisy": noisy,
                   "times_trained": torch.stack(masks).sum(0).tolist(),
                   "clean_validation_accuracy": {str(k): v for k, v in val_acc.items()}}
        return AnalysisOutput(summary=summary, details=details)

    @staticmethod
    def flags(summary: dict, details: dict) -> dict[str, str]:
        """The scores made from the runs, when a run did not fit its own training half."""
        bad = unfitted_runs(details)
        if not bad:
            return {}
        runs = details.get("runs") or []
        threshold = (details.get("params") or {}).get("fit_threshold", DEFAULTS["fit_threshold"])
        low = min(r["train_accuracy"] for r in bad)
        reason = (f"{len(bad)} of {len(runs)} map runs did not fit their training half (accuracy down to "
                  f"{low:.2f} < {threshold}): held-out probabilities of runs that did not learn the task")
        return {k: reason for k in RUN_SCORES if k in summary}

    def recheck(self, summary: dict, details: dict) -> list[str]:
        """Recompute the task-level scores and CM from the per-example numbers."""
        problems = []
        b, gs = summary.get("label_prior_agreement"), summary.get("generalisation_score")
        if isinstance(b, (int, float)) and isinstance(gs, (int, float)) and b < 1:
            problems += summary_mismatches(summary, {"generalisation_score_corrected": chance_corrected(gs, b)},
                                           "the generalisation score and b")
        gs, tm, cm, noisy = details["gs"], details["tm"], details["cm"], details["noisy"]
        if not len(gs) == len(tm) == len(cm) == len(noisy):
            return ["details: tm, gs, cm and noisy must have one entry per training example"]
        problems += summary_mismatches(summary, task_scores(gs, noisy), "per-example GS")
        for i, (a, b, c) in enumerate(zip(tm, gs, cm)):
            want = None if a is None or b is None else max(0.0, round(a - b, 1))
            if want != c:
                problems.append(f"details.cm[{i}] is {c}, but max(0, round(TM - GS, 1)) = {want}")
                break
        per_seed = details.get("clean_validation_accuracy")
        if isinstance(per_seed, dict) and per_seed and summary.get("chance_accuracy") is not None \
                and summary["chance_accuracy"] < 1:
            chance = summary["chance_accuracy"]
            problems += summary_mismatches(summary, {
                "clean_validation_accuracy": mean_defined(per_seed.values()),
                "normalised_validation_accuracy_sd": sd_defined(normalised_accuracy(a, chance) for a in per_seed.values())},
                "per-seed clean validation accuracies")
        acc, chance = summary.get("clean_validation_accuracy"), summary.get("chance_accuracy")
        if acc is not None and chance is not None and chance < 1:
            want = normalised_accuracy(acc, chance)
            if abs(want - (summary.get("normalised_validation_accuracy") or 0.0)) > 1e-9:
                problems.append(f"summary.normalised_validation_accuracy should be {want}")
        return problems


@hookimpl
def register_analyses(register):
    register(MemorisationMap())
