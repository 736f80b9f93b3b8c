r"""Quantize a graph for Xylo Audio 2 and map it to :class:`~.xylo_sim.XyloNet`.

Float neuron (snnexport extension, ``beta`` form; other forms via their Euler factors)::

    J = alpha*J + syn_gain*W x      (CubaLIF; a LIF has no J: U = beta*U + gain*W x)
    U = beta*U + gain*J

Xylo neuron (xylo_sim.py): ``J = J + Wq x; J -= J >> dash_syn; U = U - (U >> dash_mem) + J``,
i.e. ``J = a*(J + Wq x)``, ``U = b*U + J`` with ``a = 1 - 2^-dash_syn``, ``b = 1 - 2^-dash_mem``.

Per neuron layer one scale ``s`` (all its incoming weights share it):

- ``dash = clip(round(-log2(1 - beta)), 1, 15)`` (4-bit), so ``beta = 0.95 -> 0.9375``; a
  LIF/IF without a synaptic current gets ``dash_syn = 1`` (the smallest current filter);
- a CubaLIF keeps its first-step contribution to ``U``: ``W_eff = W * gain * syn_gain / a``;
  a LIF/IF (no current) keeps its total charge, ``a/(1-a) * Wq = gain * W * s``:
  ``W_eff = W * gain * (1-a)/a`` (on shd this halves the spike mismatches of the first choice);
  ``s = 127 / max|W_eff|``; ``Wq = round(W_eff * s)`` (int8, rockpool's rounding);
- threshold ``theta_q = ceil(theta * s)`` for ``>=`` and ``floor(theta * s) + 1`` for ``>``
  (exact for integer membranes), clipped to ``[1, 32767]`` (int16);
- biases are dropped and reset is by subtraction (the mapper and the chip); hidden neurons
  emit up to 31 spikes per step, output neurons 1; hidden spikes arrive one step later.
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import nir
import numpy as np

from ..errors import SnnexportError
from ..semantics import SPIKING_TYPES
from ..extension import KEY, GraphExt, graph_ext, neuron_ext, node_ext, set_node_ext
from ..graph import execution_order
from . import structure
from .quantizers import Change, register_quantizer
from .xylo_sim import MAX_HIDDEN_SPIKES, MAX_OUTPUT_SPIKES, XyloNet

TARGET = "xylo-audio2"
SPIKING = SPIKING_TYPES  # the semantics table (snnexport/semantics.py)
WEIGHTS = ("Linear", "Affine")


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def float_neuron(node, name: str, dt: float) -> Dict[str, np.ndarray]:
    """beta, gain, alpha (None: no current), syn_gain, theta, compare of one neuron node."""
    t = type(node).__name__
    ext = neuron_ext(node, name)
    p = dict(ext.params) if ext else {}
    dyn = ext.dynamics if ext else None
    cmp = ext.compare if ext else "gt"
    one = np.ones(1)
    if t in ("LIF", "IF"):
        if dyn == "beta":
            beta, gain = p["beta"], p["gain"]
        elif dyn == "tau_decay_input":
            beta, gain = 1 - 1 / p["tau"], p["gain"] / p["tau"]
        elif dyn == "tau":
            beta, gain = 1 - 1 / p["tau"], p["gain"]
        elif dyn == "euler":
            beta, gain = 1 - dt * p["tau_mem_inv"], dt * p["tau_mem_inv"] * p["r"]
        elif t == "IF":
            beta, gain = one, dt * _arr(node.r)
        else:
            beta, gain = 1 - dt / _arr(node.tau), dt * _arr(node.r) / _arr(node.tau)
        alpha, syn_gain = None, one
    elif t == "CubaLIF":
        if dyn == "beta":
            alpha, syn_gain, beta, gain = p["alpha"], p["syn_gain"], p["beta"], p["gain"]
        elif dyn in ("norse", "norse_jump"):
            alpha, syn_gain = 1 - dt * p["tau_syn_inv"], p["syn_gain"]
            beta, gain = 1 - dt * p["tau_mem_inv"], dt * p["tau_mem_inv"]
        else:
            alpha, syn_gain = 1 - dt / _arr(node.tau_syn), dt * _arr(node.w_in) / _arr(node.tau_syn)
            beta, gain = 1 - dt / _arr(node.tau_mem), dt * _arr(node.r) / _arr(node.tau_mem)
    else:
        raise SnnexportError(f"node '{name}': {t} neurons have no Xylo counterpart (spiking LIF, IF, CubaLIF only)")
    return {"beta": _arr(beta), "gain": _arr(gain), "alpha": None if alpha is None else _arr(alpha),
            "syn_gain": _arr(syn_gain), "theta": _arr(node.v_threshold), "compare": cmp,
            "reset": ext.reset if ext else "value", "v_reset": _arr(getattr(node, "v_reset", 0.0))}


def dash_of(factor: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        d = np.round(-np.log2(np.clip(1.0 - factor, 0.0, None)))
    return np.clip(np.nan_to_num(d, posinf=15), 1, 15).astype(np.int64)


def format_values(v: np.ndarray) -> str:
    u = np.unique(np.round(np.asarray(v, dtype=np.float64).reshape(-1), 6))
    return f"{u[0]:g}" if u.size == 1 else f"{u.size} values in [{u.min():g}, {u.max():g}]"


@register_quantizer(TARGET)
def quantize_xylo(graph: nir.NIRGraph, ignore_fit: bool = False) -> Tuple[nir.NIRGraph, List[Change]]:
    import copy

    import torch

    from ..counting import count
    from ..sources.neurons import neuron_nodes
    from ..sources.registry import NeuronSpec
    from ..target_fit import fit_check
    from ..targets import load_targets

    gx = graph_ext(graph)
    if gx.input_kind != "spikes":
        raise SnnexportError("graph: Xylo Audio 2 takes input events (spike counts); this graph's input is analog")
    if gx.extra.get("quantized_for"):
        raise SnnexportError(f"graph: already quantized for {gx.extra['quantized_for']}")
    dt = float(gx.dt)
    counts = count(graph, torch.zeros((1, 1, *gx.input_shape), dtype=torch.float64))
    violations = [v for v in fit_check(load_targets()[TARGET], counts, graph) if not v.startswith("weight_bits")]
    hard = [v for v in violations if not v.split(":")[0] in ("hidden_neurons", "output_neurons", "max_inputs", "input_channels")]
    if hard or (violations and not ignore_fit):
        raise SnnexportError(f"graph does not fit {TARGET}: {violations[0]}" + (f" (and {len(violations) - 1} more)" if len(violations) > 1 else "")
                             + ("" if hard else "; --ignore-fit quantizes it for a simulated chip with larger pools"))
    order, _ = execution_order(graph)
    out_layers = {s for srcs in structure.output_sources(graph).values() for s in srcs}
    q = copy.deepcopy(graph)
    changes: List[Change] = [Change("graph", "fit", "float", "violations ignored: " + "; ".join(violations))] if violations else []
    for n in order:
        node = graph.nodes[n]
        if type(node).__name__ not in SPIKING:
            continue
        f = float_neuron(node, n, dt)
        shape = tuple(np.asarray(node.v_threshold).shape) or (1,)
        dm = np.broadcast_to(dash_of(f["beta"]), shape)
        ds = np.broadcast_to(dash_of(f["alpha"]) if f["alpha"] is not None else np.ones(1, np.int64), shape)
        a, b = 1.0 - 2.0 ** -ds, 1.0 - 2.0 ** -dm
        syn = structure.producers(graph, n)
        # first-step contribution kept for a CubaLIF; for a neuron without current, the total charge
        # a/(1-a) * Wq of the Xylo current filter equals the float jump
        keep = (1.0 / a) if f["alpha"] is not None else (1.0 - a) / a
        w_eff = {p: _arr(graph.nodes[p].weight) * np.reshape(f["gain"] * f["syn_gain"] * keep, (-1, 1)) for p in syn}
        wmax = max(float(np.abs(w).max()) for w in w_eff.values()) or 1.0
        s = 127.0 / wmax
        for p, w in w_eff.items():
            wq = np.clip(np.round(w * s), -128, 127)
            q.nodes[p] = nir.Linear(weight=wq)
            q.nodes[p].metadata = dict(getattr(graph.nodes[p], "metadata", None) or {})
            set_node_ext(q.nodes[p], chip={"target": TARGET, "scale": float(s), "weight_bits": 8})
            changes.append(Change(p, "weights", f"float ({format_values(graph.nodes[p].weight)})", f"int8 (scale {s:.6g})"))
            bias = getattr(graph.nodes[p], "bias", None)
            if bias is not None and np.any(_arr(bias) != 0):
                changes.append(Change(p, "bias", format_values(bias), "dropped", "the Xylo mapper does not transfer biases"))
        th = np.broadcast_to(f["theta"], shape) * s
        th_q = np.ceil(th) if f["compare"] == "ge" else np.floor(th) + 1
        if np.any(th_q > 32767) or np.any(th_q < 1):
            changes.append(Change(n, "threshold", format_values(th_q), "clipped to [1, 32767]", "int16 threshold"))
        th_q = np.clip(th_q, 1, 32767).astype(np.int64)
        role = "output" if n in out_layers else "hidden"
        spec = NeuronSpec(dynamics="beta", kind="CubaLIF", alpha=a, syn_gain=a, beta=b, gain=1.0, threshold=th_q.astype(np.float64),
                          reset="subtract", compare="ge")
        new = neuron_nodes(spec, shape, dt, n)[0][1]
        meta_src = node_ext(node)
        set_node_ext(new, chip={"target": TARGET, "role": role, "dash_mem": dm.astype(np.int64), "dash_syn": ds.astype(np.int64),
                                "threshold": th_q, "max_spikes": MAX_HIDDEN_SPIKES if role == "hidden" else MAX_OUTPUT_SPIKES,
                                "state_bits": 16},
                     **{k: v for k, v in meta_src.items() if k == "source_path"})
        q.nodes[n] = new
        changes.append(Change(n, "beta", format_values(f["beta"]), format_values(b), f"bitshift decay, dash_mem {format_values(dm)}"))
        if f["alpha"] is None:
            changes.append(Change(n, "synaptic current", "none", f"alpha {format_values(a)}", "Xylo neurons are current-based: dash_syn = 1"))
        else:
            changes.append(Change(n, "alpha", format_values(f["alpha"]), format_values(a), f"bitshift decay, dash_syn {format_values(ds)}"))
        changes.append(Change(n, "threshold", format_values(f["theta"]), f"{format_values(th_q)} (int16)", f"x scale {s:.6g}, fires on >="))
        if f["reset"] != "subtract":
            changes.append(Change(n, "reset", f"{f['reset']} (to {format_values(f['v_reset'])})", "subtract threshold", "the chip subtracts"))
        changes.append(Change(n, "spikes per step", "1", str(MAX_HIDDEN_SPIKES if role == "hidden" else MAX_OUTPUT_SPIKES),
                              "hidden neurons may fire several times per step" if role == "hidden" else "output neurons"))
        if role == "hidden" and _depth(graph, n, out_layers) > 0:
            changes.append(Change(n, "delay", "0", f"{_depth(graph, n, out_layers)} step(s)", "hidden spikes arrive one step later"))
    ext = GraphExt(**{**gx.__dict__, "extra": {**gx.extra, "quantized_for": TARGET}})
    q.metadata = {**dict(getattr(graph, "metadata", None) or {}), KEY: ext.to_meta()}
    return q, changes


def _depth(graph, n: str, out_layers) -> int:
    """Steps of delay of neuron node ``n``'s spikes relative to the float model."""
    d = 0
    for p in structure.producers(graph, n):
        for src in structure.producers(graph, p):
            if type(graph.nodes[src]).__name__ in SPIKING and src != n:
                d = max(d, _depth(graph, src, out_layers) + 1)
    return d


