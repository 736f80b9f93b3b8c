"""SynSense Speck / DYNAP-CNN: the rules of sinabs' own chip mapping.

Sources (cited in every finding):

- LAYER: sinabs 3.1.3, ``sinabs/backend/dynapcnn/dynapcnn_layer.py``,
  ``DynapcnnLayer.memory_summary`` (one chip layer = a convolution, or a Linear run as a
  convolution over its whole input, its IAF neurons and optional sum pooling; kernel
  memory ``c * 2^(ceil(log2(kh*kw)) + ceil(log2(f)))``, neuron memory
  ``f * 2^(ceil(log2(h)) + ceil(log2(w)))``, bias memory ``f`` when a bias is present).
- CORES: sinabs 3.1.3, ``sinabs/backend/dynapcnn/chips/dynapcnn.py``,
  ``DynapcnnConfigBuilder.get_constraints`` (9 cores; kernel memory 16, 16, 16, 32, 32, 64,
  64, 16, 16 Ki words; neuron memory 64, 64, 64, 32, 32, 16, 16, 16, 16 Ki words; 1 Ki
  biases each; Speck 2e/2f inherit them) and ``sinabs/backend/dynapcnn/mapping.py``
  ``get_valid_mapping`` (every layer needs a distinct core whose three memories hold it:
  a bipartite matching, "No valid mapping found" otherwise).
- NEURONS: sinabs 3.1.3 ``sinabs/backend/dynapcnn/nir_graph_extractor.py`` (``UnsupportedLayerType``:
  "The provided SNN contains LIF layers ... Leaky Integrate-and-Fire dynamics are not
  supported"): only IAF neurons run on chip.
- Merges of two spike sources into one layer's input and sum pooling of events are
  native (``sinabs/backend/dynapcnn/sinabs_edges_handler.py``): the counts they create are
  events, not graded values, so they are accepted here.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import Finding, register
from .structure import consumers, first_synaptic_input_shape, node_type, producers

LAYER = "sinabs 3.1.3 sinabs/backend/dynapcnn/dynapcnn_layer.py DynapcnnLayer.memory_summary"
CORES = "sinabs 3.1.3 sinabs/backend/dynapcnn/chips/dynapcnn.py DynapcnnConfigBuilder.get_constraints + mapping.py get_valid_mapping"
NEURONS = "sinabs 3.1.3 sinabs/backend/dynapcnn/nir_graph_extractor.py (UnsupportedLayerType: LIF layers)"

KI = 1024
KERNEL_MEMORY = (16 * KI, 16 * KI, 16 * KI, 32 * KI, 32 * KI, 64 * KI, 64 * KI, 16 * KI, 16 * KI)
NEURON_MEMORY = (64 * KI, 64 * KI, 64 * KI, 32 * KI, 32 * KI, 16 * KI, 16 * KI, 16 * KI, 16 * KI)
BIAS_MEMORY = (KI,) * 9
CHIP_LAYER_TYPES = ("Conv2d", "Linear", "Affine")


def _pow2_ceil_log(n: int) -> int:
    return int(math.ceil(math.log2(n))) if n > 1 else 0


def layer_memory(f: int, c: int, kh: int, kw: int, h: int, w: int, bias: bool) -> Dict[str, int]:
    """Words of kernel, neuron and bias memory one chip layer takes (power-of-two padding)."""
    return {"kernel": c * 2 ** (_pow2_ceil_log(kh * kw) + _pow2_ceil_log(f)),
            "neuron": f * 2 ** (_pow2_ceil_log(h) + _pow2_ceil_log(w)),
            "bias": f if bias else 0}


def chip_layer(graph, counts, name: str) -> Tuple[Dict[str, int], str]:
    """Memory of synaptic node ``name`` as a chip layer, and how it was read."""
    node = graph.nodes[name]
    t = node_type(graph, name)
    bias = getattr(node, "bias", None)
    has_bias = bias is not None and bool(np.any(np.asarray(bias) != 0))
    if t == "Conv2d":
        f, c, kh, kw = np.asarray(node.weight).shape
        out = counts.nodes[name].shape
        h, w = (int(out[1]), int(out[2])) if len(out) == 3 else (1, 1)
        return layer_memory(int(f), int(c), int(kh), int(kw), h, w, has_bias), f"conv {f}x{c}x{kh}x{kw} -> {tuple(out)}"
    f, n_in = np.asarray(node.weight).shape
    ins = first_synaptic_input_shape(graph, counts, name)
    if len(ins) == 3:  # Linear after Flatten of (C, H, W): sinabs runs it as a C-channel HxW convolution
        c, kh, kw = (int(v) for v in ins)
    else:
        c, kh, kw = int(n_in), 1, 1
    return layer_memory(int(f), c, kh, kw, 1, 1, has_bias), f"dense {n_in}->{f} as conv {f}x{c}x{kh}x{kw}"


def match_cores(needs: List[Dict[str, int]]) -> Optional[List[int]]:
    """A core for every layer (distinct, memories large enough), or None: Kuhn's matching."""
    ok = [[i for i in range(len(KERNEL_MEMORY)) if m["kernel"] <= KERNEL_MEMORY[i] and m["neuron"] <= NEURON_MEMORY[i]
           and m["bias"] <= BIAS_MEMORY[i]] for m in needs]
    owner: Dict[int, int] = {}

    def place(layer: int, seen) -> bool:
        for core in ok[layer]:
            if core not in seen:
                seen.add(core)
                if core not in owner or place(owner[core], seen):
                    owner[core] = layer
                    return True
        return False

    for layer in range(len(needs)):
        if not place(layer, set()):
            return None
    core_of = {l: c for c, l in owner.items()}
    return [core_of[l] for l in range(len(needs))]


