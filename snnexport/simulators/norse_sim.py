"""NIR -> Norse: every neuron node runs Norse's own cells, through the shared runner.

Edge summation, recurrence and time reductions come from the reference runner
(:func:`~snnexport.simulators.reference.program.compile_graph` with a rule table); each
neuron node is a :class:`NorseNeuron` holding Norse modules and parameter tuples built from
the node. Neuron nodes without ``snnexport`` metadata get NIR's own semantics with the
graph's ``dt`` (exactly as the reference does). Norse has no layers of its own: Affine, conv,
pooling (including the ``max_pool2d`` extension, ``torch.nn.functional.max_pool2d``), Scale,
Threshold and Flatten nodes run the reference's ``torch.nn.functional`` rules, and a Delay (Norse
has no delay module either) the reference's history-buffer rule (``y = x[t - d]``, SEMANTICS.md).

Where Norse's cell computes the node's discrete form *bit for bit* it runs as is
(*native*): ``LIFBoxCell`` for ``euler`` LIF nodes with ``v_leak == 0`` (Norse computes
``(I + v_leak) - v``, equal to the extension's ``(v_leak - v) + I`` only then),
``IAFCell`` for IF (``beta == 1``) nodes, ``LIFCell`` for ``norse_jump`` CubaLIF nodes,
``LIBoxCell``/``LICell`` for LI/CubaLI readouts. Everything else goes through documented
adapters, recorded in :attr:`SimResult.adapters`:

* ``ge``: Norse fires on ``v - v_th > 0``; ``v_th = nextafter(theta, -inf)`` makes that
  ``v >= theta`` exactly; a subtract reset then gets a ``reset_method`` that subtracts
  ``theta`` itself (Norse's ``reset_subtract`` with the true threshold).
* reset ``none``: a ``reset_method`` that returns ``v``.
* composite step (subtract/none reset on cells whose reset is hard-wired to a value reset,
  delayed resets, ``euler`` with ``v_leak != 0``): the dynamics run in Norse's leaky
  integrator of the same family (``LIBoxCell`` = the exact ``euler`` order, ``LICell`` =
  ``LIFCell`` without firing, ``IAFCell`` with firing disabled), then Norse's
  ``threshold`` and ``reset_value``/``reset_subtract`` (norse/torch/functional/reset.py).
  Delayed (snnTorch ``reset_delay``) resets apply the previous step's spikes around it.
* ``beta`` (snnTorch/custom LIF ``U = beta*U + gain*I``): Norse's update is
  ``v + dt*tau_inv*((v_leak - v) + i)``; with ``dt*tau_inv = 1 - beta`` and
  ``i = gain*I/(1 - beta)`` it is algebraically equal, not bit-equal (about 1 ulp per step).
  Same for CubaLIF ``beta`` (``tau_syn_inv = 1 - alpha``) and the SpikingJelly ``tau`` forms
  (``tau_inv = 1/tau``). Spikes agree unless a membrane lies within rounding of threshold.
* CubaLIF ``norse`` (Norse <= 1.0 order): the cell gets zero input and the input is added to
  the returned synaptic current afterwards.
"""

from __future__ import annotations

from typing import Any, Dict, List

import nir
import numpy as np
import torch
import torch.nn as nn
from norse.torch.functional.iaf import IAFFeedForwardState, IAFParameters
from norse.torch.functional.leaky_integrator import LIParameters, LIState
from norse.torch.functional.leaky_integrator_box import LIBoxParameters, LIBoxState
from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters
from norse.torch.functional.lif_box import LIFBoxFeedForwardState, LIFBoxParameters
from norse.torch.functional.reset import reset_subtract, reset_value
from norse.torch.functional.threshold import threshold
from norse.torch.module.iaf import IAFCell
from norse.torch.module.leaky_integrator import LICell
from norse.torch.module.leaky_integrator_box import LIBoxCell
from norse.torch.module.lif import LIFCell
from norse.torch.module.lif_box import LIFBoxCell

