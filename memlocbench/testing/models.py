"""``check_model_adapter``: a model adapter against what memlocbench's training and methods rely on."""

from __future__ import annotations

import torch
from torch import nn

from memlocbench.contracts.protocols import ModelInfo
from memlocbench.data.encoding import encode
from memlocbench.models.partial_forward import all_layer_inputs, layer_output, logits_from, run_layers

#: texts of different lengths (so the batch is padded); the last two joined with the model's separator
TEXTS = ("a stirring , funny and finally transporting re-imagining of beauty and the beast",
         "bad .",
         "they presume their audience wo n't sit still for a sociology lesson",
         "it 's a charming and often affecting journey .")


def _close(a: torch.Tensor, b: torch.Tensor, what: str, name: str) -> None:
    tol = 1e-5 * max(1.0, float(b.abs().max()))
    diff = float((a - b).abs().max()) if a.shape == b.shape else float("inf")
    assert diff <= tol, f"model {name!r}: {what} (shapes {tuple(a.shape)} and {tuple(b.shape)}, largest difference {diff:.3g})"


def _load(adapter, num_labels: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)  # as TrainedModels.pretrained seeds before load_model
    return adapter.load_model(num_labels).eval()


def _same_weights(a: nn.Module, b: nn.Module, name: str, seed: int) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb), f"model {name!r}: two loads have different parameters"
    for key in sa:
        assert torch.equal(sa[key], sb[key]), (
            f"model {name!r}: {key} differs between two load_model calls after torch.manual_seed({seed}); "
            f"load_model must draw every random number (e.g. the new head's) from torch's global generator")


def _check_groups(adapter, model: nn.Module, layers: nn.ModuleList, name: str) -> None:
    """Every parameter in exactly the group of where it lives: layer i's parameters in group i, the
    others in 'embeddings' or 'head'; at least one 'head' parameter (the classifier)."""
    layer_of = {id(p): i for i, layer in enumerate(layers) for p in layer.parameters()}
    groups = {}
    for pname, p in model.named_parameters():
        group = groups[pname] = adapter.parameter_group(pname)
        want = layer_of.get(id(p))
        if want is not None:
            assert group == want and not isinstance(group, bool), (
                f"model {name!r}: parameter_group({pname!r}) is {group!r}, but it is a parameter of layer {want}")
        else:
            assert group in ("embeddings", "head"), (
                f"model {name!r}: parameter_group({pname!r}) is {group!r}; a parameter outside the layers of "
                f"layer_modules must be 'embeddings' or 'head'")
    assert "head" in groups.values(), f"model {name!r}: no parameter is in the 'head' group (the classifier)"
    missing = sorted(set(range(len(layers))) - {g for g in groups.values() if isinstance(g, int)})
    assert not missing, f"model {name!r}: no parameter in the group of layer(s) {missing}"


def _check_partial_forward(adapter, model: nn.Module, batch: dict, num_layers: int, name: str) -> torch.Tensor:
    """``logits_from``/``run_layers`` from each layer's input reproduce the full forward pass; returns h."""
    L = num_layers
    with torch.no_grad():
        full = model(**batch).logits
        h = all_layer_inputs(model, batch)
        assert len(h) == L + 1, f"model {name!r}: {len(h)} hidden states for {L} layers; expected {L + 1}"
        for k in range(L):
            _close(logits_from(adapter, model, batch, k, h[k]), full, f"logits from layer {k}'s input differ from "
                   f"the full forward pass", name)
        for k in range(L - 1):
            _close(run_layers(adapter, model, batch, k, k + 1, h[k]), h[k + 1], f"layer {k} run alone does not "
                   f"give layer {k + 1}'s input", name)
        last = run_layers(adapter, model, batch, 0, L, None)
        _close(run_layers(adapter, model, batch, L - 1, L, h[L - 1]), last, "the last layer run alone differs", name)
        _close(logits_from(adapter, model, batch, L, last), full, "the head alone on the last layer's output differs "
               "from the full forward pass", name)
        assert torch.equal(model(**batch).logits, full), f"model {name!r}: the layers were not restored"
    return h


