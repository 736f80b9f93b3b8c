r"""Quantize a graph for Loihi 2 (Lava's bit-accurate arithmetic, loihi_sim.py).

Per neuron population, with ``W_eff = W * gain * syn_gain`` (snnexport extension factors)
and ``wmax = max |W_eff|`` over its Dense inputs:

- weights as Lava's ``Dense(weights=...)`` takes them, exact under Lava's 8-bit clip and
  truncation: ``Wq = round(254 * W_eff / wmax)`` for a single-sign matrix (excitatory
  ``[0, 255]`` / inhibitory ``[-255, 0]``), ``Wq = 2 * round(127 * W_eff / wmax)`` for a
  mixed-sign one (the sign takes one of the 8 bits: Lava drops the LSB);
- one ``weight_exp`` in ``[-8, 7]``, the largest with ``vth = round(theta * 254 * 2^weight_exp
  / wmax) <= 4096``: a membrane unit is then ``s = 64 * 254 * 2^weight_exp / wmax`` float
  units (``<< 6`` MSB alignment);
- ``dv = clip(round(4096 * (1 - beta)), 0, 4095)`` (12-bit, beta 0.95 -> 0.94995);
  ``du = clip(round(4096 * (1 - alpha)) - 1, 0, 4095)`` for a CubaLIF, ``du = 4095`` (the
  current is cleared every step: exact) for a LIF/IF;
- bias ``gain * b * s`` as a 13-bit mantissa with a 3-bit exponent;
- fires on ``v > vth << 6`` and resets to 0; one step of delay per Dense.
"""

from __future__ import annotations

import copy
import math
from typing import Dict, List, Tuple

import nir
import numpy as np

from ..errors import SnnexportError
from ..extension import KEY, GraphExt, graph_ext, node_ext, set_node_ext
from ..graph import execution_order
from . import structure
from .loihi_sim import LoihiLayer, LoihiNet, sign_mode
from .quantizers import Change, register_quantizer
from .xylo_quant import SPIKING, WEIGHTS, format_values, float_neuron

TARGET = "loihi2"
VTH_TARGET = 4096
WMAG = 254   # largest weight magnitude every Lava sign mode represents exactly (mixed: even values)


def _lava_dense_weights(w: np.ndarray, wmax: float) -> np.ndarray:
    q = np.round(WMAG * w / wmax)
    if q.min() < 0 < q.max():  # mixed sign: Lava keeps 7 magnitude bits and drops the LSB
        q = 2 * np.round(WMAG / 2 * w / wmax)
    return q


def _bias(b_eff: np.ndarray) -> Tuple[np.ndarray, int]:
    m = float(np.abs(b_eff).max()) if b_eff.size else 0.0
    e = 0 if m <= 4095 else min(7, math.ceil(math.log2(m / 4095)))
    return np.clip(np.round(b_eff / 2 ** e), -4096, 4095).astype(np.int64), e


