"""NIR graph helpers: safe reading/writing, validation, execution order, plain-NIR view."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Set, Tuple

import nir
import numpy as np

from .atomic import atomic_path
from .conv_transpose import read_nir
from .errors import SnnexportError
from .extension import (
    KEY,
    NEURON_TYPES,
    ExtensionError,
    graph_ext,
    neuron_ext,
    time_reduction,
)

Edge = Tuple[str, str]


def read_graph(path: str | Path) -> nir.NIRGraph:
    """``nir.read`` with one-line errors, followed by :func:`validate_graph`."""
    path = Path(path)
    if not path.exists():
        raise SnnexportError(f"{path}: no such file")
    if path.is_dir():
        raise SnnexportError(f"{path}: is a directory, expected a NIR (HDF5) file")
    _precheck_node_types(path)
    try:
        graph = read_nir(str(path))
    except OSError as e:
        raise SnnexportError(f"{path}: not a readable NIR HDF5 file ({str(e).splitlines()[0]})") from None
    except Exception as e:  # nir raises bare ValueError/KeyError/AssertionError on bad content
        raise SnnexportError(f"{path}: malformed NIR graph ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise SnnexportError(f"{path}: top-level NIR node is {type(graph).__name__}, expected NIRGraph")
    validate_graph(graph, where=str(path))
    return graph


def _known_types() -> Set[str]:
    return {n for n in dir(nir) if isinstance(getattr(nir, n), type) and issubclass(getattr(nir, n), nir.NIRNode)}


def _precheck_node_types(path: Path) -> None:
    """Name the node whose type this nir version does not know (nir.read just asserts)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            nodes = f.get("node/nodes")
            if nodes is None:
                return
            known = _known_types()
            for name, group in nodes.items():
                if not isinstance(group, h5py.Group) or "type" not in group:
                    raise SnnexportError(f"{path}: node {name!r} has no type")
                t = group["type"][()]
                t = t.decode("utf8", "replace") if isinstance(t, bytes) else str(t)
                if t not in known:
                    raise SnnexportError(f"{path}: node {name!r} has unknown NIR type {t!r} (nir {nir.version} knows {', '.join(sorted(known))})")
    except SnnexportError:
        raise
    except Exception:  # noqa: BLE001 — unreadable HDF5: nir.read below gives the error
        return


