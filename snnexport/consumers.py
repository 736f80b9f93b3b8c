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
        if type(node).__name__ == "LIF" and np.asarray(node.v_leak).ndim > 1:
            # sinabs/nir.py:97 `if any(node.v_leak) != 0`: Python's any() over a 2-D+ array raises
            out.append(f"{name}: the import fails (its v_leak check raises on {np.asarray(node.v_leak).ndim}-D "
                       f"parameters, e.g. a LIF after a convolution)")
            continue
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
    """spyx 1.0 ``spyx/nir.py:from_nir`` builds a ``Sequential`` of ``nn.LIF``/``IF``/``CuBaLIF``
    (``beta = 1 - dt/tau``, ``alpha = 1 - dt/tau_syn``, clipped to [0, 1]) along the first out-edges
    from ``input`` to ``output``; the neurons (``spyx/nn.py``) emit ``heaviside(V - thr)`` of the
    membrane *before* the step's input, subtract the threshold and add the input unscaled."""
    out: List[str] = []
    if view.nodes("LIF", "IF", "CubaLIF", "LI", "CubaLI"):
        out.append(f"from_nir needs dt passed explicitly ({_dt_text(view)})")
    if "input" not in view.graph.nodes or "output" not in view.graph.nodes:
        out.append("imports nothing: it walks the edges from a node named 'input' to one named 'output'")
    dt = view.dt
    for name, node in view.nodes("LIF", "IF", "CubaLIF"):
        kind = type(node).__name__
        mode = view.reset_mode(name, node)
        out.append(f"{name}: emits the spike of the membrane before this step's input (one step after NIR) and "
                   f"resets by subtracting the threshold"
                   + ("" if mode == "subtract" else f"; this graph resets {'to v_reset' if mode == 'value' else 'never'}"))
        if kind == "LIF":
            gain = _arr(node.r) * dt / _arr(node.tau) if dt is not None else None
        elif kind == "IF":
            gain = _arr(node.r) * dt if dt is not None else None
        else:
            gain = _arr(node.w_in) * dt / _arr(node.tau_syn) if dt is not None else None
            r_gain = _arr(node.r) * dt / _arr(node.tau_mem) if dt is not None else None
            if r_gain is None or not np.allclose(r_gain, 1):
                out.append(f"{name}: adds the synaptic current unscaled; NIR scales it by r*dt/tau_mem"
                           + (f" = {_fmt(r_gain)}" if r_gain is not None else ""))
        if gain is None or not np.allclose(gain, 1):
            what = {"LIF": "r*dt/tau", "IF": "r*dt", "CubaLIF": "w_in*dt/tau_syn"}[kind]
            out.append(f"{name}: adds the input unscaled; NIR scales it by {what}"
                       + (f" = {_fmt(gain)}" if gain is not None else ""))
        if kind != "IF" and np.any(_arr(node.v_leak) != 0):
            out.append(f"{name}: ignores v_leak {_fmt(node.v_leak)}")
    for name, node in view.nodes("LI"):
        if not any(type(view.graph.nodes[b]).__name__ == "Threshold" for b in view.outs(name)):
            out.append(f"{name}: refused (spyx imports LI only as LI -> Threshold, its PSU_LIF)")
    known = {"Input", "Output", *_SPYX_LAYERS}
    after_li = {b for a, b in view.graph.edges if type(view.graph.nodes.get(a)).__name__ == "LI"}
    for name, node in view.graph.nodes.items():
        if type(node).__name__ not in known and not (type(node).__name__ == "Threshold" and name in after_li):
            out.append(f"{name}: NIR {type(node).__name__} has no spyx module: silently skipped (its input passes on)")
    if view.nodes("Conv2d"):
        out.append("runs channels-last: the input must be given as [T, B, H, W, C]")
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


# ------------------------------------------------------------------ what an importer computes, predicted

#: The ``dt`` each importer runs at, given the graph's own ``dt`` (``None``: it states none).
ASSUMED_DT: Dict[str, Callable[[Optional[float]], Optional[float]]] = {
    "snnTorch": lambda dt: 1e-4,        # import_nir.py: beta = 1 - 1e-4/tau whatever the graph says
    "Norse": lambda dt: dt or 1e-3,     # from_nir(..., dt=) (the witness passes the graph's dt)
    "spyx": lambda dt: dt,              # from_nir(graph, x, dt): the caller supplies it
    "sinabs": lambda dt: 1.0,           # tau read as a number of steps
}


def first_edge_chain(graph) -> List[str]:
    """The nodes spyx's ``from_nir`` visits: from ``input``, following only the first out-edge of each
    node, until ``output`` (``spyx/nir.py:_order_edge_list``); every other node and edge is dropped."""
    cur, seen = "input", []
    while True:
        nxt = next((b for a, b in graph.edges if a == cur), None)
        if nxt is None or nxt == "output" or nxt in seen:
            return seen
        seen.append(nxt)
        cur = nxt


def _layer(node, h):
    """A weight/shape node of the chain, as the importers compute it (NIR channels-first)."""
    import torch
    import torch.nn.functional as F

    kind = type(node).__name__
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=h.dtype)  # noqa: E731
    if kind == "Affine":
        return h @ t(node.weight).T + t(node.bias)
    if kind == "Linear":
        return h @ t(node.weight).T
    if kind == "Conv2d":
        pad = node.padding if isinstance(node.padding, str) else tuple(int(p) for p in np.atleast_1d(node.padding))
        return F.conv2d(h, t(node.weight), None if node.bias is None else t(node.bias),
                        tuple(int(s) for s in np.atleast_1d(node.stride)), pad,
                        tuple(int(d) for d in np.atleast_1d(node.dilation)), int(node.groups))
    if kind == "Flatten":
        return h.flatten(1)
    raise ValueError(f"no chain model for NIR {kind}")


