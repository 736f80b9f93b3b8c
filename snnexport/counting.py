"""Activity and operation counts of a NIR graph on one input, NeuroBench-compatible.

:func:`count` runs the reference simulator (``record_activations=True``), rebuilds the
input of every node at every step (the sum of its incoming edges; a recurrent edge
carries the previous step; a time-reduced node sees the reduced sum) and counts, per node
and in total. Definitions (docs/report.md has the long form):

* **synaptic operations** of a synaptic node (``Affine``, ``Linear``, ``Conv1d``,
  ``Conv2d``), per call: ``sum_j [x_j != 0] * fanout_j`` where ``fanout_j`` is the number of
  *nonzero* weights that read input element ``j`` *in bounds* (zero padding costs
  nothing, zero weights cost nothing). A call whose input holds only {-1, 0, 1} is
  binary and its operations are **Effective_ACs**; otherwise they are **Effective_MACs**
  (the analog input into the first layer, sums of several spike sources, a time-mean
  readout). **Dense** is the same with all inputs and all weights set to one. These are
  NeuroBench 2.3.0's ``SynapticOperations`` definitions (``single_layer_MACs``): one call
  is one time step of the whole batch, bias additions are not synaptic operations.
* **ann_macs**: the equivalent ANN evaluated once per sample (``Dense`` of one call).
* **bias_adds**: one addition per output element whose bias is nonzero, per call.
* **membrane updates** (NeuroBench ``MembraneUpdates``): every neuron at the first step,
  then each neuron whose state after the step differs from its state before it.
* **activation sparsity**: zero outputs / all outputs of the spiking neuron nodes.
* every other node (Flatten, pooling, Scale, Threshold, ``Delay``) has role "other": no
  synaptic operations, no membrane updates. A Delay only holds past inputs (memory, not
  costed); the fan-in/fan-out structure passes through it like Flatten.
* **connection sparsity**: zero weights / all weights of the synaptic nodes.

All raw counts are over the whole batch (integers); :meth:`Counts.per_sample` divides by
the batch size, as NeuroBench does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import nir
import numpy as np
import torch
import torch.nn.functional as F

from .errors import SnnexportError
from .extension import NEURON_TYPES, SPIKING_TYPES, graph_ext, neuron_ext, node_ext, time_reduction
from .graph import execution_order, incoming, outgoing, param_count, time_reduced_region

SYNAPTIC_TYPES = ("Affine", "Linear", "Conv1d", "Conv2d")
LINEAR_REDUCTIONS = ("mean", "sum")


@dataclass
class NodeCount:
    """Counts of one node over the whole batch (see the module docstring)."""

    name: str
    type: str
    role: str                      # "neuron" | "synaptic" | "other"
    shape: Tuple[int, ...]         # per-sample output shape
    time_reduced: bool = False     # evaluated once after the last step (readout)
    calls: int = 0                 # T, or 1 for a time-reduced node
    params: int = 0
    # neurons
    neurons: int = 0
    spiking: bool = False
    spikes: int = 0
    neuron_steps: int = 0
    membrane_updates: int = 0
    active_updates: int = 0        # membrane updates plus fire-and-reset steps (energy costing)
    # synaptic
    weights: int = 0
    zero_weights: int = 0
    synapses: int = 0              # nonzero in-bounds (input, output) pairs: a conv unrolled
    effective_acs: int = 0
    effective_macs: int = 0
    dense_ops: int = 0
    ann_macs: int = 0              # one pass, one sample
    bias_adds: int = 0
    ann_bias_adds: int = 0         # one pass, one sample
    input_events: int = 0          # nonzero input elements, all calls
    input_elements: int = 0
    binary_calls: int = 0
    fan_in_max: int = 0
    fan_out_max: int = 0
    distinct_weights: int = 0      # distinct nonzero weight values in the node
    distinct_weights_per_neuron: int = 0
    kernel_max: int = 0
    channels_max: int = 0
    reduction: Optional[str] = None
    unrolled_acs: Optional[int] = None  # a mean/sum readout done as per-step accumulation of binary events

    @property
    def firing_rate(self) -> float:
        return self.spikes / self.neuron_steps if self.neuron_steps else 0.0

    @property
    def activation_sparsity(self) -> float:
        return 1.0 - self.firing_rate if self.neuron_steps else 0.0

    @property
    def connection_sparsity(self) -> float:
        return self.zero_weights / self.weights if self.weights else 0.0

    @property
    def binary_input(self) -> bool:
        return self.binary_calls == self.calls


@dataclass
class Counts:
    steps: int
    batch: int
    input_kind: str
    input_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]
    input_events: int
    input_binary: bool
    input_name: str = "input"
    nodes: Dict[str, NodeCount] = field(default_factory=dict)
    order: List[str] = field(default_factory=list)
    spike_trains: Dict[str, np.ndarray] = field(default_factory=dict)  # [T, B, *shape] of spiking nodes
    # graph structure needed by the fit checks
    fan_in: Dict[str, int] = field(default_factory=dict)        # neuron node -> synapses into one neuron (upper bound)
    fan_out: Dict[str, int] = field(default_factory=dict)       # neuron/input node -> synapses out of one neuron
    destinations: Dict[str, List[str]] = field(default_factory=dict)  # neuron/input node -> synaptic consumers
    synapses_in: Dict[str, List[str]] = field(default_factory=dict)   # neuron node -> synaptic producers

    def neuron_nodes(self) -> List[NodeCount]:
        return [c for c in self.nodes.values() if c.role == "neuron"]

    def synaptic_nodes(self) -> List[NodeCount]:
        return [c for c in self.nodes.values() if c.role == "synaptic"]

    def total(self, attr: str, nodes: Optional[List[NodeCount]] = None) -> int:
        return int(sum(getattr(c, attr) for c in (self.nodes.values() if nodes is None else nodes)))

    def per_sample(self) -> Dict[str, Any]:
        """Totals per inference (per sample), NeuroBench's normalisation."""
        B = self.batch
        neurons = self.neuron_nodes()
        spiking = [c for c in neurons if c.spiking]
        syn = self.synaptic_nodes()
        steps_total = self.total("neuron_steps", spiking)
        w = self.total("weights", syn)
        return {
            "neurons": self.total("neurons", neurons),
            "spiking_neurons": self.total("neurons", spiking),
            "parameters": self.total("params"),
            "synapses": self.total("synapses", syn),
            "spikes": self.total("spikes", spiking) / B,
            "input_events": self.input_events / B,
            "firing_rate": self.total("spikes", spiking) / steps_total if steps_total else 0.0,
            "activation_sparsity": 1.0 - self.total("spikes", spiking) / steps_total if steps_total else 0.0,
            "connection_sparsity": self.total("zero_weights", syn) / w if w else 0.0,
            "effective_acs": self.total("effective_acs", syn) / B,
            "effective_macs": self.total("effective_macs", syn) / B,
            "dense_ops": self.total("dense_ops", syn) / B,
            "ann_macs": self.total("ann_macs", syn),
            "bias_adds": self.total("bias_adds", syn) / B,
            "ann_bias_adds": self.total("ann_bias_adds", syn),
            "membrane_updates": self.total("membrane_updates", neurons) / B,
            "active_neuron_updates": self.total("active_updates", neurons) / B,
            "neuron_updates": self.total("neuron_steps", neurons) / B,
        }

    def neurobench(self) -> Dict[str, Any]:
        """The same quantities under NeuroBench 2.3.0's metric names (per sample)."""
        p = self.per_sample()
        return {
            "SynapticOperations": {"Effective_ACs": p["effective_acs"], "Effective_MACs": p["effective_macs"],
                                   "Dense": p["dense_ops"]},
            "ActivationSparsity": p["activation_sparsity"],
            "MembraneUpdates": p["membrane_updates"],
            "ConnectionSparsity": p["connection_sparsity"],
            "ParameterCount": p["parameters"],
        }


