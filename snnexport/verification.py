"""``snnexport verify``: run every participant on the same input and compare with the reference.

Identical means (float64): every spike of every neuron at every step equal, readouts equal
within 1e-12 (relative to max(1, |readout|)). In float32 a spike mismatch is accepted only as
*rounding*: at the first diverging step, each mismatching neuron's reference membrane must lie
within float32 rounding of its threshold (|U - theta| <= 64 * eps32 * max(1, |theta|)); what
follows a rounding divergence is its consequence and counted, not judged.

Streaming: the batch is run in chunks that fit the memory budget (:mod:`snnexport.resources`).
Per chunk the reference runs once, then each participant in turn; its result is compared
with the reference at once (:class:`Tally` keeps counts per step and node, per-node spike
totals, the readout error and the first divergence) and dropped, so memory does not grow
with the batch. Results go to a *sink* only when the caller asks (``--save-spikes``).

Never all-or-nothing: a participant that refuses the graph or crashes becomes a row with
status ``"cannot run"`` and the reason; the verdict is decided by those that ran: identical
when every non-upstream participant that ran matches the reference and at least one of them
besides the reference ran.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import nir
import numpy as np
import torch

from .errors import SnnexportError
from .semantics import SPIKING_TYPES
from .graph import execution_order
from .simulators import ROLES, SIMULATORS, SimResult, load_all, participants

EPS32 = float(np.finfo(np.float32).eps)
READOUT_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}

# Row.status values
IDENTICAL, MISMATCH, DIFFERS, CANNOT_RUN = "identical", "mismatch", "differs", "cannot run"


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
    error: Optional[str] = None   # why it cannot run, or why its result cannot be compared
    status: str = IDENTICAL       # identical | mismatch | differs (upstream) | cannot run

    @property
    def ran(self) -> bool:
        return self.status != CANNOT_RUN


@dataclass
class VerifyResult:
    """What ``verify`` found. ``identical``: every non-upstream participant that ran matches
    the reference, and at least one besides the reference ran. ``participants``: one
    :class:`Row` each (``status`` says whether it ran)."""

    identical: bool
    dtype: str
    steps: int
    batch: int
    participants: List[Row]
    chunks: int = 1
    verdict: str = ""

    @property
    def first_divergence(self) -> Optional[Dict[str, Any]]:
        """The earliest divergence (by step, then graph order) of any participant that
        decides the verdict, with the participant's name; ``None`` when there is none."""
        best = None
        for r in self.participants:
            d = r.first_divergence
            if d is None or r.role == "upstream" or not r.ran:
                continue
            key = (d["step"], d.get("node_index", 0), d["batch"])
            if best is None or key < best[0]:
                best = (key, dict(d, participant=r.name))
        return best[1] if best else None

    def row(self, name: str) -> Row:
        for r in self.participants:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        del d["chunks"]  # depends on the memory measured while running: not part of the answer
        d["first_divergence"] = self.first_divergence
        return d


VerifyReport = VerifyResult  # the name used before the Python API


def _threshold(graph: nir.NIRGraph, node: str) -> np.ndarray:
    return np.asarray(getattr(graph.nodes[node], "v_threshold", 0.0), dtype=np.float64)


def _near_threshold(graph, node: str, mem: np.ndarray) -> np.ndarray:
    thr = np.broadcast_to(_threshold(graph, node), mem.shape[2:])
    return np.abs(mem - thr) <= 64 * EPS32 * np.maximum(1.0, np.abs(thr))


def spikes_compact(res: SimResult) -> SimResult:
    """Store 0/1 spikes as uint8 (8x less than float64); graded values stay as they are."""
    for n, s in list(res.spikes.items()):
        if s.dtype != np.uint8:
            u = s.astype(np.uint8)
            if np.array_equal(u, s):
                res.spikes[n] = u
    return res


