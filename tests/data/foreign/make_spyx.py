"""Regenerate the spyx exports in this folder with spyx's own exporter (``spyx.nir.to_nir``).

    /tmp/spyxvenv/bin/python tests/data/foreign/make_spyx.py

(an interpreter with ``pip install spyx nir==1.0.8``; spyx is not a dependency of snnexport).
For each model it writes ``spyx_<name>.nir`` (``to_nir(model, ..., dt=DT)``) and
``spyx_<name>.npz``: ``x`` (the fixed input, time-major ``[T, B, 6]``, float32), ``dt``, and
``spikes:<node>`` (spyx's own per-step output of each neuron layer, float32, computed by
stepping the spyx model with ``spyx.nn.Sequential`` semantics) plus ``versions``.
"""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import jax.numpy as jnp
import nir
import numpy as np
from flax import nnx

import spyx.nn as snn
from spyx.nir import to_nir

HERE = Path(__file__).parent
DT, T, B, N_IN, N_OUT = 1e-3, 30, 3, 6, 8  # one Linear + one neuron layer: files stay < 50 KB


def lif_model(rngs):
    return snn.Sequential(nnx.Linear(N_IN, N_OUT, rngs=rngs), snn.LIF((N_OUT,), beta=0.8, threshold=0.7, rngs=rngs))


def cubalif_model(rngs):
    return snn.Sequential(nnx.Linear(N_IN, N_OUT, rngs=rngs),
                          snn.CuBaLIF((N_OUT,), alpha=0.6, beta=0.8, threshold=1.0, rngs=rngs))


def main() -> None:
    x = (np.random.default_rng(0).random((T, B, N_IN)) < 0.5).astype(np.float32) * 2
    versions = f"spyx {md.version('spyx')}, jax {md.version('jax')}, flax {md.version('flax')}, nir {md.version('nir')}"
    for name, build in (("lif", lif_model), ("cubalif", cubalif_model)):
        model = build(nnx.Rngs(0))
        graph = to_nir(model, {"input": np.array([N_IN])}, {"output": np.array([N_OUT])}, dt=DT)
        nir.write(str(HERE / f"spyx_{name}.nir"), graph)
        state, spikes = model.initial_state(B), {"layer_1": []}
        for t in range(T):  # Sequential.__call__, one layer at a time to keep the hidden layer's spikes
            h, new = jnp.asarray(x[t]), []
            for i, (layer, s) in enumerate(zip(model.layers, state)):
                if s is None:
                    h = layer(h)
                else:
                    h, s = layer(h, s)
                    spikes[f"layer_{i}"].append(np.asarray(h))
                new.append(s)
            state = new
        np.savez(HERE / f"spyx_{name}.npz", x=x, dt=np.float64(DT), versions=np.array(versions),
                 **{f"spikes:{k}": np.stack(v) for k, v in spikes.items()})
        print(name, {k: int(np.stack(v).sum()) for k, v in spikes.items()})


if __name__ == "__main__":
    main()
