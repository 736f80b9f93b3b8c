"""snnTorch (1.0.0) neurons -> :class:`~snnexport.sources.registry.NeuronSpec`.

What snnTorch really computes (``snntorch/_neurons/leaky.py``, ``synaptic.py``,
``rleaky.py`` and ``neurons.py``; line numbers of snnTorch 1.0.0), per call with input
``I`` and stored membrane ``M`` (state passed in or kept in the module):

* ``reset = mem_reset(M) = H(M - threshold)`` (neurons.py:102-108) is computed from the
  stored membrane *before* the update (leaky.py:209). Every snnTorch surrogate's forward is
  ``(x > 0).float()`` (surrogate.py), so ``H(M - thr) == (M > thr)`` exactly, as a
  **float32** tensor whatever the membrane dtype.
* **Leaky** (leaky.py:238-250): ``subtract``: ``M = (beta.clamp(0,1)*M + I) - reset*thr``;
  ``zero``: ``M = (1 - reset)*M`` then ``beta.clamp(0,1)*M + I``; ``none``: ``beta*M + I``.
* ``spk = fire(M) = H(M - thr) * graded_spikes_factor`` (neurons.py:73-85): fires on
  ``M > thr``.
* ``reset_delay=True`` (default): nothing more; the stored membrane is the compared one and
  the reset enters at the next call. Since ``reset`` is recomputed from the same stored
  membrane with the same comparison, ``reset == S[t-1]`` -> NeuronExt ``reset_timing
  "delayed"`` exactly (for ``zero``: ``U = dyn(where(S[t-1], 0, U), I)``).
* ``reset_delay=False`` (leaky.py:222-229, "avoid double reset"): ``do_reset = spk - reset``;
  ``subtract``: ``M = M - do_reset*thr``; ``zero``: ``M = M - do_reset*M``. With ``r = (M > thr)``
  at the start of the step this is, in real arithmetic, ``V = beta*M + I - r*thr;
  s = V > thr; M' = beta*M + I - s*thr``. When ``r == 0`` (the stored membrane is not above
  threshold) it is *bit for bit* the clean immediate reset of the extension (``x - 0*thr``
  and ``s - 0`` are exact). ``r == 1`` can only happen with ``subtract`` when a step drives
  the membrane above ``2*thr`` (after subtracting once it is still above threshold); then
  snnTorch fires at the next step only if ``beta*M + I > 2*thr`` (it compares the membrane
  minus one more threshold) where a clean immediate reset fires on ``> thr``. No NeuronExt
  form says that, so ``reset_delay=False`` + ``subtract`` converts to ``immediate`` and is
  exact **as long as the post-reset membrane never exceeds the threshold**; beyond that
  snnTorch diverges from the graph and ``snnexport verify`` (source vs reference) shows it.
  A warning says so at conversion. With ``zero`` the post-reset membrane is ``0`` or
  ``V <= thr``, so it is always exact (for ``thr >= 0``).
* **Synaptic** (synaptic.py:266-289): ``syn = alpha.clamp(0,1)*syn + I;
  mem = beta.clamp(0,1)*mem + syn`` -- exactly the extension's CubaLIF ``beta`` form
  ``J = alpha*J + syn_gain*I; U = beta*U + gain*J`` with ``syn_gain = gain = 1`` (``1*x`` is
  exact). ``subtract`` as Leaky. ``zero`` with ``reset_delay=True`` is *different* from
  Leaky: ``mem = base - base*reset`` (synaptic.py:281-286) zeroes the membrane *after* this
  step's update (and ``syn -= 0*reset`` leaves the current alone), i.e. ``U[t] = 0`` when
  ``S[t-1]``: NeuronExt ``reset_timing "delayed_after"`` (``base - 1*base == 0`` and ``base - 0*base == base``
  exactly). ``zero`` with ``reset_delay=False`` is the
  clean immediate reset to 0.
* **RLeaky** (rleaky.py:394-411): ``M = (beta.clamp(0,1)*M + I) + recurrent(spk_prev)``
  (then ``- reset*thr`` for subtract); the graph has the recurrent connection as a
  one-step-delayed edge summed into the input, so the reference computes
  ``beta*M + 1*(I + recurrent(spk_prev))``: same value in real arithmetic, float sums in
  another order (differences of ~1 ulp of the membrane; spikes identical unless a membrane
  lies within an ulp of the threshold). ``zero`` with ``reset_delay=True`` is
  ``base - reset*base`` like Synaptic: ``delayed_after``. ``all_to_all`` recurrent ``nn.Linear`` ->
  ``Linear``/``Affine`` node; one-to-one ``V`` -> diagonal ``Linear`` (snnTorch computes
  ``spk * V`` with float32 spikes, so a 0-dim ``V`` acts as ``float32(V)``: that value is
  exported); a ``Conv2d`` recurrent connection is refused.

* **Lapicque** (lapicque.py ``_base_state_function``): ``mem = input_*R*(1/(R*C))*time_step +
  (1 - time_step/(R*C))*mem`` -> the extension's ``rc`` form with snnTorch's derived terms (per
  run dtype); resets as Leaky with ``reset_delay=True`` (Lapicque has no immediate mode); ``zero``
  is ``base - reset*base``: ``delayed_after`` as for Synaptic.
* **Alpha**: refused (two currents whose resets change the currents; no form says it).

Other refusals (clear errors): ``graded_spikes_factor != 1``, ``inhibition``,
``state_quant``, a ``spike_grad`` that is not the Heaviside ``x > 0`` in its forward,
negative thresholds with a reset (snnTorch's zero initial membrane then counts as a spike
at the first step), a 0-dim float64 threshold that float32 cannot hold (snnTorch subtracts
``float32(thr)``: the reset term ``reset*thr`` is float32 because the spikes are), and
subclasses that override the neuron's forward/fire/reset methods.

``beta``/``alpha`` are exported as the clamped values snnTorch uses, from the module's own
tensors (float32 values upcast to float64, never re-rounded through Python floats).
"""

