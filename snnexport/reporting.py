"""``snnexport report``: spike counts, sparsity, synaptic operations and energy per hardware target.

Pipeline: graph (or checkpoint, converted first) -> input (``snnexport.inputs``) ->
:func:`snnexport.counting.count` (reference simulator, NeuroBench-compatible counts) ->
per target :func:`target_energy` (formula with every number used) and :func:`fit_check`
(every violated constraint, by name) -> text (rich), ``--markdown``, ``--json`` and
``--plot``. docs/report.md explains every count and formula.

JSON is deterministic: keys sorted; counts exact (integers, or exact ratios of integers for
per-sample values); energies, ratios, rates and sparsities rounded to 6 significant digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import nir
import numpy as np

from . import energy_conventions
from .atomic import atomic_path
from .counting import Counts, count
from .errors import SnnexportError, markup_safe
from .targets import Target

DEFAULT_BASELINE = "ann-45nm-fp32"
REPORT_FORMAT = 1


from .jsonout import sig  # noqa: E402,F401 -- deterministic JSON floats (kept importable from here)


# ----------------------------------------------------------------------------- energy

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
        parts = [f"{_num(t.count)} {t.label} x {t.unit_pj:g} pJ" for t in self.terms]
        return "E = " + (" + ".join(parts) if parts else "0") + f" = {_energy(self.energy_pj)}"

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


def _num(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() else f"{v:.6g}"


def _energy(pj: Optional[float]) -> str:
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
                r.uncosted.append(f"{_num(p['ann_bias_adds'])} bias additions (no add_pj)")
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
            r.uncosted.append(f"{_num(head_host)} readout MACs off chip (no host MAC energy)")
    p = counts.per_sample()
    updates, active = p["neuron_updates"], p["active_neuron_updates"]
    if "neuron_update_active_pj" in e:
        r.terms.append(Term("active neuron update", active, e["neuron_update_active_pj"],
                            "neuron state changed this step, or it fired and was reset"))
        r.terms.append(Term("idle neuron update", updates - active, e["neuron_update_idle_pj"], "state unchanged"))
    elif "neuron_update_pj" in e:
        r.terms.append(Term("neuron update", updates, e["neuron_update_pj"], "every neuron, every step"))
    elif updates:
        r.uncosted.append(f"{_num(updates)} neuron updates (no published energy; included in the SOP figure or unknown)")
    if "spike_pj" in e:
        r.terms.append(Term("spike", p["spikes"], e["spike_pj"], "routing each output spike once"))
    if "static_power_mw" in e:
        if "step_time_us" in e:
            step_s = counts.steps * e["step_time_us"] * 1e-6
            r.terms.append(Term("s static", step_s, e["static_power_mw"] * 1e9, f"{counts.steps} steps x {e['step_time_us']:g} us at {e['static_power_mw']:g} mW"))
        else:
            r.uncosted.append(f"static power {e['static_power_mw']:g} mW (no time step to integrate over)")
    return r


# ----------------------------------------------------------------------------- fit check

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
                     f"({_num(nc.effective_macs / counts.batch)} MACs per inference)")
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


# ----------------------------------------------------------------------------- report

@dataclass
class Report:
    counts: Counts
    results: Dict[str, TargetResult]
    baseline: Optional[str]
    source: str
    run: Dict[str, Any]
    conventions: Optional[Dict[str, Any]] = None  # apply_convention (below)

    def to_json(self) -> Dict[str, Any]:
        from .counting import to_json as counts_json

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


def build_report(graph: nir.NIRGraph, x, targets: Sequence[Target], all_targets: Dict[str, Target],
                 baseline: Optional[str] = DEFAULT_BASELINE, source: str = "", run: Optional[Dict[str, Any]] = None,
                 dtype=None, result=None) -> Report:
    """``result``: a reference run with ``record_activations=True`` on ``x`` to count from (else
    :func:`count` runs one); :func:`apply_convention` can reuse the same run."""
    import torch

    counts = count(graph, x, dtype or torch.float64, result=result)
    base_t = None
    if baseline:
        if baseline not in all_targets:
            raise SnnexportError(f"--baseline: unknown target {baseline!r} (known: {', '.join(all_targets)})")
        base_t = all_targets[baseline]
        if not base_t.costed:
            raise SnnexportError(f"--baseline: target {baseline!r} has no energy figures")
    host = base_t if base_t is not None and base_t.kind == "dense" else None
    results: Dict[str, TargetResult] = {}
    for t in targets:
        r = target_energy(t, counts, host)
        r.violations = fit_check(t, counts, graph, r.fit_notes)
        results[t.name] = r
    base_e = target_energy(base_t, counts, host).energy_pj if base_t is not None else None
    for r in results.values():
        if base_e and r.energy_pj is not None:
            r.ratio = r.energy_pj / base_e
    return Report(counts, results, baseline if base_t is not None else None, source, dict(run or {}))


# ----------------------------------------------------------------------------- rendering

def _rate(v: float) -> str:
    return f"{v:.4f}"


def layer_rows(rep: Report) -> List[List[str]]:
    c = rep.counts
    B = c.batch
    rows = []
    for n in c.order:
        nc = c.nodes[n]
        if nc.role == "other":
            continue
        if nc.role == "neuron":
            rows.append([n, nc.type, str(nc.neurons), str(nc.params), _num(nc.spikes / B) if nc.spiking else "-",
                         _rate(nc.firing_rate) if nc.spiking else "-", "-", "-", "-", _num(nc.membrane_updates / B)])
        else:
            rows.append([n, nc.type + (f" ({nc.reduction})" if nc.reduction else ""), "-", str(nc.params), "-", "-",
                         _num(nc.effective_acs / B), _num(nc.effective_macs / B), _num(nc.dense_ops / B), "-"])
    return rows


LAYER_HEAD = ["node", "type", "neurons", "params", "spikes", "rate", "ACs", "MACs", "dense", "mem. upd."]
TARGET_HEAD = ["target", "grade", "energy / inference", "vs baseline", "fit"]


def target_rows(rep: Report) -> List[List[str]]:
    rows = []
    for name, r in rep.results.items():
        ratio = f"{r.ratio:.3g}x" if r.ratio is not None else "-"
        fit = "fits" if not r.violations else f"{len(r.violations)} violation{'s' if len(r.violations) > 1 else ''}"
        rows.append([name, r.target.grade, _energy(r.energy_pj), ratio, fit])
    return rows


def summary_lines(rep: Report) -> List[str]:
    c = rep.counts
    p = c.per_sample()
    run = rep.run
    return [
        f"source: {rep.source}",
        f"run: T={c.steps} steps, B={c.batch} samples, input {run.get('input', '?')} ({c.input_kind}, shape {list(c.input_shape)})",
        f"per inference: {p['neurons']} neurons, {p['parameters']} parameters, {_num(p['spikes'])} spikes "
        f"(firing rate {p['firing_rate']:.4f}, activation sparsity {p['activation_sparsity']:.4f}), "
        f"connection sparsity {p['connection_sparsity']:.4f}",
        f"operations per inference: {_num(p['effective_acs'])} ACs (SOPs), {_num(p['effective_macs'])} MACs, "
        f"{_num(p['dense_ops'])} dense (all steps), {_num(p['ann_macs'])} MACs of the equivalent ANN (one pass), "
        f"{_num(p['membrane_updates'])} membrane updates of {_num(p['neuron_updates'])} neuron updates",
        f"baseline for ratios: {rep.baseline or 'none'}",
    ]


def print_report(rep: Report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    import sys

    con = console or (Console() if sys.stdout.isatty() else Console(width=150))
    esc = markup_safe  # node, file and target names come from files: no markup, no terminal control
    for line in summary_lines(rep):
        con.print(esc(line), highlight=False)
    t = Table(title="per layer, per inference")
    for h in LAYER_HEAD:
        t.add_column(h, justify="left" if h in ("node", "type") else "right")
    for row in layer_rows(rep):
        t.add_row(*(esc(c) for c in row))
    con.print(t)
    t = Table(title="per target")
    for h in TARGET_HEAD:
        t.add_column(h)
    for row in target_rows(rep):
        t.add_row(*(esc(c) for c in row))
    con.print(t)
    energy_conventions.print_table(rep.conventions, con)
    for name, r in rep.results.items():
        con.print(f"[bold]{esc(name)}[/bold] ({esc(r.target.grade)}): {esc(r.formula())}", highlight=False)
        for u in r.uncosted if r.costed else []:
            con.print(f"  not costed: {esc(u)}", highlight=False)
        if r.unconfirmed():
            con.print(f"  unconfirmed source: {esc(', '.join(r.unconfirmed()))} (see `snnexport targets --show {esc(name)}`)",
                      highlight=False)
        for v in r.violations:
            con.print(f"  [red]violates[/red] {esc(v)}", highlight=False)
        for v in r.fit_notes:
            con.print(f"  note: {esc(v)}", highlight=False)


def markdown(rep: Report) -> str:
    def table(head, rows):
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)

    parts = ["# snnexport report", ""] + [f"- {l}" for l in summary_lines(rep)] + ["", "## Per layer (per inference)", "",
                                                                              table(LAYER_HEAD, layer_rows(rep)), "",
                                                                              "## Per target", "", table(TARGET_HEAD, target_rows(rep)), ""]
    parts += [energy_conventions.markdown(rep.conventions)]
    for name, r in rep.results.items():
        parts.append(f"### {name}: {r.target.title}")
        parts.append("")
        parts.append(f"- grade: {r.target.grade}; sources: " + "; ".join(f"{s.cite} ({s.where})" for s in r.target.sources))
        parts.append(f"- `{r.formula()}`")
        for u in r.uncosted if r.costed else []:
            parts.append(f"- not costed: {u}")
        if r.unconfirmed():
            parts.append(f"- unconfirmed source: {', '.join(r.unconfirmed())}")
        if r.violations:
            parts.append("- violations:")
            parts += [f"  - {v}" for v in r.violations]
        else:
            parts.append("- fits: no constraint violated" if r.target.kind != "dense" else "- dense baseline: no constraints")
        parts += [f"- note: {v}" for v in r.fit_notes]
        parts.append("")
    return "\n".join(parts)


def plot(rep: Report, path: str | Path) -> Path:
    """One PNG: per-layer firing rate, spike raster of sample 0, energy per target (log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = rep.counts
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    spiking = [nc for nc in c.neuron_nodes() if nc.spiking]
    ax = axes[0]
    ax.bar(range(len(spiking)), [nc.firing_rate for nc in spiking], color="tab:blue")
    ax.set_xticks(range(len(spiking)), [nc.name for nc in spiking], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title("firing rate per layer")
    ax = axes[1]
    offset, ticks = 0, []
    cap = 200  # neurons shown per layer
    for nc in spiking:
        s = c.spike_trains[nc.name][:, 0].reshape(c.steps, -1)[:, :cap]
        t_idx, n_idx = np.nonzero(s)
        ax.scatter(t_idx, n_idx + offset, s=4, marker="|")
        ticks.append((offset + s.shape[1] / 2, nc.name))
        offset += s.shape[1] + 2
    ax.set_yticks([p for p, _ in ticks], [n for _, n in ticks], fontsize=8)
    ax.set_xlabel("time step")
    ax.set_xlim(-0.5, c.steps - 0.5)
    ax.set_title(f"spike raster, sample 0 (first {cap} neurons per layer)")
    ax = axes[2]
    costed = [(n, r) for n, r in rep.results.items() if r.energy_pj]
    colors = ["tab:gray" if r.target.kind == "dense" else "tab:green" for _, r in costed]
    ax.bar(range(len(costed)), [r.energy_pj for _, r in costed], color=colors)
    ax.set_yscale("log")
    ax.set_xticks(range(len(costed)), [n for n, _ in costed], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("pJ per inference")
    ax.set_title("energy per target (grey: dense ANN)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- energy conventions (snnexport.energy_conventions)

SYNAPTIC_TERM_LABELS = ("SOP", "MAC", "graded SOP", "readout SOP", "host readout MAC")


def apply_convention(rep, convention: str, graph: nir.NIRGraph, x, dtype: Optional[torch.dtype] = None,
                     result=None) -> Dict:
    """Add ``conventions`` to a :class:`Report` and let ``convention`` drive its energies.

    For ``neurobench`` the target energies stay as :func:`target_energy`
    made them. For another convention, on every costed neuromorphic target the synaptic
    terms are replaced by the convention's MACs (at the target's ``mac_pj``, else its
    ``synaptic_op_pj``) and ACs (at ``synaptic_op_pj``); neuron, spike and static terms are
    kept; ratios are recomputed against the unchanged dense baseline.
    """
    import torch

    if convention not in energy_conventions.CONVENTIONS:
        raise SnnexportError(f"--convention: unknown convention {convention!r} (known: {', '.join(energy_conventions.CONVENTIONS)})")
    stats = energy_conventions.input_stats(graph, x, rep.counts, dtype or torch.float64, result=result)
    table = energy_conventions.compare(rep.counts, stats)
    rep.conventions = {"selected": convention, "results": table, "input_stats": energy_conventions.stats_json(stats)}
    if convention == "neurobench":
        return rep.conventions
    costed = energy_conventions.CONVENTIONS[convention](rep.counts, stats)
    for r in rep.results.values():
        if r.target.kind == "dense" or not r.costed:
            continue
        e = r.target.energy
        kept = [t for t in r.terms if t.label not in SYNAPTIC_TERM_LABELS]
        new = []
        if costed.acs:
            new.append(Term("AC", costed.acs, e["synaptic_op_pj"], f"{convention} convention"))
        if costed.macs:
            new.append(Term("MAC", costed.macs, e.get("mac_pj", e["synaptic_op_pj"]), f"{convention} convention"))
        base = r.energy_pj / r.ratio if r.ratio else None
        r.terms = new + kept
        r.ratio = r.energy_pj / base if base else None
    return rep.conventions
