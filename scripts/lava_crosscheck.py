"""Cross-check our Loihi model (snnexport/hardware/loihi_sim.py) against Lava's bit-accurate models.

Lava 0.10 needs Python < 3.11 and snnexport needs >= 3.11, so the check runs in two steps:

    # 1. here (snnexport env): network, input and our spikes into one .npz
    .venv/bin/python scripts/lava_crosscheck.py export GRAPH_loihi2.nir INPUT.npy OUT.npz [--sample 0]
    # 2. in a Python 3.10 env with `pip install lava-nc==0.10.0 numpy` (no snnexport import)
    python scripts/lava_crosscheck.py compare OUT.npz

Step 2 builds RingBuffer -> Dense -> LIF chains with Loihi2SimCfg(select_tag="fixed_pt")
(PyDenseModelBitAcc, PyLifModelBitAcc) and prints, per population, the spike positions that
differ from ours. Status: written against Lava's source, NOT run in this repository's
environment (see docs/hardware.md); chains only (one Dense per population, uniform du/dv).
"""

from __future__ import annotations

import sys

import numpy as np


def export(graph_path: str, input_path: str, out: str, sample: int = 0) -> None:
    sys.path.insert(0, __file__.rsplit("/scripts/", 1)[0])
    from snnexport.extension import node_ext
    from snnexport.graph import read_graph
    from snnexport.hardware.loihi_quant import to_loihi_net
    from snnexport.hardware.loihi_sim import simulate

    graph = read_graph(graph_path)
    net = to_loihi_net(graph)
    x = np.load(input_path)
    x = x.reshape(x.shape[0], x.shape[1], -1)[:, sample:sample + 1]
    ours = simulate(net, x)
    arrays = {"x": (x[:, 0] != 0).astype(np.int64), "names": np.array([L.name for L in net.layers])}
    for i, L in enumerate(net.layers):
        if len(L.sources) != 1:
            raise SystemExit(f"{L.name}: {len(L.sources)} Dense inputs; this script handles chains only")
        if np.unique(L.du).size != 1 or np.unique(L.dv).size != 1:
            raise SystemExit(f"{L.name}: per-neuron du/dv; Lava's LIF takes one value per population")
        chip = node_ext(graph.nodes[L.name])["chip"]
        arrays.update({f"{i}/w": L.weights[0], f"{i}/exp": np.array(L.weight_exp[0]), f"{i}/du": L.du[:1],
                       f"{i}/dv": L.dv[:1], f"{i}/vth": L.vth, f"{i}/bias_mant": np.asarray(chip["bias_mant"]).reshape(-1),
                       f"{i}/bias_exp": np.array(int(chip["bias_exp"])), f"{i}/ours": ours[L.name][:, 0]})
    np.savez(out, **arrays)
    print(f"wrote {out}: {len(net.layers)} populations, T={x.shape[0]}")


def compare(path: str) -> None:
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    d = np.load(path)
    names = list(d["names"])
    T = d["x"].shape[0]
    src = Source(data=d["x"].T)
    prev, sinks, lifs = src.s_out, [], []
    for i, _ in enumerate(names):
        n = d[f"{i}/vth"].size
        dense = Dense(weights=d[f"{i}/w"], weight_exp=int(d[f"{i}/exp"]), num_weight_bits=8)
        lif = LIF(shape=(n,), du=int(d[f"{i}/du"][0]), dv=int(d[f"{i}/dv"][0]), vth=d[f"{i}/vth"],
                  bias_mant=d[f"{i}/bias_mant"], bias_exp=np.full(n, int(d[f"{i}/bias_exp"])))
        prev.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        sink = Sink(shape=(n,), buffer=T)
        lif.s_out.connect(sink.a_in)
        prev = lif.s_out
        sinks.append(sink)
        lifs.append(lif)
    lifs[-1].run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    for i, name in enumerate(names):
        lava = sinks[i].data.get().T != 0
        ours = d[f"{i}/ours"] != 0
        print(f"{name}: {int(lava.sum())} Lava spikes, {int(ours.sum())} ours, {int((lava != ours).sum())} positions differ")
    lifs[-1].stop()


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "export":
        export(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[6]) if len(sys.argv) > 6 and sys.argv[5] == "--sample" else 0)
    elif len(sys.argv) == 3 and sys.argv[1] == "compare":
        compare(sys.argv[2])
    else:
        raise SystemExit(__doc__)