from __future__ import annotations

import warnings
from typing import Optional

import torch
import torch.nn as nn

import snntorch as snn

from ..errors import SnnexportError
from .frameworks import register_framework
from .registry import NeuronSpec, register_neuron, register_unsupported

FRAMEWORK = "snntorch"

# Methods whose snnTorch implementation the descriptions below rely on.
_CHECKED_METHODS = ("forward", "fire", "mem_reset", "_base_state_function", "_base_sub", "_base_zero", "_base_int",
                    "_base_state_reset_zero")


def _path(module: nn.Module) -> str:
    return f"snnTorch {type(module).__name__}"


def _check_methods(module: nn.Module, base: type) -> None:
    for name in _CHECKED_METHODS:
        own = getattr(type(module), name, None)
        ref = getattr(base, name, None)
        if ref is not None and own is not ref:
            raise SnnexportError(
                f"{_path(module)}: subclass {type(module).__qualname__} overrides {name}(); its semantics are not "
                f"snnTorch's {base.__name__}: describe it with snnexport.register_neuron")


def _check_spike_fn(module: nn.Module) -> None:
    """Every snnTorch surrogate fires ``(x > 0).float()`` in its forward; check the module's."""
    probe = torch.tensor([-1.0, -5e-324, -0.0, 0.0, 5e-324, 1.0, 3.0], dtype=torch.float64)
    try:
        with torch.no_grad():
            out = module.spike_grad(probe.clone())
    except Exception as e:  # noqa: BLE001 - a user's surrogate may raise anything
        raise SnnexportError(f"{_path(module)}: its spike_grad cannot be probed ({type(e).__name__}: {e})") from None
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape or \
            not torch.equal(out.to(torch.float64), (probe > 0).to(torch.float64)):
        raise SnnexportError(f"{_path(module)}: spike_grad's forward is not the Heaviside step H(x) = (x > 0); "
                             f"only snnTorch's surrogates (or one that fires on mem > threshold) are supported")


def _check_common(module: nn.Module) -> None:
    if getattr(module, "inhibition", False):
        raise SnnexportError(f"{_path(module)}: inhibition=True (winner-take-all over the layer) has no NIR equivalent")
    if getattr(module, "state_quant", False):
        raise SnnexportError(f"{_path(module)}: state_quant quantizes the membrane at every step; not supported")
    gsf = getattr(module, "graded_spikes_factor", None)
    if gsf is not None and not bool(torch.all(torch.as_tensor(gsf) == 1)):
        raise SnnexportError(f"{_path(module)}: graded_spikes_factor must be 1 (spikes scaled by "
                             f"{torch.as_tensor(gsf).detach().flatten()[:4].tolist()} are not binary spikes)")
    _check_spike_fn(module)


def _tensor64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().to(torch.float64)