def _check_representation(adapter, model: nn.Module, batch: dict, h: list, num_labels: int, name: str) -> None:
    logits = model(**batch).logits
    assert tuple(logits.shape) == (len(batch["input_ids"]), num_labels), (
        f"model {name!r}: logits of shape {tuple(logits.shape)}; expected ({len(batch['input_ids'])}, {num_labels})")
    rep = adapter.sentence_representation(h[-1], batch["attention_mask"])
    assert tuple(rep.shape) == (h[-1].shape[0], h[-1].shape[-1]), (
        f"model {name!r}: sentence_representation gives shape {tuple(rep.shape)}; expected one vector per text "
        f"{(h[-1].shape[0], h[-1].shape[-1])}")


def _check_ffn(adapter, model: nn.Module, batch: dict, layers: nn.ModuleList, d_model: int, name: str) -> None:
    """``ffn_projections``: one nn.Linear per layer, inside it, weight [d_model, d_ff], fed once per forward."""
    projections = adapter.ffn_projections(model)
    assert len(projections) == len(layers), f"model {name!r}: {len(projections)} ffn_projections for {len(layers)} layers"
    names = {id(p): n for n, p in model.named_parameters()}
    d_ff = projections[0].in_features if isinstance(projections[0], nn.Linear) else None
    for i, proj in enumerate(projections):
        assert isinstance(proj, nn.Linear), f"model {name!r}: ffn_projections[{i}] is a {type(proj).__name__}, not nn.Linear"
        assert tuple(proj.weight.shape) == (d_model, d_ff), (
            f"model {name!r}: ffn_projections[{i}].weight has shape {tuple(proj.weight.shape)}; a down-projection "
            f"(d_ff -> d_model) of layer {i} has [{d_model}, d_ff], d_ff the same in every layer ({d_ff} in layer 0)")
        group = adapter.parameter_group(names[id(proj.weight)])
        assert group == i, f"model {name!r}: ffn_projections[{i}] is a parameter of group {group!r}, not of layer {i}"
    seen: list[list[int]] = [[] for _ in projections]
    handles = [p.register_forward_pre_hook(lambda m, args, s=s: s.append(args[0].shape[-1])) for p, s in
               zip(projections, seen)]
    _forward_with_hooks(model, batch, handles)
    assert all(s == [d_ff] for s in seen), (f"model {name!r}: each down-projection must run once per forward pass "
                                            f"on d_ff={d_ff} activations; seen {seen}")


def _forward_with_hooks(model: nn.Module, batch: dict, handles: list) -> None:
    """One no-grad forward pass with the hooks behind ``handles`` in place, removed afterwards."""
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for handle in handles:
            handle.remove()


def _layer_after_zeroing(model, batch, layer, proj, norm, zero) -> dict[str, torch.Tensor]:
    """One forward pass, ``zero`` neurons of ``proj`` zeroed (or none): the projection's output, the norm's
    input and the layer's output."""
    out: dict[str, torch.Tensor] = {}
    handles = [proj.register_forward_hook(lambda m, a, o: out.__setitem__("proj", o)),
               layer.register_forward_hook(lambda m, a, o: out.__setitem__("layer", layer_output(o)))]
    if zero is not None:
        handles.append(proj.register_forward_pre_hook(lambda m, a: (a[0] * zero,)))
    if norm is not None:
        handles.append(norm.register_forward_pre_hook(lambda m, a: out.__setitem__("sum", a[0])))
    _forward_with_hooks(model, batch, handles)
    return out


