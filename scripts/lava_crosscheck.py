"""Cross-check our Loihi model (snnexport/hardware/loihi_sim.py) bit for bit against Lava's
bit-accurate CPU process models (Lava 0.10: PyDenseModelBitAcc, PyLifModelBitAcc).

Lava 0.10 needs Python < 3.11 and snnexport needs >= 3.11, so the check runs in two steps:

    # 1. here (snnexport env): network, input and our spikes into one .npz
    .venv/bin/python scripts/lava_crosscheck.py export GRAPH_loihi2.nir INPUT.npy OUT.npz [--sample K]
    .venv/bin/python scripts/lava_crosscheck.py random SEED OUT.npz   # random net at the integer edges
    # 2. in a Python 3.10 env with `pip install lava-nc==0.10.0` (no snnexport import)
    python scripts/lava_crosscheck.py compare OUT.npz

`export` takes every sample of INPUT ([T, B, ...]; --sample K: only sample K) and pads T with
as many zero steps as the deepest Dense chain, so every input-driven spike is compared.
`random` draws a network our quantizer would never emit (odd and out-of-range weights in every
sign mode, weight_exp -8..7, per-neuron vth and bias, skip and recurrent Dense, states that
wrap at 24 and saturate) to test the arithmetic itself.
`compare` builds, per sample, RingBuffer -> Dense -> LIF processes (one Dense per connection,
Loihi2SimCfg(select_tag="fixed_pt")), runs T steps, and prints per population the spike
positions that differ from ours; exit status 1 if any differs.
"""

from __future__ import annotations

import sys

import numpy as np


def _use_this_checkout() -> None:
    """Import snnexport from this repository, not from whatever the venv has installed."""
    root = __file__.rsplit("/scripts/", 1)[0] if "/scripts/" in __file__ else ".."
    if root not in sys.path:
        sys.path.insert(0, root)


def _save(out: str, net, x: np.ndarray, ours) -> None:
    """x [S, T, n_in] binary; ours {name: [T, S, n]}."""
    arrays = {"x": (x != 0).astype(np.int32), "names": np.array([L.name for L in net.layers])}
    index = {L.name: i for i, L in enumerate(net.layers)}
    for i, L in enumerate(net.layers):
        if np.unique(L.du).size != 1 or np.unique(L.dv).size != 1:
            raise SystemExit(f"{L.name}: per-neuron du/dv; Lava's LIF takes one value per population")
        arrays.update({f"{i}/du": L.du[:1], f"{i}/dv": L.dv[:1], f"{i}/vth": L.vth,
                       f"{i}/bias_mant": np.broadcast_to(L.bias_mant, L.vth.shape),
                       f"{i}/bias_exp": np.broadcast_to(L.bias_exp, L.vth.shape),
                       f"{i}/ours": np.moveaxis(ours[L.name], 1, 0), f"{i}/n_in": np.array(len(L.sources))})
        for j, (src, w, e) in enumerate(zip(L.sources, L.weights, L.weight_exp)):
            arrays.update({f"{i}/{j}/src": np.array(-1 if src == "input" else index[src]), f"{i}/{j}/w": w,
                           f"{i}/{j}/exp": np.array(e)})
    np.savez(out, **arrays)
    print(f"wrote {out}: {len(net.layers)} populations, {x.shape[0]} sample(s), T={x.shape[1]}")


def export(graph_path: str, input_path: str, out: str, sample: int | None = None) -> None:
    _use_this_checkout()
    from snnexport.graph import read_graph
    from snnexport.hardware.loihi_quant import layer_delays, to_loihi_net
    from snnexport.hardware.loihi_sim import simulate

    graph = read_graph(graph_path)
    net = to_loihi_net(graph)
    x = np.load(input_path)
    x = x.reshape(x.shape[0], x.shape[1], -1)
    if sample is not None:
        x = x[:, sample:sample + 1]
    D = max(layer_delays(graph).values(), default=0)
    x = np.concatenate([x, np.zeros((D,) + x.shape[1:], x.dtype)])
    _save(out, net, np.moveaxis(x, 1, 0), simulate(net, x))