# ----------------------------------------------------------------------------- helpers

def _shape_of(node, key: str) -> Optional[Tuple[int, ...]]:
    t = getattr(node, key, None) or {}
    v = t.get("output" if key == "output_type" else "input")
    return tuple(int(s) for s in np.asarray(v).reshape(-1).tolist()) if v is not None else None


def _as_tuple(v, dims: int) -> Tuple[int, ...]:
    return tuple(int(x) for x in np.broadcast_to(np.atleast_1d(np.asarray(v)), (dims,)))


def linear_map(node):
    """``f(x, w)``: the node's linear map without bias (x ``[N, *in]``)."""
    t = type(node).__name__
    if t in ("Affine", "Linear"):
        return lambda x, w: F.linear(x, w)
    dims = 2 if t == "Conv2d" else 1
    from .conv_transpose import meta, upsample

    ct = meta(node) if dims == 2 else None
    if ct is not None:  # transposed: the node's NIR conv (its exact equivalent) on the zero-upsampled input
        return lambda x, w: F.conv2d(upsample(x, ct), w, None, 1, 0, ct["dilation"], 1)
    pad = node.padding
    if isinstance(pad, (bytes, np.bytes_)):
        pad = pad.decode()
    pad = pad if isinstance(pad, str) else _as_tuple(pad, dims)
    stride, dil, groups = _as_tuple(node.stride, dims), _as_tuple(node.dilation, dims), int(node.groups)
    conv = F.conv2d if dims == 2 else F.conv1d
    return lambda x, w: conv(x, w, None, stride, pad, dil, groups)


