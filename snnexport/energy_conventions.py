"""Three ways to turn a run's counts into synaptic energy, side by side (docs/report.md).

The same run can honestly be costed in different ways; a planner reading an SNN paper and
``snnexport report`` needs to know which one each uses. Every convention gives, per
inference (per sample), a number of MACs and a number of ACs (accumulates); energy is
``MAC x mac_pj + AC x ac_pj`` (default 45 nm fp32, Horowitz: 4.6 and 0.9 pJ). The dense
ANN twin is ``sum_l FLOPs_l`` MACs under all three (``FLOPs_l``: dense in-bounds
multiply-accumulates of layer ``l`` in one pass, ``ann_macs``).

* ``neurobench`` (today's counting, :mod:`snnexport.counting`): per call, nonzero input
  elements x nonzero in-bounds fan-out; a call with only -1/0/1 inputs is ACs, any other
  call MACs (analog input at every step, integer SEW sums, a time-mean readout).
* ``papers`` (the SNN receiver papers' convention, SpikingRx / NeuromorphicRx and the
  spiking-vision papers they follow): the first layer(s), fed by the network input, are
  ``FLOPs_1`` MACs (one dense pass); every other layer ``l`` is ``r_l x T x FLOPs_l`` ACs,
  ``r_l`` the fraction of nonzero elements of its per-step input.
* ``event`` (event-exact): a layer whose input is the same at every step is computed once
  (its output is then held); an integer-valued input value ``k`` is ``|k|`` events (a SEW sum
  of k spike trains is k spikes arriving), each costing one AC per nonzero in-bounds
  synapse; a non-integer input stays a MAC per nonzero input and synapse. A time-reduced
  readout (mean/sum) accumulates its per-step events (the ``1/T`` of a mean folded into its
  weights).

:func:`input_stats` measures what the conventions need beyond :class:`~snnexport.counting.Counts`
(per synaptic node: whether its per-step input is static, integer-valued, its nonzero
fraction and its event-weighted operations) from a reference-simulator run; the
conventions themselves (:data:`CONVENTIONS`) are pure functions of ``(counts, stats)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional

import nir
import numpy as np
import torch

from .counting import Counts, linear_map, post_nodes
from .errors import SnnexportError
from .graph import execution_order, incoming

DEFAULT_MAC_PJ = 4.6   # Horowitz ISSCC 2014, 45 nm fp32 multiply-add (targets/snn-45nm-fp32.toml)
DEFAULT_AC_PJ = 0.9    # fp32 add


@dataclass(frozen=True)
class InputStats:
    """Per synaptic node, its per-step input ``x_t`` over the whole batch (``t = 1..T``).

    For a time-reduced readout the per-step input is the one *before* the reduction.
    """

    steps: int                 # per-step inputs seen (T; 1 for a node after another reduced node)
    static: bool               # x_t == x_1 for every t (and steps > 1)
    integer: bool              # every value an integer
    binary: bool               # every value in {-1, 0, 1}
    nonzero: int               # sum_t #{j: x_tj != 0}
    elements: int              # sum_t #j
    ops: int                   # sum_t sum_j [x_tj != 0] fanout_j
    first_ops: int             # sum_j [x_1j != 0] fanout_j
    event_ops: int             # sum_t sum_j |x_tj| fanout_j (integer inputs: k events per unit)
    first_event_ops: int       # sum_j |x_1j| fanout_j

    @property
    def rate(self) -> float:
        return self.nonzero / self.elements if self.elements else 0.0


def _fanout(node, in_shape) -> np.ndarray:
    """Nonzero in-bounds weights reading each input element (as counting does)."""
    w = torch.as_tensor((np.asarray(node.weight) != 0).astype(np.float64))
    x = torch.ones((1, *in_shape), dtype=torch.float64, requires_grad=True)
    linear_map(node)(x, w).sum().backward()
    return np.rint(x.grad[0].numpy()).astype(np.int64).reshape(-1)


def input_stats(graph: nir.NIRGraph, x, counts: Counts, dtype: torch.dtype = torch.float64,
                result=None) -> Dict[str, InputStats]:
    """:class:`InputStats` of every synaptic node of ``counts`` on input ``x`` ``[T, B, ...]``.

    ``result``: a reference-simulator run with ``record_activations=True`` on the same input
    (else it is run here). Inputs are rebuilt as :func:`snnexport.counting.count` does: the sum
    of the incoming edges, a recurrent edge delayed by one step.
    """
    from .simulators.reference.runner import simulate

    xt = (x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))).to(dtype)
    res = result if result is not None else simulate(graph, xt, dtype, record_activations=True)
    order, back = execution_order(graph)
    inc = incoming(graph)
    post = post_nodes(graph)

    def output(n: str) -> np.ndarray:
        node = graph.nodes[n]
        if isinstance(node, nir.Input):
            return xt.numpy()
        for store in (res.spikes, res.activations, res.membranes):
            if n in store:
                return store[n]
        raise SnnexportError(f"node {n!r}: the simulation recorded no output (run it with record_activations=True)")

    stats: Dict[str, InputStats] = {}
    for n in order:
        c = counts.nodes.get(n)
        if c is None or c.role != "synaptic":
            continue
        total = None
        for src in inc[n]:
            v = output(src)
            if (src, n) in back:
                v = np.concatenate([np.zeros_like(v[:1]), v[:-1]], axis=0)
            total = v if total is None else total + v
        steps_in = total if (n not in post or c.reduction) else total[None]  # [T', B, *in]
        fan = _fanout(graph.nodes[n], steps_in.shape[2:])
        flat = steps_in.reshape(steps_in.shape[0], steps_in.shape[1], -1)
        nz = (flat != 0).sum(axis=1).astype(np.int64)          # [T', in]
        mag = np.abs(flat).sum(axis=1)                          # [T', in]
        per_step_ops = nz @ fan
        per_step_events = mag @ fan
        # an event count must be a finite integer (inf, or sums overflowing to inf, are not)
        integer = bool(np.all(np.isfinite(per_step_events)) and np.all(flat == np.round(flat)))
        stats[n] = InputStats(
            steps=int(flat.shape[0]),
            static=bool(flat.shape[0] > 1 and np.all(flat == flat[:1])),
            integer=integer,
            binary=bool(np.all((flat == 0) | (flat == 1) | (flat == -1))),
            nonzero=int(nz.sum()), elements=int(flat.size), ops=int(per_step_ops.sum()), first_ops=int(per_step_ops[0]),
            event_ops=int(round(float(per_step_events.sum()))) if integer else int(per_step_ops.sum()),
            first_event_ops=int(round(float(per_step_events[0]))) if integer else int(per_step_ops[0]),
        )
    return stats


# ----------------------------------------------------------------------------- conventions

@dataclass
class Costed:
    """One convention's operation counts for one network, per inference."""

    convention: str
    macs: float
    acs: float
    per_node: Dict[str, Dict[str, float]]

    def energy_pj(self, mac_pj: float = DEFAULT_MAC_PJ, ac_pj: float = DEFAULT_AC_PJ) -> float:
        return self.macs * mac_pj + self.acs * ac_pj


