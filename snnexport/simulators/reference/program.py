"""The reference's compiled program: what both runners (per step, :mod:`.runner`; time-batched,
:mod:`.batched`) run. ``compile_graph`` prepares every node once; :func:`program_for` caches
programs per graph and dtype; :func:`run_post` evaluates the time-reduced tail after the last step.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import nir
import numpy as np
import torch

from ...errors import SnnexportError
from ...extension import graph_ext
from ...graph import execution_order, incoming, time_reduced_region, validate_graph
from .nodes import RULES, Ctx, unsupported


@dataclass
class Program:
    graph: nir.NIRGraph
    order: List[str]                 # per-step nodes, topological
    post_order: List[str]            # nodes evaluated once after the last step (time-reduced and after)
    back: Set[Tuple[str, str]]
    inputs: Dict[str, List[str]]
    params: Dict[str, Dict[str, Any]]
    rules: Dict[str, Any]
    reductions: Dict[str, str]
    dtype: torch.dtype
    input_name: str
    out_shapes: Dict[str, Optional[tuple]] = field(default_factory=dict)
    adapters: List[str] = field(default_factory=list)


def compile_graph(graph: nir.NIRGraph, dtype: torch.dtype = torch.float64,
                  rules: Optional[Dict[str, Any]] = None) -> Program:
    """Prepare every node's parameters. ``rules`` (NIR type name -> :class:`~.nodes.Rule`)
    overrides the reference rules: importers run their own framework's modules through the
    same runner (same edge summation, recurrence and time-reduction handling)."""
    validate_graph(graph)
    table = dict(RULES)
    table.update(rules or {})
    ext = graph_ext(graph)
    order, back = execution_order(graph)
    inputs = incoming(graph)
    reductions, post = time_reduced_region(graph)
    params, rules = {}, {}
    for name in order:
        node = graph.nodes[name]
        tname = type(node).__name__
        rule = table.get(tname)
        if rule is None:
            raise unsupported(tname, name)
        if name in post and (rule.neuron or rule.stateful):
            what = "a neuron" if rule.neuron else f"a {tname} (state across steps)"
            raise SnnexportError(f"node {name!r}: {what} cannot follow a time reduction (it would run once, not per step)")
        rules[name] = rule
        params[name] = rule.prepare(node, Ctx(name, dtype, float(ext.dt)))
    input_name = [n for n in order if isinstance(graph.nodes[n], nir.Input)][0]
    out_shapes = {}
    for name, node in graph.nodes.items():
        shp = (node.output_type or {}).get("output")
        out_shapes[name] = tuple(int(s) for s in np.asarray(shp).tolist()) if shp is not None else None
    adapters = sorted({a for p in params.values() for a in (p.get("adapters") or [])})
    return Program(graph, [n for n in order if n not in post], [n for n in order if n in post], back, inputs,
                   params, rules, reductions, dtype, input_name, out_shapes, adapters)


# ---------------------------------------------------------------------------------------------
# compiled programs, cached per (graph identity, dtype)
#
# Not on the graph object: a Program holds locks and workspaces that ``copy.deepcopy(graph)``
# must not meet. A Program refers to its graph, so a cached graph stays alive while cached:
# the cache is a small LRU. An entry is reused only while the graph's structure is the same
# object-for-object (nodes, their attributes and metadata, edges): replacing a node or one
# of its arrays recompiles; writing *into* an array in place is not seen -- call
# :func:`forget_programs` after such an edit.

PROGRAM_CACHE_SIZE = 8
_PROGRAMS: "OrderedDict[Tuple[int, torch.dtype], Tuple[Any, Program]]" = OrderedDict()


def _shallow(obj: Any, depth: int = 3) -> Any:
    """Identity of ``obj`` and, for dicts (metadata), of what they hold ``depth`` levels down:
    cheap (no array is read), and any replaced value changes it."""
    if isinstance(obj, dict) and depth > 0:
        return id(obj), tuple((k, _shallow(v, depth - 1)) for k, v in obj.items())
    return id(obj)


def _fingerprint(graph: nir.NIRGraph) -> tuple:
    nodes = tuple((name, id(node), tuple((k, _shallow(v)) for k, v in vars(node).items()))
                  for name, node in graph.nodes.items())
    return nodes, tuple(tuple(e) for e in graph.edges), _shallow(getattr(graph, "metadata", None))


def program_for(graph: nir.NIRGraph, dtype: torch.dtype = torch.float64) -> Program:
    """The compiled reference program of ``graph`` in ``dtype``, compiled once and reused."""
    if isinstance(graph, Program):
        return graph
    key = (id(graph), dtype)
    fp = _fingerprint(graph)
    hit = _PROGRAMS.get(key)
    if hit is not None and hit[1].graph is graph and hit[0] == fp:
        _PROGRAMS.move_to_end(key)
        return hit[1]
    prog = compile_graph(graph, dtype)
    _PROGRAMS[key] = (fp, prog)
    _PROGRAMS.move_to_end(key)
    while len(_PROGRAMS) > PROGRAM_CACHE_SIZE:
        _PROGRAMS.popitem(last=False)
    return prog


def forget_programs(graph: Optional[nir.NIRGraph] = None) -> None:
    """Drop the cached programs of ``graph`` (of every graph when ``None``)."""
    if graph is None:
        _PROGRAMS.clear()
        return
    for key in [k for k, (_, p) in _PROGRAMS.items() if p.graph is graph]:
        del _PROGRAMS[key]


_REDUCERS = {
    "mean": lambda x: x.mean(dim=0),
    "sum": lambda x: x.sum(dim=0),
    "last": lambda x: x[-1],
    "max": lambda x: x.amax(dim=0),
}


def run_post(prog: Program, stacked: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Evaluate the time-reduced nodes and their descendants once, from the per-step
    outputs stacked over time (``[T, B, ...]``) of the nodes that feed them."""
    post_values: Dict[str, torch.Tensor] = {}
    for name in prog.post_order:
        total = None
        for src in prog.inputs[name]:
            v = post_values[src] if src in post_values else stacked[src]
            total = v if total is None else total + v
        if name in prog.reductions:
            total = _REDUCERS[prog.reductions[name]](total)
        post_values[name] = prog.rules[name].step(total, None, prog.params[name])[0]
    return post_values
