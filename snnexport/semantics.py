"""The neuron semantics table: every dynamics form, the neuron node types, which of them spike,
and which backend runs which form. Every backend reads this one table
(:mod:`snnexport.extension` documents the equations and re-exports the names).

A backend that cannot run a form says so here, with the reason, in the form's ``unsupported``
entry; tests/test_semantics_conformance.py runs a one-neuron graph of every form in every
backend and requires the reference's spikes bit for bit unless the form declares the backend
unsupported -- so a new form must be implemented (or declared unsupported) everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple

# NIR neuron node types snnexport runs (I: NIR's Integrator, which outputs its membrane).
NEURON_TYPES = ("LIF", "IF", "CubaLIF", "LI", "CubaLI", "I")
# The ones that fire (the others are leaky-integrator readouts).
SPIKING_TYPES = ("LIF", "IF", "CubaLIF")
# The node types with a synaptic current J (the "cuba" forms below apply to them).
CUBA_TYPES = ("CubaLIF", "CubaLI")

# Every backend that executes neuron dynamics: the reference per step, its time-batched engine,
# the snnTorch and Norse importers, and the ONNX export (run in ONNX Runtime).
BACKENDS = ("reference", "batched", "snntorch", "norse", "onnx")


@dataclass(frozen=True)
class Form:
    """One dynamics form: its name, whether it is a synaptic-current (Cuba) form, the parameters
    it needs beyond the NIR node's fields, its update (as extension.py writes it), and the
    backends that cannot run it (backend -> why)."""

    name: str
    cuba: bool
    params: Tuple[str, ...]
    update: str
    unsupported: Mapping[str, str] = field(default_factory=dict)


FORMS: Tuple[Form, ...] = (
    Form("beta", False, ("beta", "gain"), "U = beta*U + gain*I"),
    Form("tau_decay_input", False, ("tau", "gain"), "U = U + (gain*I - (U - v_leak)) / tau"),
    Form("tau", False, ("tau", "gain"), "U = U - (U - v_leak) / tau + gain*I"),
    Form("euler", False, ("tau_mem_inv", "r"), "U = U + dt*tau_mem_inv*((v_leak - U) + r*I)"),
    Form("sigmoid_decay_input", False, ("k", "gain"), "U = U + (gain*I - (U - v_leak)) * k"),
    Form("sigmoid", False, ("k", "gain"), "U = U - (U - v_leak) * k + gain*I"),
    Form("rc", False, ("r", "rc_inv", "time_step", "decay"), "U = ((I*r)*rc_inv)*time_step + decay*U"),
    Form("beta", True, ("alpha", "syn_gain", "beta", "gain"), "J = alpha*J + syn_gain*I;  U = beta*U + gain*J"),
    Form("norse", True, ("tau_mem_inv", "tau_syn_inv", "syn_gain"),
         "U = U + dt*tau_mem_inv*((v_leak - U) + J);  J = J + (-dt*tau_syn_inv)*J;  (after fire/reset) J = J + syn_gain*I"),
    Form("norse_jump", True, ("tau_mem_inv", "tau_syn_inv", "syn_gain"),
         "J = J + syn_gain*I;  U = U + dt*tau_mem_inv*((v_leak - U) + J);  J = J + (-dt*tau_syn_inv)*J"),
)

# Forms whose membrane step is a = dt*tau_mem_inv (derived in the run dtype by every backend).
EULER_FORMS = ("euler", "norse", "norse_jump")
# What an Euler form's step reads instead of its rates: a_mem = dt*tau_mem_inv, a_syn = (-dt)*tau_syn_inv.
EULER_RATES = {"tau_mem_inv": "a_mem", "tau_syn_inv": "a_syn"}

DYNAMICS_PARAMS: Dict[str, tuple] = {f.name: f.params for f in FORMS if not f.cuba}
CUBA_DYNAMICS_PARAMS: Dict[str, tuple] = {f.name: f.params for f in FORMS if f.cuba}


def form(name: str, node_type: str) -> Optional[Form]:
    """The form ``name`` for a node of ``node_type`` (Cuba types have their own forms), or None."""
    cuba = node_type in CUBA_TYPES
    return next((f for f in FORMS if f.name == name and f.cuba == cuba), None)


def step_params(f: Form) -> Tuple[str, ...]:
    """The parameters a form's step reads, in the table's order (an Euler form's rates derived)."""
    return tuple(EULER_RATES.get(k, k) for k in f.params) if f.name in EULER_FORMS else f.params


def unsupported_reason(backend: str, name: str, node_type: str) -> Optional[str]:
    """Why ``backend`` cannot run form ``name`` on ``node_type`` (None when it can)."""
    f = form(name, node_type)
    if f is None:
        return f"unknown dynamics {name!r} for {node_type}"
    return f.unsupported.get(backend)


def require_form(backend: str, name: str, node_type: str, where: str) -> None:
    """One-line error when ``backend`` declares form ``name`` unsupported (every backend calls
    this before dispatching on the form)."""
    reason = unsupported_reason(backend, name, node_type)
    if reason is not None:
        from .errors import SnnexportError

        raise SnnexportError(f"node {where!r}: the {backend} backend cannot run dynamics {name!r} on {node_type}: {reason}")


# ---------------------------------------------------------------- NIR Delay
# NIR: y(t) = x(t - delay), delay in the graph's time unit (seconds, like tau and dt), a
# scalar or one value per element. snnexport runs it on the grid of dt: every element waits
# d = delay/dt whole steps; before its first delayed value arrives its output is 0 (the state
# at rest); d = 0 is the identity. Every backend reads d from :func:`delay_steps`.
DELAY_EQUATION = "y[t] = x[t - d], d = delay/dt whole steps per element; y[t] = 0 for t < d"
# relative: 0.003/0.001 = 2.9999999999999996 is 3 steps; a delay or dt stored in float32 (other
# exporters) is off by up to ~1.2e-7 each (float32(0.003)/0.001 = 3.0000000261), still 3 steps
DELAY_STEP_TOLERANCE = 1e-6
MAX_DELAY_STEPS = 10**9


def delay_steps(delay, dt: float, where: str):
    """The per-element delay of a NIR Delay node in whole steps of ``dt`` (int64, the shape of
    ``delay``); a one-line error naming the node, the value and ``dt`` when ``delay/dt`` is not
    a whole number (within DELAY_STEP_TOLERANCE), negative or absurdly long."""
    import numpy as np

    from .errors import SnnexportError

    d = np.asarray(delay, dtype=np.float64)
    steps = d / float(dt)
    whole = np.rint(steps)
    bad = ~np.isfinite(steps) | (np.abs(steps - whole) > DELAY_STEP_TOLERANCE * np.maximum(1.0, np.abs(steps)))
    if bad.any():
        i = int(np.flatnonzero(bad.reshape(-1))[0])
        v, s = float(d.reshape(-1)[i]), float(steps.reshape(-1)[i])
        raise SnnexportError(f"node {where!r}: Delay {v!r} at dt = {float(dt)!r} is {s:.6g} steps, not a whole number "
                             f"(snnexport runs whole-step delays only; the graph's dt may be wrong: pass --dt)")
    if (whole < 0).any():
        raise SnnexportError(f"node {where!r}: Delay {float(d.min())!r} is negative (NIR: y(t) = x(t - delay))")
    if (whole > MAX_DELAY_STEPS).any():
        raise SnnexportError(f"node {where!r}: Delay {float(d.max())!r} at dt = {float(dt)!r} is {float(whole.max()):.3g} "
                             f"steps, more than {MAX_DELAY_STEPS}")
    return whole.astype(np.int64)


def delay_groups(steps):
    """``[(k, mask)]`` over the distinct delays ``k`` of ``steps`` (ascending): ``mask`` (bool, the
    shape of ``steps``) marks the elements delayed by ``k``; ``None`` for the first group. The
    groups partition the elements, so ``y = v_first; y = where(mask_k, v_k, y)`` selects exactly."""
    import numpy as np

    arr = np.asarray(steps)
    ks = sorted({int(k) for k in arr.reshape(-1)}) or [0]
    return [(k, None if i == 0 else arr == k) for i, k in enumerate(ks)]
