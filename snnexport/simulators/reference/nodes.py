"""One rule per NIR node type: ``prepare(node, ctx) -> params`` and a pure step.

Every rule's step is ``step(x, state, params) -> (y, state, membrane)`` where ``x`` is the
sum of the node's incoming edges at this time step (``[B, *shape]``), ``state`` is whatever
``init(params, batch)`` returned (``None`` for stateless nodes) and ``membrane`` is the
value compared with the threshold (neurons) or ``None``. A stateful non-neuron rule (``Delay``)
starts from ``state = None`` and returns its next state; its ``over_time(x [T, B, ...], params)``
runs all steps at once for the time-batched engine. Semantics per node are written
in SEMANTICS.md beside this file; the neuron equations are those of
:mod:`snnexport.extension`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import SnnexportError
from ...extension import NeuronExt, neuron_ext, node_op, plain_ext
from ...semantics import CUBA_TYPES, EULER_FORMS, NEURON_TYPES, SPIKING_TYPES, delay_groups, delay_steps, require_form


@dataclass
class Rule:
    prepare: Callable[[Any, "Ctx"], Dict[str, Any]]
    step: Callable[[torch.Tensor, Any, Dict[str, Any]], tuple]
    init: Callable[[Dict[str, Any], int], Any] = lambda p, b: None
    spiking: bool = False
    neuron: bool = False
    stateful: bool = False  # a non-neuron node with state across steps (Delay)
    over_time: Optional[Callable[[torch.Tensor, Dict[str, Any]], torch.Tensor]] = None  # all T steps at once


@dataclass
class Ctx:
    name: str
    dtype: torch.dtype
    dt: float
    in_shape: Optional[tuple] = None


RULES: Dict[str, Rule] = {}


def rule(*type_names: str, **kw):
    def deco(fn_pair):
        prepare, step = fn_pair()
        for t in type_names:
            RULES[t] = Rule(prepare, step, **kw)
        return fn_pair

    return deco


def T(a, ctx: Ctx) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(ctx.dtype)


def _stateless(fn):
    return lambda x, s, p: (fn(x, p), None, None)


# ---------------------------------------------------------------- linear maps

@rule("Input", "Output")
def _identity():
    return (lambda node, ctx: {}), _stateless(lambda x, p: x)


@rule("Affine")
def _affine():
    return (lambda n, c: {"w": T(n.weight, c), "b": T(n.bias, c)}), _stateless(lambda x, p: F.linear(x, p["w"], p["b"]))


@rule("Linear")
def _linear():
    return (lambda n, c: {"w": T(n.weight, c)}), _stateless(lambda x, p: F.linear(x, p["w"]))


def conv_params(n, c, dims):
    pad = n.padding if isinstance(n.padding, str) else tuple(int(v) for v in np.atleast_1d(n.padding))
    as_t = lambda v: tuple(int(x) for x in np.broadcast_to(np.atleast_1d(v), (dims,)))  # noqa: E731
    return {"w": T(n.weight, c), "b": T(n.bias, c), "stride": as_t(n.stride), "padding": pad if isinstance(pad, str) else as_t(pad),
            "dilation": as_t(n.dilation), "groups": int(n.groups)}


def _conv2d_prepare(n, c):
    from ...conv_transpose import meta

    m = meta(n)
    if m is None:
        return conv_params(n, c, 2)
    # transposed convolution (snnexport.conv_transpose): PyTorch's own op on the source's weight
    return {"transposed": True, "w": T(m["weight"], c), "b": T(n.bias, c), "stride": m["stride"], "padding": m["padding"],
            "output_padding": m["output_padding"], "dilation": m["dilation"], "groups": m["groups"]}


def _conv2d_step(x, p):
    if p.get("transposed"):
        return F.conv_transpose2d(x, p["w"], p["b"], p["stride"], p["padding"], p["output_padding"], p["groups"],
                                  p["dilation"])
    return F.conv2d(x, p["w"], p["b"], p["stride"], p["padding"], p["dilation"], p["groups"])


@rule("Conv2d")
def _conv2d():
    return _conv2d_prepare, _stateless(_conv2d_step)


@rule("Conv1d")
def _conv1d():
    return (lambda n, c: conv_params(n, c, 1)), _stateless(
        lambda x, p: F.conv1d(x, p["w"], p["b"], p["stride"], p["padding"], p["dilation"], p["groups"]))


@rule("Flatten")
def _flatten():
    def prepare(n, c):
        start = int(n.start_dim)
        end = int(n.end_dim)
        # NIR dims are per sample; the batch dim sits in front
        return {"start": start + 1 if start >= 0 else start, "end": end + 1 if end >= 0 else end}

    return prepare, _stateless(lambda x, p: x.flatten(p["start"], p["end"]))


def pool_params(n, c):
    two = lambda v: tuple(int(x) for x in np.broadcast_to(np.atleast_1d(v), (2,)))  # noqa: E731
    return {"k": two(n.kernel_size), "s": two(n.stride), "p": two(n.padding)}


def _avg_or_max_params(n, c):
    """An ``AvgPool2d`` node may carry the ``max_pool2d`` operation extension (snnexport.extension)."""
    p = pool_params(n, c)
    if node_op(n) == "max_pool2d":
        p["fn"] = lambda x: F.max_pool2d(x, p["k"], p["s"], p["p"])
    else:
        p["fn"] = lambda x: F.avg_pool2d(x, p["k"], p["s"], p["p"], count_include_pad=True)
    return p


@rule("AvgPool2d")
def _avgpool():
    return _avg_or_max_params, _stateless(lambda x, p: p["fn"](x))


@rule("SumPool2d")
def _sumpool():
    return pool_params, _stateless(lambda x, p: F.avg_pool2d(x, p["k"], p["s"], p["p"], divisor_override=1))


ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid}  # Scale nodes with an snnexport op (extension)


def _scale_prepare(n, c):
    from ...extension import scalar, node_ext

    op = scalar(node_ext(n).get("op"))
    if op is None:
        return {"s": T(n.scale, c)}
    if op not in ACTIVATIONS:
        raise SnnexportError(f"node {c.name!r}: unknown snnexport op {op!r} on a Scale node (known: {', '.join(ACTIVATIONS)})")
    return {"act": ACTIVATIONS[op]}


@rule("Scale")
def _scale():
    return _scale_prepare, _stateless(lambda x, p: p["act"](x) if "act" in p else x * p["s"])


@rule("Threshold")
def _threshold():
    return (lambda n, c: {"t": T(n.threshold, c)}), _stateless(lambda x, p: (x > p["t"]).to(x.dtype))


# ---------------------------------------------------------------- delay

def delay_prepare(n, c: Ctx) -> Dict[str, Any]:
    steps = delay_steps(n.delay, c.dt, c.name)
    groups = [(k, None if m is None else torch.from_numpy(m)) for k, m in delay_groups(steps)]
    return {"groups": groups, "max": max(k for k, _ in groups), "name": c.name, "steps": torch.as_tensor(np.asarray(steps))}


def _select(mask, v, y, p):
    try:
        return torch.where(mask, v, y)
    except RuntimeError:  # per-element delays that do not match the data (a graph built without type checks)
        raise SnnexportError(f"node {p['name']!r}: Delay has {list(mask.shape)} delays, its input has per-sample shape "
                             f"{list(v.shape[-max(mask.dim(), 1):])}") from None


def delay_step(x, history, p):
    """``y = x[t - d]`` per element. ``history``: the last inputs, newest last, at most
    ``max(d)`` of them (``None`` at t = 0: nothing has arrived, a missing past value is 0).
    A tuple of the step inputs themselves: nothing is copied, and a delay longer than the run
    costs no memory beyond the run's own inputs."""
    history = history or ()
    y = None
    for k, mask in p["groups"]:
        v = x if k == 0 else history[-k] if k <= len(history) else torch.zeros_like(x)
        y = v if mask is None else _select(mask, v, y, p)
    new = (history + (x,))[-p["max"]:] if p["max"] else ()
    return y, new, None


