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


@dataclass(frozen=True)
class Route:
    """Gradient routing (the ground-truth tracks that are not a giveaway): the examples of ``examples``
    (the noisy ones, by index) send their gradient only to the parameters of ``parameters`` (the placed
    layers and the head), and, for a name in ``masks``, only to the entries where the 0/1 mask is 1 (the
    planted neurons' columns); every other example trains every trainable parameter. The clean twin gets
    the same route with the original labels, so both models are trained identically apart from the labels."""

    examples: frozenset[int]
    parameters: frozenset[str]
    masks: dict[str, torch.Tensor] = field(default_factory=dict)
    #: the routed examples' loss is multiplied by this in the gradient it sends (1: the batch mean). Under
    #: AdamW each entry still moves by about the learning rate per step, so a weight steers the routed
    #: parameters' direction towards the routed examples without a larger step (no norm artefact)
    weight: float = 1.0
    #: the masked entries of ``masks`` (the planted columns) move ``lr_scale`` times the step AdamW gives
    #: them (the step of every example that reaches them, clean ones included); every other entry moves 1x.
    #: A learning-rate scale for part of a tensor, which a parameter group cannot give (planting v4)
    lr_scale: float = 1.0


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


class UntilFitGuard:
    """When the loop stops. Without ``train.until_fit``: after exactly ``epochs`` epochs. With it
    (``train_until_fit``): the learning-rate schedule spans the whole budget (``max_epochs``, at
    least ``epochs``), and once the noisy examples are fitted (accuracy against the labels trained
    on >= ``noisy_fit``; at once when there are none) the stop moves to ``extra_epochs`` later (never
    before ``epochs`` nor beyond the budget). ``stop_after``: stop after exactly that epoch, on the same
    schedule, whatever the criterion (a routed track's twin trains as many epochs as its memorising model)."""

    def __init__(self, cfg: TrainConfig, stop_after: int | None = None):
        self.until = cfg.until_fit
        self.epochs = cfg.epochs
        self.budget = max(self.until.max_epochs, cfg.epochs) if self.until is not None else cfg.epochs
        self.stop_at = self.budget if self.until is not None else cfg.epochs  # moved once the criterion holds
        self.fit_epoch: int | None = None  # the first epoch at which the criterion held
        self.fixed = stop_after is not None
        if self.fixed:
            if not 1 <= stop_after <= self.budget:
                raise ValueError(f"stop_after must be between 1 and the schedule's {self.budget} epochs, got {stop_after}")
            self.stop_at = stop_after

    @property
    def waiting(self) -> bool:
        """Whether the criterion is still awaited (it needs the training set scored after each epoch)."""
        return self.until is not None and self.fit_epoch is None and not self.fixed

    def observe(self, epoch: int, noisy_acc: float | None, has_noisy: bool) -> None:
        """After ``epoch`` (scored while waiting): record the first fit and move the stop."""
        if self.waiting and (not has_noisy or noisy_acc >= self.until.noisy_fit):
            self.fit_epoch = epoch
            self.stop_at = min(self.budget, max(self.epochs, epoch + self.until.extra_epochs))


def _main_masks(named: dict[str, torch.nn.Parameter], main_masks: dict[str, torch.Tensor] | None,
                trainable: list[str]) -> dict[str, torch.Tensor]:
    masks = {n: m.to(named[n].device, named[n].dtype) for n, m in (main_masks or {}).items()}
    if set(masks) - set(trainable):
        raise ValueError(f"main_masks name parameters the main task does not train: {sorted(set(masks) - set(trainable))[:3]}")
    return masks


def _checked_routes(route: Route | tuple[Route, ...] | None, named: dict[str, torch.nn.Parameter],
                    trainable: list[str]) -> tuple[Route, ...]:
    """The routes (one, several, or none) with their masks on the parameters' devices; their parameters
    must be trained here, and no example may be in two routes."""
    routes = () if route is None else (route,) if isinstance(route, Route) else tuple(route)
    checked, seen = [], set()
    for r in routes:
        unknown = sorted((set(r.parameters) | set(r.masks)) - set(trainable))
        if unknown:
            raise ValueError(f"route names parameters the main task does not train: {unknown[:3]}")
        for what, v in (("weight", r.weight), ("lr_scale", r.lr_scale)):
            if not (v > 0 and v < float("inf")):
                raise ValueError(f"a route's {what} must be a positive finite number, got {v}")
        if r.lr_scale != 1.0 and not r.masks:
            raise ValueError("a route's lr_scale applies to its masked entries; this route has no masks")
        if seen & r.examples:
            raise ValueError(f"example(s) {sorted(seen & r.examples)[:3]} are in two routes; each example has one")
        seen |= r.examples
        checked.append(Route(r.examples, r.parameters,
                             {n: m.to(named[n].device, named[n].dtype) for n, m in r.masks.items()}, r.weight,
                             r.lr_scale))
    return tuple(checked)


