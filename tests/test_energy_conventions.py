"""Energy conventions (snnexport/energy_conventions.py) on tiny graphs counted by hand.

The network (one sample, T = 3, analog input fed identically at every step, x = [0.5, 0]):

    input --fc1--> lifA (threshold 1) --+
             \\                          +--(sum, values 0..2)--> fc2 --> output
              --> lifB (threshold 2) ---+

fc1: W1 = [[2, 0], [1, 1], [4, 0]]  -> current I = (1.0, 0.5, 2.0) every step.
  fan-out of the nonzero weights: x0 -> 3, x1 -> 1; dense fan-out 3 each -> FLOPs_1 = 6.
lifA (IF, fires on U >= 1, subtract 1):  t0 [1, 0, 1], t1 [1, 1, 1], t2 [1, 0, 1]
lifB (IF, fires on U >= 2, subtract 2):  t0 [0, 0, 1], t1 [1, 0, 1], t2 [0, 0, 1]
sum z = A + B:                           t0 [1, 0, 2], t1 [2, 1, 2], t2 [1, 0, 2]
fc2: W2 = [[1, 0, 1], [0.5, 1, 0]] -> fan-out (2, 1, 1); dense 2 each -> FLOPs_2 = 6.

(a) NeuroBench: fc1 non-binary every step: 3 x (x0's fan-out 3) = 9 MACs; fc2 non-binary
    (2s): t0 2+1, t1 2+1+1, t2 2+1 = 10 MACs.                   19 MACs, 0 ACs  = 87.4 pJ
(b) papers: FLOPs_1 = 6 MACs; fc2: r = 7 nonzero / 9 elements, x T = 3 x FLOPs 6 = 14 ACs
                                                                 = 27.6 + 12.6  = 40.2 pJ
(c) event: fc1 static -> once: 3 MACs; fc2 integer -> sum |z| fan-out:
    t0 1x2 + 2x1 = 4, t1 2x2 + 1x1 + 2x1 = 7, t2 4 = 15 ACs       = 13.8 + 13.5  = 27.3 pJ
Dense ANN twin: (6 + 6) x 4.6 = 55.2 pJ.
"""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch

from snnexport import energy_conventions as ec
from snnexport.counting import count
from snnexport.extension import KEY, GraphExt, set_node_ext
from snnexport.graph import write_graph
from snnexport.sources.neurons import neuron_nodes
from snnexport.sources.registry import NeuronSpec
from tests.helpers import run_cli

W1 = np.array([[2.0, 0.0], [1.0, 1.0], [4.0, 0.0]])
W2 = np.array([[1.0, 0.0, 1.0], [0.5, 1.0, 0.0]])
X = np.tile(np.array([0.5, 0.0]), (3, 1, 1))  # [T=3, B=1, 2], the same at every step


def if_neurons(n: int, name: str, threshold: float):
    spec = NeuronSpec(dynamics="beta", beta=1.0, gain=1.0, threshold=threshold, reset="subtract",
                      reset_timing="immediate", compare="ge")
    return neuron_nodes(spec, (n,), 1e-3, name)[0][1]


def graph(head: bool = False) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}), "fc1": nir.Linear(weight=W1.copy()),
             "lifA": if_neurons(3, "lifA", 1.0)}
    edges = [("input", "fc1"), ("fc1", "lifA")]
    if head:  # a time-mean readout of lifA's spikes
        nodes["head"] = nir.Linear(weight=np.ones((1, 3)))
        set_node_ext(nodes["head"], time_reduction="mean")
        nodes["output"] = nir.Output(output_type={"output": np.array([1])})
        edges += [("lifA", "head"), ("head", "output")]
    else:
        nodes.update({"lifB": if_neurons(3, "lifB", 2.0), "fc2": nir.Linear(weight=W2.copy()),
                      "output": nir.Output(output_type={"output": np.array([2])})})
        edges += [("fc1", "lifB"), ("lifA", "fc2"), ("lifB", "fc2"), ("fc2", "output")]
    ext = GraphExt(dt=1e-3, input_layout="TB", input_kind="analog", input_shape=(2,), default_steps=3)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: ext.to_meta()})