class Tally:
    """Running comparison of one participant with the reference over batch chunks.

    Keeps, per (step, spiking node), the count of mismatching spikes and of those whose
    reference membrane lies within float32 rounding of the threshold, the per-node spike
    totals, the readout error and the first divergence; :meth:`finish` judges the row exactly
    as a comparison of the whole batch at once would."""

    def __init__(self, graph: nir.NIRGraph, steps: int, dtype: torch.dtype):
        self.graph, self.dtype = graph, dtype
        order, _ = execution_order(graph)
        self.nodes = [n for n in order if type(graph.nodes[n]).__name__ in SPIKING_TYPES]
        k = len(self.nodes)
        self.diff = np.zeros((steps, k), dtype=np.int64)
        self.near = np.zeros((steps, k), dtype=np.int64)
        self.has_mem = np.ones(k, dtype=bool)
        self.spikes = {}
        self.missing = set()
        self.readout_diff: Dict[str, float] = {}
        self.readout_abs: Dict[str, float] = {}
        self.first: Optional[Tuple[Tuple[int, int, int], Dict[str, Any]]] = None
        self.adapters: List[str] = []

    def add(self, ref: SimResult, other: SimResult, start: int = 0, name: str = "participant") -> None:
        """Compare one chunk (batch samples ``start ...``)."""
        self.adapters = list(other.adapters)
        for i, n in enumerate(self.nodes):
            if n not in ref.spikes:
                continue
            if n not in other.spikes:
                self.missing.add(n)
                continue
            a, b = ref.spikes[n], other.spikes[n]
            if a.shape != b.shape:
                raise SnnexportError(f"participant {name}: node {n!r} spikes have shape {b.shape}, reference {a.shape}")
            self.spikes[n] = self.spikes.get(n, 0) + int(b.sum())
            diff = a != b
            per_step = diff.reshape(diff.shape[0], -1).sum(axis=1)
            if not per_step.any():
                continue
            self.diff[:, i] += per_step
            mem = ref.membranes.get(n)
            if self.dtype == torch.float32:
                if mem is None:
                    self.has_mem[i] = False
                else:
                    self.near[:, i] += (diff & _near_threshold(self.graph, n, mem)).reshape(diff.shape[0], -1).sum(axis=1)
            t = int(np.argmax(per_step > 0))
            flat = int(np.argmax(diff[t].reshape(-1)))
            idx = np.unravel_index(flat, a.shape[1:])
            key = (t, i, start + int(idx[0]))
            if self.first is None or key[:2] < self.first[0][:2]:
                self.first = (key, _divergence(self.graph, ref, other, t, n, idx, start, i))
        for out, r in ref.readout.items():
            o = other.readout.get(out)
            if o is None:
                continue
            if np.shape(o) != np.shape(r):
                raise SnnexportError(f"participant {name}: readout {out!r} has shape {np.shape(o)}, reference {np.shape(r)}")
            if not r.size:
                self.readout_diff.setdefault(out, 0.0)
                continue
            d = float(np.abs(np.asarray(o, dtype=np.float64) - r).max())
            self.readout_diff[out] = max(self.readout_diff.get(out, 0.0), d)
            self.readout_abs[out] = max(self.readout_abs.get(out, 0.0), float(np.abs(r).max()))

    def finish(self, row: Row) -> Row:
        row.spikes_per_node = {n: self.spikes[n] for n in self.nodes if n in self.spikes}
        row.total_spikes = int(sum(row.spikes_per_node.values()))
        row.missing_nodes = [n for n in self.nodes if n in self.missing]
        row.mismatches = int(self.diff.sum())
        row.adapters = self.adapters
        row.first_divergence = self.first[1] if self.first else None
        if self.first is not None and self.dtype == torch.float32:
            self._classify_rounding(self.first[0][0], row)
        diffs = [d / max(1.0, self.readout_abs.get(o, 0.0)) for o, d in self.readout_diff.items()]
        row.max_abs_readout_diff = max(diffs) if diffs else None
        readout_ok = row.max_abs_readout_diff is None or row.max_abs_readout_diff <= READOUT_TOL[self.dtype]
        if self.dtype == torch.float32 and row.mismatches and row.rounding_mismatches:
            readout_ok = True  # a rounding divergence changes the readout by design; spikes were judged
        spikes_ok = row.mismatches == 0 or (self.dtype == torch.float32 and row.rounding_mismatches > 0 and
                                            row.mismatches == row.rounding_mismatches + row.consequential_mismatches)
        row.identical = bool(spikes_ok and readout_ok and not row.missing_nodes)
        row.status = IDENTICAL if row.identical else (DIFFERS if row.role == "upstream" else MISMATCH)
        return row

    def _classify_rounding(self, t0: int, row: Row) -> None:
        """float32 only: mismatches at the first diverging step are *rounding* when the
        reference membrane is within float32 rounding of the threshold; everything after the
        first rounding flip (later nodes of that step, later steps) is its *consequence*. Any
        other mismatch stays unexcused (rounding + consequential < mismatches)."""
        rounding = real = consequential = 0
        for i in range(len(self.nodes)):  # topological order
            consequential += int(self.diff[t0 + 1:, i].sum())
            at = int(self.diff[t0, i])
            if not at:
                continue
            if rounding:  # downstream of a rounding flip within the same step
                consequential += at
                continue
            if not self.has_mem[i]:
                real += at
                continue
            ok = int(self.near[t0, i])
            rounding += ok
            real += at - ok
        row.rounding_mismatches = rounding
        row.consequential_mismatches = consequential if real == 0 else 0