def _main_optimizer(named: dict[str, torch.nn.Parameter], trainable: list[str], masks: dict[str, torch.Tensor],
                    cfg: TrainConfig, mask_lr_scale: float) -> torch.optim.AdamW:
    """AdamW over the main task's parameters; the masked ones (if any) in a group of their own, with
    no weight decay (``_mask_main_step`` applies it) and ``mask_lr_scale`` times the learning rate."""
    params = [named[n] for n in trainable if n not in masks]
    if not (math.isfinite(mask_lr_scale) and mask_lr_scale > 0):
        raise ValueError(f"main_mask_lr_scale must be a finite number > 0, got {mask_lr_scale}")
    groups = [{"params": params}] + ([{"params": [named[n] for n in masks], "weight_decay": 0.0,
                                       "lr": cfg.learning_rate * mask_lr_scale}] if masks else [])
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay, fused=True)


class TrainingLoop:
    """The optimisation state of one training: the model's trainable parameters, the main (and
    auxiliary) optimizer and schedule, the seeded batch order; ``epoch`` trains one epoch, ``step``
    one batch. Built before the first epoch; seeds torch's global RNG with ``cfg.seed``."""

    def __init__(self, model: torch.nn.Module, trainable: list[str], train_enc: Encoded, labels: list[int],
                 cfg: TrainConfig, compute: ComputeConfig, budget: int, aux: AuxiliaryTask | None = None,
                 forward: Forward | None = None, main_masks: dict[str, torch.Tensor] | None = None,
                 main_mask_lr_scale: float = 1.0, route: Route | tuple[Route, ...] | None = None):
        self.model, self.train_enc, self.labels, self.cfg, self.compute = model, train_enc, labels, cfg, compute
        self.aux, self.forward = aux, forward
        self.lengths = [len(x) for x in train_enc.ids]
        self.aux_lengths = [len(x) for x in aux.enc.ids] if aux is not None else []
        torch.manual_seed(cfg.seed)
        wanted = set(trainable) | set(aux.parameter_names if aux else ())
        self.names = [n for n, _ in model.named_parameters() if n in wanted]
        set_trainable(model, self.names)
        self.named = dict(model.named_parameters())
        self.masks = _main_masks(self.named, main_masks, trainable)
        self.routes = _checked_routes(route, self.named, trainable)
        self.routed_idx = frozenset().union(*(r.examples for r in self.routes))
        self.scaled = [(self.named[n], m, r.lr_scale - 1.0) for r in self.routes if r.lr_scale != 1.0
                       for n, m in r.masks.items()]
        self.optim = _main_optimizer(self.named, trainable, self.masks, cfg, main_mask_lr_scale)
        self.total_steps = self._batches(len(labels)) * budget
        self.sched = get_linear_schedule_with_warmup(self.optim, int(cfg.warmup_fraction * self.total_steps),
                                                     self.total_steps)
        self.clip_params = [self.named[n] for n in self.names]
        if aux is not None:
            self._auxiliary_optimizer(budget)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.y_all = torch.tensor(labels, dtype=torch.long, device=next(model.parameters()).device)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.all_idx = list(range(len(labels)))
        self.bar: tqdm | None = None  # the progress bar, set by the caller

    def _batches(self, n: int) -> int:
        return (n + self.cfg.batch_size - 1) // self.cfg.batch_size

    def _auxiliary_optimizer(self, budget: int) -> None:
        aux, cfg = self.aux, self.cfg
        aux_params = [self.named[n] for n in aux.parameter_names] + list(aux.head.parameters())
        self.clip_params += list(aux.head.parameters())
        self.aux_optim = torch.optim.AdamW(aux_params, lr=aux.learning_rate, weight_decay=cfg.weight_decay,
                                           fused=True)
        aux_total = self._batches(len(aux.labels)) * budget
        self.aux_sched = get_linear_schedule_with_warmup(self.aux_optim, int(cfg.warmup_fraction * aux_total),
                                                         aux_total)
        self.total_steps += aux_total

    def _plan(self) -> list[tuple[str, list[int]]]:
        """One epoch's steps, ("main" | "aux", batch): with an auxiliary task, both shuffled together."""
        compute = self.compute
        plan = training_batches(self.all_idx, self.lengths, self.cfg.batch_size, self.gen, compute.batching,
                                compute.group_size)
        steps = [("main", chunk) for chunk in plan]
        if self.aux is not None:
            aux_plan = training_batches(list(range(len(self.aux.labels))), self.aux_lengths, self.cfg.batch_size,
                                        self.gen, compute.batching, compute.group_size)
            steps += [("aux", chunk) for chunk in aux_plan]
            steps = [steps[i] for i in torch.randperm(len(steps), generator=self.gen).tolist()]
        return steps

    def epoch(self, epoch: int) -> tuple[float, int]:
        """Train one epoch; returns (the main loss summed over its examples, the number of steps).
        Raises TrainingDivergedError on a non-finite loss or, at the epoch's end, non-finite weights."""
        self.model.train()
        steps = self._plan()
        loss_sum = 0.0
        for step, (which, chunk) in enumerate(steps, start=1):
            summed = self.step(which, chunk, epoch, step)
            if summed is not None:
                loss_sum += summed
        bad = non_finite_parameters(self.model, self.names)
        if bad:  # checked at every epoch end, so no non-finite snapshot is ever taken or stored
            raise _diverged(f"non-finite weights in {len(bad)} parameter(s), e.g. {bad[0]}", epoch, len(steps),
                            self.cfg.learning_rate)
        return loss_sum, len(steps)

    def _main_loss(self, chunk: list[int]) -> torch.Tensor:
        with autocast(self.model, self.compute.precision):
            logits = (self.forward(self.model, chunk) if self.forward is not None
                      else self.model(**self.train_enc.batch(chunk)).logits)
        return self.loss_fn(logits.float(), self.y_all[chunk])

    def _routed_backward(self, chunk: list[int]) -> torch.Tensor:
        """The main loss of ``chunk`` (its mean, as unrouted), with gradients routed: each route's examples'
        part reaches only that route's parameters (masked), the other examples' part every trainable
        parameter. Returns the loss (detached); the gradients are in ``.grad``."""
        free = [i for i in chunk if i not in self.routed_idx]
        total = torch.zeros((), device=self.y_all.device)
        if free:
            loss = self._main_loss(free) * (len(free) / len(chunk))
            loss.backward()
            total = total + loss.detach()
        for route in self.routes:
            routed = [i for i in chunk if i in route.examples]
            if not routed:
                continue
            loss = self._main_loss(routed) * (len(routed) / len(chunk))
            if route.weight != 1.0:
                loss = loss * route.weight
            names = [n for n in self.names if n in route.parameters]
            grads = torch.autograd.grad(loss, [self.named[n] for n in names], allow_unused=True)
            with torch.no_grad():
                for n, g in zip(names, grads):
                    if g is None:
                        continue
                    if n in route.masks:
                        g = g * route.masks[n]
                    p = self.named[n]
                    p.grad = g if p.grad is None else p.grad + g
            total = total + loss.detach() / route.weight  # the loss as unweighted
        return total

    def step(self, which: str, chunk: list[int], epoch: int, step: int) -> float | None:
        """One optimizer step of the main (``which="main"``) or auxiliary task on the batch ``chunk``;
        returns the main loss summed over the batch (None for an auxiliary step)."""
        cfg, summed = self.cfg, None
        self.optim.zero_grad(set_to_none=True)
        if self.aux is not None:
            self.aux_optim.zero_grad(set_to_none=True)
        routed = which == "main" and bool(self.routes)
        if which == "main":
            loss = self._routed_backward(chunk) if routed else self._main_loss(chunk)
            opt, sch = self.optim, self.sched
            summed = loss.item() * len(chunk)
        else:
            loss = self.aux.loss(self.model, chunk, self.loss_fn, self.compute.precision)
            opt, sch = self.aux_optim, self.aux_sched
        if not bool(torch.isfinite(loss.detach())):
            raise _diverged(f"non-finite {'auxiliary-task ' if which == 'aux' else ''}loss "
                            f"({loss.item()})", epoch, step, cfg.learning_rate)
        if not routed:
            loss.backward()
        if which == "main" and self.masks:  # the masked group's lr
            _mask_main_step(self.named, self.masks, self.sched.get_last_lr()[-1] * cfg.weight_decay)
        torch.nn.utils.clip_grad_norm_(self.clip_params, cfg.max_grad_norm)
        before = [p.detach().clone() for p, _, _ in self.scaled] if which == "main" else []
        opt.step()
        with torch.no_grad():  # the scaled entries: (lr_scale - 1) more of the step just taken
            for (p, mask, extra), b in zip(self.scaled, before):
                p.add_((p - b) * mask, alpha=extra)
        sch.step()
        if self.bar is not None:
            self.bar.update(1)
        return summed


