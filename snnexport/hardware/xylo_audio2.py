"""SynSense Xylo Audio 2 (SYNS61201): the rules of SynSense's own mapper and simulator.

Sources (cited in every finding):

- MAPPER: rockpool 3.1, ``rockpool/devices/xylo/syns61201/xylo_mapper.py``, ``mapper()``
  (``max_hidden_neurons=1000``, ``max_output_neurons=8``; hidden neurons are allocated from
  one pool and every hidden->hidden weight goes into the recurrent matrix ``w_rec``, so
  any number of feed-forward hidden layers maps while their neurons total <= 1000) and its
  design rules ``xylo_drc`` (``le_16_input_channels``, ``le_8_output_channels``,
  ``output_nodes_have_neurons_as_source``, ``input_to_neurons_is_a_weight``,
  ``first_module_is_a_weight``, ``no_consecutive_weights``,
  ``output_neurons_cannot_be_recurrent``, ``at_least_two_neuron_layers_needed``,
  ``weight_nodes_have_no_biases``).
- GRAPH: rockpool 3.1, ``rockpool/devices/xylo/syns61201/xylo_graph_modules.py``,
  ``Xylo2Neurons._convert_from`` (time constants <= dt cannot become bitshift decays;
  ``dash = log2(tau / dt)``).
- SIM: xylosim 0.1.3, ``src/v2/cpp/XyloIAFNeuron.{h,cpp}`` and ``XyloLayer.cpp``
  (current-based neuron, 16-bit saturating state, 8-bit weights, 4-bit bitshift decays,
  ``>=`` threshold, up to 31 spikes per step in hidden neurons and 1 in output neurons,
  subtractive reset, hidden spikes delivered one step later).
"""

from __future__ import annotations

import math
from typing import List

import numpy as np

from ..extension import graph_ext
from . import Finding, register
from .neurons import decay_factors
from .structure import consumers, node_type, output_sources, producers

MAPPER = "rockpool 3.1 rockpool/devices/xylo/syns61201/xylo_mapper.py"
GRAPH = "rockpool 3.1 rockpool/devices/xylo/syns61201/xylo_graph_modules.py Xylo2Neurons._convert_from"
SIM = "xylosim 0.1.3 src/v2/cpp/XyloIAFNeuron.cpp"

MAX_HIDDEN = 1000
MAX_OUTPUT = 8
MAX_INPUT = 16
WEIGHT_TYPES = ("Linear", "Affine")
NEURON_TYPES = ("LIF", "IF", "CubaLIF", "LI", "CubaLI")


@register("xylo-audio2")
def rules(target, counts, graph) -> List[Finding]:
    f: List[Finding] = []
    nodes = graph.nodes
    neurons = [n for n in counts.order if counts.nodes[n].role == "neuron"]
    outs = output_sources(graph)
    out_layers = []
    for o, srcs in outs.items():
        for s in srcs:
            if node_type(graph, s) in NEURON_TYPES:
                if s not in out_layers:
                    out_layers.append(s)
            else:
                f.append(Finding("output_nodes_have_neurons_as_source",
                                 f"output '{o}' is driven by '{s}' ({node_type(graph, s)}), not by neurons", f"{MAPPER} xylo_drc"))
    hidden = [n for n in neurons if n not in out_layers]
    n_hidden = sum(counts.nodes[n].neurons for n in hidden)
    n_out = sum(counts.nodes[n].neurons for n in out_layers)
    n_in = int(np.prod(counts.input_shape)) if counts.input_shape else 1

    if len(neurons) < 2:
        f.append(Finding("at_least_two_neuron_layers_needed",
                         f"the network has {len(neurons)} neuron layer(s); Xylo needs a hidden and an output layer",
                         f"{MAPPER} xylo_drc"))
    if n_hidden > MAX_HIDDEN:
        f.append(Finding("hidden_neurons", f"{n_hidden} hidden neurons ({', '.join(hidden)}), the chip has {MAX_HIDDEN}",
                         f"{MAPPER} mapper(max_hidden_neurons=1000)"))
    if n_out > MAX_OUTPUT:
        f.append(Finding("output_neurons", f"{n_out} output neurons ({', '.join(out_layers)}), the chip has {MAX_OUTPUT}",
                         f"{MAPPER} mapper(max_output_neurons=8), le_8_output_channels"))
    if n_in > MAX_INPUT:
        f.append(Finding("input_channels", f"{n_in} input channels, the chip has {MAX_INPUT}",
                         f"{MAPPER} le_16_input_channels"))

    for n in counts.order:
        t = node_type(graph, n)
        if t in NEURON_TYPES:
            for p in producers(graph, n):
                if node_type(graph, p) not in WEIGHT_TYPES:
                    f.append(Finding("input_to_neurons_is_a_weight", f"neuron node '{n}' receives from '{p}' ({node_type(graph, p)}), "
                                     f"not from a weight", f"{MAPPER} xylo_drc"))
        elif t in WEIGHT_TYPES:
            for p in producers(graph, n):
                if node_type(graph, p) in WEIGHT_TYPES:
                    f.append(Finding("no_consecutive_weights", f"weights '{p}' feed weights '{n}' directly", f"{MAPPER} xylo_drc"))
            b = getattr(nodes[n], "bias", None)
            if b is not None and np.any(np.asarray(b) != 0):
                f.append(Finding("weight_nodes_have_no_biases", f"node '{n}' has a bias; the mapper drops it",
                                 f"{MAPPER} xylo_drc", "note"))
        elif t == "Input":
            for c in consumers(graph, n):
                if node_type(graph, c) not in WEIGHT_TYPES:
                    f.append(Finding("first_module_is_a_weight", f"the input feeds '{c}' ({node_type(graph, c)}), not a weight",
                                     f"{MAPPER} xylo_drc"))
    for o in out_layers:
        fed = [c for c in consumers(graph, o) if node_type(graph, c) in WEIGHT_TYPES]
        if fed:
            f.append(Finding("output_neurons_cannot_be_recurrent", f"output neurons '{o}' feed {', '.join(fed)}; "
                             f"Xylo output neurons only drive the readout pins", f"{MAPPER} xylo_drc"))

    dt = float(graph_ext(graph).dt)
    for n in neurons:
        node = nodes[n]
        beta, alpha = decay_factors(node, n, dt)
        for what, fac in (("membrane", beta), ("synaptic", alpha)):
            if fac is None:
                continue
            if np.any(fac <= math.exp(-1.0)):
                f.append(Finding("time_constant", f"neuron node '{n}': a {what} decay factor {float(np.min(fac)):.4g} per step "
                                 f"means tau <= dt, which no bitshift decay represents", GRAPH))
        t = node_type(graph, n)
        if t in ("LIF", "IF", "LI"):
            f.append(Finding("neuron_model", f"neuron node '{n}' ({t}) has no synaptic current; Xylo neurons are current-based "
                             f"(I -= I >> dash_syn before I reaches the membrane): quantize approximates it with dash_syn = 1",
                             SIM, "note"))
        if t in ("LIF", "IF", "CubaLIF") and n not in out_layers:
            f.append(Finding("pipeline_delay", f"spikes of '{n}' reach their targets one step later (recurrent buffer)",
                             "xylosim 0.1.3 src/v2/cpp/XyloLayer.cpp XyloLayer::evolve", "note"))
    return f
