r"""Our integer simulation of Xylo Audio 2's documented arithmetic (one function per step).

The arithmetic is SynSense's bit-exact simulator's (xylosim 0.1.3, ``src/v2/cpp``,
``XyloLayer::evolve`` and ``XyloIAFNeuron::evolve``), written again with numpy over a
batch. All states are 16-bit signed and every addition saturates (``safe_add``). One time
step ``t``:

1. **Deliver** (``XyloLayer::deliver_spikes``), in this order, one presynaptic source at a
   time: input events ``min(x_t, 15)`` through ``W_in`` into the hidden currents; the hidden
   spike counts of step ``t-1`` (up to 31) through ``W_rec`` into the hidden currents and
   through ``W_out`` into the output currents: ``I = sat16(I + k * w)`` per source.
2. **Decay** the synaptic current: ``I = I - d(I, dash_syn)`` with
   ``d(v, s) = v >> s`` (arithmetic shift), but ``sign(v)`` when that is 0 and ``v != 0``.
3. **Integrate**: ``V = sat16(V + sat16(-d(V, dash_mem) + I))`` (biases are not mapped).
4. **Fire** on ``V >= theta``: ``n = min(max_spikes, V // theta)`` spikes, ``V = V - n*theta``;
   ``max_spikes`` is 31 for hidden neurons, 1 for output neurons.

Hidden spikes reach their targets one step later (step 1 of the next step), so each hidden
layer adds one step of delay; output neurons see the hidden spikes of the previous step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

INT16_MIN, INT16_MAX = -(2 ** 15), 2 ** 15 - 1
MAX_INPUT_SPIKES = 15
MAX_HIDDEN_SPIKES = 31
MAX_OUTPUT_SPIKES = 1


@dataclass
class XyloNet:
    """A mapped network: weights ``[pre, post]`` (int8 values) and per-neuron parameters."""

    w_in: np.ndarray
    w_rec: np.ndarray
    w_out: np.ndarray
    dash_mem: np.ndarray
    dash_syn: np.ndarray
    threshold: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn_out: np.ndarray
    threshold_out: np.ndarray
    hidden_slices: Dict[str, slice] = field(default_factory=dict)   # neuron node -> hidden ids
    output_slices: Dict[str, slice] = field(default_factory=dict)


def _sat(v: np.ndarray) -> np.ndarray:
    return np.clip(v, INT16_MIN, INT16_MAX)


def bitshift_decay(v: np.ndarray, dash: np.ndarray) -> np.ndarray:
    dv = v >> dash
    return np.where((dv == 0) & (v != 0), np.sign(v), dv)


def deliver(current: np.ndarray, sources: List[Tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Saturating delivery of every source ``(counts [B, pre], weights [pre, post])`` in order.

    Without saturation the order does not matter and one matrix product is exact; a batch
    element that could saturate is delivered one presynaptic source at a time, like the chip.
    """
    bound = np.abs(current).astype(np.int64)
    total = current.astype(np.int64)
    for k, w in sources:
        bound = bound + np.abs(k) @ np.abs(w)
        total = total + k @ w
    risky = np.nonzero((bound > INT16_MAX).any(axis=1))[0]
    out = total
    for b in risky:
        acc = current[b].astype(np.int64)
        for k, w in sources:
            for pre in np.nonzero(k[b])[0]:
                acc = _sat(acc + k[b, pre] * w[pre])  # repeated same-sign saturating adds = one clamp
        out[b] = acc
    return _sat(out)


def neuron_step(i_syn, v_mem, dash_syn, dash_mem, theta, max_spikes):
    """(i_syn, v_mem, spike counts) after decay, integration and firing (XyloIAFNeuron::evolve)."""
    i_syn = i_syn - bitshift_decay(i_syn, dash_syn)
    dv = -bitshift_decay(v_mem, dash_mem)
    dv = np.where(dv == 2 ** 15, INT16_MIN, dv)  # int16 negation of -32768 wraps on the chip
    dv = _sat(dv + i_syn)
    v_mem = _sat(v_mem + dv)
    n = np.where(v_mem >= theta, np.minimum(max_spikes, v_mem // theta), 0)
    return i_syn, v_mem - n * theta, n


def simulate(net: XyloNet, x: np.ndarray):
    """Run ``x`` (``[T, B, n_in]`` event counts) -> (hidden counts ``[T, B, Nh]``,
    output spikes ``[T, B, No]``, output membranes ``[T, B, No]``)."""
    T, B = x.shape[:2]
    nh, no = net.w_rec.shape[0], net.w_out.shape[1]
    i_h = np.zeros((B, nh), np.int64)
    v_h = np.zeros((B, nh), np.int64)
    i_o = np.zeros((B, no), np.int64)
    v_o = np.zeros((B, no), np.int64)
    prev = np.zeros((B, nh), np.int64)
    hid, out, vout = (np.zeros((T, B, nh), np.int64), np.zeros((T, B, no), np.int64), np.zeros((T, B, no), np.int64))
    w_in, w_rec, w_out = (np.asarray(w, np.int64) for w in (net.w_in, net.w_rec, net.w_out))
    for t in range(T):
        inp = np.clip(np.asarray(x[t], np.int64), 0, MAX_INPUT_SPIKES)
        i_h = deliver(i_h, [(inp, w_in), (prev, w_rec)])
        i_o = deliver(i_o, [(prev, w_out)])
        i_h, v_h, n_h = neuron_step(i_h, v_h, net.dash_syn, net.dash_mem, net.threshold, MAX_HIDDEN_SPIKES)
        i_o, v_o, n_o = neuron_step(i_o, v_o, net.dash_syn_out, net.dash_mem_out, net.threshold_out, MAX_OUTPUT_SPIKES)
        prev = n_h
        hid[t], out[t], vout[t] = n_h, n_o, v_o
    return hid, out, vout
