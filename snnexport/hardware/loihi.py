"""Intel Loihi and Loihi 2: per-core limits.

No public vendor mapper checks fit (the open Lava has none), so these rules come from
papers and Lava's bit-accurate process models, and are graded in the target files:

- CORES: Loihi (Davies et al., IEEE Micro 38(1), 2018, section "Architecture"): 128 cores
  of 1,024 compartments; Loihi 2 (Intel technology brief 2021): 128 cores, up to 1M
  neurons (8,192 per core, derived). A population occupies whole cores here (a layer is
  split across ``ceil(neurons / neurons_per_core)`` cores, cores are not shared between
  layers), which is how Lava's and NxSDK's compilers place populations; this is a
  placement model, graded ``estimate`` in the target file.
- WEIGHTS: Lava 0.10 ``lava/proc/dense/models.py`` ``PyDenseModelBitAcc``: an 8-bit signed
  weight mantissa with one shared exponent per layer (``weight_exp``); a layer whose
  nonzero weights span more than 8 bits of dynamic range loses its smallest weights
  (they round to zero) - reported as a note, with how many.
"""

from __future__ import annotations

import math
from typing import List

import numpy as np

from . import Finding, register

CORES = {"loihi": "Davies et al. 2018 (IEEE Micro 38(1)) section 'Architecture'",
         "loihi2": "Intel, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', 2021 (feature table)"}
WEIGHTS = "Lava 0.10 lava/proc/dense/models.py PyDenseModelBitAcc (8-bit mantissa, shared weight_exp)"
MANTISSA_MAX = 127


def weights_lost(w: np.ndarray) -> int:
    """Nonzero weights that become zero with an 8-bit mantissa and one shared exponent."""
    nz = np.abs(w[w != 0])
    if nz.size == 0:
        return 0
    exp = math.ceil(math.log2(float(nz.max()) / MANTISSA_MAX))  # the largest weight just fits the mantissa
    return int(np.count_nonzero(np.round(nz / 2.0 ** exp) == 0))


@register("loihi", "loihi2")
def rules(target, counts, graph) -> List[Finding]:
    f: List[Finding] = []
    c = target.constraints
    npc, cores = c.get("neurons_per_core"), c.get("cores")
    if npc and cores:
        per_layer = {nc.name: math.ceil(nc.neurons / npc) for nc in counts.neuron_nodes()}
        need = sum(per_layer.values())
        if need > cores:
            f.append(Finding("cores_per_layer", f"needs {need} cores ({', '.join(f'{n}: {k}' for n, k in per_layer.items())} "
                             f"at {npc} neurons per core), {target.name} has {cores}", CORES.get(target.name, "target file")))
    for nc in counts.synaptic_nodes():
        w = np.asarray(graph.nodes[nc.name].weight, dtype=np.float64)
        lost = weights_lost(w)
        if lost:
            f.append(Finding("weight_exponent", f"node '{nc.name}': {lost} nonzero weights round to 0 with an 8-bit mantissa "
                             f"and one shared exponent", WEIGHTS, "note"))
    return f
