"""`snnexport report`: counts checked against a network counted by hand, energy formulas,
fit violations by name, readout and recurrent handling, deterministic JSON, plots, errors."""

from __future__ import annotations

import json

import nir
import numpy as np
import pytest
import torch

from snnexport.counting import count
from snnexport.extension import KEY, GraphExt, set_node_ext
from snnexport.graph import execution_order, write_graph
from snnexport.reporting import build_report
from snnexport.sources.neurons import neuron_nodes
from snnexport.sources.registry import NeuronSpec
from snnexport.targets import load_targets, select_targets
from tests.helpers import run_cli, save_sew_checkpoint  # noqa: E402




# ----------------------------------------------------------------------------- the hand-counted network
#
# 3 inputs -> Linear W -> 2 IF neurons (no leak: U = U + I), fire on U > 1.0, reset by
# subtracting 1.0 at once. One sample, T = 5.
#
#   W = [[1.0, 0.0, 0.5],      input x[t]:  t0 [1, 0, 1]   current I = W x:  t0 (1.5, 0.7)
#        [0.0, 0.7, 0.7]]                   t1 [0, 1, 0]                     t1 (0.0, 0.7)
#                                           t2 [1, 1, 1]                     t2 (1.5, 1.4)
#                                           t3 [0, 0, 0]                     t3 (0.0, 0.0)
#                                           t4 [0, 0, 1]                     t4 (0.5, 0.7)
#
#   n0: t0 U=1.5 spike -> 0.5 | t1 U=0.5 (unchanged) | t2 U=2.0 spike -> 1.0 | t3 U=1.0 (unchanged, 1.0 > 1.0 is false)
#       | t4 U=1.5 spike -> 0.5                                       => 3 spikes (t0, t2, t4)
#   n1: t0 U=0.7 | t1 U=1.4 spike -> 0.4 | t2 U=1.8 spike -> 0.8 | t3 U=0.8 (unchanged) | t4 U=1.5 spike -> 0.5
#                                                                     => 3 spikes (t1, t2, t4); 6 in total
#
# Synaptic operations: fan-out of each input = nonzero weights in its column: x0 -> 1, x1 -> 1, x2 -> 2.
#   t0: x0 + x2 = 1 + 2 = 3;  t1: x1 = 1;  t2: 1 + 1 + 2 = 4;  t3: 0;  t4: x2 = 2          => 10 SOPs (ACs), 0 MACs
#   Dense (every input, every weight, every step): 5 x 6 = 30; equivalent ANN, one pass: 6 MACs.
# Membrane updates (NeuroBench): step 0 counts both neurons (2); then neurons whose state changed:
#   t1: n1 only (1); t2: both (2); t3: none (0); t4: both (2)                                => 7 of 10 neuron updates
# Firing rate 6 / (2 neurons x 5 steps) = 0.6; activation sparsity 0.4; connection sparsity 2 zero / 6 weights.
#
# Loihi energy: 10 SOP x 23.6 + 7 active x 81 + 3 idle x 52 + 6 spikes x 1.7
#             = 236 + 567 + 156 + 10.2 = 969.2 pJ
# Dense ANN baseline (ann-45nm-fp32, no bias): 6 MAC x 4.6 = 27.6 pJ  -> ratio 969.2 / 27.6
# TrueNorth: 10 SOP x 26 = 260 pJ (neuron updates are inside its per-event figure).

W = np.array([[1.0, 0.0, 0.5], [0.0, 0.7, 0.7]])
X = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0], [0, 0, 1]], dtype=np.float64)[:, None, :]  # [T=5, B=1, 3]


def if_neurons(n: int, name: str):
    spec = NeuronSpec(dynamics="beta", beta=1.0, gain=1.0, threshold=1.0, reset="subtract",
                      reset_timing="immediate", compare="gt")
    return neuron_nodes(spec, (n,), 1e-3, name)[0][1]


def graph_of(nodes, edges, input_shape=(3,), kind="spikes") -> nir.NIRGraph:
    ext = GraphExt(dt=1e-3, input_layout="TB", input_kind=kind, input_shape=tuple(input_shape), default_steps=5)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: ext.to_meta()})


def hand_graph(head: bool = False) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}), "fc": nir.Linear(weight=W.copy()),
             "lif": if_neurons(2, "lif")}
    edges = [("input", "fc"), ("fc", "lif")]
    if head:
        nodes["head"] = nir.Linear(weight=np.array([[1.0, 1.0]]))
        set_node_ext(nodes["head"], time_reduction="mean")
        nodes["output"] = nir.Output(output_type={"output": np.array([1])})
        edges += [("lif", "head"), ("head", "output")]
    else:
        nodes["output"] = nir.Output(output_type={"output": np.array([2])})
        edges += [("lif", "output")]
    return graph_of(nodes, edges)


