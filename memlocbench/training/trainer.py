"""The paper's fine-tuning loop: AdamW, linear schedule with warm-up, clipping, frozen embeddings.

After every epoch it records accuracy on the noisy examples (against their perturbed labels), on
the clean training examples and on validation, and snapshots the first epoch at which the training
set is fitted (macro-F1 against the training labels >= the profile's threshold, 0.993 in the paper).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from memlocbench.data.encoding import Encoded
from memlocbench.metrics import accuracy, macro_f1
from memlocbench.profiles import TrainConfig
from memlocbench.protocols import ModelAdapter

State = dict[str, torch.Tensor]


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    train_macro_f1: float
    noisy_acc: float  # against the labels trained on (perturbed ones for the memorising model)
    clean_acc: float
    validation_acc: float
    seconds: float


@dataclass
class TrainingOutcome:
    final: State
    first_fit: State | None
    first_fit_epoch: int | None
    history: list[EpochRecord] = field(default_factory=list)

    def history_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.history]


def trainable_names(model: torch.nn.Module, adapter: ModelAdapter, frozen_groups: set) -> list[str]:
    """Names of parameters outside ``frozen_groups`` ('embeddings', layer indices, 'head')."""
    return [n for n, _ in model.named_parameters() if adapter.parameter_group(n) not in frozen_groups]


def set_trainable(model: torch.nn.Module, names: list[str]) -> list[torch.nn.Parameter]:
    keep = set(names)
    params = []
    for n, p in model.named_parameters():
        p.requires_grad_(n in keep)
        if n in keep:
            params.append(p)
    return params


def snapshot(model: torch.nn.Module, names: list[str]) -> State:
    params = dict(model.named_parameters())
    return {n: params[n].detach().clone() for n in names}


@torch.no_grad()
def predict(model: torch.nn.Module, enc: Encoded, indices: list[int], batch_size: int) -> list[int]:
    """Predicted labels for ``indices`` (returned in the order of ``indices``)."""
    was_training = model.training
    model.eval()
    out: dict[int, int] = {}
    for chunk, batch in enc.eval_batches(indices, batch_size):
        pred = model(**batch).logits.argmax(-1).tolist()
        out.update(zip(chunk, pred))
    model.train(was_training)
    return [out[i] for i in indices]


def train_classifier(
    model: torch.nn.Module,
    trainable: list[str],
    train_enc: Encoded,
    labels: list[int],
    noisy_idx: list[int],
    clean_idx: list[int],
    val_enc: Encoded,
    val_labels: list[int],
    cfg: TrainConfig,
    desc: str = "training",
    progress: bool = True,
) -> TrainingOutcome:
    torch.manual_seed(cfg.seed)
    params = set_trainable(model, trainable)
    optim = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    n = len(labels)
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    sched = get_linear_schedule_with_warmup(optim, int(cfg.warmup_fraction * total), total)
    gen = torch.Generator().manual_seed(cfg.seed)
    y_all = torch.tensor(labels, dtype=torch.long)
    loss_fn = torch.nn.CrossEntropyLoss()
    outcome = TrainingOutcome(final={}, first_fit=None, first_fit_epoch=None)
    bar = tqdm(total=total, desc=desc, disable=not progress, unit="step", leave=False)
    all_idx = list(range(n))
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen).tolist()
        loss_sum = 0.0
        for k in range(0, n, cfg.batch_size):
            chunk = order[k : k + cfg.batch_size]
            logits = model(**train_enc.batch(chunk)).logits
            loss = loss_fn(logits, y_all[chunk])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optim.step()
            sched.step()
            loss_sum += loss.item() * len(chunk)
            bar.update(1)
        pred = predict(model, train_enc, all_idx, cfg.eval_batch_size)
        val_pred = predict(model, val_enc, list(range(len(val_labels))), cfg.eval_batch_size)
        rec = EpochRecord(
            epoch=epoch,
            loss=loss_sum / n,
            train_macro_f1=macro_f1(pred, labels),
            noisy_acc=accuracy([pred[i] for i in noisy_idx], [labels[i] for i in noisy_idx]) if noisy_idx else float("nan"),
            clean_acc=accuracy([pred[i] for i in clean_idx], [labels[i] for i in clean_idx]),
            validation_acc=accuracy(val_pred, val_labels),
            seconds=time.perf_counter() - t0,
        )
        outcome.history.append(rec)
        bar.set_postfix(epoch=epoch, f1=f"{rec.train_macro_f1:.3f}", noisy=f"{rec.noisy_acc:.2f}", val=f"{rec.validation_acc:.2f}")
        if outcome.first_fit is None and rec.train_macro_f1 >= cfg.fit_threshold:
            outcome.first_fit = snapshot(model, trainable)
            outcome.first_fit_epoch = epoch
    bar.close()
    outcome.final = snapshot(model, trainable)
    return outcome
