#!/usr/bin/env python
"""Reading and inspecting big NIR graphs: time per node must stay flat as the graph grows.

Builds chains ``input -> (Linear -> LIF) x N/2 -> output`` of N and 4N nodes (snnexport
metadata on every neuron, one recurrent self-edge every 50 neurons), writes them with
``nir.write``, then times, in this process: ``read_graph`` (safe HDF5 walk + read + NIR type
check + validation) and ``inspect``'s ``describe``. A super-linear step shows up as a growing
microseconds-per-node column (before the fix, a 5.7 MB graph took 49 s to inspect).

    .venv/bin/python benchmarks/bench_graph_reading.py            # N = 1000 and 4000
    .venv/bin/python benchmarks/bench_graph_reading.py --nodes 500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nir  # noqa: E402
import numpy as np  # noqa: E402

from snnexport.extension import KEY, GraphExt, NeuronExt, set_node_ext  # noqa: E402


def chain_graph(n: int, width: int = 4) -> nir.NIRGraph:
    s = np.ones(width)
    nodes = {"input": nir.Input(input_type={"input": np.array([width])})}
    edges, prev = [], "input"
    for i in range(n):
        name = f"n{i}"
        if i % 2 == 0:
            nodes[name] = nir.Linear(weight=np.eye(width))
        else:
            lif = nir.LIF(tau=s * 2, r=s, v_leak=s * 0, v_threshold=s, v_reset=s * 0)
            set_node_ext(lif, **NeuronExt("beta", {"beta": s * 0.5, "gain": s}).to_meta())
            nodes[name] = lif
            if i % 100 == 1:
                nodes[f"rec{i}"] = nir.Linear(weight=np.eye(width) * 0.1)
                edges += [(name, f"rec{i}"), (f"rec{i}", name)]
        edges.append((prev, name))
        prev = name
    nodes["output"] = nir.Output(output_type={"output": np.array([width])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: GraphExt(input_shape=(width,)).to_meta()})


def measure(n: int, folder: Path) -> dict:
    from snnexport.graph import read_graph
    from snnexport.inspect_graph import describe

    path = folder / f"chain{n}.nir"
    graph = chain_graph(n)
    nir.write(str(path), graph)
    t0 = time.perf_counter()
    g = read_graph(path)
    t1 = time.perf_counter()
    describe(g)
    t2 = time.perf_counter()
    return {"nodes": len(g.nodes), "edges": len(g.edges), "mb": path.stat().st_size / 1e6,
            "read_s": t1 - t0, "describe_s": t2 - t1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000, help="N (the second graph has 4N)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        rows = [measure(args.nodes, Path(d)), measure(4 * args.nodes, Path(d))]
    print("| nodes | edges | file MB | read_graph s | us/node | describe s | us/node |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['nodes']} | {r['edges']} | {r['mb']:.1f} | {r['read_s']:.2f} | {1e6 * r['read_s'] / r['nodes']:.0f} "
              f"| {r['describe_s']:.3f} | {1e6 * r['describe_s'] / r['nodes']:.0f} |")
    ratio = (rows[1]["read_s"] + rows[1]["describe_s"]) / (rows[0]["read_s"] + rows[0]["describe_s"])
    print(f"4x the nodes took {ratio:.1f}x the time (linear: ~4)")


if __name__ == "__main__":
    main()
