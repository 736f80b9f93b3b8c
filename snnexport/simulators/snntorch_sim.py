"""NIR -> snnTorch: run a graph with real ``snn.Leaky`` / ``snn.Synaptic`` modules.

The shared runner (:func:`snnexport.simulators.reference.compile_graph` with a rule table)
does the wiring: edge summation in edge order, one-step-delayed recurrent edges, time
reductions. Here every neuron node becomes an snnTorch neuron called once per step with the
summed input and its explicit state (``spk, mem = leaky(input_, mem)``); Affine/Linear,
Conv1d/Conv2d, AvgPool2d (MaxPool2d for the ``max_pool2d`` extension) and Flatten become
``torch.nn`` modules; a Delay (snnTorch has no delay layer) becomes a :class:`DelayLine`
module holding the last inputs. :func:`to_snntorch`
returns the same network as a standalone ``nn.Module``.

The snnTorch update is ``mem = beta.clamp(0,1)*mem + input_`` (reset on ``mem > threshold``:
subtract ``threshold`` or zero, delayed with ``reset_delay=True``, immediate otherwise).
Whatever a node needs beyond that is done by a documented adapter, recorded in
``SimResult.adapters``:

* **input gain** (``gain != 1``, NIR IF ``r*dt``): ``input_ = gain*I`` before the neuron --
  the same multiply the reference does, so exact.
* **dynamics forms other than beta**: ``tau_decay_input`` -> ``beta = 1 - 1/tau``,
  ``input_ = (gain*I + v_leak)/tau``; ``tau`` -> ``beta = 1 - 1/tau``,
  ``input_ = gain*I + v_leak/tau``; ``euler`` (Norse, plain NIR LIF/LI) -> ``a = dt*tau_mem_inv``,
  ``beta = 1 - a``, ``input_ = a*(r*I + v_leak)``. Algebraically the reference's update;
  float rounding may differ by ~1 ulp of the membrane (spikes differ only if a membrane is
  within an ulp of the threshold; the tests check they do not).
* **CubaLIF beta form with gain != 1**: ``snn.Synaptic`` has no gain on the current, so
  its current holds ``gain*J``: ``input_ = gain*(syn_gain*I)`` (~1 ulp).
* **Norse CubaLIF** (``norse``/``norse_jump``): an ``snn.Synaptic`` whose current holds
  ``a_mem*(J + v_leak)`` (``a_mem = dt*tau_mem_inv``): ``alpha = 1 - dt*tau_syn_inv``,
  ``beta = 1 - a_mem``, ``input_[t] = a_mem*(syn_gain*I') + a_mem*v_leak*(1 - alpha)``, the
  current starting at ``a_mem*v_leak``; ``I' = I[t]`` for ``norse_jump`` and the *previous*
  step's input ``I[t-1]`` for ``norse`` (input joins the current after the membrane step)
  (~1 ulp).
* **compare ge**: snnTorch fires on ``mem > thr``. A subclass overrides ``fire`` and
  ``mem_reset`` to compare against ``nextafter(thr, -inf)`` (``x > nextdown(t) <=> x >= t``
  for floats); a subtract reset still subtracts ``thr`` itself.
* **immediate subtract reset**: snnTorch's ``reset_delay=False`` subtracts once more and
  then corrects ("avoid double reset") whenever the stored membrane is still above
  threshold, which a clean immediate reset does not. The subclass's ``mem_reset`` returns 0,
  so only the immediate reset ``mem - spk*thr`` acts (bit-identical to the reference).
  Also used for an immediate zero reset when a zero membrane would fire (``thr < 0``, or
  ``thr <= 0`` with ge).
* **delayed reset with a zero membrane that would fire**: snnTorch derives the delayed
  reset from the stored membrane, so a zero initial membrane above threshold resets at the
  first step; the subclass's ``mem_reset`` returns the previous step's spikes instead.
* **value reset to v_reset != 0**, and any **delayed value reset of a CubaLIF** (Synaptic's
  own zero reset zeroes the membrane after the update): the module runs with
  ``reset_mechanism="none"`` and the adapter writes ``v_reset`` where the neuron fired, after
  the call (immediate) or before the next call (delayed).
* **spike dtype**: snnTorch spikes are float32 (``(x > 0).float()``); cast to the run dtype.

Non-spiking ``LI``/``CubaLI`` run the same modules with ``reset_mechanism="none"`` and output
the membrane.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import nir
import numpy as np
import torch
import torch.nn as nn

import snntorch as snn

from ..errors import SnnexportError
from ..extension import neuron_ext, node_op, plain_ext
from ..semantics import CUBA_TYPES, SPIKING_TYPES, delay_steps, require_form
from .base import SimResult, register_simulator
from .reference.nodes import Ctx, Rule, T, conv_params, module_key, pool_params
from .reference.program import Program, compile_graph
from .reference.runner import simulate

SPIKING = SPIKING_TYPES  # the semantics table (snnexport/semantics.py)


# ----------------------------------------------------------------------------- adapted neurons

class _Adapted:
    """Mixin over ``snn.Leaky``/``snn.Synaptic``: only the overrides a node needs are active.

    ``snnexport_ge``: fire (and compute the reset signal) on ``mem >= threshold``.
    ``snnexport_reset_signal``: ``None`` (snnTorch's own ``H(mem - thr)``), ``"zeros"``
    (immediate reset without snnTorch's double-reset correction) or ``"prev"`` (the previous
    step's spikes, set by the runner in ``snnexport_prev``).
    """

    snnexport_ge: bool = False
    snnexport_reset_signal: Optional[str] = None
    snnexport_prev: Optional[torch.Tensor] = None

    def _fire_threshold(self) -> torch.Tensor:
        thr = self.threshold
        return torch.nextafter(thr, torch.full_like(thr, -math.inf)) if self.snnexport_ge else thr

    def fire(self, mem):
        if not self.snnexport_ge:
            return super().fire(mem)
        spk = self.spike_grad(mem - self._fire_threshold())
        return spk * self.graded_spikes_factor

    def mem_reset(self, mem):
        sig = self.snnexport_reset_signal
        if sig == "zeros":
            return torch.zeros_like(mem, dtype=torch.float32)
        if sig == "prev":
            return self.snnexport_prev.to(torch.float32).clone()
        if self.snnexport_ge:
            return self.spike_grad(mem - self._fire_threshold()).clone().detach()
        return super().mem_reset(mem)


class AdaptedLeaky(_Adapted, snn.Leaky):
    """``snn.Leaky`` with the snnexport adapters (see the module docstring)."""


class AdaptedSynaptic(_Adapted, snn.Synaptic):
    """``snn.Synaptic`` with the snnexport adapters (see the module docstring)."""


# ----------------------------------------------------------------------------- neuron rule

def _full(a, shape, dtype) -> torch.Tensor:
    arr = np.broadcast_to(np.asarray(a, dtype=np.float64), shape).copy()
    return torch.as_tensor(arr).to(dtype)


def _check_unit(name: str, value: torch.Tensor, what: str, where: str) -> None:
    if bool(torch.any(value < 0)) or bool(torch.any(value > 1)):
        raise SnnexportError(f"node {where!r}: {what} gives snnTorch {name} outside [0, 1] "
                             f"(min {float(value.min())}, max {float(value.max())}); snnTorch clamps it")


def _neuron_prepare(node, ctx: Ctx) -> Dict[str, Any]:
    ext = neuron_ext(node, ctx.name) or plain_ext(node, ctx.dt)
    require_form("snntorch", ext.dynamics, type(node).__name__, ctx.name)
    tname = type(node).__name__
    cuba, spiking = tname in CUBA_TYPES, tname in SPIKING
    out = (node.output_type or {}).get("output")
    if out is None:
        raise SnnexportError(f"node {ctx.name!r}: neuron shape unknown")
    shape = tuple(int(s) for s in np.asarray(out).tolist())
    dt_ = ctx.dtype
    F = lambda a: _full(a, shape, dt_)  # noqa: E731
    P = {k: F(v) for k, v in ext.run_params(dt_ == torch.float32).items()}
    v_leak = F(getattr(node, "v_leak", 0.0))
    thr = F(node.v_threshold) if spiking else torch.ones(shape, dtype=dt_)
    has_reset = spiking and getattr(node, "v_reset", None) is not None
    v_reset = F(node.v_reset) if has_reset else torch.zeros(shape, dtype=dt_)
    adapters: List[str] = []
    where = ctx.name
    d = ext.dynamics
    alpha = None
    syn_init = None
    shifted_input = False  # Norse Cuba: feed the previous step's input

    if not cuba:
        if d == "beta":
            beta = P["beta"]
            gain = P["gain"]
            if bool(torch.all(gain == 1)):
                in_fn = lambda I, prev: I  # noqa: E731
            else:
                in_fn = lambda I, prev: gain * I  # noqa: E731
                adapters.append("input gain: input_ = gain*I before snn.Leaky (snnTorch has no input gain; exact)")
        elif d in ("tau_decay_input", "tau"):
            tau, gain = P["tau"], P["gain"]
            beta = 1.0 - 1.0 / tau
            if d == "tau_decay_input":
                in_fn = lambda I, prev: (gain * I + v_leak) / tau  # noqa: E731
                adapters.append("tau_decay_input dynamics as snn.Leaky(beta=1-1/tau), input_=(gain*I+v_leak)/tau "
                                "(algebraically equal; ~1 ulp rounding)")
            else:
                in_fn = lambda I, prev: gain * I + v_leak / tau  # noqa: E731
                adapters.append("tau dynamics as snn.Leaky(beta=1-1/tau), input_=gain*I+v_leak/tau "
                                "(algebraically equal; ~1 ulp rounding)")
        elif d in ("sigmoid_decay_input", "sigmoid"):
            k, gain = P["k"], P["gain"]
            beta = 1.0 - k
            if d == "sigmoid_decay_input":
                in_fn = lambda I, prev: (gain * I + v_leak) * k  # noqa: E731
                adapters.append("sigmoid_decay_input dynamics (PLIF) as snn.Leaky(beta=1-k), input_=(gain*I+v_leak)*k "
                                "(algebraically equal; ~1 ulp rounding)")
            else:
                in_fn = lambda I, prev: gain * I + v_leak * k  # noqa: E731
                adapters.append("sigmoid dynamics (PLIF) as snn.Leaky(beta=1-k), input_=gain*I+v_leak*k "
                                "(algebraically equal; ~1 ulp rounding)")
        elif d == "rc":  # snnTorch Lapicque: snn.Leaky(beta=decay) adds exactly the same two products
            r, rc_inv, ts = P["r"], P["rc_inv"], P["time_step"]
            beta = P["decay"]
            in_fn = lambda I, prev: ((I * r) * rc_inv) * ts  # noqa: E731
            adapters.append("rc dynamics (Lapicque) as snn.Leaky(beta=decay), input_=((I*R)*(1/(R*C)))*time_step (exact)")
        elif d == "euler":
            a = torch.tensor(ext.dt, dtype=dt_) * P["tau_mem_inv"]
            r = P["r"]
            beta = 1.0 - a
            in_fn = lambda I, prev: a * (r * I + v_leak)  # noqa: E731
            adapters.append("euler dynamics as snn.Leaky(beta=1-dt/tau), input_=dt/tau*(r*I+v_leak) "
                            "(algebraically equal; ~1 ulp rounding)")
        else:
            raise SnnexportError(f"node {where!r}: dynamics {d!r} has no snnTorch mapping")
    else:
        if d == "beta":
            alpha, beta = P["alpha"], P["beta"]
            sg, gain = P["syn_gain"], P["gain"]
            if bool(torch.all(gain == 1)):
                if bool(torch.all(sg == 1)):
                    in_fn = lambda I, prev: I  # noqa: E731
                else:
                    in_fn = lambda I, prev: sg * I  # noqa: E731
                    adapters.append("synaptic input gain: input_ = syn_gain*I before snn.Synaptic (exact)")
            else:
                in_fn = lambda I, prev: gain * (sg * I)  # noqa: E731
                adapters.append("CubaLIF gain != 1: snn.Synaptic's current holds gain*J, input_ = gain*(syn_gain*I) "
                                "(~1 ulp rounding)")
        elif d in ("norse", "norse_jump"):
            # snn.Synaptic's current holds a_mem*(J + v_leak), J being the current the membrane
            # sees: syn[t] = alpha*syn[t-1] + a_mem*syn_gain*I' + a_mem*v_leak*(1 - alpha)
            dtt = torch.tensor(ext.dt, dtype=dt_)
            a_mem = dtt * P["tau_mem_inv"]
            a_syn = -dtt * P["tau_syn_inv"]
            alpha, beta = 1.0 + a_syn, 1.0 - a_mem
            sg = P["syn_gain"]
            leak_in = a_mem * v_leak * (1.0 - alpha)
            syn_init = a_mem * v_leak
            if d == "norse":  # the membrane sees the current before this step's input: I' = I[t-1]
                shifted_input = True
                in_fn = lambda I, prev: a_mem * (sg * prev) + leak_in  # noqa: E731
                adapters.append("Norse CubaLIF order (input joins the current after the membrane step): "
                                "snn.Synaptic fed the previous step's input, current scaled by dt/tau_mem "
                                "(~1 ulp rounding)")
            else:  # norse_jump: I' = I[t]
                in_fn = lambda I, prev: a_mem * (sg * I) + leak_in  # noqa: E731
                adapters.append("Norse CubaLIF as snn.Synaptic: alpha=1-dt/tau_syn, beta=1-dt/tau_mem, current "
                                "scaled by dt/tau_mem (~1 ulp rounding)")
        else:
            raise SnnexportError(f"node {where!r}: dynamics {d!r} has no snnTorch mapping")
        _check_unit("alpha", alpha, f"{d} dynamics", where)
    _check_unit("beta", beta, f"{d} dynamics", where)

    # --- reset / compare
    ge = spiking and ext.compare == "ge"
    zero_fires = bool(torch.any(thr <= 0)) if ge else bool(torch.any(thr < 0))
    reset, delayed = ext.reset, ext.reset_timing in ("delayed", "delayed_after")
    after = ext.reset_timing == "delayed_after"
    mech, reset_delay, signal = "none", True, None
    pre_value = post_value = after_value = False
    if spiking and reset == "subtract":
        mech = "subtract"
        if delayed:
            if zero_fires:
                signal = "prev"
        else:
            reset_delay, signal = False, "zeros"
    elif spiking and reset == "value" and after:
        if cuba and bool(torch.all(v_reset == 0)) and not zero_fires:
            mech = "zero"  # snn.Synaptic's own zero reset with reset_delay=True is exactly this form
        else:
            after_value = True
            adapters.append("reset after the next update (snnTorch zero reset with reset_delay): the module runs "
                            "with reset_mechanism='none'; the adapter writes v_reset where the neuron fired at the "
                            "previous step, after the call, and gives those neurons the spike v_reset would fire")
    elif spiking and reset == "value":
        zero_v = bool(torch.all(v_reset == 0))
        if zero_v and not (cuba and delayed):
            mech = "zero"
            if delayed:
                if zero_fires:
                    signal = "prev"
            else:
                reset_delay = False
                if zero_fires:
                    signal = "zeros"
        else:
            pre_value, post_value = delayed, not delayed
            adapters.append(("value reset to v_reset" if not zero_v else "delayed value reset of a CubaLIF")
                            + ": module runs with reset_mechanism='none'; the adapter writes v_reset where the "
                              "neuron fired " + ("before the next step" if delayed else "after the step"))
    if ge:
        adapters.append("compare ge: fire/mem_reset compare against nextafter(threshold, -inf) "
                        "(mem > nextdown(thr) <=> mem >= thr); a subtract reset still subtracts thr")
    if signal == "zeros" and mech == "subtract":
        adapters.append("immediate subtract reset: mem_reset returns 0, so snnTorch's reset_delay=False "
                        "'avoid double reset' correction never applies (clean immediate reset)")
    elif signal == "zeros":
        adapters.append("immediate zero reset with a threshold a zero membrane exceeds: mem_reset returns 0")
    elif signal == "prev":
        adapters.append("delayed reset with a threshold a zero membrane exceeds: mem_reset returns the previous "
                        "step's spikes (snnTorch would reset at the first step)")
    if spiking and dt_ != torch.float32:
        adapters.append(f"spikes cast from snnTorch's float32 to {str(dt_).replace('torch.', '')} (exact: 0/1)")

    adapted = ge or signal is not None
    kw = dict(threshold=thr, reset_mechanism=mech, reset_delay=reset_delay, init_hidden=False)
    if cuba:
        mod = (AdaptedSynaptic if adapted else snn.Synaptic)(alpha=alpha.clone(), beta=beta.clone(), **kw)
    else:
        mod = (AdaptedLeaky if adapted else snn.Leaky)(beta=beta.clone(), **kw)
    inst = snn.SpikingNeuron.instances  # class-level registry for init_hidden resets: not used here,
    if inst and inst[-1] is mod:         # and it would keep every imported network alive
        inst.pop()
    mod = mod.to(dt_)
    if adapted:
        mod.snnexport_ge, mod.snnexport_reset_signal = ge, signal
    mod.eval()
    v_init = P.get("v_init") if ext.v_init() is not None else None
    if v_init is not None:
        adapters.append("initial membrane v_init (SpikingJelly starts at v_reset): the snnTorch membrane state starts there")
    reset_fires = ((v_reset >= thr) if ge else (v_reset > thr)).to(torch.float32)  # snnTorch spikes are float32
    return {
        "v_init": v_init, "after_value": after_value, "reset_fires": reset_fires,
        "module": mod, "shape": shape, "cuba": cuba, "spiking": spiking, "in_fn": in_fn, "v_reset": v_reset,
        "pre_value": pre_value, "post_value": post_value, "shifted_input": shifted_input, "syn_init": syn_init,
        "record_membrane": (not spiking) or reset == "none" or delayed or post_value,
        "adapters": adapters, "dtype": dt_,
    }


def _neuron_init(p, batch: int):
    z = torch.zeros((batch, *p["shape"]), dtype=p["dtype"])
    syn = z.clone() if p["syn_init"] is None else (z + p["syn_init"])
    mem = z.clone() if p.get("v_init") is None else torch.broadcast_to(p["v_init"], z.shape).clone()
    return {"mem": mem, "syn": syn, "spk": torch.zeros_like(z, dtype=torch.float32), "prev_in": z.clone()}


def _neuron_step(I, state, p):
    mod = p["module"]
    x = p["in_fn"](I, state["prev_in"])
    mem = state["mem"]
    spk_prev = state["spk"]
    if p["pre_value"]:
        mem = torch.where(spk_prev.bool(), p["v_reset"], mem)
    if getattr(mod, "snnexport_reset_signal", None) == "prev":
        mod.snnexport_prev = spk_prev
    if p["cuba"]:
        spk, syn, mem = mod(x, state["syn"], mem)
    else:
        spk, mem = mod(x, mem)
        syn = state["syn"]
    if p["after_value"]:  # the previous step's spikes reset the membrane after this update
        prev = spk_prev.bool()
        mem = torch.where(prev, p["v_reset"], mem)
        spk = torch.where(prev, p["reset_fires"], spk)
    membrane = mem if p["record_membrane"] else None
    if p["post_value"]:
        mem = torch.where(spk.bool(), p["v_reset"], mem)
    new = {"mem": mem, "syn": syn, "spk": spk, "prev_in": I if p["shifted_input"] else state["prev_in"]}
    if not p["spiking"]:
        return mem, new, mem
    return spk.to(p["dtype"]), new, membrane


NEURON_RULE = Rule(_neuron_prepare, _neuron_step, _neuron_init, spiking=True, neuron=True)


# ----------------------------------------------------------------------------- layer rules

def _module_rule(build):
    def prepare(n, c):
        with torch.no_grad():
            return {"module": build(n, c).eval()}

    return Rule(prepare, lambda x, s, p: (p["module"](x), None, None))


def _linear(n, c):
    w = T(n.weight, c)
    b = getattr(n, "bias", None)
    m = nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=c.dtype)
    m.weight = nn.Parameter(w, requires_grad=False)
    if b is not None:
        m.bias = nn.Parameter(T(b, c), requires_grad=False)
    return m


def _conv_transpose(n, c):
    """A transposed-convolution node (snnexport.conv_transpose) as ``nn.ConvTranspose2d``."""
    from ..conv_transpose import meta

    m = meta(n)
    w = T(m["weight"], c)
    mod = nn.ConvTranspose2d(w.shape[0], w.shape[1] * m["groups"], tuple(w.shape[2:]), stride=m["stride"],
                             padding=m["padding"], output_padding=m["output_padding"], groups=m["groups"],
                             dilation=m["dilation"], bias=True, dtype=c.dtype)
    mod.weight = nn.Parameter(w, requires_grad=False)
    mod.bias = nn.Parameter(T(n.bias, c), requires_grad=False)
    return mod


def _conv(n, c, dims: int):
    from ..conv_transpose import meta

    if dims == 2 and meta(n) is not None:
        return _conv_transpose(n, c)
    p = conv_params(n, c, dims)
    w = p["w"]
    cls = nn.Conv2d if dims == 2 else nn.Conv1d
    m = cls(w.shape[1] * p["groups"], w.shape[0], tuple(w.shape[2:]), stride=p["stride"], padding=p["padding"],
            dilation=p["dilation"], groups=p["groups"], bias=True, dtype=c.dtype)
    m.weight = nn.Parameter(w, requires_grad=False)
    m.bias = nn.Parameter(p["b"], requires_grad=False)
    return m


def _avgpool(n, c):
    p = pool_params(n, c)
    if node_op(n) == "max_pool2d":  # the max-pooling extension (snnexport.extension)
        return nn.MaxPool2d(p["k"], p["s"], p["p"])
    return nn.AvgPool2d(p["k"], p["s"], p["p"], count_include_pad=True)


class DelayLine(nn.Module):
    """NIR ``Delay`` as a torch module with explicit state (snnTorch has no delay layer):
    ``y, history = delay(x, history)`` with ``y = x[t - d]`` per element (``d``: the node's
    delay in whole steps, :func:`snnexport.semantics.delay_steps`), 0 before ``x[t - d]``
    exists. ``history`` (``None`` at the first step) is the tuple of the last ``max(d)`` inputs,
    newest last."""

    def __init__(self, steps: np.ndarray, name: str = "delay"):
        super().__init__()
        self.name = name
        self.register_buffer("steps", torch.as_tensor(np.asarray(steps, dtype=np.int64)), persistent=False)
        self.distinct = sorted({int(k) for k in np.asarray(steps).reshape(-1)}) or [0]
        self.longest = max(self.distinct)

    def forward(self, x: torch.Tensor, history=None):
        history = () if history is None else history
        y = torch.zeros_like(x)
        for k in self.distinct:  # each element takes the input of k steps ago (0 if there was none)
            past = x if k == 0 else history[len(history) - k] if k <= len(history) else None
            if past is not None:
                try:
                    y = torch.where(self.steps == k, past, y)
                except RuntimeError:  # per-element delays that do not match the data
                    raise SnnexportError(f"node {self.name!r}: Delay has {list(self.steps.shape)} delays, its input "
                                         f"has per-sample shape {list(x.shape[1:])}") from None
        return y, (history + (x,))[max(0, len(history) + 1 - self.longest):] if self.longest else ()


def _delay_rule() -> Rule:
    def prepare(n, c):
        return {"module": DelayLine(delay_steps(n.delay, c.dt, c.name), c.name)}

    def step(x, history, p):
        y, history = p["module"](x, history)
        return y, history, None

    return Rule(prepare, step, stateful=True)


def _flatten(n, c):
    start, end = int(n.start_dim), int(n.end_dim)
    return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)


RULES: Dict[str, Rule] = {
    "Affine": _module_rule(_linear),
    "Linear": _module_rule(_linear),
    "Conv2d": _module_rule(lambda n, c: _conv(n, c, 2)),
    "Conv1d": _module_rule(lambda n, c: _conv(n, c, 1)),
    "AvgPool2d": _module_rule(_avgpool),
    "Flatten": _module_rule(_flatten),
    "Delay": _delay_rule(),
}
for _t in SPIKING_TYPES:
    RULES[_t] = NEURON_RULE
for _t in ("LI", "CubaLI"):
    RULES[_t] = Rule(_neuron_prepare, _neuron_step, _neuron_init, spiking=False, neuron=True)


# ----------------------------------------------------------------------------- network

class SnnTorchNetwork(nn.Module):
    """A NIR graph imported into snnTorch: ``forward(x [T, B, ...])`` returns the readout of the
    first Output node; :meth:`run` returns the full :class:`SimResult` (spikes per node).

    ``layers`` holds the snnTorch neurons and ``torch.nn`` layers by (sanitised) node name;
    ``node_of`` maps those keys back to node names; ``adapters`` lists the adapters used.
    """

    def __init__(self, graph: nir.NIRGraph, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.program: Program = compile_graph(graph, dtype, rules=RULES)
        self.dtype = dtype
        self.layers = nn.ModuleDict()
        self.node_of: Dict[str, str] = {}
        for name in self.program.order + self.program.post_order:
            mod = self.program.params[name].get("module")
            if isinstance(mod, nn.Module):
                key = module_key(name, self.layers)
                self.layers[key] = mod
                self.node_of[key] = name
        self.adapters: List[str] = list(self.program.adapters)

    def module_for(self, node: str) -> nn.Module:
        return self.program.params[node]["module"]

    def run(self, x: torch.Tensor) -> SimResult:
        res = simulate(self.program, x.to(self.dtype))
        res.adapters = list(self.adapters)
        return res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.run(x)
        return torch.from_numpy(next(iter(res.readout.values())))


def to_snntorch(graph: nir.NIRGraph, dtype: torch.dtype = torch.float64) -> SnnTorchNetwork:
    """Import a NIR graph (with or without snnexport metadata) as an snnTorch network."""
    return SnnTorchNetwork(graph, dtype)


@register_simulator("snntorch", default=True, needs=("snntorch",), rank=1)
def run_snntorch(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, **_: Any) -> SimResult:
    return to_snntorch(graph, dtype).run(x)


__all__ = ["to_snntorch", "SnnTorchNetwork", "AdaptedLeaky", "AdaptedSynaptic", "DelayLine", "RULES", "run_snntorch"]