def delay_over_time(x, p):
    """All steps at once (``x [T, B, ...]``): the input shifted by ``d`` steps along time, zeros
    in front. One delay: a slice; several: one ``gather`` from the zero-padded input at
    ``t + D - d`` per element (a copy, whatever the number of distinct delays)."""
    T = x.shape[0]
    if len(p["groups"]) == 1:
        k = p["groups"][0][0]
        if k == 0:
            return x
        if k >= T:
            return torch.zeros_like(x)
        return torch.cat([x.new_zeros((k, *x.shape[1:])), x[:T - k]])
    D = min(p["max"], T)
    padded = torch.cat([x.new_zeros((D, *x.shape[1:])), x])  # padded[D + t] = x[t]
    t = torch.arange(T).view(T, *([1] * (x.dim() - 1)))
    try:
        index = (t + (D - p["steps"].clamp(max=D))).expand_as(x)  # d >= T reads the zeros in front
    except RuntimeError:
        raise SnnexportError(f"node {p['name']!r}: Delay has {list(p['steps'].shape)} delays, its input has per-sample "
                             f"shape {list(x.shape[2:])}") from None
    return torch.gather(padded, 0, index)


RULES["Delay"] = Rule(delay_prepare, delay_step, stateful=True, over_time=delay_over_time)


