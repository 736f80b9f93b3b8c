"""SpikingJelly (``spikingjelly.activation_based``, 2.0) -> NIR rules.

What SpikingJelly computes, read from its source (paths under
``spikingjelly/`` of the installed 2.0.0 wheel):

* ``LIFNode`` / ``IFNode`` (``activation_based/neuron/lif.py``, ``integrate_and_fire.py``)
  run ``functional.lif_multi_step`` / ``if_multi_step``
  (``activation_based/functional/neuron.py``). On CPU both dtype paths compute the same
  expressions: float64 (or a custom surrogate) goes to ``_ops/lif/reference.py``
  ``multi_step``; float32/16 with a built-in surrogate goes to the registered op
  ``torch.ops.sj_lif.forward``, whose CPU kernel is ``_ops/lif/reference.py``
  ``_forward_impl`` (bound in ``_ops/dispatch.py``). Per step:

  - charge (``_ops/lif/reference.py`` ``charge``), with ``r = 0.0 if v_reset is None else v_reset``:
    ``decay_input=True``  ``h = v + (x - (v - r)) / tau``  -> our ``tau_decay_input`` form,
    ``decay_input=False`` ``h = v - (v - r) / tau + x``    -> our ``tau`` form
    (``v_leak = r``, ``gain = 1``: ``1.0*x == x`` exactly, so the forms are bit-identical);
    IF: ``h = v + x`` (``_ops/if_/reference.py`` ``step``) -> ``beta`` form with ``beta = gain = 1``.
  - fire: ``spike = surrogate(h - v_threshold)``, forward ``heaviside(x) = (x >= 0)``
    (``activation_based/surrogate.py`` ``heaviside``; ``_ops/surrogate.py``
    ``_SurrogateSpike.forward``). With gradual underflow ``h - thr >= 0`` iff ``h >= thr``,
    so compare is ``ge``.
  - reset (``_ops/reset.py`` ``voltage``): ``v_reset is None``: ``v = h - spike*v_threshold``
    (our ``subtract``); else ``v = spike*v_reset + (1 - spike)*h``. For ``spike`` in {0, 1} and
    finite ``h`` that equals ``where(spike, v_reset, h)`` up to the sign of a zero (which no
    later comparison sees), i.e. our ``value`` reset.
  - initial membrane: ``BaseNode`` registers ``v = v_reset`` (or ``0.0`` when ``v_reset`` is
    None). NIR starts every membrane at 0; a ``v_reset`` other than ``0.0``/``None`` is carried
    as the extension's ``v_init`` (every participant starts there; plain NIR consumers are
    warned by ``consumer_warnings``).

* ``ParametricLIFNode`` (``neuron/plif.py``, ``_ops/plif/reference.py``/``cpu.py``): as LIFNode but
  the charge multiplies by ``q = w.sigmoid()`` instead of dividing by tau -> the extension's
  ``sigmoid_decay_input``/``sigmoid`` forms with ``k = q`` computed in each run dtype.

* ``SimpleLIFNode`` / ``SimpleIFNode`` (the teaching classes): ``v + (v_reset - v + x)/tau``
  and ``v + (v_reset - v)/tau + x``; since ``a - b == -(b - a)`` and ``x + (-y) == x - y``
  exactly in IEEE arithmetic these are bit-identical to the forms above. They start at
  ``v = 0`` whatever ``v_reset`` is, so any ``v_reset`` is exact for them.

* Layers: ``layer.Conv2d``/``Linear``/``BatchNorm2d``/``AvgPool2d`` subclass their ``torch.nn``
  classes and in multi-step mode run the torch forward on ``[T*B, ...]``; the tracer hooks
  the SpikingJelly module itself, so its per-sample shapes are right and the torch rules
  apply through the MRO. ``layer.Flatten`` needs its own rule: in multi-step mode its
  ``start_dim`` counts from the merged ``[T*B, ...]`` tensor (one leading dimension, not
  two). ``SeqToANNContainer`` merges ``T`` and ``B`` *between* its children, which the
  tracer cannot follow, so it is converted as one unit: a chain of its children's rules.
"""

from __future__ import annotations

import importlib.metadata
import math
from typing import List, Tuple

import torch
import torch.nn as nn
from spikingjelly.activation_based import base as sj_base
from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based import layer as sj_layer
from spikingjelly.activation_based import neuron as sj_neuron

from ..errors import SnnexportError, UnsupportedModuleError
from .frameworks import register_framework
from .registry import (
    NeuronSpec,
    layer_rule,
    neuron_rule,
    register_layer,
    register_neuron,
    register_unsupported,
    unsupported_reason,
)

