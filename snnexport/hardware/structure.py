"""Graph walks the fit rules share: which neuron layers feed the outputs, what a node's
real producers are once Flatten/Input/Output pass-throughs are skipped."""

from __future__ import annotations

from typing import Dict, List, Set

import nir

from ..graph import incoming, outgoing

PASS_THROUGH = ("Flatten", "Input", "Output")


def node_type(graph: nir.NIRGraph, name: str) -> str:
    return type(graph.nodes[name]).__name__


def _through_flatten(graph: nir.NIRGraph, name: str, adjacent) -> List[str]:
    out: List[str] = []
    for n in adjacent.get(name, []):
        out += _through_flatten(graph, n, adjacent) if node_type(graph, n) == "Flatten" else [n]
    return out


def producers(graph: nir.NIRGraph, name: str, inc=None) -> List[str]:
    """Nodes feeding ``name``, looking through Flatten nodes (they move no data on chip)."""
    return _through_flatten(graph, name, inc or incoming(graph))


def consumers(graph: nir.NIRGraph, name: str, outs=None) -> List[str]:
    """Nodes fed by ``name``, looking through Flatten nodes."""
    return _through_flatten(graph, name, outs or outgoing(graph))


def output_sources(graph: nir.NIRGraph) -> Dict[str, List[str]]:
    """Output node -> the nodes that drive it."""
    inc = incoming(graph)
    return {n: producers(graph, n, inc) for n, node in graph.nodes.items() if isinstance(node, nir.Output)}


def reaches(graph: nir.NIRGraph, start: str, goal: str) -> bool:
    outs = outgoing(graph)
    seen: Set[str] = set()
    stack = list(outs.get(start, []))
    while stack:
        n = stack.pop()
        if n == goal:
            return True
        if n not in seen:
            seen.add(n)
            stack += outs.get(n, [])
    return False


def first_synaptic_input_shape(graph: nir.NIRGraph, counts, name: str):
    """Per-sample shape of what enters synaptic node ``name`` (before any Flatten)."""
    inc = incoming(graph)
    preds = inc.get(name, [])
    if not preds:
        return ()
    p = preds[0]
    while node_type(graph, p) == "Flatten" and inc.get(p):
        p = inc[p][0]
    if p in counts.nodes and counts.nodes[p].shape:
        return tuple(counts.nodes[p].shape)
    if node_type(graph, p) == "Input":
        return tuple(counts.input_shape)
    return tuple(counts.nodes[preds[0]].shape) if preds[0] in counts.nodes else ()
