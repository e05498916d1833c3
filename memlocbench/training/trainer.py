"""The paper's fine-tuning loop: AdamW, linear schedule with warm-up, clipping, frozen embeddings.

After every epoch it records accuracy on the noisy examples (against their perturbed labels) and on
the clean training examples (validation only after the last epoch: it never steers training), and
snapshots the first epoch at which the training set is fitted (macro-F1 against the training labels
>= the profile's threshold, 0.993 in the paper). With ``train.until_fit`` (opt-in) the loop runs
past ``epochs`` until the noisy examples are fitted, then a stated number of epochs more, up to a
maximum, and records how many epochs it trained. With the default ``ComputeConfig`` this is the
paper's loop in fp32 with random batches; ``cpu-fast`` switches on bf16 autocast, length-grouped
batches and training-set scoring only until the first fit (``memlocbench.config.compute``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from memlocbench.config.compute import autocast, training_batches
from memlocbench.data.encoding import Encoded
from memlocbench.errors import TrainingDivergedError
from memlocbench.scoring.metrics import accuracy, macro_f1
from memlocbench.config.profiles import ComputeConfig, TrainConfig
from memlocbench.contracts.protocols import ModelAdapter

State = dict[str, torch.Tensor]
#: logits for some examples of the training set: ``forward(model, indices)``
Forward = Callable[[torch.nn.Module, list[int]], torch.Tensor]


@dataclass
class AuxiliaryTask:
    """A second task trained alongside the main one (the control setup): its own data, its own
    classification head on the model's sentence representation, its own optimizer and schedule."""

    enc: Encoded
    labels: list[int]
    head: torch.nn.Module
    adapter: ModelAdapter
    parameter_names: list[str]  # model parameters the auxiliary optimizer updates
    learning_rate: float

    def loss(self, model: torch.nn.Module, chunk: list[int], loss_fn, precision: str = "fp32") -> torch.Tensor:
        batch = self.enc.batch(chunk)
        with autocast(model, precision):
            out = model(**batch, output_hidden_states=True)
            rep = self.adapter.sentence_representation(out.hidden_states[-1], batch["attention_mask"])
            logits = self.head(rep)
        return loss_fn(logits.float(), torch.tensor([self.labels[i] for i in chunk], device=logits.device))


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    # training-set scores; None after the first fit (but for the last epoch) with train_eval="until-fit"
    train_macro_f1: float | None
    noisy_acc: float | None  # against the labels trained on (perturbed ones for the memorising model)
    clean_acc: float | None
    validation_acc: float | None  # scored after the last epoch only (it never steers training)
    seconds: float


@dataclass
class TrainingOutcome:
    final: State
    first_fit: State | None
    first_fit_epoch: int | None
    history: list[EpochRecord] = field(default_factory=list)
    epochs_trained: int = 0
    until_fit_epoch: int | None = None  # train_until_fit: first epoch at which its criterion held
    final_predictions: list[int] = field(default_factory=list)  # training set, after the last epoch

    def history_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.history]


def set_trainable(model: torch.nn.Module, names: list[str]) -> list[torch.nn.Parameter]:
    keep = set(names)
    params = []
    for n, p in model.named_parameters():
        p.requires_grad_(n in keep)
        if n in keep:
            params.append(p)
    return params


def _diverged(what: str, epoch: int, step: int, lr: float) -> TrainingDivergedError:
    return TrainingDivergedError(
        f"training diverged: {what} at epoch {epoch}, step {step} (learning rate {lr:g}); nothing was stored. "
        f"Try a smaller learning rate (--lr; the cpu profile uses 1e-4, the paper 1e-5)")


def non_finite_parameters(model: torch.nn.Module, names: list[str]) -> list[str]:
    """Names among ``names`` whose values contain NaN or infinity."""
    params = dict(model.named_parameters())
    return [n for n in names if not bool(torch.isfinite(params[n].detach()).all())]


def snapshot(model: torch.nn.Module, names: list[str]) -> State:
    params = dict(model.named_parameters())
    return {n: params[n].detach().clone() for n in names}


@torch.no_grad()
def predict(model: torch.nn.Module, enc: Encoded, indices: list[int], batch_size: int,
            precision: str = "fp32", forward: Forward | None = None, require_finite: bool = False) -> list[int]:
    """Predicted labels for ``indices`` (returned in the order of ``indices``); ``forward``
    replaces the full forward pass (for examples of ``enc``). ``require_finite``: raise
    TrainingDivergedError on NaN or infinite logits (a diverged model)."""
    was_training = model.training
    model.eval()
    out: dict[int, int] = {}
    for chunk, batch in enc.eval_batches(indices, batch_size):
        with autocast(model, precision):
            logits = forward(model, chunk) if forward is not None else model(**batch).logits
        if require_finite and not bool(torch.isfinite(logits).all()):
            raise TrainingDivergedError("non-finite outputs (logits)")
        out.update(zip(chunk, logits.argmax(-1).tolist()))
    model.train(was_training)
    return [out[i] for i in indices]