# ---------------------------------------------------------------- neurons

def _neuron_prepare(node, ctx: Ctx) -> Dict[str, Any]:
    ext = neuron_ext(node, ctx.name) or plain_ext(node, ctx.dt)
    name = type(node).__name__
    require_form("reference", ext.dynamics, name, ctx.name)
    p: Dict[str, Any] = {k: T(v, ctx) for k, v in ext.run_params(ctx.dtype == torch.float32).items()}
    shape = tuple(np.asarray(node.output_type["output"]).tolist()) if node.output_type.get("output") is not None else None
    p["ext"] = ext
    p["shape"] = shape
    p["cuba"] = name in CUBA_TYPES
    p["spiking"] = name in SPIKING_TYPES
    p["v_leak"] = T(getattr(node, "v_leak", 0.0), ctx)
    if p["spiking"]:
        p["thr"] = T(node.v_threshold, ctx)
        p["v_reset"] = T(node.v_reset, ctx)
    if ext.dynamics in EULER_FORMS:
        p["dt"] = torch.tensor(ext.dt, dtype=ctx.dtype)
        p["a_mem"] = p["dt"] * p["tau_mem_inv"]  # Norse computes dt * tau_inv first
        if ext.dynamics in ("norse", "norse_jump"):
            p["a_syn"] = -p["dt"] * p["tau_syn_inv"]
    return p