def run(g, x=X):
    xt = torch.from_numpy(x)
    c = count(g, xt)
    return c, ec.input_stats(g, xt, c)


def test_spikes_and_stats_are_the_hand_computed_ones():
    c, s = run(graph())
    np.testing.assert_array_equal(c.spike_trains["lifA"][:, 0], [[1, 0, 1], [1, 1, 1], [1, 0, 1]])
    np.testing.assert_array_equal(c.spike_trains["lifB"][:, 0], [[0, 0, 1], [1, 0, 1], [0, 0, 1]])
    assert (s["fc1"].static, s["fc1"].integer, s["fc1"].ops, s["fc1"].first_ops) == (True, False, 9, 3)
    assert (s["fc2"].static, s["fc2"].integer, s["fc2"].binary) == (False, True, False)
    assert (s["fc2"].nonzero, s["fc2"].elements, s["fc2"].ops, s["fc2"].event_ops) == (7, 9, 10, 15)


@pytest.mark.parametrize("name,macs,acs,energy", [("neurobench", 19, 0, 87.4), ("papers", 6, 14, 40.2),
                                                   ("event", 3, 15, 27.3)])
def test_each_convention_matches_its_closed_form(name, macs, acs, energy):
    c, s = run(graph())
    r = ec.CONVENTIONS[name](c, s)
    assert r.macs == pytest.approx(macs) and r.acs == pytest.approx(acs)
    assert r.energy_pj() == pytest.approx(energy)
    table = ec.compare(c, s)
    assert table[name]["ann_energy_pj"] == pytest.approx(55.2)
    assert table[name]["ann_over_snn"] == pytest.approx(55.2 / energy)


def test_time_mean_readout_per_convention():
    # head = [1, 1, 1] on mean_t(lifA): reduced input (1, 1/3, 1) -> NeuroBench: 3 MACs once;
    # papers: r = 7/9, x T = 3 x FLOPs 3 = 7 ACs; event: 2 + 3 + 2 = 7 spikes x fan-out 1 = 7 ACs.
    c, s = run(graph(head=True))
    per = {n: ec.CONVENTIONS[n](c, s).per_node["head"] for n in ec.CONVENTIONS}
    assert per["neurobench"] == {"macs": 3, "acs": 0}
    assert per["papers"]["macs"] == 0 and per["papers"]["acs"] == pytest.approx(7)
    assert per["event"] == {"macs": 0, "acs": 7}


def test_changing_input_is_not_static_and_event_equals_neurobench_for_analog():
    x = np.array([[0.5, 0.0], [0.6, 0.0], [0.5, 0.0]])[:, None, :]
    c, s = run(graph(), x)
    assert not s["fc1"].static
    assert ec.event_exact(c, s).per_node["fc1"]["macs"] == ec.neurobench(c, s).per_node["fc1"]["macs"] == 9


def test_report_cli_carries_conventions_and_the_selected_one_drives_energy(tmp_path, capsys):
    path = tmp_path / "g.nir"
    write_graph(graph(), path)
    np.save(tmp_path / "x.npy", X)
    energies = {}
    for conv in ("neurobench", "papers", "event"):
        code, out, _ = run_cli(["report", path, "--input", tmp_path / "x.npy", "--targets", "snn-45nm-fp32,ann-45nm-fp32",
                                "--json", "--convention", conv], capsys)
        assert code == 0
        d = json.loads(out)
        assert d["conventions"]["selected"] == conv and set(d["conventions"]["results"]) == set(ec.CONVENTIONS)
        energies[conv] = d["targets"]["snn-45nm-fp32"]["energy_pj"]
        assert d["targets"]["ann-45nm-fp32"]["energy_pj"] == pytest.approx(55.2)
    assert energies == pytest.approx({"neurobench": 87.4, "papers": 40.2, "event": 27.3})
    code, out, _ = run_cli(["report", path, "--input", tmp_path / "x.npy", "--targets", "snn-45nm-fp32", "--markdown"], capsys)
    assert code == 0 and "## Energy conventions" in out and "| papers |" in out


def test_unknown_convention_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "g.nir"
    write_graph(graph(), path)
    code, _, err = run_cli(["report", path, "--convention", "magic"], capsys)
    assert code == 2 and "magic" in err
