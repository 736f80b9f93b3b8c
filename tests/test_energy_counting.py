"""Neuron updates costed as active include fire-and-reset steps (issue 15's counting flaw)."""

from __future__ import annotations

import nir
import numpy as np
import torch

from snnexport.counting import count
from snnexport.reporting import target_energy
from snnexport.targets import load_targets
from tests.test_report import graph_of
from snnexport.sources.neurons import neuron_nodes
from snnexport.sources.registry import NeuronSpec


def reset_to_zero_graph():
    # one input -> weight 2 -> one IF neuron: U = U + I, fires on U > 1, resets to 0.
    spec = NeuronSpec(dynamics="beta", beta=1.0, gain=1.0, threshold=1.0, reset="value", v_reset=0.0, compare="gt")
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc": nir.Linear(weight=np.array([[2.0]])),
             "n": neuron_nodes(spec, (1,), 1e-3, "n")[0][1], "output": nir.Output(output_type={"output": np.array([1])})}
    return graph_of(nodes, [("input", "fc"), ("fc", "n"), ("n", "output")], input_shape=(1,))


def test_fire_and_reset_steps_are_active_updates():
    # x = 0, 1, 0, 1: U after reset = 0, 0 (2 -> fire -> 0), 0, 0 (fire). NeuroBench sees no change
    # after step 0 (1 membrane update); the neuron worked at t1 and t3: 3 active, 1 idle.
    x = torch.tensor([[[0.0]], [[1.0]], [[0.0]], [[1.0]]], dtype=torch.float64)
    c = count(reset_to_zero_graph(), x)
    p = c.per_sample()
    assert p["spikes"] == 2 and p["membrane_updates"] == 1 and p["active_neuron_updates"] == 3
    loihi = load_targets()["loihi"]
    terms = {t.label: t.count for t in target_energy(loihi, c).terms}
    assert terms["active neuron update"] == 3 and terms["idle neuron update"] == 1


def test_weight_read_term_costs_data_movement_per_operation():
    """Hand network of test_report (10 SOPs over 5 steps; 6 MACs in the equivalent ANN)."""
    from tests.test_report import X, hand_graph

    targets = load_targets()
    c = count(hand_graph(), torch.from_numpy(X))
    snn = {t.label: (t.count, t.unit_pj) for t in target_energy(targets["snn-45nm-fp32-sram"], c).terms}
    ann = {t.label: (t.count, t.unit_pj) for t in target_energy(targets["ann-45nm-fp32-sram"], c).terms}
    assert snn == {"SOP": (10, 0.9), "weight read": (10, 5.0)}
    assert ann == {"MAC": (6, 4.6), "weight read": (6, 5.0)}
    assert "weight read" not in {t.label for t in target_energy(targets["snn-45nm-fp32"], c).terms}