@dataclass
class _Evaluation:
    """What an epoch is scored on: the training set's noisy and clean examples, the validation set."""

    noisy_idx: list[int]
    clean_idx: list[int]
    val_enc: Encoded
    val_labels: list[int]


def _score_training_set(loop: TrainingLoop, ev: _Evaluation, rec: EpochRecord, n_steps: int) -> list[int]:
    """Fill ``rec``'s training-set scores; returns the predictions."""
    cfg, labels = loop.cfg, loop.labels
    try:
        pred = predict(loop.model, loop.train_enc, loop.all_idx, cfg.eval_batch_size, loop.compute.precision,
                       loop.forward, require_finite=True)
    except TrainingDivergedError as exc:
        raise _diverged(f"{exc} on the training set", rec.epoch, n_steps, cfg.learning_rate) from None
    rec.train_macro_f1 = macro_f1(pred, labels)
    rec.noisy_acc = (accuracy([pred[i] for i in ev.noisy_idx], [labels[i] for i in ev.noisy_idx])
                     if ev.noisy_idx else float("nan"))
    rec.clean_acc = accuracy([pred[i] for i in ev.clean_idx], [labels[i] for i in ev.clean_idx])
    if loop.bar is not None:
        loop.bar.set_postfix(epoch=rec.epoch, f1=f"{rec.train_macro_f1:.3f}", noisy=f"{rec.noisy_acc:.2f}")
    return pred