def write_graph(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write with ``nir.write`` atomically and read it back before the rename."""
    path = Path(path)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), graph)
        back = read_nir(str(tmp))
        if set(back.nodes) != set(graph.nodes) or sorted(back.edges) != sorted(graph.edges):
            raise SnnexportError(f"{path}: graph read back from HDF5 differs from the one written")
    return path


def incoming(graph: nir.NIRGraph) -> Dict[str, List[str]]:
    """Sources of each node, in the order their edges are listed (summation order)."""
    inc: Dict[str, List[str]] = {name: [] for name in graph.nodes}
    for a, b in graph.edges:
        inc[b].append(a)
    return inc


def outgoing(graph: nir.NIRGraph) -> Dict[str, List[str]]:
    out: Dict[str, List[str]] = {name: [] for name in graph.nodes}
    for a, b in graph.edges:
        out[a].append(b)
    return out


def input_names(graph: nir.NIRGraph) -> List[str]:
    return [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]


def output_names(graph: nir.NIRGraph) -> List[str]:
    return [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]


def execution_order(graph: nir.NIRGraph) -> Tuple[List[str], Set[Edge]]:
    """Topological order of the nodes and the set of back edges (recurrent connections).

    A back edge ``(a, b)`` carries ``a``'s output of the *previous* time step into ``b``;
    every other edge carries the value of the same step.
    """
    out = outgoing(graph)
    state: Dict[str, int] = {}  # 1 = on stack, 2 = done
    post: List[str] = []
    back: Set[Edge] = set()
    roots = input_names(graph) + [n for n in graph.nodes if n not in input_names(graph)]
    for root in roots:
        if root in state:
            continue
        stack = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[node] = 2
                post.append(node)
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(out[nxt])))
    return post[::-1], back


def validate_graph(graph: nir.NIRGraph, where: str = "graph") -> None:
    """Structural checks with one-line errors naming the node."""
    names = set(graph.nodes)
    for a, b in graph.edges:
        for end in (a, b):
            if end not in names:
                raise SnnexportError(f"{where}: edge ({a} -> {b}) names node {end!r}, which does not exist")
    if not input_names(graph):
        raise SnnexportError(f"{where}: graph has no Input node")
    if len(input_names(graph)) > 1:
        raise SnnexportError(f"{where}: graph has {len(input_names(graph))} Input nodes ({', '.join(input_names(graph))}); "
                             f"only single-input graphs are supported (a node without incoming edges gets its own Input)")
    if not output_names(graph):
        raise SnnexportError(f"{where}: graph has no Output node")
    try:
        gext = graph_ext(graph)
    except ExtensionError as e:
        raise SnnexportError(f"{where}: {e}") from None
    declared = (graph.nodes[input_names(graph)[0]].input_type or {}).get("input")
    if gext.input_shape and declared is not None and tuple(int(s) for s in np.asarray(declared).reshape(-1)) != gext.input_shape:
        raise SnnexportError(f"{where}: snnexport input_shape {list(gext.input_shape)} differs from the Input node's "
                             f"shape {np.asarray(declared).tolist()}")
    _, back = execution_order(graph)
    for a, b in back:
        # A cycle must pass through a stateful neuron, else it is an algebraic loop.
        if not _cycle_has_neuron(graph, a, b):
            raise SnnexportError(f"{where}: cycle through edge ({a} -> {b}) has no neuron (no delay): not executable")
    inc = incoming(graph)
    for name, node in graph.nodes.items():
        tname = type(node).__name__
        if not isinstance(node, nir.Input) and not inc[name]:
            raise SnnexportError(f"{where}: node {name!r} ({tname}) has no incoming edge")
        try:
            if tname in NEURON_TYPES:
                _check_neuron_params(node, name)
                neuron_ext(node, name)
            time_reduction(node)
        except ExtensionError as e:
            raise SnnexportError(f"{where}: node {name!r}: {e}") from None


def _check_neuron_params(node, name: str) -> None:
    for field_name in ("tau", "tau_mem", "tau_syn", "r", "v_threshold", "v_leak", "v_reset"):
        if not hasattr(node, field_name):
            continue
        value = np.asarray(getattr(node, field_name), dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise ExtensionError(f"{field_name} has NaN or infinite values")
        if field_name.startswith("tau") and np.any(value <= 0):
            raise ExtensionError(f"{field_name} must be positive (min {value.min()})")


def _reach(adj: Dict[str, List[str]], start: str) -> Set[str]:
    seen, stack = set(), [start]
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(adj[n])
    return seen


def _cycle_has_neuron(graph: nir.NIRGraph, a: str, b: str) -> bool:
    """Whether some node on a cycle closed by back edge (a -> b) is a neuron: the cycle's
    nodes are those reachable from b that can also reach a."""
    on_cycle = _reach(outgoing(graph), b) & _reach(incoming(graph), a)
    return any(type(graph.nodes[n]).__name__ in NEURON_TYPES for n in on_cycle)


def time_reduced_region(graph: nir.NIRGraph) -> Tuple[Dict[str, str], Set[str]]:
    """``(reductions, post)``: the nodes carrying a ``time_reduction`` and every node they
    feed; those run once after the last step instead of at every step."""
    outs = outgoing(graph)
    reductions = {n: time_reduction(graph.nodes[n]) for n in graph.nodes if time_reduction(graph.nodes[n])}
    post: Set[str] = set()
    stack = list(reductions)
    while stack:
        n = stack.pop()
        if n not in post:
            post.add(n)
            stack.extend(outs[n])
    return reductions, post


def output_is_time_reduced(graph: nir.NIRGraph, out_name: str) -> bool:
    """Whether a time reduction lies upstream of this Output node (its readout is [B, ...])."""
    inc = incoming(graph)
    seen, stack = set(), [out_name]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if time_reduction(graph.nodes[n]):
            return True
        stack.extend(inc[n])
    return False


def plain_view(graph: nir.NIRGraph) -> nir.NIRGraph:
    """A deep copy with every ``snnexport`` metadata entry removed (what plain consumers see)."""
    g = copy.deepcopy(graph)
    for node in list(g.nodes.values()) + [g]:
        meta = dict(getattr(node, "metadata", None) or {})
        meta.pop(KEY, None)
        node.metadata = meta
    return g


def param_count(node) -> int:
    total = 0
    for attr in ("weight", "bias"):
        if hasattr(node, attr) and getattr(node, attr) is not None:
            total += int(np.asarray(getattr(node, attr)).size)
    return total
