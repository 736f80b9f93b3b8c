r"""Our integer simulation of Loihi's documented arithmetic, as Lava 0.10's bit-accurate
CPU process models write it (``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``,
``lava/proc/lif/models.py`` ``AbstractPyLifModelFixed`` / ``PyLifModelBitAcc``).

Dense (binary spikes in): ``a(t+1) = shift(Wq @ s(t), weight_exp)`` with 8-bit ``Wq``, a left
shift for ``weight_exp > 0`` and an arithmetic right shift otherwise; every Dense delays by
one step (Lava sends the buffer of the previous step).

LIF, per step, with ``M = 2^23`` (24-bit states) and ``D(x, d) = sign(x*(4096-d)) * (|x*(4096-d)| >> 12)``:

    u = wrap24(D(u, du + 1) + (a << 6))          # ds_offset = 1: du = 4095 clears u every step
    v = clip(D(v, dv) + u + (bias_mant << bias_exp), -M+1, M-1)
    s = v > (vth << 6);  v[s] = 0

``wrap24``: ``x > M -> x - 2M``, then ``<= -M -> x + 2M`` (Lava's own wrap-around). Lava's
input port is declared int16; this model keeps the shifted activation in 64 bits (see
docs/hardware.md: the cross-check against Lava itself needs Python < 3.11 and was not run here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

M = 2 ** 23


@dataclass
class LoihiLayer:
    """One neuron population and the Dense connections into it."""

    name: str
    sources: List[str]            # producer per Dense: "input" or a population name
    weights: List[np.ndarray]     # [post, pre] int8 values, one per source
    weight_exp: List[int]
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias: np.ndarray              # bias_mant << bias_exp, added to v every step


@dataclass
class LoihiNet:
    layers: List[LoihiLayer] = field(default_factory=list)   # in execution order


def _decay(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    p = x * (4096 - d)
    return np.sign(p) * (np.abs(p) >> 12)


def _wrap24(x: np.ndarray) -> np.ndarray:
    w = np.where(x > M, x - 2 * M, x)
    return np.where(w <= -M, x + 2 * M, w)


def lif_step(u, v, a, layer: LoihiLayer):
    u = _wrap24(_decay(u, layer.du + 1) + (a << 6))
    v = np.clip(_decay(v, layer.dv) + u + layer.bias, -M + 1, M - 1)
    s = v > (layer.vth << 6)
    return u, np.where(s, 0, v), s


def dense(w: np.ndarray, exp: int, s: np.ndarray) -> np.ndarray:
    acc = s.astype(np.int64) @ w.T.astype(np.int64)
    return acc << exp if exp > 0 else acc >> -exp


def simulate(net: LoihiNet, x: np.ndarray) -> Dict[str, np.ndarray]:
    """Spikes ``[T, B, n]`` of every population for binary input ``x`` ``[T, B, n_in]``."""
    T, B = x.shape[:2]
    st = {L.name: (np.zeros((B, L.vth.size), np.int64), np.zeros((B, L.vth.size), np.int64)) for L in net.layers}
    buf = {(L.name, i): np.zeros((B, L.vth.size), np.int64) for L in net.layers for i in range(len(L.sources))}
    out = {L.name: np.zeros((T, B, L.vth.size), bool) for L in net.layers}
    for t in range(T):
        spikes = {"input": np.asarray(x[t]).reshape(B, -1) != 0}
        for L in net.layers:
            a = sum(buf[(L.name, i)] for i in range(len(L.sources)))
            u, v = st[L.name]
            u, v, s = lif_step(u, v, a, L)
            st[L.name] = (u, v)
            spikes[L.name] = s
            out[L.name][t] = s
        for L in net.layers:  # Dense buffers for the next step
            for i, (src, w, e) in enumerate(zip(L.sources, L.weights, L.weight_exp)):
                buf[(L.name, i)] = dense(w, e, spikes[src])
    return out
