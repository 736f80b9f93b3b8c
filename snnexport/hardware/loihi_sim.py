r"""Our integer simulation of Loihi's documented arithmetic, as Lava 0.10's bit-accurate
CPU process models compute it (``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``,
``lava/proc/lif/models.py`` ``AbstractPyLifModelFixed`` / ``PyLifModelBitAcc``,
``lava/utils/weightutils.py``), checked bit for bit against Lava itself
(``scripts/lava_crosscheck.py``, ``tests/test_lava_crosscheck.py``).

Dense (binary spikes in), weights ``W`` as given to Lava's ``Dense(weights=W, weight_exp=e)``:

    Wl = truncate(clip(W))      # Lava's sign modes: mixed [-256, 255] with the LSB dropped
                                # ((w >> 1) << 1), excitatory [0, 255], inhibitory [-255, 0]
    a(t+1) = wrap32(shift(Wl @ s(t), e))   # << e or arithmetic >> -e; one step of delay;
                                           # the port carries int32

LIF, per step, with ``M = 2^23`` and ``D(x, d) = sign(x*(4096-d)) * (|x*(4096-d)| >> 12)``:

    u = wrap24(wrap32(D(u, du + 1) + wrap32(a << 6)))   # ds_offset = 1: du = 4095 clears u
    v = clip(wrap32(D(v, dv) + u + bias), -M+1, M-1)      # bias = bias_mant << bias_exp
    s = v > (vth << 6);  v[s] = 0

``wrap32`` is Lava's int32 state and port arithmetic (two's complement); ``wrap24`` is
Lava's own 24-bit wrap-around, kept as written: ``x > M -> x - 2M``, else ``x <= -M -> x + 2M``.
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
    weights: List[np.ndarray]     # [post, pre] integers as given to Lava's Dense, one per source
    weight_exp: List[int]
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_mant: np.ndarray
    bias_exp: np.ndarray

    @property
    def bias(self) -> np.ndarray:
        """``bias_mant << bias_exp`` (``>>`` for a negative exponent), as Lava's ``scale_bias``."""
        m, e = np.asarray(self.bias_mant, np.int64), np.asarray(self.bias_exp, np.int64)
        return _wrap32(np.where(e >= 0, m << np.maximum(e, 0), m >> np.maximum(-e, 0)))


@dataclass
class LoihiNet:
    layers: List[LoihiLayer] = field(default_factory=list)   # in execution order


def _wrap32(x):
    return ((np.asarray(x, np.int64) + 2 ** 31) & (2 ** 32 - 1)) - 2 ** 31


def _decay(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    p = x * (4096 - d)
    return np.sign(p) * (np.abs(p) >> 12)


def _wrap24(x: np.ndarray) -> np.ndarray:
    w = np.where(x > M, x - 2 * M, x)
    return np.where(w <= -M, x + 2 * M, w)


def _sat24(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -M + 1, M - 1)


def sign_mode(w: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: from the matrix's own extremes."""
    return "excitatory" if w.min() >= 0 else "inhibitory" if w.max() <= 0 else "mixed"


def lava_weights(w: np.ndarray) -> np.ndarray:
    """The weights Lava's bit-accurate Dense uses (``clip_weights`` then ``truncate_weights``,
    8 bits): a mixed-sign matrix keeps its sign in the 8 bits, so its LSB is dropped."""
    w = _wrap32(np.asarray(w, np.int64))   # Lava stores them int32
    mode = sign_mode(w)
    if mode == "inhibitory":
        return -np.clip(-w, 0, 255)
    if mode == "excitatory":
        return np.clip(w, 0, 255)
    return (np.clip(w, -256, 255) >> 1) << 1


def lif_step(u, v, a, layer: LoihiLayer):
    u = _wrap24(_wrap32(_decay(u, layer.du + 1) + _wrap32(_wrap32(a) << 6)))
    v = _sat24(_wrap32(_decay(v, layer.dv) + u + layer.bias))
    s = v > (layer.vth << 6)
    return u, np.where(s, 0, v), s


def dense(w: np.ndarray, exp: int, s: np.ndarray) -> np.ndarray:
    """Activation of one Dense for binary spikes ``s`` ``[B, pre]`` (``w`` already ``lava_weights``)."""
    acc = (np.asarray(s) != 0).astype(np.int64) @ w.T.astype(np.int64)
    return _wrap32(acc << exp if exp > 0 else acc >> -exp)


def simulate(net: LoihiNet, x: np.ndarray) -> Dict[str, np.ndarray]:
    """Spikes ``[T, B, n]`` of every population for binary input ``x`` ``[T, B, n_in]``."""
    T, B = x.shape[:2]
    st = {L.name: (np.zeros((B, L.vth.size), np.int64), np.zeros((B, L.vth.size), np.int64)) for L in net.layers}
    buf = {(L.name, i): np.zeros((B, L.vth.size), np.int64) for L in net.layers for i in range(len(L.sources))}
    wl = {(L.name, i): lava_weights(w) for L in net.layers for i, w in enumerate(L.weights)}
    out = {L.name: np.zeros((T, B, L.vth.size), bool) for L in net.layers}
    for t in range(T):
        spikes = {"input": np.asarray(x[t]).reshape(B, -1) != 0}
        for L in net.layers:
            a = _wrap32(sum(buf[(L.name, i)] for i in range(len(L.sources))))  # the int32 in-port adds them
            u, v = st[L.name]
            u, v, s = lif_step(u, v, a, L)
            st[L.name] = (u, v)
            spikes[L.name] = s
            out[L.name][t] = s
        for L in net.layers:  # Dense buffers for the next step
            for i, (src, e) in enumerate(zip(L.sources, L.weight_exp)):
                buf[(L.name, i)] = dense(wl[(L.name, i)], e, spikes[src])
    return out