def _state_reset(module: nn.Module, base: type) -> str:
    """The reset applied by the module's bound state function (fixed at __init__)."""
    fn = getattr(getattr(module, "state_function", None), "__func__", None)
    for name, mech in (("_base_sub", "subtract"), ("_base_zero", "zero"), ("_base_int", "none")):
        if fn is getattr(base, name):
            return mech
    raise SnnexportError(f"{_path(module)}: unknown state_function {fn!r}")


_MECH = {0: "subtract", 1: "zero", 2: "none"}


def _reset_semantics(module: nn.Module, base: type, cls_name: str):
    """(reset, reset_timing) in NeuronExt terms, or an error where none matches."""
    mech = _state_reset(module, base)
    val = _MECH.get(int(module.reset_mechanism_val))
    delay = bool(getattr(module, "reset_delay", True))
    thr = _tensor64(module.threshold)
    if not delay and val != mech:
        raise SnnexportError(
            f"{_path(module)}: reset_mechanism_val says {val!r} but the state function resets by {mech!r} "
            f"(reset_mechanism was changed after construction or loaded from a checkpoint); re-create the neuron")
    if mech == "none":
        return "none", "immediate"
    if bool(torch.any(thr < 0)):
        raise SnnexportError(
            f"{_path(module)}: negative threshold with reset {mech!r}: snnTorch computes the reset signal "
            f"H(mem - threshold) from the zero initial membrane, so it resets at the first step without a spike")
    if thr.dim() == 0 and module.threshold.dtype == torch.float64 and \
            float(thr.to(torch.float32).to(torch.float64)) != float(thr):
        raise SnnexportError(
            f"{_path(module)}: 0-dim float64 threshold {float(thr)!r} is not a float32 value; snnTorch compares "
            f"against it but subtracts float32(threshold) (spikes are float32 and a 0-dim tensor does not promote); "
            f"give the threshold as a per-neuron tensor or a float32 value")
    if mech == "subtract":
        if not delay and not getattr(module, "_snnexport_warned", False):
            module._snnexport_warned = True
            warnings.warn(
                f"{_path(module)} with reset_delay=False and reset by subtraction is exported as an immediate reset; "
                f"snnTorch agrees with it as long as no membrane stays above threshold after its reset (its 'avoid "
                f"double reset' correction then compares mem - threshold instead); verify shows any difference",
                stacklevel=3)
        return "subtract", "delayed" if delay else "immediate"
    # zero
    if delay and cls_name != "Leaky":
        # Synaptic/RLeaky/Lapicque: mem = base - base*reset zeroes the membrane *after* the next update
        return "value", "delayed_after"
    return "value", "delayed" if delay else "immediate"


def _output_index(module: nn.Module) -> Optional[int]:
    """Leaky/Synaptic/RLeaky return a tuple (spk, ...) unless init_hidden without output=True."""
    if getattr(module, "output", False) or not getattr(module, "init_hidden", False):
        return 0
    return None


def _clamped(t: torch.Tensor) -> torch.Tensor:
    return _tensor64(t.detach().clamp(0, 1))


@register_neuron(snn.Leaky)
def describe_leaky(m: snn.Leaky) -> NeuronSpec:
    _check_methods(m, snn.Leaky)
    _check_common(m)
    reset, timing = _reset_semantics(m, snn.Leaky, "Leaky")
    return NeuronSpec(dynamics="beta", kind="LIF", beta=_clamped(m.beta), gain=1.0, threshold=_tensor64(m.threshold),
                      v_reset=0.0, reset=reset, reset_timing=timing, compare="gt", output_index=_output_index(m),
                      framework=FRAMEWORK)


@register_neuron(snn.Synaptic)
def describe_synaptic(m: snn.Synaptic) -> NeuronSpec:
    _check_methods(m, snn.Synaptic)
    _check_common(m)
    reset, timing = _reset_semantics(m, snn.Synaptic, "Synaptic")
    return NeuronSpec(dynamics="beta", kind="CubaLIF", alpha=_clamped(m.alpha), syn_gain=1.0, beta=_clamped(m.beta),
                      gain=1.0, threshold=_tensor64(m.threshold), v_reset=0.0, reset=reset, reset_timing=timing,
                      compare="gt", output_index=_output_index(m), framework=FRAMEWORK)