def test_hand_counted_network():
    c = count(hand_graph(), torch.from_numpy(X))
    np.testing.assert_array_equal(c.spike_trains["lif"][:, 0], [[1, 0], [0, 1], [1, 1], [0, 0], [1, 1]])
    fc, lif = c.nodes["fc"], c.nodes["lif"]
    assert (lif.spikes, lif.neurons, lif.neuron_steps, lif.membrane_updates) == (6, 2, 10, 7)
    assert (fc.effective_acs, fc.effective_macs, fc.dense_ops, fc.ann_macs) == (10, 0, 30, 6)
    assert (fc.weights, fc.zero_weights, fc.synapses, fc.fan_in_max, fc.fan_out_max) == (6, 2, 4, 2, 2)
    assert fc.bias_adds == 0
    p = c.per_sample()
    assert p["spikes"] == 6 and p["effective_acs"] == 10 and p["membrane_updates"] == 7 and p["neuron_updates"] == 10
    assert p["firing_rate"] == pytest.approx(0.6) and p["activation_sparsity"] == pytest.approx(0.4)
    assert p["connection_sparsity"] == pytest.approx(2 / 6)
    assert c.fan_in == {"lif": 2} and c.fan_out == {"input": 2, "lif": 0}


def test_hand_counted_energy_and_ratio():
    targets = load_targets()
    rep = build_report(hand_graph(), torch.from_numpy(X), select_targets(targets, "loihi,truenorth,ann-45nm-fp32"), targets)
    lo, tn, base = rep.results["loihi"], rep.results["truenorth"], rep.results["ann-45nm-fp32"]
    assert lo.energy_pj == pytest.approx(969.2)
    f = lo.formula()
    for part in ("10 SOP x 23.6 pJ", "7 active neuron update x 81 pJ", "3 idle neuron update x 52 pJ", "6 spike x 1.7 pJ"):
        assert part in f, f
    assert base.energy_pj == pytest.approx(27.6) and "6 MAC x 4.6 pJ" in base.formula()
    assert lo.ratio == pytest.approx(969.2 / 27.6)
    assert tn.energy_pj == pytest.approx(260.0) and tn.violations == [] and lo.violations == []
    assert any("neuron updates" in u for u in tn.uncosted)


def test_time_mean_readout_counted_once_and_unrolled_on_chip():
    # head = [1, 1] on mean_t(spikes): n0 and n1 each fire 3 of 5 steps -> input (0.6, 0.6), non-binary:
    # NeuroBench counts 2 MACs once; as per-step accumulation on chip it is 6 spikes x fan-out 1 = 6 ACs.
    targets = load_targets()
    rep = build_report(hand_graph(head=True), torch.from_numpy(X), select_targets(targets, "loihi,truenorth"), targets)
    head = rep.counts.nodes["head"]
    assert (head.calls, head.effective_acs, head.effective_macs, head.dense_ops, head.unrolled_acs) == (1, 0, 2, 2, 6)
    lo, tn = rep.results["loihi"], rep.results["truenorth"]
    assert "6 readout SOP x 23.6 pJ" in lo.formula() and lo.violations == []
    assert "2 host readout MAC x 4.6 pJ" in tn.formula()
    assert any(v.startswith("non_spiking_readout: node 'head'") for v in tn.violations)


