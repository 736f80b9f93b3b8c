"""spyx as a consumer of our graphs: real ``spyx.nir.from_nir`` spikes against our reference.

spyx (JAX) is not a dependency: it runs in its own interpreter, ``$SNNEXPORT_SPYX_PYTHON``
(e.g. ``python -m venv /tmp/spyxvenv && /tmp/spyxvenv/bin/pip install spyx nir==1.0.8``),
through scripts/spyx_child.py. The tests skip, naming what is missing, without one; they never
install it. What they pin down is what ``snnexport.consumers`` says of spyx: its neurons emit the
spike of the membrane before the step's input, subtract the threshold and add the input unscaled
(so a one-layer spyx LIF is our snnTorch-style subtract/delayed-reset LIF one step late), and it
keeps only the first out-edge of each node.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from snnexport.consumers import chain_spikes, consumer_notes, first_edge_chain
from snnexport.extension import KEY, NeuronExt
from snnexport.graph import apply_run_options, plain_view, write_graph
from snnexport.simulators.reference.runner import simulate

ROOT = Path(__file__).resolve().parent.parent
CHILD = ROOT / "scripts" / "spyx_child.py"
DT = 1e-3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spyx_python() -> str:
    py = os.environ.get("SNNEXPORT_SPYX_PYTHON")
    if not py:
        pytest.skip("no spyx interpreter: set SNNEXPORT_SPYX_PYTHON to a Python with `pip install spyx nir==1.0.8`")
    if not os.access(py, os.X_OK):
        pytest.skip(f"no spyx interpreter: SNNEXPORT_SPYX_PYTHON={py} is not an executable")
    probe = subprocess.run([py, "-c", "import spyx.nir"], capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"no spyx interpreter: {py} cannot import spyx.nir ({probe.stderr.strip().splitlines()[-1:]})")
    return py


def run_spyx(py: str, graph: nir.NIRGraph, x: np.ndarray, tmp_path: Path, dt: float = DT) -> dict:
    gpath, xpath, opath = tmp_path / "g.nir", tmp_path / "x.npy", tmp_path / "spyx.npz"
    write_graph(plain_view(graph), gpath)
    np.save(xpath, x)
    r = subprocess.run([py, str(CHILD), str(gpath), str(xpath), repr(dt), str(opath)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    d = np.load(opath)
    assert str(d["status"]) == "ran", str(d["error"]) if "error" in d.files else d.files
    return {k: d[k] for k in d.files}


def _dyadic(rng, shape, scale):
    """Weights on a 1/16 grid: sums of 0/1 spikes are exact in float32 whatever the order (XLA vs torch)."""
    return np.round(rng.normal(0, scale, shape) * 16) / 16


def _spikes(rng, shape, rate=0.4):
    return (rng.random(shape) < rate).astype(np.float64)


def _graph(nodes: dict, edges: list) -> nir.NIRGraph:
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: {"dt": DT}})
    return g


def test_one_lif_layer_is_our_subtract_reset_lif_one_step_late(spyx_python, tmp_path):
    """spyx LIF: s[t] = V[t-1] > thr; V[t] = beta*V[t-1] + x[t] - s[t]*thr. That is our 'beta' form (gain 1)
    with snnTorch's delayed subtract reset, whose spike S[t] = U[t] > thr is spyx's s[t+1]: same membrane, the
    spike one step late. Plain NIR (gain r*dt/tau, reset to 0, spike at once) differs."""
    rng = np.random.default_rng(0)
    n_in, n, tau, thr = 6, 8, 5e-3, 0.75
    lif = nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, thr))
    g = _graph({"input": nir.Input(np.array([n_in])), "fc": nir.Affine(_dyadic(rng, (n, n_in), 0.8), _dyadic(rng, n, 0.2)),
                "lif": lif, "output": nir.Output(np.array([n]))},
               [("input", "fc"), ("fc", "lif"), ("lif", "output")])
    x = _spikes(rng, (40, 3, n_in))
    got = run_spyx(spyx_python, g, x, tmp_path)["layer:lif"]

    ours = plain_view(g)
    ours.metadata = {KEY: {"dt": DT}}
    ours.nodes["lif"].metadata = {KEY: NeuronExt("beta", {"beta": np.full(n, 1 - DT / tau), "gain": np.ones(n)},
                                                 reset="subtract", reset_timing="delayed", dt=DT).to_meta()}
    want = simulate(ours, torch.from_numpy(x), dtype=torch.float32).spikes["lif"]
    assert want.sum() > 20
    np.testing.assert_array_equal(got[0], 0)
    np.testing.assert_array_equal(got[1:], want[:-1])

    plain = simulate(g, torch.from_numpy(x)).spikes["lif"]  # NIR's own equations at the same dt
    assert np.count_nonzero(plain != got) > 0
    notes = [line for line in consumer_notes(g) if line.startswith("spyx import: ")]
    assert any("one step after NIR" in line and "subtracting the threshold" in line for line in notes), notes
    assert any("adds the input unscaled; NIR scales it by r*dt/tau = 0.2" in line for line in notes), notes


def test_lif_cubalif_if_chain_follows_spyx_documented_equations(spyx_python, tmp_path):
    """Every layer of an Affine -> LIF -> Affine -> CubaLIF -> Linear -> IF chain, from real spyx, equals
    snnexport.consumers.chain_spikes("spyx") (its equations, float32), and differs from plain NIR."""
    rng = np.random.default_rng(1)
    a, b, c = 8, 6, 4
    g = _graph({
        "input": nir.Input(np.array([5])),
        "fc1": nir.Affine(_dyadic(rng, (a, 5), 0.7), _dyadic(rng, a, 0.2)),
        "lif": nir.LIF(tau=np.full(a, 4e-3), r=np.full(a, 4.0), v_leak=np.zeros(a), v_threshold=np.full(a, 0.8)),
        "fc2": nir.Affine(_dyadic(rng, (b, a), 0.6), np.zeros(b)),
        "cuba": nir.CubaLIF(tau_syn=np.full(b, 2e-3), tau_mem=np.full(b, 5e-3), r=np.ones(b), v_leak=np.zeros(b),
                            v_threshold=np.full(b, 0.6), w_in=np.ones(b)),
        "fc3": nir.Linear(_dyadic(rng, (c, b), 0.8)),
        "if": nir.IF(r=np.full(c, 1e3), v_threshold=np.full(c, 0.5)),
        "output": nir.Output(np.array([c]))},
        [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "cuba"), ("cuba", "fc3"), ("fc3", "if"),
         ("if", "output")])
    x = _spikes(rng, (40, 3, 5))
    got = run_spyx(spyx_python, g, x, tmp_path)
    assert [str(s) for s in got["imported"]] == first_edge_chain(g)
    want = chain_spikes("spyx", g, x, DT)
    plain = simulate(g, torch.from_numpy(x)).spikes
    for name in ("lif", "cuba", "if"):
        assert want[name].sum() > 0, name
        np.testing.assert_array_equal(got[f"layer:{name}"], want[name], err_msg=name)
        assert np.count_nonzero(plain[name] != want[name]) > 0, name
    np.testing.assert_array_equal(got["output"], want["if"])  # from_nir's own return value


def test_fan_out_keeps_only_the_first_out_edge(spyx_python, tmp_path):
    """lif feeds two branches that meet at the output; spyx follows lif -> fc_a only: fc_b and lif_b are never
    built, as the consumer note says, and its output is branch a alone."""
    rng = np.random.default_rng(2)
    n = 6

    def lif():
        return nir.LIF(tau=np.full(n, 4e-3), r=np.full(n, 4.0), v_leak=np.zeros(n), v_threshold=np.full(n, 0.7))

    g = _graph({"input": nir.Input(np.array([5])), "fc": nir.Affine(_dyadic(rng, (n, 5), 0.8), np.zeros(n)), "lif": lif(),
                "fc_a": nir.Linear(_dyadic(rng, (n, n), 0.8)), "lif_a": lif(),
                "fc_b": nir.Linear(_dyadic(rng, (n, n), 0.8)), "lif_b": lif(), "output": nir.Output(np.array([n]))},
               [("input", "fc"), ("fc", "lif"), ("lif", "fc_a"), ("lif", "fc_b"), ("fc_a", "lif_a"), ("fc_b", "lif_b"),
                ("lif_a", "output"), ("lif_b", "output")])
    x = _spikes(rng, (30, 2, 5))
    got = run_spyx(spyx_python, g, x, tmp_path)
    assert sorted(str(s) for s in got["dropped"]) == ["fc_b", "lif_b"]
    assert "spyx import: lif: only the first out-edge is kept (lif -> fc_a); lif -> fc_b dropped" in consumer_notes(g)
    want = chain_spikes("spyx", g, x, DT)
    assert set(want) == {"lif", "lif_a"} and want["lif_a"].sum() > 0
    np.testing.assert_array_equal(got["output"], want["lif_a"])
    ref = simulate(g, torch.from_numpy(x))  # NIR: the output is the sum of both branches
    assert ref.spikes["lif_b"].sum() > 0
    np.testing.assert_array_equal(ref.readout["output"], ref.spikes["lif_a"] + ref.spikes["lif_b"])
    assert not np.array_equal(got["output"], ref.readout["output"])


def test_zoo_shd_graph_in_spyx_is_its_documented_equations(spyx_python, tmp_path):
    """The converted shd checkpoint (dt = 17.5 ms, r = 20): real spyx spikes in both layers equal the
    documented equations, and differ from our exact reference."""
    from snnexport.checkpoint import load
    from snnexport.inputs import make_input
    from snnexport.sources import convert_model

    graph = convert_model(load(ROOT / "models" / "checkpoints" / "shd.pt"))
    x = make_input(graph, 20, 2, seed=1, rate=0.3)
    dt = 0.0175
    got = run_spyx(spyx_python, graph, x.numpy(), tmp_path, dt=float(graph.metadata[KEY]["dt"]))
    plain = plain_view(graph)
    apply_run_options(plain, "shd", dt=float(graph.metadata[KEY]["dt"]))
    want = chain_spikes("spyx", plain, x.numpy(), float(graph.metadata[KEY]["dt"]))
    exact = simulate(graph, x).spikes
    assert set(want) == {"lif1", "lif2"} and abs(float(graph.metadata[KEY]["dt"]) - dt) < 1e-9
    for name in want:
        np.testing.assert_array_equal(got[f"layer:{name}"], want[name], err_msg=name)
    assert sum(np.count_nonzero(got[f"layer:{n}"] != exact[n]) for n in want) > 0