from ..errors import SnnexportError
from ..extension import NeuronExt, neuron_ext, plain_ext
from ..semantics import CUBA_TYPES, SPIKING_TYPES, require_form
from .base import SimResult, register_simulator
from .reference.nodes import Ctx, Rule, module_key
from .reference.program import Program, compile_graph
from .reference.runner import simulate

ADAPT_GE = ("ge compare: Norse fires on v - v_th > 0; v_th = nextafter(theta, -inf) (exactly v >= theta), "
            "a subtract reset subtracts theta itself")
ADAPT_NONE = "reset none: Norse reset_method returning v unchanged"
ADAPT_COMPOSITE = ("composite step: dynamics in Norse's leaky integrator (LIBoxCell/LICell/IAFCell without firing), "
                   "then Norse threshold() and reset_value/reset_subtract (the cell's own reset cannot express the node)")
ADAPT_DELAYED = "delayed reset (snnTorch reset_delay): previous step's spikes reset the membrane around Norse's step"
ADAPT_BETA = ("beta form U = beta*U + gain*I run as Norse v + (1-beta)*((gain/(1-beta))*I - v): algebraically equal, "
              "rounding may differ by ~1 ulp per step")
ADAPT_TAU = ("SpikingJelly tau form run as Norse v + (1/tau)*((I' + v_leak) - v): algebraically equal, rounding may "
             "differ by ~1 ulp per step")
ADAPT_SIGMOID = ("SpikingJelly PLIF form (decay factor k = sigmoid(w)) run as Norse v + k*((v_leak - v) + I'): "
                 "algebraically equal, rounding may differ by ~1 ulp per step")
ADAPT_RC = ("snnTorch Lapicque form run as Norse v + (1-decay)*((0 - v) + I'), I' = R*time_step/(R*C)/(1-decay)*I: "
           "algebraically equal, rounding may differ by ~1 ulp per step")
ADAPT_CUBA_BETA = ("CubaLIF beta form (snnTorch Synaptic) run as Norse LIFCell with tau_syn_inv = 1-alpha, "
                   "tau_mem_inv = 1-beta, current scaled by gain/(1-beta): algebraically equal, rounding may differ "
                   "by ~1 ulp per step")
ADAPT_OLD_ORDER = ("CubaLIF norse order (Norse <= 1.0: input joins the current after the step): Norse 1.1 cell gets "
                   "zero input, the input is added to its returned current")

_NEURON_TYPES = ("LIF", "IF", "CubaLIF", "LI", "CubaLI")


