"""Run spyx's own NIR importer on a graph file; used by scripts/consumer_matrix.py and tests.

    /tmp/spyxvenv/bin/python scripts/spyx_child.py GRAPH.nir INPUT.npy DT OUT.npz

Runs in an interpreter that has spyx (JAX; not a dependency of snnexport) and imports only
nir, numpy and spyx. ``INPUT.npy`` is time-major ``[T, B, ...]`` with NIR's channels-first
layout; spyx runs channels-last, so a ``[T, B, C, H, W]`` input is handed over as
``[T, B, H, W, C]`` and every 5-D layer output is turned back (spyx's documented convention).

``OUT.npz``: ``status`` (``loaded``/``ran`` or the stage that failed), ``error``, ``imported``
(the node names spyx built a layer for, in its order), ``dropped`` (graph nodes it never
reached: it follows only the first out-edge of each node from ``input`` to ``output``),
``layer:<node>`` (each imported layer's per-step output, float32, time-major), ``output``
(what ``spyx.nir.from_nir`` itself returns) and ``versions``.
"""

from __future__ import annotations

import copy
import sys

import numpy as np


def _walk(edges):
    """The nodes spyx's ``_order_edge_list`` visits: from "input", first out-edge only, until "output"."""
    cur, seen = "input", []
    while True:
        nxt = next((b for a, b in edges if a == cur), None)
        if nxt is None or nxt == "output" or nxt in seen:
            return seen
        seen.append(nxt)
        cur = nxt


def main(graph_path: str, x_path: str, dt: float, out_path: str) -> None:
    import importlib.metadata as md

    import jax.numpy as jnp
    import nir
    from flax import nnx

    import spyx.nir as snir

    out = {"versions": np.array(f"spyx {md.version('spyx')}, jax {md.version('jax')}, nir {md.version('nir')}")}
    x = np.load(x_path).astype(np.float32)
    channels_last = x.ndim == 5
    if channels_last:
        x = x.transpose(0, 1, 3, 4, 2)
    try:
        graph = nir.read(graph_path)
        order = [n for n in _walk(graph.edges) if n in graph.nodes]
        model = snir._build_model(copy.deepcopy(graph), dt, nnx.Rngs(0))
        rngs = nnx.Rngs(0)
        imported = [n for n in order if snir._nir_node_to_spyx_module(graph.nodes[n], rngs) is not None]
        out["imported"] = np.array(imported)
        out["dropped"] = np.array([n for n in graph.nodes if n not in order and n not in ("input", "output")
                                   and not isinstance(graph.nodes[n], (nir.Input, nir.Output))])
    except Exception as e:  # noqa: BLE001 - report upstream's failure as one line
        out.update(status=np.array("load failed"), error=np.array(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
        np.savez(out_path, **out)
        return
    try:
        _, y = snir.from_nir(copy.deepcopy(graph), jnp.asarray(x), dt)
        y = np.asarray(y)
        out["output"] = y.transpose(0, 1, 4, 2, 3) if y.ndim == 5 else y
        if len(imported) == len(model.layers):  # per-layer outputs, stepping the same Sequential
            state = model.initial_state(x.shape[1])
            rec = {n: [] for n in imported}
            for t in range(x.shape[0]):
                h, new = jnp.asarray(x[t]), []
                for name, layer, s in zip(imported, model.layers, state):
                    if s is not None:
                        h, s = layer(h, s)
                    else:
                        h = layer(h)
                    new.append(s)
                    rec[name].append(np.asarray(h))
                state = new
            for name, steps in rec.items():
                a = np.stack(steps)
                out[f"layer:{name}"] = a.transpose(0, 1, 4, 2, 3) if a.ndim == 5 else a
        out["status"] = np.array("ran")
    except Exception as e:  # noqa: BLE001
        out.update(status=np.array("run failed"), error=np.array(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
    np.savez(out_path, **out)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