def test_recurrent_edge_uses_previous_step():
    nodes = {"input": nir.Input(input_type={"input": np.array([2])}), "fc": nir.Linear(weight=np.array([[1.2, 0.0], [0.0, 0.6]])),
             "lif": if_neurons(2, "lif"), "rec": nir.Linear(weight=np.array([[0.0, 0.5], [0.5, 0.0]])),
             "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    g = graph_of(nodes, edges, (2,))
    x = torch.from_numpy((np.random.default_rng(0).random((8, 2, 2)) < 0.6).astype(np.float64))
    c = count(g, x)
    _, back = execution_order(g)
    spikes = c.spike_trains["lif"]
    expected = spikes[:-1].sum() if ("lif", "rec") in back else spikes.sum()
    assert spikes.sum() > 0 and c.nodes["rec"].effective_acs == int(expected)


def test_fit_check_lists_every_violated_constraint(tmp_path):
    (tmp_path / "tiny.toml").write_text("""
name = "tiny"
title = "A deliberately tiny chip"
kind = "neuromorphic"
grade = "estimate"
[[sources]]
cite = "test"
where = "test"
[energy]
synaptic_op_pj = 1.0
[constraints]
cores = 1
neurons_per_core = 1
fan_in = 1
fan_out = 1
weight_bits = 1
max_steps = 2
max_inputs = 2
max_outputs = 1
max_distinct_weights_per_neuron = 1
layer_types = ["Conv2d"]
neuron_types = ["LIF"]
""")
    targets = load_targets([tmp_path])
    rep = build_report(hand_graph(), torch.from_numpy(X), [targets["tiny"]], targets)
    v = rep.results["tiny"].violations
    kinds = sorted({line.split(":")[0] for line in v})
    assert kinds == sorted(["layer_types", "neuron_types", "cores", "fan_in", "fan_out", "weight_bits", "max_steps",
                            "max_inputs", "max_outputs", "max_distinct_weights_per_neuron"]), v
    assert "layer_types: node 'fc' is Linear, which tiny does not run (runs Conv2d)" in v
    assert "cores: needs at least 2 cores (2 neurons at 1 per core); tiny has 1" in v
    assert "fan_in: neurons of 'lif' receive up to 2 synapses, tiny allows 1" in v


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def hand_files(tmp_path):
    g = tmp_path / "hand.nir"
    write_graph(hand_graph(), g)
    x = tmp_path / "x.npy"
    np.save(x, X)
    return g, x


def test_cli_json_matches_hand_count_and_is_deterministic(hand_files, capsys):
    g, x = hand_files
    args = ["report", str(g), "--input", str(x), "--targets", "loihi,truenorth,ann-45nm-fp32", "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    code2, out2, _ = run_cli(args, capsys)
    assert out == out2
    rep = json.loads(out)
    assert list(rep) == sorted(rep)
    p = rep["per_inference"]
    assert (p["spikes"], p["effective_acs"], p["effective_macs"], p["dense_ops"], p["ann_macs"], p["membrane_updates"]) == (6, 10, 0, 30, 6, 7)
    assert rep["neurobench"]["SynapticOperations"] == {"Dense": 30.0, "Effective_ACs": 10.0, "Effective_MACs": 0.0}
    lo = rep["targets"]["loihi"]
    assert lo["energy_pj"] == 969.2 and lo["energy_j"] == 9.692e-10 and lo["fits"] and lo["grade"] == "measured silicon"
    assert lo["ratio_vs_baseline"] == pytest.approx(969.2 / 27.6, rel=1e-5)
    assert rep["baseline"] == "ann-45nm-fp32" and rep["run"]["input"] == str(x)


def test_cli_text_markdown_plot_and_output_file(hand_files, tmp_path, capsys):
    g, x = hand_files
    code, out, err = run_cli(["report", str(g), "--input", str(x), "--targets", "loihi,odin"], capsys)
    assert code == 0 and "E = 10 SOP x 23.6 pJ" in out and "per target" in out
    code, out, _ = run_cli(["report", str(g), "--input", str(x), "--markdown", "--targets", "loihi"], capsys)
    assert code == 0 and "| node | type |" in out and "## Per target" in out and "### loihi" in out
    png, md = tmp_path / "r.png", tmp_path / "r.md"
    code, out, err = run_cli(["report", str(g), "--input", str(x), "--markdown", "-o", str(md), "--plot", str(png)], capsys)
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and md.read_text().startswith("# snnexport report")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_cli_random_input_and_checkpoint_with_analog_input(tmp_path, capsys):
    ckpt = save_sew_checkpoint(tmp_path / "sew.pt")
    code, out, err = run_cli(["report", str(ckpt), "--steps", "4", "--batch", "2", "--json", "--targets", "loihi,loihi2"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    stem = rep["nodes"]["stem"]
    assert stem["effective_acs"] == 0 and stem["effective_macs"] > 0 and not stem["binary_input"]  # analog input: MACs
    head = rep["nodes"]["head"]
    assert head["time_reduced"] and head["calls"] == 1 and head["reduction"] == "mean"
    assert rep["run"] == {"batch": 2, "dtype": "float64", "input": "random (seed 0, standard normal)", "rate": None, "seed": 0, "steps": 4}
    lo = rep["targets"]["loihi"]
    assert any(v.startswith("graded_spikes: node 'stem' receives the analog network input") for v in lo["violations"])
    assert not any(v.startswith("graded_spikes") for v in rep["targets"]["loihi2"]["violations"])


@pytest.mark.parametrize("args,needle", [
    (["--targets", "loihi,warp-drive"], "unknown target(s) warp-drive"),
    (["--json", "--markdown"], "choose one output format"),
    (["--baseline", "speck"], "has no energy figures"),
])
def test_cli_errors_are_one_line(hand_files, capsys, args, needle):
    g, x = hand_files
    code, out, err = run_cli(["report", str(g), "--input", str(x)] + args, capsys)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def test_cli_bad_input_shape_is_one_line(hand_files, tmp_path, capsys):
    g, _ = hand_files
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 1, 4)))
    code, out, err = run_cli(["report", str(g), "--input", str(bad)], capsys)
    assert code == 2 and "bad.npy" in err and len(err.strip().splitlines()) == 1
