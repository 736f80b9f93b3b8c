"""Energy of one inference on one hardware target: a sum of ``count x unit pJ`` terms.

:func:`target_energy` turns the counts of :mod:`snnexport.counting` into the terms of one
target (its formula, with every number used, is :meth:`TargetResult.formula`);
docs/report.md explains the model. An energy convention other than NeuroBench's replaces the
synaptic terms afterwards (:func:`snnexport.reporting.apply_convention`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .counting import Counts
from .jsonout import sig
from .targets import Target

# the labels of the synaptic terms target_energy writes (an energy convention replaces exactly these)
SYNAPTIC_TERM_LABELS = ("SOP", "MAC", "graded SOP", "readout SOP", "host readout MAC")


@dataclass
class Term:
    label: str
    count: float          # events per inference
    unit_pj: float
    note: str = ""

    @property
    def energy_pj(self) -> float:
        return self.count * self.unit_pj

    def to_json(self) -> Dict[str, Any]:
        d = {"label": self.label, "count": sig(self.count, 12), "unit_pj": self.unit_pj, "energy_pj": sig(self.energy_pj)}
        if self.note:
            d["note"] = self.note
        return d


@dataclass
class TargetResult:
    target: Target
    terms: List[Term] = field(default_factory=list)
    uncosted: List[str] = field(default_factory=list)   # parts of the work with no energy figure
    violations: List[str] = field(default_factory=list)
    fit_notes: List[str] = field(default_factory=list)  # maps, with changes (snnexport.hardware notes)
    ratio: Optional[float] = None

    @property
    def costed(self) -> bool:
        return self.target.costed

    @property
    def energy_pj(self) -> Optional[float]:
        return sum(t.energy_pj for t in self.terms) if self.costed else None

    def formula(self) -> str:
        if not self.costed:
            return "not costed: " + ("; ".join(self.uncosted) if self.uncosted else "no per-operation energy published")
        parts = [f"{format_count(t.count)} {t.label} x {t.unit_pj:g} pJ" for t in self.terms]
        return "E = " + (" + ".join(parts) if parts else "0") + f" = {format_energy(self.energy_pj)}"

    def to_json(self) -> Dict[str, Any]:
        e = self.energy_pj
        return {
            "title": self.target.title, "kind": self.target.kind, "grade": self.target.grade,
            "costed": self.costed, "energy_pj": sig(e) if e is not None else None,
            "energy_j": sig(e * 1e-12) if e is not None else None,
            "terms": [t.to_json() for t in self.terms], "not_costed": list(self.uncosted),
            "formula": self.formula(), "ratio_vs_baseline": sig(self.ratio) if self.ratio is not None else None,
            "fits": not self.violations, "violations": list(self.violations), "fit_notes": list(self.fit_notes),
            "estimated_fields": sorted(k for k, g in self.target.grades.items() if g == "estimate")
            if self.target.grade != "estimate" else ["all"],
            "unconfirmed_fields": self.unconfirmed(),
            "sources": [s.to_json() for s in self.target.sources],
        }

    def unconfirmed(self) -> List[str]:
        """Energy/constraint fields of this target whose cited source could not be confirmed."""
        return sorted(k for k, g in self.target.grades.items() if g == "unconfirmed")


def format_count(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:.6g}"


def format_energy(pj: Optional[float]) -> str:
    if pj is None:
        return "n/a"
    for unit, scale in (("mJ", 1e9), ("uJ", 1e6), ("nJ", 1e3), ("pJ", 1.0)):
        if abs(pj) >= scale or unit == "pJ":
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


def _readout_split(counts: Counts):
    """(per-step synaptic nodes, readout synaptic nodes evaluated once after a time reduction)."""
    syn = counts.synaptic_nodes()
    return [c for c in syn if not c.time_reduced], [c for c in syn if c.time_reduced]


def target_energy(target: Target, counts: Counts, host: Optional[Target] = None) -> TargetResult:
    """Energy of one inference (one sample) on ``target``; see docs/report.md for the model.

    ``host``: the dense target whose MAC energy costs work the neuromorphic target cannot
    do on chip (a readout after a time reduction on a target without on-chip readout).
    """
    r = TargetResult(target)
    e = target.energy
    B = counts.batch
    if target.kind == "dense":
        p = counts.per_sample()
        r.terms.append(Term("MAC", p["ann_macs"], e["mac_pj"], "equivalent ANN, one pass, every weight (zeros too)"))
        if "weight_read_pj" in e:
            r.terms.append(Term("weight read", p["ann_macs"], e["weight_read_pj"], "one weight fetched per MAC (no reuse)"))
        if p["ann_bias_adds"]:
            if "add_pj" in e:
                r.terms.append(Term("bias add", p["ann_bias_adds"], e["add_pj"], "one per output element with a nonzero bias"))
            else:
                r.uncosted.append(f"{format_count(p['ann_bias_adds'])} bias additions (no add_pj)")
        return r
    if not target.costed:
        r.uncosted.append("no per-synaptic-operation energy published for this target")
        return r
    c = target.constraints
    sop = e["synaptic_op_pj"]
    mac = e.get("mac_pj", sop)
    steps, readout = _readout_split(counts)
    acs = sum(n.effective_acs for n in steps) / B
    macs = sum(n.effective_macs for n in steps) / B
    if acs:
        r.terms.append(Term("SOP", acs, sop, "binary input events x nonzero in-bounds synapses, every step"))
    if macs:
        how = "graded events" if c.get("graded_spikes") else "non-binary inputs costed as if graded (see fit check)"
        r.terms.append(Term("MAC" if "mac_pj" in e else "graded SOP", macs, mac, how))
    head_sop, head_host = 0.0, 0.0
    for n in readout:
        ops = (n.effective_acs + n.effective_macs) / B
        if c.get("non_spiking_readout") and n.unrolled_acs is not None:
            head_sop += n.unrolled_acs / B
        elif c.get("non_spiking_readout"):
            head_sop += ops  # on chip but not unrollable: costed per operation of the one call
        else:
            head_host += ops
    if head_sop:
        r.terms.append(Term("readout SOP", head_sop, sop, "time-reduced readout accumulated on chip, step by step"))
    if "weight_read_pj" in e and (acs + macs + head_sop):
        r.terms.append(Term("weight read", acs + macs + head_sop, e["weight_read_pj"], "one weight fetched per SOP/MAC (no reuse)"))
    if head_host:
        if host is not None and host.costed:
            r.terms.append(Term("host readout MAC", head_host, host.energy["mac_pj"], f"readout off chip at {host.name} MAC energy"))
        else:
            r.uncosted.append(f"{format_count(head_host)} readout MACs off chip (no host MAC energy)")
    p = counts.per_sample()
    updates, active = p["neuron_updates"], p["active_neuron_updates"]
    if "neuron_update_active_pj" in e:
        r.terms.append(Term("active neuron update", active, e["neuron_update_active_pj"],
                            "neuron state changed this step, or it fired and was reset"))
        r.terms.append(Term("idle neuron update", updates - active, e["neuron_update_idle_pj"], "state unchanged"))
    elif "neuron_update_pj" in e:
        r.terms.append(Term("neuron update", updates, e["neuron_update_pj"], "every neuron, every step"))
    elif updates:
        r.uncosted.append(f"{format_count(updates)} neuron updates (no published energy; included in the SOP figure or unknown)")
    if "spike_pj" in e:
        r.terms.append(Term("spike", p["spikes"], e["spike_pj"], "routing each output spike once"))
    if "static_power_mw" in e:
        if "step_time_us" in e:
            step_s = counts.steps * e["step_time_us"] * 1e-6
            r.terms.append(Term("s static", step_s, e["static_power_mw"] * 1e9, f"{counts.steps} steps x {e['step_time_us']:g} us at {e['static_power_mw']:g} mW"))
        else:
            r.uncosted.append(f"static power {e['static_power_mw']:g} mW (no time step to integrate over)")
    return r
