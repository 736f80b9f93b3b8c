"""Synaptic energy of SpikingRx checkpoints and their ANN twin under the three conventions.

:func:`energy_of` converts a checkpoint, runs it on its sample input (the shipped real
received grids at 15 dB), counts (:func:`snnexport.counting.count`) and costs the counts
under every convention of :mod:`snnexport.energy_conventions` (docs/report.md). Used by
``scripts/spikingrx_energy.py`` (the table) and :mod:`.frontier`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import torch

from snnexport import energy_conventions as ec
from snnexport.counting import count


def energy_of(checkpoint_path: Path, sample_path: Path, mac_pj: float = ec.DEFAULT_MAC_PJ,
              ac_pj: float = ec.DEFAULT_AC_PJ) -> Dict:
    """Per convention: MACs, ACs, energy (pJ), dense-ANN energy and the ANN/SNN ratio; plus the firing rate.

    ``mac_pj`` / ``ac_pj``: the cost of one operation, the same for the SNN and its ANN twin
    (default 45 nm fp32; :data:`INT8_PJ` for both at 8-bit integer weights)."""
    from snnexport.checkpoint import load
    from snnexport.sources import convert_model

    loaded = load(checkpoint_path, trust_arch=True)  # our own shipped checkpoints
    graph = convert_model(loaded)
    x = torch.as_tensor(np.load(sample_path)).to(torch.float64)
    counts = count(graph, x)
    stats = ec.input_stats(graph, x, counts)
    p = counts.per_sample()
    return {"checkpoint": Path(checkpoint_path).name, "steps": counts.steps, "batch": counts.batch,
            "neighbours": int(loaded.info["features"]["neighbours"]), "input_channels": int(counts.input_shape[0]),
            "firing_rate": p["firing_rate"], "spikes": p["spikes"], "ann_macs": ec.dense_ann_macs(counts),
            "conventions": {k: {kk: v for kk, v in d.items() if kk != "per_node"}
                            for k, d in ec.compare(counts, stats, mac_pj, ac_pj).items()},
            "ann_zero_skipping_macs": None}


# 45 nm, Horowitz (ISSCC 2014): 8-bit multiply 0.2 pJ + 8-bit add 0.03 pJ = one int8 MAC; one int8 add = AC
INT8_PJ = {"mac_pj": 0.23, "ac_pj": 0.03}


@torch.no_grad()
def ann_zero_skipping(ann_checkpoint: Path, sample_path: Path) -> Dict:
    """The ANN twin on zero-skipping hardware: MACs on nonzero conv inputs only (ReLU zeros skipped).

    NeuroBench's Effective_MACs of the twin's own run (one pass, T = 1): per conv,
    ``sum_j [x_j != 0] f_j`` with ``f_j`` the nonzero in-bounds weights reading input ``j``.
    Counted with torch hooks (snnexport does not convert ReLU networks).
    """
    import torch.nn as nn
    import torch.nn.functional as F

    from snnexport import checkpoint

    model = checkpoint.load(ann_checkpoint, trust_arch=True).model.double().eval()
    x = torch.as_tensor(np.load(sample_path)[:1]).to(torch.float64).transpose(0, 1)  # [B, T=1, C, F, S]
    totals = {"effective_macs": 0, "dense_macs": 0}

    def hook(conv: nn.Conv2d, inputs, _out):
        (v,) = inputs
        w = (conv.weight != 0).double()
        ones = torch.ones_like(v[:1], requires_grad=True)
        with torch.enable_grad():
            F.conv2d(ones, w, None, conv.stride, conv.padding).sum().backward()
            dense = torch.ones_like(v[:1], requires_grad=True)
            F.conv2d(dense, torch.ones_like(w), None, conv.stride, conv.padding).sum().backward()
        fan = ones.grad[0]
        totals["effective_macs"] += int(((v != 0).double() * fan).sum()) / v.shape[0]
        totals["dense_macs"] += int(dense.grad[0].sum())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    model(x)
    for h in handles:
        h.remove()
    return totals