def _first_layer(counts: Counts) -> List[str]:
    return list(counts.destinations.get(counts.input_name, []))


def neurobench(counts: Counts, stats: Dict[str, InputStats]) -> Costed:
    """(a) NeuroBench: Effective_MACs and Effective_ACs as counted (all calls, readout once)."""
    B = counts.batch
    per = {c.name: {"macs": c.effective_macs / B, "acs": c.effective_acs / B} for c in counts.synaptic_nodes()}
    return _total("neurobench", per)


def papers(counts: Counts, stats: Dict[str, InputStats]) -> Costed:
    """(b) E = E_MAC FLOPs_1 + E_AC sum_{l>=2} r_l T FLOPs_l (first layer: one dense pass)."""
    first = set(_first_layer(counts))
    per = {}
    for c in counts.synaptic_nodes():
        s = stats[c.name]
        if c.name in first:
            per[c.name] = {"macs": float(c.ann_macs), "acs": 0.0}
        else:
            per[c.name] = {"macs": 0.0, "acs": s.rate * s.steps * c.ann_macs}
    return _total("papers", per)


def event_exact(counts: Counts, stats: Dict[str, InputStats]) -> Costed:
    """(c) static inputs once; integer inputs |k| events per unit (ACs); other inputs MACs."""
    B = counts.batch
    per = {}
    for c in counts.synaptic_nodes():
        s = stats[c.name]
        ops, events = (s.first_ops, s.first_event_ops) if s.static else (s.ops, s.event_ops)
        if s.integer:
            per[c.name] = {"macs": 0.0, "acs": events / B}
        elif c.time_reduced and c.reduction is None:
            per[c.name] = {"macs": ops / B, "acs": 0.0}
        elif c.time_reduced:
            # a non-integer per-step input into a mean/sum readout: one MAC pass on the reduced input
            per[c.name] = {"macs": (c.effective_acs + c.effective_macs) / B, "acs": 0.0}
        else:
            per[c.name] = {"macs": ops / B, "acs": 0.0}
    return _total("event", per)