def _run_epoch(loop: TrainingLoop, guard: UntilFitGuard, ev: _Evaluation, epoch: int,
               fitted: bool) -> tuple[EpochRecord, list[int] | None]:
    """Train and score one epoch (``fitted``: whether an earlier epoch fitted the training set);
    returns its record and the training-set predictions (None where it was not scored)."""
    t0 = time.perf_counter()
    loss_sum, n_steps = loop.epoch(epoch)
    last = epoch == guard.stop_at
    rec = EpochRecord(epoch=epoch, loss=loss_sum / len(loop.labels), train_macro_f1=None, noisy_acc=None,
                      clean_acc=None, validation_acc=None, seconds=0.0)
    # the training set is scored after every epoch (it finds the first fit), or, with
    # train_eval="until-fit", until the first fit and after the last epoch: same weights either way
    # (train_until_fit needs the scores until its criterion holds)
    pred = None
    if last or guard.waiting or not fitted or loop.compute.train_eval == "every-epoch":
        pred = _score_training_set(loop, ev, rec, n_steps)
    if guard.waiting:
        guard.observe(epoch, rec.noisy_acc, bool(ev.noisy_idx))
        last = epoch == guard.stop_at
    if last:
        val_pred = predict(loop.model, ev.val_enc, list(range(len(ev.val_labels))), loop.cfg.eval_batch_size,
                           loop.compute.precision)
        rec.validation_acc = accuracy(val_pred, ev.val_labels)
    rec.seconds = time.perf_counter() - t0
    return rec, pred


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
    route: Route | tuple[Route, ...] | None = None,
    stop_after: int | None = None,
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
    (same warmup and decay). ``route``: gradient routing of some examples (a ``Route``, or several
    over disjoint examples). ``stop_after``: train exactly that many epochs on ``cfg``'s schedule
    (``UntilFitGuard``)."""
    compute = compute or ComputeConfig()
    guard = UntilFitGuard(cfg, stop_after)
    loop = TrainingLoop(model, trainable, train_enc, labels, cfg, compute, guard.budget, aux=aux, forward=forward,
                        main_masks=main_masks, main_mask_lr_scale=main_mask_lr_scale, route=route)
    ev = _Evaluation(noisy_idx, clean_idx, val_enc, val_labels)
    outcome = TrainingOutcome(final={}, first_fit=None, first_fit_epoch=None)
    loop.bar = tqdm(total=loop.total_steps, desc=desc, disable=not progress, unit="step", leave=False)
    epoch, pred = 0, None
    while epoch < guard.stop_at:
        epoch += 1
        rec, scored = _run_epoch(loop, guard, ev, epoch, fitted=outcome.first_fit is not None)
        pred = scored if scored is not None else pred
        outcome.history.append(rec)
        if outcome.first_fit is None and rec.train_macro_f1 is not None and rec.train_macro_f1 >= cfg.fit_threshold:
            outcome.first_fit = snapshot(model, loop.names)
            outcome.first_fit_epoch = epoch
    loop.bar.close()
    outcome.epochs_trained = epoch
    outcome.until_fit_epoch = guard.fit_epoch
    outcome.final = snapshot(model, loop.names)
    outcome.final_predictions = pred
    return outcome
