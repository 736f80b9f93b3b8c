"""``snnexport report``: spike counts, sparsity, synaptic operations and energy per hardware target.

Pipeline (:func:`build_report`): graph (or checkpoint, converted first) -> input
(``snnexport.inputs``) -> :func:`snnexport.counting.count` (reference simulator,
NeuroBench-compatible counts) -> per target :func:`snnexport.energy.target_energy` (formula
with every number used) and :func:`snnexport.target_fit.fit_check` (every violated constraint,
by name) -> a :class:`snnexport.report_document.Report` (its JSON) -> text (rich),
``--markdown`` and ``--plot`` (:mod:`snnexport.report_render`); :func:`apply_convention` lets
another energy convention drive the energies. docs/report.md explains every count and formula.

Every name of the parts stays importable from here.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import nir

from . import energy_conventions
from .counting import count
from .energy import SYNAPTIC_TERM_LABELS, TargetResult, Term, target_energy  # noqa: F401
from .errors import SnnexportError
from .jsonout import sig  # noqa: F401 -- deterministic JSON floats (kept importable from here)
from .report_document import COUNTING_RULES, REPORT_FORMAT, Report  # noqa: F401
from .report_render import (LAYER_HEAD, TARGET_HEAD, layer_rows, markdown, plot, print_report,  # noqa: F401
                            summary_lines, target_rows)
from .target_fit import fit_check  # noqa: F401
from .targets import Target

DEFAULT_BASELINE = "ann-45nm-fp32"


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