def _total(name: str, per: Dict[str, Dict[str, float]]) -> Costed:
    return Costed(name, sum(v["macs"] for v in per.values()), sum(v["acs"] for v in per.values()), per)


CONVENTIONS: Dict[str, Callable[[Counts, Dict[str, InputStats]], Costed]] = {
    "neurobench": neurobench,
    "papers": papers,
    "event": event_exact,
}
TITLES = {
    "neurobench": "(a) NeuroBench: Effective_MACs x E_MAC + Effective_ACs x E_AC, every call",
    "papers": "(b) SNN-receiver papers: E_MAC FLOPs_1 + E_AC sum_l r_l T FLOPs_l",
    "event": "(c) event-exact: static inputs once, k events per integer unit",
}


def dense_ann_macs(counts: Counts) -> int:
    """The dense ANN twin, one pass: sum_l FLOPs_l (every weight, zeros too)."""
    return int(sum(c.ann_macs for c in counts.synaptic_nodes()))


def compare(counts: Counts, stats: Dict[str, InputStats], mac_pj: float = DEFAULT_MAC_PJ,
            ac_pj: float = DEFAULT_AC_PJ) -> Dict[str, Dict]:
    """Every convention for one run, and its ratio to the dense ANN twin (``report --json``'s ``conventions``)."""
    ann_pj = dense_ann_macs(counts) * mac_pj
    out = {}
    for name, fn in CONVENTIONS.items():
        r = fn(counts, stats)
        e = r.energy_pj(mac_pj, ac_pj)
        out[name] = {"title": TITLES[name], "macs": r.macs, "acs": r.acs, "energy_pj": e,
                     "ann_energy_pj": ann_pj, "ann_over_snn": ann_pj / e if e else None,
                     "mac_pj": mac_pj, "ac_pj": ac_pj, "per_node": r.per_node}
    return out


def stats_json(stats: Dict[str, InputStats]) -> Dict[str, Dict]:
    return {n: {**asdict(s), "rate": s.rate} for n, s in stats.items()}


def rows(conventions: Dict) -> List[List[str]]:
    """Table rows: convention, MACs, ACs, SNN energy, dense ANN energy, ANN/SNN."""
    out = []
    for name, d in conventions["results"].items():
        mark = " *" if name == conventions["selected"] else ""
        out.append([name + mark, f"{d['macs']:.4g}", f"{d['acs']:.4g}", f"{d['energy_pj'] / 1e6:.4g} uJ",
                    f"{d['ann_energy_pj'] / 1e6:.4g} uJ", f"{d['ann_over_snn']:.3g}x" if d["ann_over_snn"] else "-"])
    return out


HEAD = ["convention", "MACs", "ACs", "SNN synaptic energy", "dense ANN", "ANN / SNN"]


def to_json(conventions: Optional[Dict]) -> Optional[Dict]:
    """Deterministic JSON: energies and rates to 6 significant digits, counts as they are."""
    if conventions is None:
        return None
    from .jsonout import sig

    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, float):
            return sig(v, 12) if v.is_integer() else sig(v)
        return v

    return clean(conventions)


def markdown(conventions: Optional[Dict]) -> str:
    if not conventions:
        return ""
    lines = ["## Energy conventions (synaptic energy per inference; * drives the target energies)", "",
             "| " + " | ".join(HEAD) + " |", "|" + "|".join("---" for _ in HEAD) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows(conventions)]
    lines += [""] + [f"- {name}: {d['title']}" for name, d in conventions["results"].items()] + [""]
    return "\n".join(lines)


def print_table(conventions: Optional[Dict], console) -> None:
    if not conventions:
        return
    from rich.table import Table

    t = Table(title="energy conventions (synaptic energy per inference; * drives the target energies)")
    for h in HEAD:
        t.add_column(h, justify="left" if h == "convention" else "right")
    for r in rows(conventions):
        t.add_row(*r)
    console.print(t)