FRAMEWORK = "spikingjelly"


def _name(m: nn.Module) -> str:
    return f"{type(m).__module__}.{type(m).__qualname__}"


def _require_same_methods(m: nn.Module, base_cls: type, methods: Tuple[str, ...]) -> None:
    """A subclass that overrides the dynamics (ILIFNode, LIAFNode, a user's own) is not ``base_cls``."""
    for meth in methods:
        if getattr(type(m), meth, None) is not getattr(base_cls, meth, None):
            raise UnsupportedModuleError(
                f"{_name(m)} subclasses spikingjelly {base_cls.__name__} but overrides {meth}(); its dynamics are "
                f"not {base_cls.__name__}'s. Register its own rule with snnexport.register_neuron"
            )


def _check_surrogate(m: nn.Module) -> None:
    """The forward of the surrogate must be the Heaviside step ``x >= 0`` (``spiking=False`` is not)."""
    sf = getattr(m, "surrogate_function", None)
    if sf is None:
        return
    if getattr(sf, "spiking", True) is False:
        raise SnnexportError(f"{_name(m)}: surrogate_function {type(sf).__name__}(spiking=False) outputs a "
                             f"continuous value, not spikes; NIR neurons emit 0/1")
    probe = torch.tensor([-1.0, -1e-300, -0.0, 0.0, 1e-300, 1.0], dtype=torch.float64)
    want = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    try:
        with torch.no_grad():
            got = sf(probe)
    except Exception as e:  # noqa: BLE001 - a user's surrogate may do anything
        raise SnnexportError(f"{_name(m)}: cannot evaluate surrogate_function {type(sf).__name__} ({e})") from None
    if not isinstance(got, torch.Tensor) or got.shape != probe.shape or not torch.equal(got.to(torch.float64), want):
        raise SnnexportError(f"{_name(m)}: the forward of surrogate_function {type(sf).__name__} is not the "
                             f"Heaviside step (x >= 0); snnexport cannot say what it fires on")


def _check_common(m: nn.Module) -> Tuple[float, object]:
    if getattr(m, "_neuron_precision", None) is not None:
        raise SnnexportError(f"{_name(m)}: explicit neuron precision ({m._neuron_precision}) runs a reduced-precision "
                             f"Triton kernel; export the model without set_neuron_precision")
    thr = m.v_threshold
    if isinstance(thr, torch.Tensor):
        if thr.numel() != 1:
            raise SnnexportError(f"{_name(m)}: a tensor v_threshold is not supported (SpikingJelly expects a float)")
        thr = thr.item()
    thr = float(thr)
    vr = m.v_reset
    if vr is not None:
        vr = float(vr.item() if isinstance(vr, torch.Tensor) else vr)
    if not math.isfinite(thr) or (vr is not None and not math.isfinite(vr)):
        raise SnnexportError(f"{_name(m)}: v_threshold/v_reset must be finite")
    _check_surrogate(m)
    return thr, vr


def _reset_fields(vr, initial_is_reset: bool, m: nn.Module) -> dict:
    """Reset fields of the spec; BaseNode neurons also *start* at ``v = v_reset`` (``register_memory
    ("v", v_reset)``, ``materialize_states`` fills the state with it): carried as ``v_init``."""
    if vr is None:
        return {"reset": "subtract", "v_reset": 0.0, "v_leak": 0.0}
    return {"reset": "value", "v_reset": vr, "v_leak": vr, "v_init": vr if initial_is_reset else 0.0}


_BASE_NODE_METHODS = ("forward", "single_step_forward", "multi_step_forward", "single_step_functional_forward",
                      "multi_step_functional_forward", "materialize_states")
_SIMPLE_NODE_METHODS = ("forward", "single_step_forward", "multi_step_forward", "neuronal_charge", "neuronal_fire",
                        "neuronal_reset")


def _tau(m) -> float:
    tau = float(m.tau)
    if not (math.isfinite(tau) and tau > 0):
        raise SnnexportError(f"{_name(m)}: tau must be a positive number, got {m.tau}")
    return tau


@register_neuron(sj_neuron.LIFNode)
def lif_node(m: sj_neuron.LIFNode) -> NeuronSpec:
    _require_same_methods(m, sj_neuron.LIFNode, _BASE_NODE_METHODS)
    thr, vr = _check_common(m)
    return NeuronSpec(dynamics="tau_decay_input" if m.decay_input else "tau", tau=_tau(m), gain=1.0,
                      threshold=thr, compare="ge", framework=FRAMEWORK, **_reset_fields(vr, True, m))