def _dynamics(U, J, I, p):
    """Membrane (and synaptic current) update; see snnexport.extension for the equations."""
    ext: NeuronExt = p["ext"]
    d = ext.dynamics
    if not p["cuba"]:
        if d == "beta":
            return p["beta"] * U + p["gain"] * I, J
        if d == "tau_decay_input":
            return U + (p["gain"] * I - (U - p["v_leak"])) / p["tau"], J
        if d == "tau":
            return U - (U - p["v_leak"]) / p["tau"] + p["gain"] * I, J
        if d == "euler":
            return U + p["a_mem"] * ((p["v_leak"] - U) + p["r"] * I), J
        if d == "sigmoid_decay_input":  # SpikingJelly PLIF: multiplies by k = sigmoid(w)
            return U + (p["gain"] * I - (U - p["v_leak"])) * p["k"], J
        if d == "sigmoid":
            return U - (U - p["v_leak"]) * p["k"] + p["gain"] * I, J
        if d == "rc":  # snnTorch Lapicque: input_*R*(1/(R*C))*time_step + (1 - time_step/(R*C))*mem
            return ((I * p["r"]) * p["rc_inv"]) * p["time_step"] + p["decay"] * U, J
    else:
        if d == "beta":
            J = p["alpha"] * J + p["syn_gain"] * I
            return p["beta"] * U + p["gain"] * J, J
        if d == "norse":  # membrane sees the old current; input joins the current afterwards
            U = U + p["a_mem"] * ((p["v_leak"] - U) + J)
            J = J + p["a_syn"] * J
            return U, J
        if d == "norse_jump":  # Norse 1.1: input joins the current first, the membrane sees the new current
            J = J + p["syn_gain"] * I
            U = U + p["a_mem"] * ((p["v_leak"] - U) + J)
            J = J + p["a_syn"] * J
            return U, J
    raise SnnexportError(f"unknown dynamics {d!r}")


def neuron_init(p, batch: int):
    shape = (batch, *p["shape"])
    z = torch.zeros(shape, dtype=p["v_leak"].dtype)
    U = torch.broadcast_to(p["v_init"], shape).clone() if "v_init" in p else z.clone()  # SpikingJelly: v_reset
    return (U, z.clone(), z.clone())  # membrane U, synaptic current J, previous spikes S


def neuron_step(I, state, p):
    U, J, S_prev = state
    ext: NeuronExt = p["ext"]
    delayed = ext.reset_timing in ("delayed", "delayed_after") and p["spiking"]
    after = ext.reset_timing == "delayed_after"
    if delayed and ext.reset == "value" and not after:
        U = torch.where(S_prev.bool(), p["v_reset"], U)
    U, J = _dynamics(U, J, I, p)
    if delayed and ext.reset == "subtract":
        U = U - S_prev * p["thr"]
    if delayed and ext.reset == "value" and after:  # snnTorch zero reset with reset_delay: base - reset*base
        U = torch.where(S_prev.bool(), p["v_reset"], U)
    if ext.dynamics == "norse" and p["cuba"]:
        J_next = J + p["syn_gain"] * I
    else:
        J_next = J
    if not p["spiking"]:
        return U, (U, J_next, S_prev), U
    S = (U >= p["thr"]) if ext.compare == "ge" else (U > p["thr"])
    S = S.to(U.dtype)
    membrane = U
    if not delayed:
        if ext.reset == "subtract":
            U = U - S * p["thr"]
        elif ext.reset == "value":
            U = torch.where(S.bool(), p["v_reset"], U)
    return S, (U, J_next, S), membrane


for _name in NEURON_TYPES:  # I: NIR's Integrator (outputs v)
    RULES[_name] = Rule(_neuron_prepare, neuron_step, neuron_init, spiking=_name in SPIKING_TYPES, neuron=True)


def module_key(name: str, taken: torch.nn.ModuleDict) -> str:
    """A ModuleDict key for a node name: torch refuses dots, empty names and anything that is
    already an attribute (``forward``, ``training``, ``__class__``), so such names get a suffix."""
    base = name.replace(".", "_") or "node"
    key, i = base, 1
    while key in taken or hasattr(taken, key):
        key, i = f"{base}_{i}", i + 1
    return key


def stateless_module_rule(build: Callable[[Any, "Ctx"], torch.nn.Module]) -> Rule:
    """A rule that runs a framework's own stateless module (nn.Linear, nn.Conv2d...)."""
    return Rule(lambda n, c: {"module": build(n, c)}, lambda x, s, p: (p["module"](x), None, None))


def unsupported(node_type: str, name: str) -> SnnexportError:
    return SnnexportError(
        f"node {name!r}: the reference simulator has no rule for NIR type {node_type} (supported: {', '.join(sorted(RULES))})"
    )