def _neuron_count(m: nn.Module) -> Optional[int]:
    """Size of an RLeaky layer, from its state (known once it has run) or its V."""
    for buf in (getattr(m, "spk", None), getattr(m, "mem", None)):
        if isinstance(buf, torch.Tensor) and buf.dim() >= 2:
            if buf.dim() != 2:
                raise SnnexportError(f"{_path(m)}: recurrent layer over {tuple(buf.shape[1:])}-shaped neurons; only "
                                     f"1-D layers ([batch, N]) are supported")
            return int(buf.shape[1])
    return None


def _recurrent(m: snn.RLeaky):
    rec = m.recurrent
    if m.all_to_all:
        if isinstance(rec, nn.Linear):
            return rec.weight, rec.bias
        raise SnnexportError(f"{_path(m)}: a {type(rec).__name__} recurrent connection is not supported "
                             f"(only all_to_all nn.Linear or one-to-one V)")
    V = rec.V  # what forward multiplies by (may differ from m.V after .to(): a plain attribute)
    if not isinstance(V, torch.Tensor):
        V = torch.as_tensor(V)
    n = _neuron_count(m)
    if V.dim() >= 1 and V.numel() > 1:
        if V.dim() != 1 or (n is not None and V.numel() != n):
            raise SnnexportError(f"{_path(m)}: V of shape {tuple(V.shape)} does not fit the layer")
        n = V.numel()
    if n is None:
        return None  # never run yet: only happens outside conversion (which runs the module first)
    # spk (float32) * V: a 0-dim V does not promote the float32 spikes, so it acts as float32(V)
    v = V.detach().to(torch.float32) if V.dim() == 0 else V.detach()
    diag = torch.diag(_tensor64(v).reshape(-1).expand(n).clone())
    return diag, None


@register_neuron(snn.RLeaky)
def describe_rleaky(m: snn.RLeaky) -> NeuronSpec:
    _check_methods(m, snn.RLeaky)
    _check_common(m)
    reset, timing = _reset_semantics(m, snn.RLeaky, "RLeaky")
    return NeuronSpec(dynamics="beta", kind="LIF", beta=_clamped(m.beta), gain=1.0, threshold=_tensor64(m.threshold),
                      v_reset=0.0, reset=reset, reset_timing=timing, compare="gt", output_index=_output_index(m),
                      recurrent=_recurrent(m), framework=FRAMEWORK)


def _lapicque_terms(m: nn.Module, dtype: torch.dtype):
    """``(R, 1/(R*C), time_step, 1 - time_step/(R*C))`` as snnTorch computes them in a run in ``dtype``
    (``.double()`` converts the floating buffers; an integer R or time_step stays integer)."""
    R, C, ts = (b.detach().cpu() for b in (m.R, m.C, m.time_step))
    R, C, ts = (b.to(dtype) if b.is_floating_point() else b for b in (R, C, ts))
    rc = R * C
    return R.to(dtype), (1 / rc).to(dtype), ts.to(dtype), (1 - (ts / rc)).to(dtype)


@register_neuron(snn.Lapicque)
def describe_lapicque(m: snn.Lapicque) -> NeuronSpec:
    """Lapicque (lapicque.py ``_base_state_function``): ``mem = input_*R*(1/(R*C))*time_step +
    (1 - time_step/(R*C))*mem`` -- the extension's ``rc`` form, its derived terms computed as snnTorch
    does in each run dtype (``*_float32`` values for float32 runs). ``beta`` only sets C at
    construction. The reset is Leaky's delayed one (the reset signal comes from the stored
    membrane); ``zero`` (``base - reset*base``) is ``delayed_after`` as for Synaptic."""
    _check_methods(m, snn.Lapicque)
    _check_common(m)
    reset, timing = _reset_semantics(m, snn.Lapicque, "Lapicque")
    r64, inv64, ts64, dec64 = (_tensor64(t) for t in _lapicque_terms(m, torch.float64))
    r32, inv32, ts32, dec32 = (_tensor64(t) for t in _lapicque_terms(m, torch.float32))
    return NeuronSpec(dynamics="rc", kind="LIF", r=r64, rc_inv=inv64, time_step=ts64, decay=dec64,
                      float32_params={"r": r32, "rc_inv": inv32, "time_step": ts32, "decay": dec32},
                      threshold=_tensor64(m.threshold), v_reset=0.0, reset=reset, reset_timing=timing, compare="gt",
                      output_index=_output_index(m), framework=FRAMEWORK)