def compare(graph: nir.NIRGraph, ref: SimResult, other: SimResult, row: Row, dtype: torch.dtype) -> None:
    """Compare one participant's whole-batch result with the reference's, filling ``row``."""
    steps = max((s.shape[0] for s in ref.spikes.values()), default=0)
    tally = Tally(graph, steps, dtype)
    tally.add(ref, other, 0, row.name)
    tally.finish(row)


def _divergence(graph, ref: SimResult, other: SimResult, t: int, node: str, idx: tuple, start: int,
                node_index: int) -> Dict[str, Any]:
    shape = ref.spikes[node].shape[1:]
    thr = np.broadcast_to(_threshold(graph, node), shape[1:])[tuple(idx[1:])] if len(shape) > 1 else float(_threshold(graph, node))
    at = (t,) + tuple(int(i) for i in idx)
    out = {"step": t, "node": node, "node_index": node_index, "batch": start + int(idx[0]), "neuron": [int(i) for i in idx[1:]],
           "reference_spike": float(ref.spikes[node][at]), "participant_spike": float(other.spikes[node][at]),
           "threshold": float(thr)}
    for who, res in (("reference", ref), ("participant", other)):
        mem = res.membranes.get(node)
        if mem is not None and mem.shape == ref.spikes[node].shape:
            u = float(mem[at])
            out[f"{who}_membrane"] = u
            out[f"{who}_margin"] = u - float(thr)
    return out


def _reason(e: BaseException) -> str:
    if isinstance(e, SnnexportError):
        return str(e)
    return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


class MemorySink:
    """Collects every participant's chunks and concatenates them (``keep_results``): memory
    grows with the batch, so for tests and small runs only."""

    def __init__(self, out: Dict[str, SimResult], reduced_outputs):
        self.out, self.reduced = out, set(reduced_outputs)
        self.parts: Dict[str, List[SimResult]] = {}

    def add(self, name: str, start: int, res: SimResult) -> None:
        self.parts.setdefault(name, []).append(res)

    def drop(self, name: str) -> None:
        self.parts.pop(name, None)

    def abort(self) -> None:
        self.parts = {}

    def close(self) -> None:
        for name, parts in self.parts.items():
            self.out[name] = merge(parts, self.reduced)


def merge(parts: List[SimResult], reduced_outputs) -> SimResult:
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


def _chunk_bounds(B: int, first: int):
    """Yield (start, size); the size of later chunks may be changed by ``send``."""
    start, size = 0, first
    while start < B:
        n = min(size, B - start)
        new = yield start, n
        start += n
        if new:
            size = new