@register_quantizer(TARGET)
def quantize_loihi2(graph: nir.NIRGraph, ignore_fit: bool = False) -> Tuple[nir.NIRGraph, List[Change]]:
    gx = graph_ext(graph)
    if gx.extra.get("quantized_for"):
        raise SnnexportError(f"graph: already quantized for {gx.extra['quantized_for']}")
    if gx.input_kind != "spikes":
        raise SnnexportError("graph: Loihi Dense layers take 1-bit spike input; this graph's input is analog")
    dt = float(gx.dt)
    order, _ = execution_order(graph)
    q = copy.deepcopy(graph)
    changes: List[Change] = []
    for n in order:
        node = graph.nodes[n]
        t = type(node).__name__
        if t not in SPIKING:
            if t not in WEIGHTS + ("Input", "Output", "Flatten"):
                raise SnnexportError(f"node '{n}': {t} is not supported by the loihi2 quantizer (Linear/Affine -> LIF/IF/CubaLIF chains)")
            continue
        f = float_neuron(node, n, dt)
        shape = tuple(np.asarray(node.v_threshold).shape) or (1,)
        prods = structure.producers(graph, n)
        if not prods or any(type(graph.nodes[p]).__name__ not in WEIGHTS for p in prods):
            raise SnnexportError(f"node '{n}': every input of a Loihi neuron must be a Linear/Affine (Dense) node")
        w_eff = {p: np.asarray(graph.nodes[p].weight, np.float64) * np.reshape(f["gain"] * f["syn_gain"], (-1, 1)) for p in prods}
        wmax = max(float(np.abs(w).max()) for w in w_eff.values()) or 1.0
        theta = np.broadcast_to(f["theta"], shape)
        exp = int(np.clip(math.floor(math.log2(VTH_TARGET * wmax / (WMAG * float(theta.max())))), -8, 7))
        s = 64 * WMAG * 2.0 ** exp / wmax
        vth = np.clip(np.round(theta * WMAG * 2.0 ** exp / wmax), 0, 2 ** 17 - 1).astype(np.int64)
        dv = np.broadcast_to(np.clip(np.round(4096 * (1 - f["beta"])), 0, 4095), shape).astype(np.int64)
        du = (np.broadcast_to(np.clip(np.round(4096 * (1 - f["alpha"])) - 1, 0, 4095), shape) if f["alpha"] is not None
              else np.full(shape, 4095)).astype(np.int64)
        b_eff = np.zeros(shape)
        for p, w in w_eff.items():
            wq = _lava_dense_weights(w, wmax)
            mode = sign_mode(wq)
            q.nodes[p] = nir.Linear(weight=wq)
            q.nodes[p].metadata = dict(getattr(graph.nodes[p], "metadata", None) or {})
            set_node_ext(q.nodes[p], chip={"target": TARGET, "weight_exp": exp, "weight_bits": 8, "sign_mode": mode})
            changes.append(Change(p, "weights", f"float ({format_values(graph.nodes[p].weight)})",
                                  f"8-bit {mode} Lava Dense weights, weight_exp {exp}",
                                  "mixed sign: even values, Lava drops the LSB" if mode == "mixed" else ""))
            b = getattr(graph.nodes[p], "bias", None)
            if b is not None:
                b_eff = b_eff + np.reshape(np.asarray(b, np.float64) * f["gain"], shape) * s
        mant, bexp = _bias(b_eff)
        if np.any(b_eff != 0):
            changes.append(Change(n, "bias", "float", f"13-bit mantissa, bias_exp {bexp}", "added to v every step"))
        new = copy.deepcopy(node)
        set_node_ext(new, chip={"target": TARGET, "du": du, "dv": dv, "vth": vth, "bias_mant": mant, "bias_exp": bexp,
                                "state_bits": 24})
        q.nodes[n] = new
        changes.append(Change(n, "beta", format_values(f["beta"]), format_values(1 - dv / 4096), f"12-bit decay, dv {format_values(dv)}"))
        if f["alpha"] is not None:
            changes.append(Change(n, "alpha", format_values(f["alpha"]), format_values(1 - (du + 1) / 4096), f"12-bit decay, du {format_values(du)}"))
        changes.append(Change(n, "threshold", format_values(theta), f"vth {format_values(vth)} (<< 6, fires on >)", f"scale {s:.6g} per unit"))
        if f["reset"] != "value" or np.any(f["v_reset"] != 0):
            changes.append(Change(n, "reset", f"{f['reset']}", "to 0", "Lava's LIF resets v to 0"))
        changes.append(Change(n, "delay", "0", f"{_delay(graph, n)} step(s)", "one step per Dense"))
    ext = GraphExt(**{**gx.__dict__, "extra": {**gx.extra, "quantized_for": TARGET}})
    q.metadata = {**dict(getattr(graph, "metadata", None) or {}), KEY: ext.to_meta()}
    return q, changes


def _delay(graph, n: str) -> int:
    d = 0
    for p in structure.producers(graph, n):
        for src in structure.producers(graph, p):
            if src != n and type(graph.nodes[src]).__name__ in SPIKING:
                d = max(d, _delay(graph, src) + 1)
            elif type(graph.nodes[src]).__name__ == "Input":
                d = max(d, 1)
    return d


def layer_delays(graph) -> Dict[str, int]:
    return {n: _delay(graph, n) for n, node in graph.nodes.items() if type(node).__name__ in SPIKING}


def to_loihi_net(q: nir.NIRGraph) -> LoihiNet:
    order, _ = execution_order(q)
    net = LoihiNet()
    for n in order:
        if type(q.nodes[n]).__name__ not in SPIKING:
            continue
        c = node_ext(q.nodes[n]).get("chip")
        if c is None or str(c.get("target")) != TARGET:
            raise SnnexportError("graph: not quantized for loihi2 (run `snnexport quantize --target loihi2`)")
        srcs, ws, es = [], [], []
        for p in structure.producers(q, n):
            src = structure.producers(q, p)[0]
            srcs.append("input" if type(q.nodes[src]).__name__ == "Input" else src)
            ws.append(np.asarray(q.nodes[p].weight, np.float64).astype(np.int64))
            es.append(int(node_ext(q.nodes[p])["chip"]["weight_exp"]))
        A = lambda k: np.asarray(c[k], np.int64).reshape(-1)  # noqa: E731
        net.layers.append(LoihiLayer(n, srcs, ws, es, A("du"), A("dv"), A("vth"), A("bias_mant"), A("bias_exp")))
    return net