def layer_delays(graph) -> Dict[str, int]:
    out_layers = {s for srcs in structure.output_sources(graph).values() for s in srcs}
    return {n: _depth(graph, n, out_layers) for n, node in graph.nodes.items() if type(node).__name__ in SPIKING}


def _consecutive_slices(names, chip) -> Tuple[Dict[str, slice], int]:
    """Each population's neurons as consecutive indices of one chip array (as the chip numbers them), and the total."""
    out: Dict[str, slice] = {}
    o = 0
    for n in names:
        k = int(np.asarray(chip[n]["threshold"]).size)
        out[n], o = slice(o, o + k), o + k
    return out, o


def to_xylo_net(q: nir.NIRGraph) -> XyloNet:
    """The weight matrices and neuron parameters of a graph quantized for Xylo Audio 2."""
    order, _ = execution_order(q)
    chip = {n: node_ext(q.nodes[n]).get("chip") for n in order if type(q.nodes[n]).__name__ in SPIKING}
    if any(c is None for c in chip.values()):
        raise SnnexportError("graph: not quantized for xylo-audio2 (run `snnexport quantize --target xylo-audio2`)")
    hidden = [n for n in chip if str(chip[n]["role"]) == "hidden"]
    output = [n for n in chip if str(chip[n]["role"]) == "output"]
    sl, nh = _consecutive_slices(hidden, chip)
    osl, no = _consecutive_slices(output, chip)
    n_in = int(np.prod(graph_ext(q).input_shape))
    w_in, w_rec, w_out = np.zeros((n_in, nh), np.int64), np.zeros((nh, nh), np.int64), np.zeros((nh, no), np.int64)
    for n in hidden + output:
        for p in structure.producers(q, n):
            w = np.asarray(q.nodes[p].weight, dtype=np.float64).astype(np.int64).T  # [pre, post]
            for src in structure.producers(q, p):
                dst = sl[n] if n in sl else osl[n]
                if type(q.nodes[src]).__name__ == "Input":
                    w_in[:, dst] += w
                elif n in sl:
                    w_rec[sl[src], dst] += w
                else:
                    w_out[sl[src], dst] += w

    def cat(names, key):
        return np.concatenate([np.asarray(chip[n][key], np.int64).reshape(-1) for n in names]) if names else np.zeros(0, np.int64)

    return XyloNet(w_in, w_rec, w_out, cat(hidden, "dash_mem"), cat(hidden, "dash_syn"), cat(hidden, "threshold"),
                   cat(output, "dash_mem"), cat(output, "dash_syn"), cat(output, "threshold"), sl, osl)
