"""Does a network fit a hardware target? Every violated constraint, one line each, by name.

The generic constraints of a target's TOML file are checked here; a target's own rule module
(:mod:`snnexport.hardware`) adds its findings.
"""

from __future__ import annotations

import math
from typing import List, Optional

import nir
import numpy as np

from .counting import Counts
from .energy import format_count
from .targets import Target


def fit_check(target: Target, counts: Counts, graph: nir.NIRGraph, notes: Optional[List[str]] = None) -> List[str]:
    """Every violated constraint of ``target``, one line each (empty: the network fits).

    Generic constraints of the target file first, then the target's own rule module
    (:mod:`snnexport.hardware`); its notes (maps, but changes something) go to ``notes``.
    """
    if target.kind == "dense":
        return []
    from .hardware import split, target_findings

    hw_violations, hw_notes = split(target_findings(target, counts, graph))
    if notes is not None:
        notes.extend(hw_notes)
    c = target.constraints
    v: List[str] = []
    nodes = counts.nodes
    neurons = counts.neuron_nodes()
    syn = counts.synaptic_nodes()
    name = target.name

    if "layer_types" in c:
        allowed = set(c["layer_types"])
        for n in counts.order:
            t = nodes[n].type
            if nodes[n].role != "neuron" and t not in ("Input", "Output") and t not in allowed:
                v.append(f"layer_types: node '{n}' is {t}, which {name} does not run (runs {', '.join(c['layer_types'])})")
    if "neuron_types" in c:
        for nc in neurons:
            if nc.type not in c["neuron_types"]:
                v.append(f"neuron_types: node '{nc.name}' is {nc.type}, which {name} does not run (runs {', '.join(c['neuron_types'])})")
    if not c.get("non_spiking_readout", False):
        for nc in syn:
            if nc.time_reduced:
                red = nc.reduction
                what = f"{nc.type} on the time-{red} of its input" if red else f"{nc.type} after a time reduction"
                v.append(f"non_spiking_readout: node '{nc.name}' is a non-spiking readout ({what}); {name} has none on chip, it runs on the host")
        for nc in neurons:
            if not nc.spiking:
                v.append(f"non_spiking_readout: node '{nc.name}' is a non-spiking {nc.type} neuron; {name} has none on chip")
    if not c.get("graded_spikes", False):
        first = set(counts.destinations.get(counts.input_name, []))
        for nc in syn:
            if nc.time_reduced or nc.binary_input:
                continue
            why = (f"the {counts.input_kind} network input" if nc.name in first and not counts.input_binary
                   else "non-binary values (a sum of several sources or non-spiking activations)")
            v.append(f"graded_spikes: node '{nc.name}' receives {why}; {name} takes binary spikes only "
                     f"({format_count(nc.effective_macs / counts.batch)} MACs per inference)")
    total_neurons = sum(nc.neurons for nc in neurons)
    if "max_neurons" in c and total_neurons > c["max_neurons"]:
        v.append(f"max_neurons: the network has {total_neurons} neurons, {name} holds {c['max_neurons']}")
    stored = {nc.name: (int(np.count_nonzero(np.asarray(graph.nodes[nc.name].weight)))
                        if (c.get("conv_weight_sharing") and nc.type.startswith("Conv")) else nc.synapses) for nc in syn}
    if "max_synapses" in c and sum(stored.values()) > c["max_synapses"]:
        v.append(f"max_synapses: the network stores {sum(stored.values())} synapses, {name} holds {c['max_synapses']}")
    npc, spc = c.get("neurons_per_core"), c.get("synapses_per_core")
    if "cores" in c and (npc or spc):
        # a lower bound (layers may share cores): a violation here is certain
        n_syn = sum(stored.values())
        need = max(math.ceil(total_neurons / npc) if npc else 0, math.ceil(n_syn / spc) if spc else 0)
        if need > c["cores"]:
            parts = ([f"{total_neurons} neurons at {npc} per core"] if npc else []) + \
                    ([f"{n_syn} synapses at {spc} per core"] if spc else [])
            v.append(f"cores: needs at least {need} cores ({', '.join(parts)}); {name} has {c['cores']}")
    if "fan_in" in c:
        for n, fi in counts.fan_in.items():
            if fi > c["fan_in"]:
                v.append(f"fan_in: neurons of '{n}' receive up to {fi} synapses, {name} allows {c['fan_in']}")
    if "fan_out" in c:
        for n, fo in counts.fan_out.items():
            if fo > c["fan_out"]:
                v.append(f"fan_out: neurons of '{n}' drive up to {fo} synapses, {name} allows {c['fan_out']}")
    if "max_destinations" in c:
        for n, dst in counts.destinations.items():
            if len(dst) > c["max_destinations"]:
                v.append(f"max_destinations: '{n}' feeds {len(dst)} layers ({', '.join(dst)}), {name} allows {c['max_destinations']}")
    if "weight_bits" in c:
        levels = 2 ** c["weight_bits"]
        for nc in syn:
            if nc.distinct_weights + 1 > levels:  # + the zero weight
                v.append(f"weight_bits: node '{nc.name}' has {nc.distinct_weights} distinct nonzero weights; "
                         f"{c['weight_bits']}-bit weights give {levels} levels: quantize first")
    if "max_distinct_weights_per_neuron" in c:
        for nc in syn:
            if nc.distinct_weights_per_neuron > c["max_distinct_weights_per_neuron"]:
                v.append(f"max_distinct_weights_per_neuron: a neuron of '{nc.name}' uses {nc.distinct_weights_per_neuron} "
                         f"distinct weights, {name} allows {c['max_distinct_weights_per_neuron']}")
    if "max_steps" in c and counts.steps > c["max_steps"]:
        v.append(f"max_steps: the run has {counts.steps} time steps, {name} allows {c['max_steps']}")
    if "max_inputs" in c:
        n_in = int(np.prod(counts.input_shape)) if counts.input_shape else 1
        if n_in > c["max_inputs"]:
            v.append(f"max_inputs: the network has {n_in} input channels, {name} has {c['max_inputs']}")
    if "max_outputs" in c:
        n_out = int(np.prod(counts.output_shape)) if counts.output_shape else 1
        if n_out > c["max_outputs"]:
            v.append(f"max_outputs: the network has {n_out} outputs, {name} has {c['max_outputs']}")
    if "max_layers" in c and len(syn) > c["max_layers"]:
        v.append(f"max_layers: the network has {len(syn)} synaptic layers, {name} has {c['max_layers']}")
    if "max_kernel" in c:
        for nc in syn:
            if nc.kernel_max > c["max_kernel"]:
                v.append(f"max_kernel: node '{nc.name}' has a {nc.kernel_max}-wide kernel, {name} allows {c['max_kernel']}")
    if "max_channels" in c:
        for nc in syn:
            if nc.channels_max > c["max_channels"]:
                v.append(f"max_channels: node '{nc.name}' has {nc.channels_max} channels, {name} allows {c['max_channels']}")
    return v + hw_violations
