"""Norse (1.x) neuron modules -> NIR, read from Norse's own functional code.

What Norse 1.1.0 computes (``norse/torch/...``; line numbers of that release):

* ``LIFBoxCell`` (``functional/lif_box.py:95-101``)::

      dv = dt * tau_mem_inv * (input + v_leak - v);  v = v + dv
      z  = heaviside(v - v_th)                           # v - v_th > 0  <=>  v > v_th
      v  = reset_method(z, v, v_reset, v_th)             # reset.py:19 value / :25 subtract

  With ``v_leak == 0``, ``(I + 0) - v == (0 - v) + I`` bit for bit, so this is the
  extension's ``euler`` form (``r = 1``). With ``v_leak != 0`` the operation order differs
  (``(I + v_leak) - v``) *and* the cell starts at ``v = v_leak`` (``module/lif_box.py``
  ``initial_state``) while the extension starts at 0: refused.
* ``LIFCell``/``LIF`` (``functional/lif.py:335-345``)::

      i = i + input                                      # the input joins the current FIRST
      v = v + dt*tau_mem_inv*((v_leak - v) + i)
      i = i + (-dt*tau_syn_inv)*i
      z = heaviside(v - v_th);  v = (1 - z)*v + z*v_reset

  This is the extension's ``norse_jump`` CubaLIF form. (The ``norse`` form, where the
  membrane sees the *old* current and the input is added after the step, is Norse <= 1.0.)
  :func:`lif_cell_form` probes the installed Norse to pick the right one.
* ``LICell``/``LI`` (``functional/leaky_integrator.py:123-130``): the same without firing
  (``CubaLI``, output = membrane). ``LIBoxCell`` (``functional/leaky_integrator_box.py:89-90``):
  ``v = v + dt*tau_mem_inv*((v_leak - v) + input)`` = ``LI`` ``euler``.
* ``IAFCell`` (``functional/iaf.py``): ``v = v + input``, fire, value reset = ``IF``.
* Every Norse threshold method used here has a Heaviside forward (``heaviside.py:45``:
  ``x > 0``): ``heaviside``, ``super``, ``triangle``, ``tanh``, ``circ``, ``heavi_erfc``
  differ only in their gradients. ``adjoint`` (a different integrator) is refused.

Norse keeps neuron state outside its modules (``(out, state) = cell(x, state)``), so there
is nothing to reset. Parameters live in a ``NamedTuple`` ``module.p`` that ``.double()``
does not convert: the framework's ``cast`` hook does it (:func:`cast_parameters`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn as nn

import norse
from norse.torch.functional.reset import reset_subtract, reset_value
from norse.torch.module.iaf import IAFCell
from norse.torch.module.leaky_integrator import LI, LICell, LILinearCell
from norse.torch.module.leaky_integrator_box import LIBoxCell
from norse.torch.functional.lif import lif_step
from norse.torch.module.lif import LIF, LIFCell, LIFRecurrent, LIFRecurrentCell
from norse.torch.module.lif_box import LIFBoxCell
from norse.torch.module.snn import SNN, SNNCell, SNNRecurrent, SNNRecurrentCell

from ..errors import SnnexportError
from .frameworks import register_framework
from .registry import NeuronSpec, register_neuron

HEAVISIDE_FORWARD = ("heaviside", "super", "triangle", "tanh", "circ", "heavi_erfc")
_NORSE_TYPES = (SNNCell, SNN, SNNRecurrent, SNNRecurrentCell, LILinearCell)


def _np(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().to(torch.float64).numpy()
    return np.asarray(v, dtype=np.float64)


def _name(m: nn.Module) -> str:
    return f"norse {type(m).__name__}"


def _check_method(m: nn.Module) -> None:
    method = getattr(m.p, "method", "heaviside")
    if method not in HEAVISIDE_FORWARD:
        raise SnnexportError(
            f"{_name(m)}: threshold method {method!r} is not supported (only methods whose forward pass is the "
            f"Heaviside step: {', '.join(HEAVISIDE_FORWARD)})")


def _check_zero(m: nn.Module, field: str, why: str) -> None:
    value = _np(getattr(m.p, field))
    if np.any(value != 0):
        raise SnnexportError(f"{_name(m)}: {field} != 0 is not supported: {why}")


_V_LEAK_INIT = ("Norse starts the membrane at v = v_leak (the module's initial_state) while the snnexport extension "
                "starts every neuron at 0")


_PROBED: Optional[str] = None


def lif_cell_form() -> str:
    """``norse_jump`` if the installed Norse adds the input to the synaptic current before
    the membrane update (Norse 1.1), ``norse`` if after (older releases). Probed once."""
    global _PROBED
    if _PROBED is None:
        from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_step

        z = torch.zeros(1, dtype=torch.float64)
        _, s = lif_feed_forward_step(torch.ones(1, dtype=torch.float64), LIFFeedForwardState(v=z, i=z),
                                     LIFParameters(method="heaviside"), dt=1e-3)
        _PROBED = "norse_jump" if float(s.v[0]) != 0.0 else "norse"
    return _PROBED


# ------------------------------------------------------------------ neuron rules

@register_neuron(LIFBoxCell)
def describe_lif_box(m: LIFBoxCell) -> NeuronSpec:
    _check_method(m)
    _check_zero(m, "v_leak", "Norse's LIFBox computes (input + v_leak) - v (functional/lif_box.py:95), a different "
                "float order than the extension's euler form, and " + _V_LEAK_INIT)
    rm = getattr(m.p, "reset_method", reset_value)
    if rm is reset_value:
        reset = "value"
    elif rm is reset_subtract:
        reset = "subtract"
    else:
        raise SnnexportError(f"{_name(m)}: custom reset_method {getattr(rm, '__name__', rm)!r} is not supported "
                             f"(only norse.torch.functional.reset.reset_value / reset_subtract)")
    return NeuronSpec(dynamics="euler", kind="LIF", tau_mem_inv=m.p.tau_mem_inv, r=1.0, threshold=m.p.v_th,
                      v_reset=m.p.v_reset, v_leak=m.p.v_leak, reset=reset, compare="gt", dt=float(m.dt),
                      output_index=0, framework="norse")


def _describe_lif(m: nn.Module) -> NeuronSpec:
    _check_method(m)
    _check_zero(m, "v_leak", _V_LEAK_INIT)
    return NeuronSpec(dynamics=lif_cell_form(), kind="CubaLIF", tau_mem_inv=m.p.tau_mem_inv,
                      tau_syn_inv=m.p.tau_syn_inv, syn_gain=1.0, threshold=m.p.v_th, v_reset=m.p.v_reset,
                      v_leak=m.p.v_leak, reset="value", compare="gt", dt=float(m.dt), output_index=0,
                      framework="norse")


def _describe_li(m: nn.Module) -> NeuronSpec:
    _check_zero(m, "v_leak", _V_LEAK_INIT)
    return NeuronSpec(dynamics=lif_cell_form(), kind="CubaLI", tau_mem_inv=m.p.tau_mem_inv,
                      tau_syn_inv=m.p.tau_syn_inv, syn_gain=1.0, v_leak=m.p.v_leak, reset="none", dt=float(m.dt),
                      output_index=0, framework="norse")


@register_neuron(LIBoxCell)
def describe_li_box(m: LIBoxCell) -> NeuronSpec:
    _check_zero(m, "v_leak", _V_LEAK_INIT)
    return NeuronSpec(dynamics="euler", kind="LI", tau_mem_inv=m.p.tau_mem_inv, r=1.0, v_leak=m.p.v_leak,
                      reset="none", dt=float(m.dt), output_index=0, framework="norse")


@register_neuron(IAFCell)
def describe_iaf(m: IAFCell) -> NeuronSpec:
    _check_method(m)
    _check_zero(m, "v_reset", "Norse's IAFCell starts the membrane at v = v_reset (module/iaf.py initial_state) "
                "while the snnexport extension starts every neuron at 0")
    return NeuronSpec(dynamics="beta", kind="LIF", beta=1.0, gain=1.0, threshold=m.p.v_th, v_reset=m.p.v_reset,
                      reset="value", compare="gt", dt=float(m.dt), output_index=0, framework="norse")


register_neuron(LIFCell, _describe_lif)
register_neuron(LIF, _describe_lif)
register_neuron(LICell, _describe_li)
register_neuron(LI, _describe_li)

@register_neuron(LILinearCell)
def describe_li_linear(m: LILinearCell) -> NeuronSpec:
    """``li_step`` (functional/leaky_integrator.py:103-111): ``i_jump = i + linear(x, W)``, then the
    LICell update: a bias-free Linear node in front of the ``norse_jump`` CubaLI (``J + 1*I``
    is ``i + linear(x, W)`` bit for bit)."""
    if type(m).forward is not LILinearCell.forward:
        raise SnnexportError(f"{_name(m)}: subclass {type(m).__qualname__} overrides forward(); describe it with "
                             f"snnexport.register_neuron")
    spec = _describe_li(m)
    spec.input_weight = (m.input_weights, None)
    return spec


_RECURRENT_REFUSAL = ("only LIFRecurrentCell/LIFRecurrent are exported among Norse's recurrent cells (their input and "
                      "recurrent weights become Linear nodes and a recurrent edge)")


def _describe_recurrent(m: nn.Module) -> NeuronSpec:
    """``lif_step`` (functional/lif.py:222-240): ``i_jump = i + linear(x, W_in) + linear(z, W_rec)``,
    then the LIFCell update. Exported as ``input -> Linear(W_in) -> CubaLIF <-> Linear(W_rec)`` (the
    recurrent edge carries the previous step's spikes, as snnTorch RLeaky). The graph sums the
    two projections first and then adds them to the current: ``i + (a + b)`` where Norse computes
    ``(i + a) + b``, ~1 ulp of the current apart (spikes differ only for a membrane within rounding
    of the threshold; verify shows any difference)."""
    if not isinstance(m, (LIFRecurrentCell, LIFRecurrent)) or m.activation is not lif_step:
        raise SnnexportError(f"{_name(m)}: {_RECURRENT_REFUSAL}; this one is {type(m).__qualname__}"
                             f"{' with an adjoint/sparse activation' if isinstance(m, (LIFRecurrentCell, LIFRecurrent)) else ''}")
    base = LIFRecurrentCell if isinstance(m, LIFRecurrentCell) else LIFRecurrent
    if type(m).forward is not base.forward:
        raise SnnexportError(f"{_name(m)}: subclass {type(m).__qualname__} overrides forward()")
    spec = _describe_lif(m)
    spec.input_weight = (m.input_weights, None)
    spec.recurrent = (m.recurrent_weights, None)
    return spec


# SNNRecurrentCell/SNNRecurrent get a neuron rule (not an "unsupported" entry, which would shadow
# LIFRecurrentCell in the MRO lookup): it describes LIF ones and refuses the others in one line.
register_neuron(SNNRecurrentCell, _describe_recurrent)
register_neuron(SNNRecurrent, _describe_recurrent)


# ------------------------------------------------------------------ framework hooks

def _is_norse(m: nn.Module) -> bool:
    return type(m).__module__.startswith("norse.")


def detect(model: nn.Module) -> bool:
    return any(_is_norse(m) for m in model.modules())


def reset(model: nn.Module) -> None:
    """Norse modules are stateless (state is passed in and returned); nothing to clear."""


def layout(model: nn.Module) -> Optional[str]:
    mods = list(model.modules())
    if any(isinstance(m, (SNN, SNNRecurrent)) for m in mods):
        return "TB"  # multi-step modules iterate over the outer (time) dimension
    if any(isinstance(m, (SNNCell, SNNRecurrentCell)) for m in mods):
        return "step"
    return None


def _cast_value(v, dtype: torch.dtype):
    if isinstance(v, torch.Tensor) and v.is_floating_point():
        return v.detach().to(dtype)
    if isinstance(v, float):
        return torch.tensor(v, dtype=dtype)
    return v


def cast_parameters(model: nn.Module, dtype: torch.dtype) -> None:
    """Cast every Norse module's parameter tuple ``p`` to ``dtype`` (``model.double()``
    converts registered parameters and buffers only, and ``p`` is neither: a float64 run
    would otherwise compute ``dt * tau_mem_inv`` in float32)."""
    for m in model.modules():
        p = getattr(m, "p", None)
        if isinstance(m, _NORSE_TYPES) and isinstance(p, tuple) and hasattr(p, "_fields"):
            fields = {f: _cast_value(getattr(p, f), dtype) for f in p._fields if f != "method"}
            m.p = p._replace(**fields)


register_framework("norse", detect, reset, layout, version=f"norse {getattr(norse, '__version__', '')}".strip(),
                   cast=cast_parameters)
