"""``snnexport verify``: run every participant on the same input and compare with the reference.

Identical means (float64): every spike of every neuron at every step equal, readouts equal
within 1e-12 (relative to max(1, |readout|)). In float32 a spike mismatch is accepted only as
*rounding*: at the first diverging step, each mismatching neuron's reference membrane must lie
within float32 rounding of its threshold (|U - theta| <= 64 * eps32 * max(1, |theta|)); what
follows a rounding divergence is its consequence and counted, not judged.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import nir
import numpy as np
import torch

from .errors import SnnexportError
from .graph import execution_order
from .simulators import ROLES, SIMULATORS, SimResult, load_all

EPS32 = float(np.finfo(np.float32).eps)
READOUT_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


@dataclass
class Row:
    name: str
    role: str
    total_spikes: int = 0
    spikes_per_node: Dict[str, int] = field(default_factory=dict)
    mismatches: int = 0
    rounding_mismatches: int = 0
    consequential_mismatches: int = 0
    missing_nodes: List[str] = field(default_factory=list)
    max_abs_readout_diff: Optional[float] = None
    first_divergence: Optional[Dict[str, Any]] = None
    adapters: List[str] = field(default_factory=list)
    identical: bool = True
    error: Optional[str] = None


@dataclass
class VerifyReport:
    identical: bool
    dtype: str
    steps: int
    batch: int
    participants: List[Row]

    def to_json(self) -> Dict[str, Any]:
        return asdict(self)


def _threshold(graph: nir.NIRGraph, node: str) -> np.ndarray:
    return np.asarray(getattr(graph.nodes[node], "v_threshold", 0.0), dtype=np.float64)


def compare(graph: nir.NIRGraph, ref: SimResult, other: SimResult, row: Row, dtype: torch.dtype) -> None:
    order, _ = execution_order(graph)
    nodes = [n for n in order if n in ref.spikes]
    row.spikes_per_node = {n: int(other.spikes[n].sum()) for n in nodes if n in other.spikes}
    row.total_spikes = int(sum(row.spikes_per_node.values()))
    row.missing_nodes = [n for n in nodes if n not in other.spikes]
    first = None  # (t, node index, flat neuron index, node)
    for i, n in enumerate(nodes):
        if n not in other.spikes:
            continue
        a, b = ref.spikes[n], other.spikes[n]
        if a.shape != b.shape:
            raise SnnexportError(f"participant {row.name}: node {n!r} spikes have shape {b.shape}, reference {a.shape}")
        diff = a != b
        cnt = int(diff.sum())
        row.mismatches += cnt
        if cnt:
            t = int(np.argmax(diff.reshape(diff.shape[0], -1).any(axis=1)))
            flat = int(np.argmax(diff[t].reshape(-1)))
            cand = (t, i, flat, n)
            if first is None or cand[:2] < first[:2]:
                first = cand
    if first is not None:
        t, _, flat, n = first
        row.first_divergence = _divergence(graph, ref, other, t, n, flat)
        if dtype == torch.float32:
            _classify_rounding(graph, ref, other, nodes, t, row)
    diffs = []
    for out, r in ref.readout.items():
        o = other.readout.get(out)
        if o is None:
            continue
        if np.shape(o) != np.shape(r):
            raise SnnexportError(f"participant {row.name}: readout {out!r} has shape {np.shape(o)}, reference {np.shape(r)}")
        scale = max(1.0, float(np.abs(r).max()) if r.size else 1.0)
        diffs.append(float(np.abs(np.asarray(o, dtype=np.float64) - r).max() / scale) if r.size else 0.0)
    row.max_abs_readout_diff = max(diffs) if diffs else None
    readout_ok = row.max_abs_readout_diff is None or row.max_abs_readout_diff <= READOUT_TOL[dtype]
    if dtype == torch.float32 and row.mismatches and row.rounding_mismatches:
        readout_ok = True  # a rounding divergence changes the readout by design; spikes were judged
    spikes_ok = row.mismatches == 0 or (dtype == torch.float32 and row.mismatches == row.rounding_mismatches + row.consequential_mismatches
                                        and row.rounding_mismatches > 0)
    row.identical = bool(spikes_ok and readout_ok and not row.missing_nodes)


def _divergence(graph, ref: SimResult, other: SimResult, t: int, node: str, flat: int) -> Dict[str, Any]:
    shape = ref.spikes[node].shape[1:]
    idx = np.unravel_index(flat, shape)
    thr = np.broadcast_to(_threshold(graph, node), shape[1:])[tuple(idx[1:])] if len(shape) > 1 else float(_threshold(graph, node))
    out = {"step": t, "node": node, "batch": int(idx[0]), "neuron": [int(i) for i in idx[1:]],
           "reference_spike": float(ref.spikes[node][(t,) + tuple(idx)]), "participant_spike": float(other.spikes[node][(t,) + tuple(idx)]),
           "threshold": float(thr)}
    for who, res in (("reference", ref), ("participant", other)):
        mem = res.membranes.get(node)
        if mem is not None and mem.shape == ref.spikes[node].shape:
            u = float(mem[(t,) + tuple(idx)])
            out[f"{who}_membrane"] = u
            out[f"{who}_margin"] = u - float(thr)
    return out


def _classify_rounding(graph, ref: SimResult, other: SimResult, nodes: List[str], t0: int, row: Row) -> None:
    """float32 only: mismatches at the first diverging step are *rounding* when the reference
    membrane is within float32 rounding of the threshold; everything after the first
    rounding flip (later nodes of that step, later steps) is its *consequence*. Any other
    mismatch stays unexcused (rounding_mismatches + consequential_mismatches < mismatches)."""
    rounding = real = consequential = 0
    for n in nodes:  # topological order
        if n not in other.spikes:
            continue
        diff = ref.spikes[n] != other.spikes[n]
        consequential += int(diff[t0 + 1:].sum())
        at = diff[t0]
        if not at.any():
            continue
        if rounding:  # downstream of a rounding flip within the same step
            consequential += int(at.sum())
            continue
        mem = ref.membranes.get(n)
        if mem is None:
            real += int(at.sum())
            continue
        thr = np.broadcast_to(_threshold(graph, n), at.shape[1:])
        ok = at & (np.abs(mem[t0] - thr) <= 64 * EPS32 * np.maximum(1.0, np.abs(thr)))
        rounding += int(ok.sum())
        real += int((at & ~ok).sum())
    row.rounding_mismatches = rounding
    row.consequential_mismatches = consequential if real == 0 else 0


def _run_participants(graph, x, dtype, sims, source, progress):
    """(reference result, {name: SimResult | error string}) on one batch chunk."""
    ref = SIMULATORS["reference"](graph, x, dtype)
    out: Dict[str, Any] = {}
    iterator = sims
    if progress:
        from tqdm import tqdm

        iterator = tqdm(sims, desc="verify", unit="sim", leave=False, disable=not sys.stderr.isatty())
    for name in iterator:
        if name == "reference":
            out[name] = ref
            continue
        role = ROLES.get(name, "simulator")
        try:
            out[name] = SIMULATORS[name](graph, x, dtype, source=source)
        except SnnexportError as e:
            if role != "upstream":
                raise
            out[name] = str(e)
        except Exception as e:  # noqa: BLE001 — an upstream tool crashing is a finding, not our crash
            if role != "upstream":
                raise
            out[name] = f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"
    return ref, out


def _merge(parts: List[SimResult], reduced_outputs) -> SimResult:
    """Concatenate per-chunk results along the batch axis."""
    if len(parts) == 1:
        return parts[0]
    cat = lambda key: {k: np.concatenate([getattr(p, key)[k] for p in parts], axis=1)  # noqa: E731
                       for k in getattr(parts[0], key) if all(k in getattr(p, key) for p in parts)}
    merged = SimResult(spikes=cat("spikes"), membranes=cat("membranes"), adapters=parts[0].adapters)
    for k in parts[0].readout:
        axis = 0 if k in reduced_outputs else 1
        merged.readout[k] = np.concatenate([p.readout[k] for p in parts], axis=axis)
    return merged


def run_verify(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype = torch.float64,
               sims: Optional[List[str]] = None, source=None, progress: bool = False,
               keep_results: Optional[Dict[str, SimResult]] = None, max_memory: Optional[int] = None) -> VerifyReport:
    """Compare every participant in ``sims`` with the reference; ``keep_results`` (a dict)
    receives each participant's raw SimResult (for ``--save-spikes``). The batch is split
    into chunks when the estimated memory exceeds ``max_memory`` (see snnexport.resources)."""
    from .graph import output_is_time_reduced, output_names
    from .resources import plan_batch

    load_all()
    sims = list(sims or default_sims(source is not None))
    unknown = [s for s in sims if s not in SIMULATORS]
    if unknown:
        raise SnnexportError(f"--sims: unknown participant(s) {', '.join(unknown)} (available: {', '.join(sorted(SIMULATORS))})")
    x = x.to(dtype)
    T, B = int(x.shape[0]), int(x.shape[1])
    chunk = plan_batch(graph, T, B, x.element_size(), len(sims) + 1, max_memory)
    reduced = {o for o in output_names(graph) if output_is_time_reduced(graph, o)}
    refs: List[SimResult] = []
    parts: Dict[str, List[Any]] = {name: [] for name in sims}
    for start in range(0, B, chunk):
        ref, got = _run_participants(graph, x[:, start:start + chunk], dtype, sims, source, progress)
        refs.append(ref)
        for name, res in got.items():
            parts[name].append(res)
    ref = _merge(refs, reduced)
    rows: List[Row] = []
    for name in sims:
        row = Row(name=name, role=ROLES.get(name, "simulator"))
        errors = [p for p in parts[name] if isinstance(p, str)]
        if errors:
            row.error, row.identical = errors[0], False
            rows.append(row)
            continue
        res = ref if name == "reference" else _merge(parts[name], reduced)
        row.adapters = list(res.adapters)
        try:
            compare(graph, ref, res, row, dtype)
        except SnnexportError as e:  # e.g. an upstream importer returning the wrong shapes
            if row.role != "upstream":
                raise
            row.error, row.identical = str(e), False
        if keep_results is not None:
            keep_results[name] = res
        rows.append(row)
    identical = all(r.identical for r in rows if r.role not in ("upstream", "chip"))  # chip: quantized by design
    return VerifyReport(identical, str(dtype).replace("torch.", ""), T, B, rows)


def default_sims(have_source: bool) -> List[str]:
    load_all()
    base = (["source"] if have_source else []) + ["reference"]
    return base + [s for s in ("snntorch", "norse", "onnxruntime", "snntorch-upstream", "norse-upstream") if s in SIMULATORS]