def _spyx_neuron(node, dt: float):
    """spyx 1.0 ``nn.LIF``/``IF``/``CuBaLIF`` as ``from_nir`` builds them: the spike is decided on the
    membrane *before* this step's input (``heaviside(V - thr)``, ``>``), the reset subtracts the
    threshold, input enters unscaled; beta = clip(1 - dt/tau, 0, 1); r, v_leak, v_reset ignored."""
    import torch

    kind = type(node).__name__
    if kind not in ("LIF", "IF", "CubaLIF"):
        raise ValueError(f"spyx imports NIR {kind} only as LI -> Threshold (PSU_LIF); no chain model here")
    thr = np.asarray(node.v_threshold)
    clip = lambda a: np.clip(1 - dt / np.asarray(a), 0, 1)  # noqa: E731
    beta = clip(node.tau) if kind == "LIF" else clip(node.tau_mem) if kind == "CubaLIF" else np.ones_like(thr)
    alpha = clip(node.tau_syn) if kind == "CubaLIF" else None

    def step(x, state):
        t = lambda a: torch.as_tensor(a, dtype=x.dtype)  # noqa: E731
        v, i = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        s = (v - t(thr) > 0).to(x.dtype)
        if alpha is None:
            v = t(beta) * v + x - s * t(thr)
        else:
            v = v - s * t(thr)
            i = t(alpha) * i + x
            v = t(beta) * v + i
        return s, (v, i)

    return step


def _sinabs_neuron(node, dt: float):
    """sinabs 3.1 ``LIFSqueeze(tau_mem=tau, norm_input=False)`` / ``IAFSqueeze(min_v_mem=-thr)``:
    ``v = exp(-1/tau)*v + x`` (IF: ``v + x``), ``k = max(floor(v/thr), 0)`` spikes, ``v -= k*thr``."""
    import torch

    kind = type(node).__name__
    if kind not in ("LIF", "IF"):
        raise ValueError(f"sinabs has no import for NIR {kind}")
    thr = np.asarray(node.v_threshold)
    decay = np.exp(-1.0 / np.asarray(node.tau)) if kind == "LIF" else None

    def step(x, v):
        t = lambda a: torch.as_tensor(a, dtype=x.dtype)  # noqa: E731
        v = torch.zeros_like(x) if v is None else v
        v = (t(decay) * v if decay is not None else v) + x
        k = torch.clamp(torch.floor(v / t(thr)), min=0)
        v = v - k * t(thr)
        if decay is None:
            v = torch.maximum(v, -t(thr))
        return k, v

    return step


_CHAIN_NEURONS = {"spyx": _spyx_neuron, "sinabs": _sinabs_neuron}
# the NIR types spyx 1.0's _nir_node_to_spyx_module builds a module for (LI only as LI -> Threshold)
_SPYX_LAYERS = ("Affine", "Linear", "Conv2d", "SumPool2d", "IF", "LIF", "CubaLIF", "Flatten", "LI", "NIRGraph")


def chain_spikes(consumer: str, graph, x, dt: float, dtype=None) -> Dict[str, np.ndarray]:
    """Spikes of every neuron node as ``consumer``'s importer computes them, from its documented
    equations (not its code): the nodes of :func:`first_edge_chain` run in order, each neuron by the
    consumer's rule, in ``dtype`` (float32: what spyx/sinabs run). Raises ``ValueError`` for a node
    the consumer (or this model) has no rule for."""
    import torch

    dtype = dtype or torch.float32
    make = _CHAIN_NEURONS[consumer]
    chain = first_edge_chain(graph)
    if consumer != "spyx" and len(chain) + 2 != len(graph.nodes):  # sinabs runs every edge (nirtorch)
        raise ValueError(f"the graph is not a chain; {consumer} runs all of its edges")
    steps = []
    for name in chain:
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind in NEURON_TYPES:
            steps.append((name, make(node, dt)))
        elif consumer == "spyx" and kind not in _SPYX_LAYERS:
            continue  # spyx builds no module for it: its input passes on unchanged
        else:
            steps.append((name, None))
    x = torch.as_tensor(np.asarray(x), dtype=dtype)
    state = {name: None for name, _ in steps}
    out: Dict[str, List] = {name: [] for name, f in steps if f is not None}
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = x[t]
            for name, f in steps:
                if f is None:
                    h = _layer(graph.nodes[name], h)
                else:
                    h, state[name] = f(h, state[name])
                    out[name].append(h)
    return {name: torch.stack(v).to(torch.float64).numpy() for name, v in out.items()}


def convention_graph(consumer: str, graph, dt: Optional[float]):
    """The plain view of ``graph`` rewritten so that snnexport's reference computes what ``consumer``'s
    importer computes (snnTorch: dt = 1e-4; Norse: r = 1 on LIF/IF, v_reset = 0), or ``None`` when the
    consumer's conventions are not plain NIR (spyx, sinabs: see :func:`chain_spikes`)."""
    from .graph import apply_run_options, plain_view

    if consumer not in ("snnTorch", "Norse"):
        return None
    g = plain_view(graph)
    for node in g.nodes.values():
        kind = type(node).__name__
        if consumer == "Norse" and kind in ("LIF", "IF"):
            node.r = np.ones_like(np.asarray(node.r))
        if consumer == "Norse" and kind in SPIKING_TYPES and hasattr(node, "v_reset"):
            node.v_reset = np.zeros_like(np.asarray(node.v_reset))
    apply_run_options(g, consumer, dt=ASSUMED_DT[consumer](dt))
    return g