def _np(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


class NorseNeuron(nn.Module):
    """One NIR neuron node as Norse modules. ``step(I, state) -> (out, state, membrane)``
    with ``state = (v, i, previous spikes)``; ``out`` is spikes, or the membrane for LI/CubaLI."""

    def __init__(self, node, name: str, dtype: torch.dtype, graph_dt: float):
        super().__init__()
        self.name = name
        self.dtype = dtype
        tname = type(node).__name__
        ext: NeuronExt = neuron_ext(node, name) or plain_ext(node, graph_dt)
        require_form("norse", ext.dynamics, type(node).__name__, name)
        self.ext = ext
        self.node_type = tname
        self.spiking = tname in SPIKING_TYPES
        self.cuba = tname in CUBA_TYPES
        shp = (node.output_type or {}).get("output")
        self.shape = tuple(int(s) for s in np.asarray(shp).tolist()) if shp is not None else None
        self._T = lambda a: torch.as_tensor(_np(a)).to(dtype)  # noqa: E731
        self.P = {k: _np(v) for k, v in ext.run_params(dtype == torch.float32).items()}
        self.v_init = self._T(self.P["v_init"]) if ext.v_init() is not None else None
        self.v_leak_np = _np(getattr(node, "v_leak", 0.0))
        if self.spiking:
            self.theta = self._T(node.v_threshold)
            self.v_reset = self._T(node.v_reset)
        self.adapters: List[str] = []
        self._configure()
        self._build()

    # ---------------------------------------------------------------- configuration
    def _configure(self) -> None:
        ext, P, where = self.ext, self.P, self.name
        d = ext.dynamics
        self.order = "jump"  # cells: input joins the current before the membrane step
        self.tau_syn_inv = None
        if not self.cuba:
            self.kind = "box"
            if d == "euler":
                self.dt, self.tau_mem_inv, self.v_leak, scale = ext.dt, P["tau_mem_inv"], self.v_leak_np, P["r"]
                # Norse LIFBox computes (I + v_leak) - v: the euler order only when v_leak == 0
                self.box_exact = bool(np.all(self.v_leak_np == 0))
            elif d == "beta":
                beta, gain = P["beta"], P["gain"]
                if np.all(beta == 1.0):
                    self.kind, self.dt, scale = "iaf", ext.dt, gain
                    self.tau_mem_inv, self.v_leak = None, np.zeros(1)
                elif np.any(beta == 1.0):
                    raise SnnexportError(f"node {where!r}: per-neuron beta mixing 1 (no leak) and < 1 has no Norse cell")
                else:
                    self.dt, self.tau_mem_inv, self.v_leak = 1.0, 1.0 - beta, np.zeros(1)
                    scale = gain / (1.0 - beta)
                    self.adapters.append(ADAPT_BETA)
                self.box_exact = True
            elif d in ("tau_decay_input", "tau"):
                tau, gain = P["tau"], P["gain"]
                self.dt, self.tau_mem_inv, self.v_leak = 1.0, 1.0 / tau, self.v_leak_np
                scale = gain if d == "tau_decay_input" else tau * gain
                self.box_exact = True
                self.adapters.append(ADAPT_TAU)
            elif d in ("sigmoid_decay_input", "sigmoid"):  # PLIF: v + k*((v_leak - v) + I')
                k, gain = P["k"], P["gain"]
                self.dt, self.tau_mem_inv, self.v_leak = 1.0, k, self.v_leak_np
                scale = gain if d == "sigmoid_decay_input" else gain / k
                self.box_exact = True
                self.adapters.append(ADAPT_SIGMOID)
            elif d == "rc":  # Lapicque: v + (1-decay)*((0 - v) + I'), I' = R*rc_inv*time_step/(1-decay) * I
                k = 1.0 - P["decay"]
                if np.any(k <= 0):
                    raise SnnexportError(f"node {where!r}: rc dynamics with decay >= 1 has no Norse leaky cell")
                self.dt, self.tau_mem_inv, self.v_leak = 1.0, k, np.zeros(1)
                scale = P["r"] * P["rc_inv"] * P["time_step"] / k
                self.box_exact = True
                self.adapters.append(ADAPT_RC)
            else:
                raise SnnexportError(f"node {where!r}: dynamics {d!r} has no Norse equivalent")
        else:
            self.kind = "cell"
            if d in ("norse_jump", "norse"):
                self.dt, self.tau_mem_inv, self.tau_syn_inv = ext.dt, P["tau_mem_inv"], P["tau_syn_inv"]
                self.v_leak, scale = self.v_leak_np, P["syn_gain"]
                if d == "norse":
                    self.order = "after"
                    self.adapters.append(ADAPT_OLD_ORDER)
            elif d == "beta":
                alpha, beta = P["alpha"], P["beta"]
                if np.any(beta == 1.0):
                    raise SnnexportError(f"node {where!r}: CubaLIF beta form with beta == 1 has no Norse LIFCell equivalent")
                self.dt, self.tau_mem_inv, self.tau_syn_inv = 1.0, 1.0 - beta, 1.0 - alpha
                self.v_leak = np.zeros(1)
                scale = P["syn_gain"] * P["gain"] / (1.0 - beta)
                self.adapters.append(ADAPT_CUBA_BETA)
            else:
                raise SnnexportError(f"node {where!r}: CubaLIF dynamics {d!r} has no Norse equivalent")
            self.box_exact = True
        self.scale = None if np.all(scale == 1.0) else self._T(scale)
        if self.spiking:
            delayed = ext.reset_timing in ("delayed", "delayed_after") and ext.reset != "none"
            self.delayed = delayed
            self.after = ext.reset_timing == "delayed_after"
            if ext.compare == "ge":
                self.adapters.append(ADAPT_GE)
            if ext.reset == "none":
                self.adapters.append(ADAPT_NONE)
            if delayed:
                self.adapters.append(ADAPT_DELAYED)
                self.native = False
            elif self.kind == "box":
                self.native = self.box_exact
            else:  # IAFCell and LIFCell reset to v_reset, nothing else
                self.native = ext.reset == "value"
            if not self.native:
                self.adapters.append(ADAPT_COMPOSITE)
        else:  # readouts run in LIBoxCell/LICell, the exact euler/norse_jump order for any v_leak
            self.delayed, self.native = False, False

    def _build(self) -> None:
        """(Re)build the Norse modules from the current parameters."""
        T, dt = self._T, float(self.dt)
        v_leak = T(self.v_leak)
        tau_m = T(self.tau_mem_inv) if self.tau_mem_inv is not None else None
        tau_s = T(self.tau_syn_inv) if self.tau_syn_inv is not None else None
        inf = torch.tensor(float("inf"), dtype=self.dtype)
        zero = torch.zeros((), dtype=self.dtype)
        if self.spiking:
            theta = self.theta
            self.v_th = torch.nextafter(theta, torch.full_like(theta, -float("inf"))) if self.ext.compare == "ge" \
                else theta
        # the leaky integrator used for the dynamics (composite steps, LI/CubaLI readouts)
        if self.kind == "box":
            self.integrator = LIBoxCell(LIBoxParameters(tau_mem_inv=tau_m, v_leak=v_leak), dt=dt)
        elif self.kind == "iaf":
            self.integrator = IAFCell(IAFParameters(v_th=inf, v_reset=zero, method="heaviside"), dt=dt)
        else:
            self.integrator = LICell(LIParameters(tau_syn_inv=tau_s, tau_mem_inv=tau_m, v_leak=v_leak), dt=dt)
        self.cell = None
        if self.spiking and self.native:
            if self.kind == "box":
                self.cell = LIFBoxCell(LIFBoxParameters(tau_mem_inv=tau_m, v_leak=v_leak, v_th=self.v_th,
                                                        v_reset=self.v_reset, method="heaviside",
                                                        reset_method=self._reset_method()), dt=dt)
            elif self.kind == "iaf":
                self.cell = IAFCell(IAFParameters(v_th=self.v_th, v_reset=self.v_reset, method="heaviside"), dt=dt)
            else:
                self.cell = LIFCell(LIFParameters(tau_syn_inv=tau_s, tau_mem_inv=tau_m, v_leak=v_leak, v_th=self.v_th,
                                                  v_reset=self.v_reset, method="heaviside"), dt=dt)

    def _reset_method(self):
        reset = self.ext.reset
        if reset == "value":
            return reset_value
        if reset == "none":
            return lambda z, v, v_reset, th: v
        if self.ext.compare == "gt":
            return reset_subtract
        theta = self.theta
        return lambda z, v, v_reset, th: reset_subtract(z, v, v_reset, theta)  # subtract theta, not nextafter

    def set_threshold(self, theta) -> None:
        """Change the firing threshold (e.g. to check that a verifier notices)."""
        self.theta = torch.broadcast_to(torch.as_tensor(theta, dtype=self.dtype), self.theta.shape).clone()
        self._build()

    # ---------------------------------------------------------------- running
    def init(self, batch: int):
        z = torch.zeros((batch, *self.shape), dtype=self.dtype)
        v = z.clone() if self.v_init is None else torch.broadcast_to(self.v_init, z.shape).clone()  # SpikingJelly: v_reset
        return (v, z.clone(), z.clone())

    def _integrate(self, I: torch.Tensor, v: torch.Tensor, i: torch.Tensor):
        """Dynamics only, in Norse's leaky integrator: returns (v, i)."""
        if self.kind == "box":
            v, _ = self.integrator(I, LIBoxState(v=v))
            return v, i
        if self.kind == "iaf":
            _, s = self.integrator(I, IAFFeedForwardState(v=v))
            return s.v, i
        if self.order == "after":
            v, s = self.integrator(torch.zeros_like(I), LIState(v=v, i=i))
            return v, s.i + I
        v, s = self.integrator(I, LIState(v=v, i=i))
        return v, s.i

    def step(self, I: torch.Tensor, state):
        v, i, s_prev = state
        if self.scale is not None:
            I = self.scale * I
        if not self.spiking:
            v, i = self._integrate(I, v, i)
            return v, (v, i, s_prev), v
        reset = self.ext.reset
        if self.delayed and reset == "value" and not self.after:
            v = reset_value(s_prev, v, self.v_reset, self.theta)
        if self.native:
            if self.kind == "box":
                z, s = self.cell(I, LIFBoxFeedForwardState(v=v))
                return z, (s.v, i, z), None
            if self.kind == "iaf":
                z, s = self.cell(I, IAFFeedForwardState(v=v))
                return z, (s.v, i, z), None
            if self.order == "after":
                z, s = self.cell(torch.zeros_like(I), LIFFeedForwardState(v=v, i=i))
                return z, (s.v, s.i + I, z), None
            z, s = self.cell(I, LIFFeedForwardState(v=v, i=i))
            return z, (s.v, s.i, z), None
        v, i = self._integrate(I, v, i)
        if self.delayed and reset == "subtract":
            v = reset_subtract(s_prev, v, self.v_reset, self.theta)
        if self.delayed and reset == "value" and self.after:  # snnTorch zero reset with reset_delay: after the update
            v = reset_value(s_prev, v, self.v_reset, self.theta)
        z = threshold(v - self.v_th, "heaviside", 0.0)
        membrane = v
        if not self.delayed:
            if reset == "value":
                v = reset_value(z, v, self.v_reset, self.theta)
            elif reset == "subtract":
                v = reset_subtract(z, v, self.v_reset, self.theta)
        return z, (v, i, z), membrane


def _prepare(node, ctx: Ctx) -> Dict[str, Any]:
    neuron = NorseNeuron(node, ctx.name, ctx.dtype, ctx.dt)
    return {"neuron": neuron, "shape": neuron.shape, "adapters": list(neuron.adapters)}


def _rule(spiking: bool) -> Rule:
    return Rule(_prepare, lambda x, s, p: p["neuron"].step(x, s), lambda p, b: p["neuron"].init(b),
                spiking=spiking, neuron=True)


NORSE_RULES: Dict[str, Rule] = {t: _rule(t in SPIKING_TYPES) for t in _NEURON_TYPES}


class NorseNetwork(nn.Module):
    """A NIR graph as Norse modules. ``forward(x [T, B, ...])`` returns the readout of the
    first Output node; :meth:`run` returns the full :class:`SimResult`. ``neurons`` maps
    each neuron node name to its :class:`NorseNeuron` (``.cell`` / ``.integrator`` are the
    Norse modules)."""

    def __init__(self, graph: nir.NIRGraph, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.program: Program = compile_graph(graph, dtype, rules=NORSE_RULES)
        self.neurons: Dict[str, NorseNeuron] = {n: p["neuron"] for n, p in self.program.params.items() if "neuron" in p}
        self.modules_by_node = nn.ModuleDict()
        for n, m in self.neurons.items():  # keys made safe for torch (node names may be `forward`, `a.b`)
            self.modules_by_node[module_key(n, self.modules_by_node)] = m

    @property
    def adapters(self) -> List[str]:
        return sorted({a for m in self.neurons.values() for a in m.adapters})

    def run(self, x: torch.Tensor) -> SimResult:
        res = simulate(self.program, x.to(self.program.dtype))
        res.adapters = self.adapters
        return res

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(next(iter(self.run(x).readout.values())))


def to_norse(graph: nir.NIRGraph, dtype: torch.dtype = torch.float64) -> NorseNetwork:
    """Build a Norse network (``torch.nn.Module``) that runs ``graph`` with the snnexport semantics."""
    return NorseNetwork(graph, dtype)


@register_simulator("norse", default=True, needs=("norse",), rank=2)
def run_norse(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, **_: Any) -> SimResult:
    return to_norse(graph, dtype).run(x.to(dtype))