def run_verify(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype = torch.float64,
               sims: Optional[List[str]] = None, source=None, progress: bool = False,
               keep_results: Optional[Dict[str, SimResult]] = None, max_memory: Optional[int] = None,
               sink=None) -> VerifyResult:
    """Compare every participant in ``sims`` with the reference, chunk by chunk over the batch.

    ``max_memory`` (bytes; default half the machine's RAM) bounds the process's resident
    memory (see :mod:`snnexport.resources`). ``keep_results`` (a dict) receives each
    participant's whole-batch :class:`SimResult` (memory grows with the batch); ``sink``
    (an object with ``add(name, start, result)``, ``drop(name)``, ``close()`` and ``abort()``, e.g.
    :class:`snnexport.verify_output.NpzSink`) receives every compared chunk instead."""
    from .graph import output_is_time_reduced, output_names
    from .resources import ChunkPlanner

    load_all()
    sims = list(sims or default_sims(source is not None))
    unknown = [s for s in sims if s not in SIMULATORS]
    if unknown:
        raise SnnexportError(f"--sims: unknown participant(s) {', '.join(unknown)} (available: {', '.join(sorted(SIMULATORS))})")
    x = x.to(dtype)
    T, B = int(x.shape[0]), int(x.shape[1])
    reduced = {o for o in output_names(graph) if output_is_time_reduced(graph, o)}
    if keep_results is not None and sink is None:
        sink = MemorySink(keep_results, reduced)
    planner = ChunkPlanner(graph, T, B, x.element_size(), max_memory)
    rows = {name: Row(name=name, role=ROLES.get(name, "simulator")) for name in sims}
    tallies = {name: Tally(graph, T, dtype) for name in sims}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=B * len(sims), desc="verify", unit="sample·sim", leave=False, disable=not sys.stderr.isatty())
    chunks = 0
    plan = _chunk_bounds(B, planner.first_chunk())
    step = next(plan)
    try:
        while True:
            start, n = step
            planner.begin_chunk()
            _run_chunk(graph, x[:, start:start + n], dtype, sims, source, start, rows, tallies, sink, bar)
            chunks += 1
            step = plan.send(planner.end_chunk(n))
    except StopIteration:
        pass
    except BaseException:
        if sink is not None:
            sink.abort()  # no partial output
        raise
    finally:
        if bar is not None:
            bar.close()
    if sink is not None:
        sink.close()
    out = [tallies[name].finish(rows[name]) if rows[name].ran and rows[name].error is None else rows[name] for name in sims]
    return _judge(out, dtype, T, B, chunks)


def _run_chunk(graph, xc, dtype, sims, source, start, rows, tallies, sink, bar) -> None:
    """Run the reference, then each participant in turn, comparing and dropping each result."""
    ref = spikes_compact(SIMULATORS["reference"](graph, xc, dtype))  # the ground truth: its failure is the run's
    for name in sims:
        row = rows[name]
        if bar is not None:
            bar.update(xc.shape[1])
        if not row.ran or row.error is not None:
            continue  # already failed in an earlier chunk
        if name == "reference":
            res = ref
        else:
            try:
                res = spikes_compact(SIMULATORS[name](graph, xc, dtype, source=source))
            except Exception as e:  # noqa: BLE001 - a participant refusing or crashing is a finding, not our crash
                row.status, row.error, row.identical = CANNOT_RUN, _reason(e), False
                if sink is not None:
                    sink.drop(name)
                continue
        try:
            tallies[name].add(ref, res, start, name)
        except SnnexportError as e:  # e.g. an upstream importer returning the wrong shapes
            row.error, row.identical = str(e), False
            row.status = DIFFERS if row.role == "upstream" else MISMATCH
            row.adapters = list(res.adapters)
            if sink is not None:
                sink.drop(name)
            continue
        if sink is not None:
            sink.add(name, start, res)
        del res


def _judge(rows: List[Row], dtype, T: int, B: int, chunks: int) -> VerifyResult:
    # upstream witnesses show what snnexport fixes; chip participants run the quantized integer
    # model (snnexport quantize): both are reported, neither decides
    deciding = [r for r in rows if r.role not in ("upstream", "chip") and r.ran]
    others = [r for r in deciding if r.role != "reference"]
    asked_others = [r for r in rows if r.role not in ("upstream", "chip", "reference")]
    mismatched = [r.name for r in deciding if not r.identical]
    not_run = [r.name for r in rows if not r.ran]
    if mismatched:
        verdict = f"MISMATCH: {', '.join(mismatched)} differ from the reference"
    elif asked_others and not others:
        verdict = "NOT VERIFIED: no participant besides the reference could run"
    elif others:
        verdict = f"IDENTICAL: {', '.join(r.name for r in others)} match the reference"
    else:
        verdict = "IDENTICAL: the reference ran (no other participant was asked for)"
    if not_run:
        verdict += f" ({', '.join(not_run)} could not run)"
    if any(r.role == "chip" for r in rows):
        verdict += " (chip participants run the quantized integer model: their mismatches are reported, not judged)"
    identical = not mismatched and (bool(others) or not asked_others)
    return VerifyResult(identical, str(dtype).replace("torch.", ""), T, B, rows, chunks, verdict)


def default_sims(have_source: bool) -> List[str]:
    load_all()
    return participants(default=True, have_source=have_source)  # the registry says which, in row order