@register_neuron(sj_neuron.ParametricLIFNode)
def parametric_lif_node(m: sj_neuron.ParametricLIFNode) -> NeuronSpec:
    """PLIF (``_ops/plif/reference.py`` ``step``; the float32 CPU kernel ``_ops/plif/cpu.py`` computes
    the same): ``q = w.sigmoid()``, ``h = v + (x - (v - r)) * q`` (decay_input) or
    ``h = v - (v - r) * q + x``; fire ``h >= thr``; reset as LIFNode. The decay factor is
    multiplied, not divided by a tau, and is computed in the run dtype: ``k`` is
    ``sigmoid(w)`` in float64 and ``k_float32`` torch's float32 ``sigmoid(float32(w))``."""
    _require_same_methods(m, sj_neuron.ParametricLIFNode, _BASE_NODE_METHODS)
    thr, vr = _check_common(m)
    w = m.w.detach().cpu()
    if w.numel() != 1:
        raise SnnexportError(f"{_name(m)}: a w of shape {tuple(w.shape)} is not supported (PLIF learns one scalar)")
    k64 = torch.sigmoid(w.to(torch.float64)).reshape(())
    k32 = torch.sigmoid(w.to(torch.float32)).reshape(())
    return NeuronSpec(dynamics="sigmoid_decay_input" if m.decay_input else "sigmoid", k=float(k64), gain=1.0,
                      float32_params={"k": float(k32)}, threshold=thr, compare="ge", framework=FRAMEWORK,
                      **_reset_fields(vr, True, m))


@register_neuron(sj_neuron.IFNode)
def if_node(m: sj_neuron.IFNode) -> NeuronSpec:
    _require_same_methods(m, sj_neuron.IFNode, _BASE_NODE_METHODS)
    thr, vr = _check_common(m)
    f = _reset_fields(vr, True, m)
    f["v_leak"] = 0.0  # the beta form has no leak
    return NeuronSpec(dynamics="beta", beta=1.0, gain=1.0, threshold=thr, compare="ge", framework=FRAMEWORK, **f)


@register_neuron(sj_neuron.SimpleLIFNode)
def simple_lif_node(m) -> NeuronSpec:
    _require_same_methods(m, sj_neuron.SimpleLIFNode, _SIMPLE_NODE_METHODS)
    thr, vr = _check_common(m)
    if vr is None:
        raise SnnexportError(f"{_name(m)}: SimpleLIFNode with v_reset=None cannot run (its charge uses v_reset)")
    return NeuronSpec(dynamics="tau_decay_input" if m.decay_input else "tau", tau=_tau(m), gain=1.0,
                      threshold=thr, compare="ge", framework=FRAMEWORK, **_reset_fields(vr, False, m))


@register_neuron(sj_neuron.SimpleIFNode)
def simple_if_node(m) -> NeuronSpec:
    _require_same_methods(m, sj_neuron.SimpleIFNode, _SIMPLE_NODE_METHODS)
    thr, vr = _check_common(m)
    f = _reset_fields(vr, False, m)
    f["v_leak"] = 0.0
    return NeuronSpec(dynamics="beta", beta=1.0, gain=1.0, threshold=thr, compare="ge", framework=FRAMEWORK, **f)


# ---------------------------------------------------------------------------- layers

@register_layer(sj_layer.Flatten)
def flatten(m: sj_layer.Flatten, ctx):
    """In multi-step mode the flatten runs on ``[T*B, ...]``: one leading dim, whatever the input layout."""
    import nir
    import numpy as np

    lead = 1 if getattr(m, "step_mode", "s") == "m" else ctx.leading_dims
    full = lead + len(ctx.in_shape)
    start = m.start_dim + full if m.start_dim < 0 else m.start_dim
    end = m.end_dim + full if m.end_dim < 0 else m.end_dim
    if not (lead <= start < full) or not (start <= end < full):
        raise SnnexportError(f"{ctx.path}: Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) in step mode "
                             f"{getattr(m, 'step_mode', 's')!r} would merge batch/time dimensions of a "
                             f"{lead}+{len(ctx.in_shape)}-dimensional input")
    return nir.Flatten(input_type={"input": np.array(ctx.in_shape)}, start_dim=int(start - lead), end_dim=int(end - lead))


def _dropout(m, ctx):
    if m.training:
        raise SnnexportError(f"{ctx.path}: spikingjelly Dropout in training mode drops units; call model.eval()")
    return None  # eval: identity


register_layer(sj_layer.Dropout, _dropout)  # Dropout2d subclasses it