def _fanout_fanin(fn, w: torch.Tensor, in_shape: Tuple[int, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Per input element: synapses reading it (in bounds); per output element: synapses into it."""
    x = torch.ones((1, *in_shape), dtype=torch.float64, requires_grad=True)
    y = fn(x, w)
    y.sum().backward()
    fanout = np.rint(x.grad[0].numpy()).astype(np.int64)
    fanin = np.rint(y.detach()[0].numpy()).astype(np.int64)
    return fanout, fanin


def _is_binary(v: np.ndarray) -> bool:
    return bool(np.all((v == 0) | (v == 1) | (v == -1)))


def _ops(v: np.ndarray, fanout: np.ndarray) -> int:
    """``sum over samples and elements of [v != 0] * fanout`` (v is ``[B, *in]``)."""
    nz = (v != 0).reshape(v.shape[0], -1).sum(axis=0).astype(np.int64)
    return int(nz @ fanout.reshape(-1))


_REDUCE = {
    "mean": lambda v: v.mean(axis=0),
    "sum": lambda v: v.sum(axis=0),
    "last": lambda v: v[-1],
    "max": lambda v: v.max(axis=0),
}


def post_nodes(graph: nir.NIRGraph) -> Set[str]:
    """Time-reduced nodes and everything after them (evaluated once, after the last step)."""
    return time_reduced_region(graph)[1]


# ----------------------------------------------------------------------------- counting

def count(graph: nir.NIRGraph, x, dtype: torch.dtype = torch.float64, result=None) -> Counts:
    """Count the activity of ``graph`` on time-major input ``x`` ``[T, B, *input_shape]``.

    ``result`` may be a :class:`~snnexport.simulators.base.SimResult` of the reference
    simulator run with ``record_activations=True`` on the same input (else it is run here).
    """
    from .simulators.reference.runner import simulate

    xt = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    xt = xt.to(dtype)
    if xt.dim() < 2:
        raise SnnexportError(f"input of shape {tuple(xt.shape)}: expected time-major [T, B, ...]")
    T, B = int(xt.shape[0]), int(xt.shape[1])
    res = result if result is not None else simulate(graph, xt, dtype, record_activations=True)
    order, back = execution_order(graph)
    inc, outs = incoming(graph), outgoing(graph)
    post = post_nodes(graph)
    ext = graph_ext(graph)

    outputs: Dict[str, np.ndarray] = {}
    for n in order:
        node = graph.nodes[n]
        if isinstance(node, nir.Input):
            outputs[n] = xt.numpy()
        elif n in res.spikes:
            outputs[n] = res.spikes[n]
        elif isinstance(node, nir.Output):
            outputs[n] = res.readout[n]
        elif n in res.activations:
            outputs[n] = res.activations[n]
        elif n in res.membranes:
            outputs[n] = res.membranes[n]  # non-spiking neurons output their membrane
        else:
            raise SnnexportError(f"node {n!r}: the simulation recorded no output (run it with record_activations=True)")

    def summed_input(n: str) -> np.ndarray:
        total = None
        for src in inc[n]:
            v = outputs[src]
            if (src, n) in back:
                v = np.concatenate([np.zeros_like(v[:1]), v[:-1]], axis=0)
            total = v if total is None else total + v
        return total

    input_name = [n for n in order if isinstance(graph.nodes[n], nir.Input)][0]
    output_name = [n for n in order if isinstance(graph.nodes[n], nir.Output)][0]
    out_arr = outputs[output_name]
    counts = Counts(T, B, ext.input_kind, tuple(int(s) for s in xt.shape[2:]),
                    tuple(int(s) for s in out_arr.shape[(1 if output_name in post else 2):]),
                    int(np.count_nonzero(outputs[input_name])), _is_binary(outputs[input_name]))
    counts.order = list(order)
    counts.input_name = input_name

    for n in order:
        node = graph.nodes[n]
        tname = type(node).__name__
        reduced = n in post
        out = outputs[n]
        shape = tuple(int(s) for s in (out.shape[1:] if reduced else out.shape[2:]))
        role = "neuron" if tname in NEURON_TYPES else ("synaptic" if tname in SYNAPTIC_TYPES and "batchnorm" not in node_ext(node) else "other")
        c = NodeCount(n, tname, role, shape, time_reduced=reduced, calls=1 if reduced else T, params=param_count(node),
                      reduction=time_reduction(node))
        if role == "neuron":
            _count_neuron(c, node, n, out, res)
            if c.spiking:
                counts.spike_trains[n] = out
        elif role == "synaptic":
            raw = summed_input(n)
            _count_synaptic(c, node, n, raw, reduced, T, B)
        counts.nodes[n] = c

    _structure(graph, counts, inc, outs, input_name)
    return counts


def _count_neuron(c: NodeCount, node, name: str, out: np.ndarray, res) -> None:
    c.neurons = int(np.prod(c.shape)) if c.shape else 1
    c.spiking = c.type in SPIKING_TYPES
    c.neuron_steps = int(out.shape[0] * out.shape[1]) * c.neurons
    if c.spiking:
        c.spikes = int(np.count_nonzero(out))
    mem = res.membranes.get(name)
    if mem is None:
        return
    post = mem
    fired = None
    if c.spiking:
        ext = neuron_ext(node, name)
        reset = ext.reset if ext else "value"
        timing = ext.reset_timing if ext else "immediate"
        fired = res.spikes[name] != 0
        if timing == "immediate" and reset != "none":
            S = res.spikes[name].astype(mem.dtype)
            if reset == "subtract":
                thr = np.asarray(node.v_threshold, dtype=np.float64).astype(mem.dtype)
                post = mem - S * thr
            else:
                v_reset = np.asarray(node.v_reset, dtype=np.float64).astype(mem.dtype)
                post = np.where(S.astype(bool), v_reset, mem)
    first = int(np.prod(post.shape[1:]))
    c.membrane_updates = first + int(np.count_nonzero(post[1:] - post[:-1]))  # NeuroBench's definition
    # costed as active: the state changed over the step, or changed and came back (a neuron
    # that integrated, fired and was reset to where it started did work; NeuroBench's count
    # above calls it unchanged)
    changed = (post[1:] != post[:-1]) | (mem[1:] != post[:-1])
    if fired is not None:
        changed |= fired[1:]
    c.active_updates = first + int(np.count_nonzero(changed))


def _count_synaptic(c: NodeCount, node, name: str, raw: np.ndarray, reduced: bool, T: int, B: int) -> None:
    W = np.asarray(node.weight, dtype=np.float64)
    fn = linear_map(node)
    reduction = c.reduction
    pre = None
    if reduced and reduction:
        pre = raw                               # [T, B, *in]: the summed input before the reduction
        v_calls = [_REDUCE[reduction](raw)]     # one call on [B, *in]
    elif reduced:
        v_calls = [raw]                         # after another reduced node: [B, *in]
    else:
        v_calls = list(raw)                     # one call per step, each [B, *in]
    in_shape = tuple(int(s) for s in v_calls[0].shape[1:])
    wbin = torch.as_tensor((W != 0).astype(np.float64))
    wones = torch.ones_like(wbin)
    try:
        fanout, fanin = _fanout_fanin(fn, wbin, in_shape)
        dense_fanout, _ = _fanout_fanin(fn, wones, in_shape)
    except RuntimeError as e:
        raise SnnexportError(f"node {name!r}: cannot apply {c.type} to input of shape {in_shape} ({str(e).splitlines()[0]})") from None
    c.weights = int(W.size)
    c.zero_weights = int(np.count_nonzero(W == 0))
    c.synapses = int(fanout.sum())
    c.fan_in_max = int(fanin.max()) if fanin.size else 0
    c.fan_out_max = int(fanout.max()) if fanout.size else 0
    nzw = W[W != 0]
    c.distinct_weights = int(np.unique(nzw).size)
    rows = W.reshape(W.shape[0], -1)
    c.distinct_weights_per_neuron = max((int(np.unique(r[r != 0]).size) for r in rows), default=0)
    if c.type.startswith("Conv"):
        c.kernel_max = int(max(W.shape[2:]))
        c.channels_max = int(max(W.shape[0], W.shape[1] * int(node.groups)))
    per_call_dense = int(dense_fanout.sum())
    c.ann_macs = per_call_dense
    out_positions = int(np.prod(fanin.shape[1:])) if c.type.startswith("Conv") else 1
    bias = np.asarray(getattr(node, "bias", np.zeros(1)) if c.type != "Linear" else np.zeros(1), dtype=np.float64)
    c.ann_bias_adds = int(np.count_nonzero(bias)) * out_positions
    for v in v_calls:
        ops = _ops(v, fanout)
        if _is_binary(v):
            c.effective_acs += ops
            c.binary_calls += 1
        else:
            c.effective_macs += ops
        c.dense_ops += per_call_dense * int(v.shape[0])
        c.bias_adds += c.ann_bias_adds * int(v.shape[0])
        c.input_events += int(np.count_nonzero(v))
        c.input_elements += int(v.size)
    if pre is not None and reduction in LINEAR_REDUCTIONS and all(_is_binary(p) for p in pre):
        c.unrolled_acs = int(sum(_ops(p, fanout) for p in pre))


def _structure(graph, counts: Counts, inc, outs, input_name: str) -> None:
    """Neuron-level fan-in/fan-out through pass-through nodes (Flatten, pooling, Scale)."""
    nodes = counts.nodes

    def nearest_synaptic(n: str, adj, stop_type) -> List[str]:
        """Synaptic nodes reached from ``n`` along ``adj`` through pass-through nodes."""
        found, stack, seen = [], list(adj[n]), set()
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            if nodes[m].role == "synaptic":
                found.append(m)
            elif nodes[m].role == "other" and not isinstance(graph.nodes[m], stop_type):
                stack.extend(adj[m])
        return sorted(found)

    def downstream_synaptic(n: str) -> List[str]:
        return nearest_synaptic(n, outs, nir.Output)

    def upstream_synaptic(n: str) -> List[str]:
        return nearest_synaptic(n, inc, nir.Input)

    for n, c in nodes.items():
        if c.role == "neuron" or n == input_name:
            dst = downstream_synaptic(n)
            counts.destinations[n] = dst
            counts.fan_out[n] = sum(nodes[d].fan_out_max for d in dst)
        if c.role == "neuron":
            src = upstream_synaptic(n)
            counts.synapses_in[n] = src
            counts.fan_in[n] = sum(nodes[s].fan_in_max for s in src)


def to_json(counts: Counts) -> Dict[str, Any]:
    """Per-node counts (over the batch) and per-sample totals; plain JSON types."""
    nodes = {}
    for n in counts.order:
        c = counts.nodes[n]
        d = {k: v for k, v in asdict(c).items() if k not in ("name",)}
        d["shape"] = list(c.shape)
        d["firing_rate"] = c.firing_rate
        d["activation_sparsity"] = c.activation_sparsity
        d["connection_sparsity"] = c.connection_sparsity
        d["binary_input"] = c.binary_input
        if n in counts.fan_in:
            d["neuron_fan_in"] = counts.fan_in[n]
        if n in counts.fan_out:
            d["neuron_fan_out"] = counts.fan_out[n]
        nodes[n] = d
    return {"nodes": nodes, "per_sample": counts.per_sample(), "neurobench": counts.neurobench(),
            "batch": counts.batch, "steps": counts.steps}
