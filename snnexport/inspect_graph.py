"""``snnexport inspect``: what a NIR graph holds, as a dict (for --json) or a rich table."""

from __future__ import annotations

from typing import Any, Dict

import nir
import numpy as np
from rich.console import Console
from rich.table import Table

from .errors import markup_safe
from .consumers import consumer_warnings
from .extension import KEY, graph_ext
from .graph import euler_warnings, execution_order, incoming, param_count, reading_notes

# Graph facts a file from elsewhere may not state: shown as "unknown", never as our defaults.
_STATED_OR_UNKNOWN = ("dt", "source_framework", "source_framework_version", "input_layout", "input_kind", "default_steps")


def graph_facts(graph: nir.NIRGraph) -> Dict[str, Any]:
    ext = graph_ext(graph)
    facts = _plain(ext.to_meta())
    for name in _STATED_OR_UNKNOWN:
        if name not in ext.known:
            facts[name] = "unknown"
    return facts


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, np.ndarray):
        if v.size > 8:
            return f"array{list(v.shape)} min={v.min():.6g} max={v.max():.6g}"
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _shape(t) -> Any:
    v = (t or {}).get("input") if "input" in (t or {}) else (t or {}).get("output")
    return None if v is None else [int(s) for s in np.asarray(v).tolist()]


def describe(graph: nir.NIRGraph) -> Dict[str, Any]:
    order, back = execution_order(graph)
    inc = incoming(graph)
    nodes = []
    for name in order:
        node = graph.nodes[name]
        nodes.append({
            "name": name, "type": type(node).__name__, "input_shape": _shape(node.input_type),
            "output_shape": _shape(node.output_type), "parameters": param_count(node), "inputs": inc[name],
            "metadata": _plain((node.metadata or {}).get(KEY, {})),
        })
    return {
        "nodes": nodes,
        "edges": [list(e) for e in graph.edges],
        "recurrent_edges": sorted(list(e) for e in back),
        "parameters": sum(n["parameters"] for n in nodes),
        "metadata": graph_facts(graph),
        "plain_nir_warnings": consumer_warnings(graph),
        "reading_notes": reading_notes(graph),
        "euler_warnings": euler_warnings(graph) if "dt" in graph_ext(graph).known else [],
    }


def print_table(info: Dict[str, Any]) -> None:
    """Every name and value comes from the file: shown escaped, never as markup or terminal control."""
    console = Console(width=160)
    t = Table(title=f"NIR graph: {len(info['nodes'])} nodes, {len(info['edges'])} edges, {info['parameters']} parameters")
    for col in ("node", "type", "in", "out", "params", "inputs", "snnexport metadata"):
        t.add_column(col, overflow="fold")
    for n in info["nodes"]:
        meta = n["metadata"]
        brief = ", ".join(f"{k}={v}" for k, v in meta.items() if k not in ("params", "source_path", "batchnorm"))
        cells = (n["name"], n["type"], str(n["input_shape"]), str(n["output_shape"]), str(n["parameters"]),
                 ", ".join(n["inputs"]), brief)
        t.add_row(*(markup_safe(c) for c in cells))
    console.print(t)
    m = info["metadata"]
    console.print(markup_safe(f"graph: dt={m['dt']} source={m['source_framework']} ({m['source_framework_version']}) "
                              f"input_layout={m['input_layout']} input_kind={m['input_kind']} input_shape={m['input_shape']}"),
                  highlight=False)
    for note in info.get("reading_notes", []):
        console.print(f"[cyan]read:[/] {markup_safe(note)}")
    for w in info.get("euler_warnings", []):
        console.print(f"[yellow]warning:[/] {markup_safe(w)}")
    if info["recurrent_edges"]:
        console.print(markup_safe(f"recurrent edges (one-step delay): {info['recurrent_edges']}"), highlight=False)
    for w in info["plain_nir_warnings"]:
        console.print(f"[yellow]plain NIR consumers:[/] {markup_safe(w)}", highlight=False)