for _name, _why in (
    ("RSynaptic", "recurrent synaptic neurons are not supported yet (Synaptic and RLeaky are)"),
    ("Alpha", "the Alpha neuron has no exact form yet: its membrane is tau_alpha*(syn_exc + syn_inh) of two "
              "currents and its resets change the currents (subtract: syn_exc -= threshold, syn_inh and mem "
              "adjusted); use snn.Synaptic (one current) or describe it with snnexport.register_neuron"),
    ("LeakyParallel", "LeakyParallel runs an nn.RNN over the whole sequence; not supported"),
    ("StateLeaky", "StateLeaky/LinearLeaky compute the membrane with a convolution over time; not supported"),
    ("LinearLeaky", "StateLeaky/LinearLeaky compute the membrane with a convolution over time; not supported"),
    ("DeltaLeaky", "DeltaLeaky changes Leaky's forward; not supported"),
    ("AssociativeLeaky", "AssociativeLeaky is not supported"),
    ("SLSTM", "spiking LSTMs have no NIR node"),
    ("SConv2dLSTM", "spiking LSTMs have no NIR node"),
):
    _cls = getattr(snn, _name, None)
    if _cls is not None:
        register_unsupported(_cls, _why)


# ----------------------------------------------------------------------------- framework hooks

def _neurons(model: nn.Module):
    return [m for m in model.modules() if isinstance(m, snn.SpikingNeuron)]


def _detect(model: nn.Module) -> bool:
    return bool(_neurons(model))


def _cast_recurrent_input(module, args):
    x = args[0]
    w = getattr(module, "weight", None)
    if isinstance(x, torch.Tensor) and isinstance(w, torch.Tensor) and x.dtype != w.dtype:
        return (x.to(w.dtype),) + tuple(args[1:])
    return None


def _spikes_in_state_dtype(module, args, output):
    """Forward hook: snnTorch's spikes are float32 whatever the membrane dtype; cast them
    (exactly: 0/1) to the membrane's dtype so that a float64 model can run at all."""
    mem = getattr(module, "mem", None)
    if not isinstance(mem, torch.Tensor):
        return None
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor) and output[0].dtype != mem.dtype:
        return (output[0].to(mem.dtype),) + tuple(output[1:])
    if isinstance(output, torch.Tensor) and output.dtype != mem.dtype:
        return output.to(mem.dtype)
    return None


def float64_fixes(model: nn.Module) -> None:
    """Make an snnTorch model runnable in float64 (installed once per module; exact).

    snnTorch 1.0.0 returns float32 spikes (every surrogate's forward is ``(x > 0).float()``),
    so in a ``model.double()`` the next ``nn.Linear`` fails with "mat1 and mat2 must have the
    same dtype" (and ``RLeaky(all_to_all=True)`` fails the same way on its own recurrent
    ``nn.Linear``). A forward hook on each neuron casts its spike output to the membrane's
    dtype, and a forward pre-hook on an RLeaky's recurrent layer casts its input spikes to the
    weight's dtype. Spikes are 0/1, so the casts are exact; in float32 nothing changes.
    """
    for m in _neurons(model):
        if not getattr(m, "_snnexport_spike_cast", False):
            m.register_forward_hook(_spikes_in_state_dtype)
            m._snnexport_spike_cast = True
        rec = getattr(m, "recurrent", None)
        if isinstance(m, snn.RLeaky) and m.all_to_all and isinstance(rec, nn.Module) \
                and not getattr(rec, "_snnexport_cast_hook", False):
            rec.register_forward_pre_hook(_cast_recurrent_input)
            rec._snnexport_cast_hook = True


def _reset(model: nn.Module) -> None:
    """Zero every snnTorch neuron's hidden state (``reset_mem``; shapes are re-made at the next
    call when the batch changes)."""
    for m in _neurons(model):
        fn = getattr(m, "reset_mem", None)
        if callable(fn):
            fn()


def _cast(model: nn.Module, dtype) -> None:
    """Before a source run in ``dtype``: :func:`float64_fixes` (a no-op in float32)."""
    if dtype != torch.float32:
        float64_fixes(model)


def _layout(model: nn.Module) -> Optional[str]:
    """``step`` for an ``nn.Sequential`` of ``init_hidden`` neurons (called once per time step)."""
    ns = _neurons(model)
    if ns and isinstance(model, nn.Sequential) and all(getattr(m, "init_hidden", False) for m in ns):
        return "step"
    return None


register_framework(FRAMEWORK, detect=_detect, reset=_reset, layout=_layout, version=f"snntorch {snn.__version__}",
                   cast=_cast)