@register("speck")
def rules(target, counts, graph) -> List[Finding]:
    f: List[Finding] = []
    layers: List[str] = []
    for n in counts.order:
        t = node_type(graph, n)
        role = counts.nodes[n].role if n in counts.nodes else "other"
        if role == "neuron":
            if t == "LIF" or t == "CubaLIF":
                f.append(Finding("iaf_only", f"neuron node '{n}' is {t}; DYNAP-CNN neurons are integrate-and-fire", NEURONS))
            syn = [p for p in producers(graph, n) if node_type(graph, p) in CHIP_LAYER_TYPES]
            if len(producers(graph, n)) != 1 or len(syn) != 1:
                f.append(Finding("layer_structure", f"neuron node '{n}' must follow exactly one convolution or dense layer "
                                 f"(has {', '.join(producers(graph, n)) or 'none'})", LAYER))
        elif t in CHIP_LAYER_TYPES:
            layers.append(n)
            for c in consumers(graph, n):
                if counts.nodes.get(c) is None or counts.nodes[c].role != "neuron":
                    f.append(Finding("layer_structure", f"'{n}' feeds '{c}' ({node_type(graph, c)}); a chip layer's "
                                     f"weights feed its own IAF neurons", LAYER))
    if counts.input_kind != "spikes":
        f.append(Finding("event_input", f"the network input is {counts.input_kind}; the chip takes events (DVS or spike input)",
                         "SynSense Samna documentation, Speck 2e key features (event input)"))
    needs = []
    for n in layers:
        mem, how = chip_layer(graph, counts, n)
        needs.append(mem)
        fits_any = any(mem["kernel"] <= k and mem["neuron"] <= nm and mem["bias"] <= b
                       for k, nm, b in zip(KERNEL_MEMORY, NEURON_MEMORY, BIAS_MEMORY))
        if not fits_any:
            f.append(Finding("core_memory", f"layer '{n}' ({how}) needs {mem['kernel']} kernel, {mem['neuron']} neuron and "
                             f"{mem['bias']} bias words after power-of-two padding; no core holds that "
                             f"(largest: {max(KERNEL_MEMORY)} kernel, {max(NEURON_MEMORY)} neuron)", f"{LAYER}; {CORES}"))
    if len(layers) > len(KERNEL_MEMORY):
        f.append(Finding("cores", f"{len(layers)} chip layers, Speck has {len(KERNEL_MEMORY)} cores", CORES))
    elif needs and not any(x.rule == "core_memory" for x in f) and match_cores(needs) is None:
        f.append(Finding("cores", "no valid mapping: every layer fits some core but no assignment gives each its own "
                         "(per-layer needs: " + ", ".join(f"'{n}' {m['kernel']}/{m['neuron']}" for n, m in zip(layers, needs))
                         + " kernel/neuron words)", CORES))
    return f