def _check_ffn_norms(adapter, model: nn.Module, batch: dict, layers: nn.ModuleList, name: str) -> None:
    """``ffn_output_norms``: zeroing neurons of layer l changes its output as the declared norm says:
    output + delta (None) or norm(sum + delta), delta the change of the down-projection's output."""
    norms = adapter.ffn_output_norms(model)
    projections = adapter.ffn_projections(model)
    assert len(norms) == len(layers), f"model {name!r}: {len(norms)} ffn_output_norms for {len(layers)} layers"
    zero = torch.ones(projections[0].in_features)
    zero[::2] = 0  # every other neuron
    for i, (layer, proj, norm) in enumerate(zip(layers, projections, norms)):
        assert norm is None or isinstance(norm, nn.Module), (
            f"model {name!r}: ffn_output_norms[{i}] is a {type(norm).__name__}, not None or an nn.Module")
        base = _layer_after_zeroing(model, batch, layer, proj, norm, None)
        zeroed = _layer_after_zeroing(model, batch, layer, proj, norm, zero)
        delta = (zeroed["proj"] - base["proj"]).reshape(base["layer"].shape)
        with torch.no_grad():
            expected = base["layer"] + delta if norm is None else norm(base["sum"].reshape(delta.shape) + delta)
        kind = "output + change" if norm is None else "norm(sum + change)"
        _close(zeroed["layer"], expected, f"layer {i}'s output with neurons zeroed is not its {kind} of the "
               f"down-projection's output, as ffn_output_norms[{i}] = {type(norm).__name__} declares", name)


def check_model_adapter(adapter, *, seed: int = 1, num_labels: int = 2, max_length: int = 32,
                        texts: tuple[str, ...] = TEXTS) -> None:
    """Check a model adapter (use a small or randomly initialised model: it runs a few dozen forward passes):

    * ``info`` is a ``ModelInfo`` whose ``num_layers`` (if declared) matches ``layer_modules``;
    * ``load_model`` gives identical weights when called twice after ``torch.manual_seed(seed)``, as the
      core seeds it before every load;
    * ``parameter_group`` puts every parameter of layer i in group i and every other one in 'embeddings'
      or 'head' (with at least one head parameter);
    * the partial forward pass (``run_layers``, ``logits_from``) from each layer's input equals the
      full forward pass, and ``sentence_representation`` gives one vector per text;
    * if the adapter has ``ffn_projections``: one ``nn.Linear`` down-projection per layer, inside it, its
      weight [d_model, d_ff], run once per forward pass on the d_ff activations;
    * if it has ``ffn_output_norms``: zeroing a layer's neurons changes the layer's output exactly as
      the declared norm (or None) says.

    Raises AssertionError naming the model and what is wrong."""
    info = getattr(adapter, "info", None)
    assert isinstance(info, ModelInfo), f"adapter {adapter!r}: its info is a {type(info).__name__}, not a ModelInfo"
    name = info.name
    tokenizer = adapter.load_tokenizer()
    sep = adapter.separator(tokenizer)
    assert isinstance(sep, str) and sep, f"model {name!r}: separator(tokenizer) is {sep!r}, not a non-empty string"
    model = _load(adapter, num_labels, seed)
    _same_weights(model, _load(adapter, num_labels, seed), name, seed)
    layers = adapter.layer_modules(model)
    assert isinstance(layers, nn.ModuleList) and len(layers) > 0, f"model {name!r}: layer_modules is not a non-empty nn.ModuleList"
    assert info.num_layers in (None, len(layers)), (
        f"model {name!r}: info.num_layers is {info.num_layers}, but layer_modules has {len(layers)} layers")
    _check_groups(adapter, model, layers, name)
    inputs = [*texts[:-2], f"{texts[-2]} {sep} {texts[-1]}"]
    batch = encode(tokenizer, inputs, max_length).batch(list(range(len(inputs))))
    h = _check_partial_forward(adapter, model, batch, len(layers), name)
    with torch.no_grad():
        _check_representation(adapter, model, batch, h, num_labels, name)
    if hasattr(adapter, "ffn_projections"):
        _check_ffn(adapter, model, batch, layers, h[0].shape[-1], name)
        if hasattr(adapter, "ffn_output_norms"):
            _check_ffn_norms(adapter, model, batch, layers, name)
