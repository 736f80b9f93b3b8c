"""The report as a document: :class:`Report` (counts, per-target results, run) and its JSON.

JSON is deterministic: keys sorted; counts exact (integers, or exact ratios of integers for
per-sample values); energies, ratios, rates and sparsities rounded to 6 significant digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

from . import energy_conventions
from .counting import Counts
from .counting import to_json as counts_json
from .energy import TargetResult
from .jsonout import sig

REPORT_FORMAT = 1


@dataclass
class Report:
    counts: Counts
    results: Dict[str, TargetResult]
    baseline: Optional[str]
    source: str
    run: Dict[str, Any]
    conventions: Optional[Dict[str, Any]] = None  # snnexport.reporting.apply_convention

    def to_json(self) -> Dict[str, Any]:
        cj = counts_json(self.counts)
        for d in cj["nodes"].values():
            for k in ("firing_rate", "activation_sparsity", "connection_sparsity"):
                d[k] = sig(d[k])
        ps = dict(cj["per_sample"])
        for k in ("firing_rate", "activation_sparsity", "connection_sparsity"):
            ps[k] = sig(ps[k])
        nb = cj["neurobench"]
        nb["ActivationSparsity"] = sig(nb["ActivationSparsity"])
        nb["ConnectionSparsity"] = sig(nb["ConnectionSparsity"])
        return {
            "format": REPORT_FORMAT,
            "source": self.source,
            "run": dict(self.run),
            "graph": {"input_kind": self.counts.input_kind, "input_shape": list(self.counts.input_shape),
                      "output_shape": list(self.counts.output_shape), "order": list(self.counts.order)},
            "nodes": cj["nodes"],
            "per_inference": ps,
            "neurobench": nb,
            "baseline": self.baseline,
            "targets": {n: r.to_json() for n, r in self.results.items()},
            "counting_rules": COUNTING_RULES,
            "conventions": energy_conventions.to_json(self.conventions),
        }


COUNTING_RULES = [
    "Per inference = per sample: batch totals divided by the batch size (NeuroBench's normalisation).",
    "SOP/Effective_ACs: per call (one time step of the batch) with only -1/0/1 inputs, nonzero inputs x nonzero in-bounds weights; zero padding and zero weights cost nothing.",
    "Effective_MACs: the same for calls with any other input value (analog input into the first layer, sums of several spike sources, a time-mean readout).",
    "Dense: every input and every weight counted, every call (NeuroBench). ann_macs: Dense of one call = the equivalent ANN evaluated once.",
    "Bias additions are not synaptic operations; they are counted separately (bias_adds) and costed only on dense targets.",
    "A readout after a time reduction (mean/sum) is counted once on its reduced input (MACs, as NeuroBench). On a neuromorphic target with an on-chip readout it is costed as per-step accumulation of its binary input events (readout SOP); otherwise it runs on the host at the baseline's MAC energy.",
    "Membrane updates: every neuron at the first step, then every neuron whose state changed in the step (NeuroBench). Active neuron updates (costed) are these plus the steps in which a neuron fired and was reset back to its previous state; idle ones are the rest.",
    "Pooling, Flatten and Scale nodes cost nothing; an unfolded BatchNorm node is not a synaptic layer.",
]