def random_net(seed: int):
    _use_this_checkout()
    from snnexport.hardware.loihi_sim import LoihiLayer, LoihiNet

    rng = np.random.default_rng(seed)
    # every third seed is wide: >1,000 inputs at weight 255 << 7 overflow the int32 a << 6
    n_in = int(rng.integers(1100, 1600)) if seed % 3 == 2 else int(rng.integers(20, 60))
    sizes = [int(k) for k in rng.integers(8, 40, size=3)]
    names = [f"pop{k}" for k in range(len(sizes))]
    net = LoihiNet()
    for k, n in enumerate(sizes):
        srcs = ["input" if k == 0 else names[k - 1]]
        if k == 2:
            srcs += ["input", names[2]]           # a skip from the input and a recurrent Dense
        ws, es = [], []
        for j, src in enumerate(srcs):
            pre = n_in if src == "input" else sizes[names.index(src)]
            mode = (k + j) % 3                    # mixed, excitatory, inhibitory
            lo, hi = [(-300, 300), (0, 300), (-300, 0)][mode]
            wide = src == "input" and n_in > 1000
            ws.append(rng.integers(250, 300, size=(n, pre)) if wide else rng.integers(lo, hi + 1, size=(n, pre)))
            es.append(7 if wide else int(rng.integers(-8, 8)))
        du = int(rng.choice([0, 1, 100, 2048, 4095]))
        dv = int(rng.choice([0, 7, 205, 3000, 4095]))
        net.layers.append(LoihiLayer(names[k], srcs, ws, es, np.full(n, du), np.full(n, dv),
                                     np.round(2 ** rng.uniform(0, 17, size=n)).astype(np.int64) - 1,
                                     rng.integers(-4096, 4096, size=n),
                                     rng.integers(0, 8, size=n)))
    x = (rng.random((int(rng.integers(15, 40)), 2, n_in)) < rng.uniform(0.1, 0.6)).astype(np.int64)
    return net, x


def edge_effects(net, x, ours) -> dict:
    """Spike positions that would differ from ours without each integer edge of the model, so
    a random net's agreement with Lava is known to have exercised them."""
    from unittest import mock

    from snnexport.hardware import loihi_sim as ls

    def without(**patch):
        with mock.patch.multiple(ls, **patch):
            other = ls.simulate(net, x)
        return int(sum((other[k] != ours[k]).sum() for k in ours))

    return {"lsb_truncation": without(lava_weights=lambda w: np.clip(w, -256, 255)),
            "wrap24": without(_wrap24=lambda v: v),
            "saturate24": without(_sat24=lambda v: v),
            "wrap32": without(_wrap32=lambda v: np.asarray(v, np.int64))}


def random_export(seed: int, out: str) -> None:
    _use_this_checkout()
    from snnexport.hardware.loihi_sim import simulate

    net, x = random_net(seed)
    ours = simulate(net, x)
    _save(out, net, np.moveaxis(x, 1, 0), ours)
    for k, n in edge_effects(net, x, ours).items():
        print(f"without {k}: {n} positions would differ")


def _run_lava(d, names, x):
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    T = x.shape[0]
    src = Source(data=x.T)
    lifs, sinks = [], []
    for i, _ in enumerate(names):
        n = d[f"{i}/vth"].size
        vth = d[f"{i}/vth"]
        # Lava's LIF declares vth a scalar; its Python model uses whatever it is given, so a
        # per-neuron array works there (a uniform one is passed as the scalar)
        lifs.append(LIF(shape=(n,), du=int(d[f"{i}/du"][0]), dv=int(d[f"{i}/dv"][0]),
                        vth=int(vth[0]) if np.unique(vth).size == 1 else vth,
                        bias_mant=d[f"{i}/bias_mant"], bias_exp=d[f"{i}/bias_exp"]))
        sinks.append(Sink(shape=(n,), buffer=T))
        lifs[-1].s_out.connect(sinks[-1].a_in)
    for i, _ in enumerate(names):
        for j in range(int(d[f"{i}/n_in"])):
            dense = Dense(weights=d[f"{i}/{j}/w"], weight_exp=int(d[f"{i}/{j}/exp"]), num_weight_bits=8)
            s = int(d[f"{i}/{j}/src"])
            (src.s_out if s < 0 else lifs[s].s_out).connect(dense.s_in)
            dense.a_out.connect(lifs[i].a_in)
    lifs[-1].run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    try:
        return [sinks[i].data.get().T != 0 for i in range(len(names))]
    finally:
        lifs[-1].stop()


def compare(path: str) -> int:
    d = np.load(path)
    names = [str(n) for n in d["names"]]
    total = {n: [0, 0, 0] for n in names}
    for b, x in enumerate(d["x"]):
        lava = _run_lava(d, names, x)
        for i, name in enumerate(names):
            ours = d[f"{i}/ours"][b] != 0
            diff = int((lava[i] != ours).sum())
            total[name] = [total[name][0] + int(lava[i].sum()), total[name][1] + int(ours.sum()), total[name][2] + diff]
            print(f"sample {b}: {name}: {int(lava[i].sum())} Lava spikes, {int(ours.sum())} ours, {diff} positions differ")
    for name, (nl, no, nd) in total.items():
        print(f"total: {name}: {nl} Lava spikes, {no} ours, {nd} positions differ")
    bad = sum(v[2] for v in total.values())
    print(f"DIFFERING POSITIONS: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) in (4, 6) and a[0] == "export" and (len(a) == 4 or a[4] == "--sample"):
        export(a[1], a[2], a[3], int(a[5]) if len(a) == 6 else None)
    elif len(a) == 3 and a[0] == "random":
        random_export(int(a[1]), a[2])
    elif len(a) == 2 and a[0] == "compare":
        sys.exit(compare(a[1]))
    else:
        raise SystemExit(__doc__)
