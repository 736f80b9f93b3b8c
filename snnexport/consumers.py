"""What each known NIR importer will get wrong on a given graph.

One rule per consumer, each reading the graph (its plain NIR fields, its dt, its edges) and
returning lines only for what differs on *this* graph. The conventions are those of the
importers installed here and documented in their sources: snnTorch 1.0 ``import_from_nir``,
Norse 1.1 ``from_nir``, sinabs 3.1 ``from_nir``, rockpool 3.1 ``from_nir``, spyx ``nir.from_nir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from .extension import KEY, NEURON_TYPES, SPIKING_TYPES, graph_ext, neuron_ext, node_ext, node_op, scalar

CONSUMERS: Dict[str, Callable[["View"], List[str]]] = {}


def consumer(name: str):
    def deco(fn):
        CONSUMERS[name] = fn
        return fn

    return deco


@dataclass
class View:
    """The facts the rules need: the graph, its dt (``None`` when it states none), its out-edges."""

    graph: object
    dt: Optional[float]

    def nodes(self, *types: str):
        return [(n, node) for n, node in self.graph.nodes.items() if type(node).__name__ in types]

    def outs(self, name: str) -> List[str]:
        return [b for a, b in self.graph.edges if a == name]

    def reset_mode(self, name: str, node) -> str:
        ext = neuron_ext(node, name)
        return ext.reset if ext is not None else "value"


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(-1)


def _fmt(v) -> str:
    a = _arr(v)
    lo, hi = float(a.min()), float(a.max())
    return f"{lo:.4g}" if lo == hi else f"{lo:.4g}..{hi:.4g}"


def _dt_text(view: View) -> str:
    return f"dt = {view.dt:g} s" if view.dt is not None else "no dt stated"


@consumer("snnTorch")
def _snntorch(view: View) -> List[str]:
    out: List[str] = []
    for name, node in view.nodes("LIF", "CubaLIF"):
        tau = _arr(node.tau if hasattr(node, "tau") else node.tau_mem)
        if np.any(_arr(node.v_leak) != 0):
            out.append(f"{name}: refused (v_leak {_fmt(node.v_leak)} not supported)")
            continue
        if type(node).__name__ == "CubaLIF" and not np.allclose(_arr(node.r), tau / 1e-4):
            out.append(f"{name}: refused (CubaLIF r must equal tau_mem/1e-4; here r = {_fmt(node.r)})")
            continue
        if view.dt is None or not np.isclose(view.dt, 1e-4, rtol=1e-9, atol=0):
            out.append(f"{name}: assumes dt = 1e-4 s ({_dt_text(view)}): membrane decay beta = {_fmt(1 - 1e-4 / tau)} "
                       + (f"instead of {_fmt(1 - view.dt / tau)}" if view.dt is not None else "per step"))
        if view.reset_mode(name, node) == "value" and np.any(_arr(node.v_reset) != 0):
            out.append(f"{name}: resets to 0, not v_reset {_fmt(node.v_reset)}")
    for name, node in view.nodes("IF"):
        if np.any(_arr(node.r) != 1):
            out.append(f"{name}: refused (IF with r = {_fmt(node.r)} != 1)")
        else:
            out.append(f"{name}: imports IF as Leaky(beta=0.9): the membrane leaks 10% a step; NIR's IF does not leak")
    for name, _ in view.nodes("Delay"):
        out.append(f"{name}: refused (no Delay import: 'Unknown node type', the graph does not load)")
    return out


@consumer("Norse")
def _norse(view: View) -> List[str]:
    out: List[str] = []
    neurons = view.nodes("LIF", "IF", "CubaLIF", "LI")
    if neurons and (view.dt is None or not np.isclose(view.dt, 1e-3, rtol=1e-9, atol=0)):
        out.append(f"runs at dt = 1e-3 s unless from_nir(..., dt=) is given ({_dt_text(view)})")
    for name, node in view.nodes("LIF", "IF"):
        if np.any(_arr(node.r) != 1):
            out.append(f"{name}: ignores r = {_fmt(node.r)} (input enters unscaled)")
    for name, node in view.nodes("LIF", "IF", "CubaLIF"):
        if view.reset_mode(name, node) == "value" and np.any(_arr(node.v_reset) != 0):
            out.append(f"{name}: ignores v_reset {_fmt(node.v_reset)} (resets to 0)")
    for name, _ in view.nodes("Delay"):  # nirtorch maps no module for it; the executor drops the node's edges
        out.append(f"{name}: dropped without an error, with its edges (what follows it gets no input from it)")
    return out


@consumer("sinabs")
def _sinabs(view: View) -> List[str]:
    out: List[str] = []
    for name, node in view.nodes("LIF", "LI"):
        if np.any(_arr(node.v_leak) != 0):
            out.append(f"{name}: refused (v_leak must be 0)")
            continue
        tau = _arr(node.tau)
        per_step = f"1 - dt/tau = {_fmt(1 - view.dt / tau)}" if view.dt is not None else "a dt-dependent decay"
        out.append(f"{name}: reads tau = {_fmt(tau)} as time steps: decay exp(-1/tau) = {_fmt(np.exp(-1 / tau))} "
                   f"a step instead of {per_step}")
        gain = _arr(node.r) * view.dt / tau if view.dt is not None else None
        if gain is None or not np.allclose(gain, 1):
            out.append(f"{name}: adds the input unscaled; NIR scales it by r*dt/tau"
                       + (f" = {_fmt(gain)}" if gain is not None else ""))
    for name, node in view.nodes("IF"):
        gain = _arr(node.r) * view.dt if view.dt is not None else None
        if gain is None or not np.allclose(gain, 1):
            out.append(f"{name}: ignores r and dt (adds the input unscaled; NIR: r*dt = "
                       f"{_fmt(gain) if gain is not None else 'unknown'})")
    for name, node in view.nodes("LIF", "IF"):
        mode = view.reset_mode(name, node)
        out.append(f"{name}: emits k spikes in one step when v exceeds k thresholds (MultiSpike) and resets by subtraction"
                   + ("" if mode == "subtract" else f"; this graph resets {'to v_reset' if mode == 'value' else 'never'}"))
    for name, _ in view.nodes("CubaLIF", "CubaLI", "I", "Delay", "Threshold", "Scale"):
        out.append(f"{name}: no sinabs equivalent: the import fails")
    return out


@consumer("spyx")
def _spyx(view: View) -> List[str]:
    out: List[str] = []
    if view.nodes("LIF", "IF", "CubaLIF", "LI", "CubaLI"):
        out.append(f"from_nir needs dt passed explicitly ({_dt_text(view)})")
    for name in view.graph.nodes:
        outs = view.outs(name)
        if len(outs) > 1:
            out.append(f"{name}: only the first out-edge is kept ({name} -> {outs[0]}); "
                       f"{', '.join(f'{name} -> {b}' for b in outs[1:])} dropped")
    return out


@consumer("rockpool")
def _rockpool(view: View) -> List[str]:
    """rockpool 3.1 ``nn/modules/torch/nir.py:_convert_nir_to_rockpool``."""
    out: List[str] = []
    supported = {"Input", "Output", "NIRGraph", "LI", "LIF", "CubaLIF", "Linear", "Affine"}
    missing = sorted({type(n).__name__ for n in view.graph.nodes.values()} - supported)
    if missing:
        return [f"no import for {', '.join(missing)}: the graph does not load"]
    lifs = [name for name, _ in view.nodes("LIF")]
    if lifs:  # it reads node.tau_mem on a LIF node
        return [f"{', '.join(lifs)}: fails (its LIF import reads tau_mem, which NIR's LIF does not have)"]
    for name, node in view.nodes("LI"):
        out.append(f"{name}: truncates tau = {_fmt(node.tau)} to an integer ({_fmt(np.trunc(_arr(node.tau)))})")
    taus = [(_arr(node.tau_mem), _arr(node.r)) for _, node in view.nodes("CubaLIF")]
    if taus:
        inferred = min(float(np.min(t / (1 + r))) for t, r in taus)
        if view.dt is None or not np.isclose(inferred, view.dt, rtol=1e-6, atol=0):
            out.append(f"infers dt = min(tau_mem/(1+r)) = {inferred:.4g} s ({_dt_text(view)}) and decays exactly (exp(-dt/tau))")
    for name, node in view.nodes("CubaLIF"):
        out.append(f"{name}: emits k spikes in one step when v >= k thresholds and resets by subtraction"
                   + ("" if view.reset_mode(name, node) == "subtract" else
                      f"; this graph resets {'to v_reset' if view.reset_mode(name, node) == 'value' else 'never'} on v > threshold"))
    return out


def consumer_notes(graph) -> List[str]:
    """``"<consumer>: <what its importer gets wrong>"`` lines for every known consumer."""
    gext = graph_ext(graph)
    view = View(graph, float(gext.dt) if "dt" in gext.known else None)
    lines: List[str] = []
    for cname, rule in CONSUMERS.items():
        lines += [f"{cname} import: {line}" for line in _merge_same(rule(view), view)]
    return lines


def _merge_same(lines: List[str], view: View) -> List[str]:
    """``a: X`` and ``b: X`` become ``a, b: X`` (same finding on several nodes)."""
    merged: Dict[str, List[str]] = {}
    for line in lines:
        head, sep, text = line.partition(": ")
        key = text if sep and head in view.graph.nodes else line
        merged.setdefault(key, []).append(head if sep and head in view.graph.nodes else "")
    return [f"{', '.join(heads)}: {text}" if heads[0] else text for text, heads in merged.items()]


def consumer_warnings(graph) -> List[str]:
    """One line per place where a consumer that ignores the extension would differ."""
    out: List[str] = []
    for name, node in graph.nodes.items():
        ext = node_ext(node)
        red = ext.get("time_reduction")
        if red:
            out.append(f"{name}: input is the {scalar(red)} over time of its inputs; plain NIR applies it at every step")
        if node_op(node) == "max_pool2d":
            out.append(f"{name}: max pooling (snnexport op max_pool2d); plain NIR computes the window average "
                       f"({type(node).__name__})")
        if scalar(ext.get("op")) in ("relu", "sigmoid"):
            out.append(f"{name}: applies {scalar(ext.get('op'))}; plain NIR sees an identity Scale")
        if scalar(ext.get("op")) == "conv_transpose2d":
            out.append(f"{name}: transposed convolution; its NIR Conv2d fields apply to the zero-upsampled, padded "
                       f"input (see snnexport.conv_transpose), which plain NIR cannot say")
        if "dynamics" not in ext:
            continue
        n = neuron_ext(node, name)
        if n.compare == "ge":
            out.append(f"{name}: fires on v >= threshold; plain NIR fires on v > threshold")
        if n.reset == "subtract":
            out.append(f"{name}: resets by subtracting the threshold; plain NIR resets to v_reset")
        if n.reset == "none" and type(node).__name__ in SPIKING_TYPES:
            out.append(f"{name}: never resets; plain NIR resets to v_reset")
        if n.reset_timing == "delayed" and n.reset != "none":
            out.append(f"{name}: reset applied one step late (snnTorch reset_delay); plain NIR resets at once")
        if n.reset_timing == "delayed_after" and n.reset != "none":
            out.append(f"{name}: reset applied after the next step's update (snnTorch zero reset with reset_delay); "
                       f"plain NIR resets at once")
        if n.dynamics == "norse" and type(node).__name__.startswith("Cuba"):
            out.append(f"{name}: input enters the synaptic current after the membrane step (Norse order)")
        if n.v_init() is not None:
            out.append(f"{name}: the membrane starts at v_init (SpikingJelly starts at v_reset); plain NIR starts at 0")
        if n.dynamics in ("sigmoid", "sigmoid_decay_input"):
            out.append(f"{name}: decays by multiplying with k = sigmoid(w); plain NIR's dt/tau rounds differently")
    gext = graph_ext(graph)
    if any(type(n).__name__ in NEURON_TYPES for n in graph.nodes.values()):
        out.append(f"time constants are in seconds for dt = {gext.dt:g} s (stored only in metadata {KEY}.dt; "
                   f"give it to importers that take dt)" if "dt" in gext.known else
                   "the graph states no dt: time constants (s) have no step size; every importer assumes its own")
    return out + consumer_notes(graph)  # per-importer conventions (dt, r, time units, edges)