@torch.no_grad()
def _mask_main_step(named: dict[str, torch.nn.Parameter], masks: dict[str, torch.Tensor], decay: float) -> None:
    """Before a main-task step: the gradient only where the mask is 1, and AdamW's decoupled weight
    decay (p *= 1 - lr * wd, as AdamW applies it) only there. Adam's update of an entry whose
    gradient was always 0 is exactly 0, so every other entry keeps its value."""
    for n, mask in masks.items():
        p = named[n]
        if p.grad is not None:
            p.grad.mul_(mask)
        if decay:
            p.mul_(1 - decay * mask)


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
    aux: AuxiliaryTask | None = None,
    compute: ComputeConfig | None = None,
    forward: Forward | None = None,
    main_masks: dict[str, torch.Tensor] | None = None,
    main_mask_lr_scale: float = 1.0,
) -> TrainingOutcome:
    """Train ``trainable`` on ``labels``; with ``aux``, main and auxiliary batches are shuffled
    together each epoch and each step updates only that task's optimizer (paper section 3.2).
    ``compute``: precision and batching (default: exact fp32, random batches); ``forward``: how
    to get logits for training examples (default: the full model on ``train_enc``).
    ``main_masks``: parameter name -> 0/1 mask (broadcast to the parameter) of the entries the main
    task may change (the neuron ground-truth track): the main loss's gradient is multiplied by it
    before clipping, and AdamW's decoupled weight decay reaches only the masked-in entries, so a
    main step leaves every other entry bit-identical (the auxiliary task still trains them all).
    ``main_mask_lr_scale``: the masked parameters' learning rate as a multiple of ``cfg.learning_rate``
    (same warmup and decay)."""
    compute = compute or ComputeConfig()
    precision = compute.precision

    def train_forward(m: torch.nn.Module, chunk: list[int]) -> torch.Tensor:
        return forward(m, chunk) if forward is not None else m(**train_enc.batch(chunk)).logits

    lengths = [len(x) for x in train_enc.ids]
    aux_lengths = [len(x) for x in aux.enc.ids] if aux is not None else []
    torch.manual_seed(cfg.seed)
    wanted = set(trainable) | set(aux.parameter_names if aux else ())
    all_names = [n for n, _ in model.named_parameters() if n in wanted]
    set_trainable(model, all_names)
    named = dict(model.named_parameters())
    masks = {n: m.to(named[n].device, named[n].dtype) for n, m in (main_masks or {}).items()}
    if set(masks) - set(trainable):
        raise ValueError(f"main_masks name parameters the main task does not train: {sorted(set(masks) - set(trainable))[:3]}")
    params = [named[n] for n in trainable if n not in masks]
    if not (math.isfinite(main_mask_lr_scale) and main_mask_lr_scale > 0):
        raise ValueError(f"main_mask_lr_scale must be a finite number > 0, got {main_mask_lr_scale}")
    groups = [{"params": params}] + ([{"params": [named[n] for n in masks], "weight_decay": 0.0,
                                       "lr": cfg.learning_rate * main_mask_lr_scale}] if masks else [])
    optim = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)
    n = len(labels)
    until = cfg.until_fit
    # train_until_fit: the schedule spans the whole budget; the loop may stop earlier
    budget = max(until.max_epochs, cfg.epochs) if until is not None else cfg.epochs
    stop_at = budget if until is not None else cfg.epochs  # moved forward once the criterion holds
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    total = steps_per_epoch * budget
    sched = get_linear_schedule_with_warmup(optim, int(cfg.warmup_fraction * total), total)
    clip_params = [named[n] for n in all_names]
    if aux is not None:
        aux_params = [named[n] for n in aux.parameter_names] + list(aux.head.parameters())
        clip_params += list(aux.head.parameters())
        aux_optim = torch.optim.AdamW(aux_params, lr=aux.learning_rate, weight_decay=cfg.weight_decay,
                                      fused=True)
        aux_total = (len(aux.labels) + cfg.batch_size - 1) // cfg.batch_size * budget
        aux_sched = get_linear_schedule_with_warmup(aux_optim, int(cfg.warmup_fraction * aux_total), aux_total)
        total += aux_total
    gen = torch.Generator().manual_seed(cfg.seed)
    y_all = torch.tensor(labels, dtype=torch.long, device=next(model.parameters()).device)
    loss_fn = torch.nn.CrossEntropyLoss()
    outcome = TrainingOutcome(final={}, first_fit=None, first_fit_epoch=None)
    bar = tqdm(total=total, desc=desc, disable=not progress, unit="step", leave=False)
    all_idx = list(range(n))
    epoch = 0
    while epoch < stop_at:
        epoch += 1
        t0 = time.perf_counter()
        model.train()
        plan = training_batches(all_idx, lengths, cfg.batch_size, gen, compute.batching, compute.group_size)
        steps = [("main", chunk) for chunk in plan]
        if aux is not None:
            aux_plan = training_batches(list(range(len(aux.labels))), aux_lengths, cfg.batch_size, gen,
                                        compute.batching, compute.group_size)
            steps += [("aux", chunk) for chunk in aux_plan]
            steps = [steps[i] for i in torch.randperm(len(steps), generator=gen).tolist()]
        loss_sum = 0.0
        for step, (which, chunk) in enumerate(steps, start=1):
            if which == "main":
                with autocast(model, precision):
                    logits = train_forward(model, chunk)
                loss = loss_fn(logits.float(), y_all[chunk])
                opt, sch = optim, sched
                loss_sum += loss.item() * len(chunk)
            else:
                loss = aux.loss(model, chunk, loss_fn, precision)
                opt, sch = aux_optim, aux_sched
            if not bool(torch.isfinite(loss.detach())):
                raise _diverged(f"non-finite {'auxiliary-task ' if which == 'aux' else ''}loss "
                                f"({loss.item()})", epoch, step, cfg.learning_rate)
            optim.zero_grad(set_to_none=True)
            if aux is not None:
                aux_optim.zero_grad(set_to_none=True)
            loss.backward()
            if which == "main" and masks:
                _mask_main_step(named, masks, sched.get_last_lr()[-1] * cfg.weight_decay)  # the masked group's lr
            torch.nn.utils.clip_grad_norm_(clip_params, cfg.max_grad_norm)
            opt.step()
            sch.step()
            bar.update(1)
        bad = non_finite_parameters(model, all_names)
        if bad:  # checked at every epoch end, so no non-finite snapshot is ever taken or stored
            raise _diverged(f"non-finite weights in {len(bad)} parameter(s), e.g. {bad[0]}", epoch, len(steps),
                            cfg.learning_rate)
        last = epoch == stop_at
        rec = EpochRecord(epoch=epoch, loss=loss_sum / n, train_macro_f1=None, noisy_acc=None, clean_acc=None,
                          validation_acc=None, seconds=0.0)
        # the training set is scored after every epoch (it finds the first fit), or, with
        # train_eval="until-fit", until the first fit and after the last epoch: same weights either way
        # (train_until_fit needs the scores until its criterion holds)
        waiting = until is not None and outcome.until_fit_epoch is None
        if last or waiting or outcome.first_fit is None or compute.train_eval == "every-epoch":
            try:
                pred = predict(model, train_enc, all_idx, cfg.eval_batch_size, precision, forward, require_finite=True)
            except TrainingDivergedError as exc:
                raise _diverged(f"{exc} on the training set", epoch, len(steps), cfg.learning_rate) from None
            rec.train_macro_f1 = macro_f1(pred, labels)
            rec.noisy_acc = (accuracy([pred[i] for i in noisy_idx], [labels[i] for i in noisy_idx])
                             if noisy_idx else float("nan"))
            rec.clean_acc = accuracy([pred[i] for i in clean_idx], [labels[i] for i in clean_idx])
            bar.set_postfix(epoch=epoch, f1=f"{rec.train_macro_f1:.3f}", noisy=f"{rec.noisy_acc:.2f}")
        if waiting and (not noisy_idx or rec.noisy_acc >= until.noisy_fit):
            outcome.until_fit_epoch = epoch
            stop_at = min(budget, max(cfg.epochs, epoch + until.extra_epochs))
            last = epoch == stop_at
        if last:
            val_pred = predict(model, val_enc, list(range(len(val_labels))), cfg.eval_batch_size, precision)
            rec.validation_acc = accuracy(val_pred, val_labels)
        rec.seconds = time.perf_counter() - t0
        outcome.history.append(rec)
        if outcome.first_fit is None and rec.train_macro_f1 is not None and rec.train_macro_f1 >= cfg.fit_threshold:
            outcome.first_fit = snapshot(model, all_names)
            outcome.first_fit_epoch = epoch
    bar.close()
    outcome.epochs_trained = epoch
    outcome.final = snapshot(model, all_names)
    outcome.final_predictions = pred
    return outcome