def _children_chain(m: nn.Module, prefix: str = "") -> List[Tuple[str, nn.Module]]:
    """Children in call order; plain ``nn.Sequential``s without a rule are opened."""
    out = []
    for name, child in m.named_children():
        path = f"{prefix}{name}"
        if type(child) is nn.Sequential:
            out += _children_chain(child, path + ".")
        else:
            out.append((path, child))
    return out


@register_layer(sj_layer.SeqToANNContainer)
def seq_to_ann_container(m: sj_layer.SeqToANNContainer, ctx):
    """Its children run, in order, on ``[T*B, ...]``: a chain of their own (torch) rules."""
    from .convert import RuleContext

    if type(m).forward is not sj_layer.SeqToANNContainer.forward:
        raise UnsupportedModuleError(f"{ctx.path}: {_name(m)} overrides SeqToANNContainer.forward")
    chain = _children_chain(m)
    if not chain:
        return None
    param = next(m.parameters(), None)
    x = torch.zeros((1, *ctx.in_shape), dtype=param.dtype if param is not None else torch.float32)
    nodes = []
    for name, child in chain:
        where = f"{ctx.path}.{name}"
        reason = unsupported_reason(child)
        if reason is not None:
            raise UnsupportedModuleError(f"module {where!r} of type {_name(child)} is not supported: {reason}")
        if neuron_rule(child) is not None or isinstance(child, sj_base.MemoryModule) and not isinstance(child, sj_layer.Dropout):
            raise UnsupportedModuleError(f"module {where!r} ({_name(child)}) keeps state but runs inside a "
                                         f"SeqToANNContainer on merged [T*B, ...] inputs; move it out of the container")
        rule = layer_rule(child)
        if rule is None:
            raise UnsupportedModuleError(f"module {where!r} of type {_name(child)} inside a SeqToANNContainer has no rule")
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and child.training:
            raise SnnexportError(f"{where}: BatchNorm in training mode cannot be exported (call model.eval())")
        with torch.no_grad():
            y = child(x)  # per-sample output shape (a fresh tensor: the tracer ignores it)
        if not isinstance(y, torch.Tensor):
            raise SnnexportError(f"{where}: expected a tensor output, got {type(y).__name__}")
        sub = RuleContext(where, tuple(int(s) for s in x.shape[1:]), tuple(int(s) for s in y.shape[1:]), 1,
                          ctx.dt, ctx.converter, child)
        result = rule(child, sub)
        if sub.time_reduction:
            raise SnnexportError(f"{where}: a time reduction inside a SeqToANNContainer is not supported")
        if result is not None:
            nodes += list(result) if isinstance(result, (list, tuple)) else [result]
        x = y
    return nodes or None


register_unsupported(sj_layer.WSConv2d, "weight-standardised convolution (normalises its weight at every call); "
                                        "export it after baking the standardised weight into a layer.Conv2d")
register_unsupported(sj_layer.WSLinear, "weight-standardised linear layer; bake the standardised weight into a layer.Linear")


_SUPPORTED_NEURONS = (sj_neuron.LIFNode, sj_neuron.IFNode, sj_neuron.SimpleLIFNode, sj_neuron.SimpleIFNode,
                      sj_neuron.ParametricLIFNode)


def _refuse_other_neurons() -> None:
    """Every other spikingjelly neuron (PLIF, ILIF, LIAF, QIF, PSN, ...) gets a clear refusal instead of
    being traced into (its surrogate module would make it look like a container). Base classes of the
    supported ones (BaseNode, SimpleBaseNode) are left out: the MRO lookup would refuse LIFNode too."""
    import inspect

    for cls_name, cls in inspect.getmembers(sj_neuron, inspect.isclass):
        if not issubclass(cls, nn.Module) or not cls.__module__.startswith("spikingjelly."):
            continue
        if any(issubclass(s, cls) for s in _SUPPORTED_NEURONS):
            continue
        register_unsupported(cls, f"spikingjelly {cls_name} has no exact snnexport neuron form (supported: "
                                  f"{', '.join(s.__name__ for s in _SUPPORTED_NEURONS)})")


_refuse_other_neurons()


# ---------------------------------------------------------------------------- framework

def _detect(model: nn.Module) -> bool:
    return any(type(m).__module__.startswith("spikingjelly.") for m in model.modules())


def _layout(model: nn.Module):
    return "TB" if any(getattr(m, "step_mode", None) == "m" for m in model.modules()) else "step"


try:
    _VERSION = f"spikingjelly {importlib.metadata.version('spikingjelly')}"
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - source checkout
    _VERSION = "spikingjelly"

register_framework(FRAMEWORK, _detect, sj_functional.reset_net, _layout, _VERSION)
