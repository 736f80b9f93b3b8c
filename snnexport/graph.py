"""NIR graph helpers: safe reading/writing, validation, execution order, plain-NIR view."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Set, Tuple

import nir
import numpy as np

from .atomic import atomic_path
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
    """Read a NIR file safely (see :mod:`snnexport.safe_io`) with one-line errors, then
    :func:`validate_graph`."""
    from .safe_io import read_nir

    path = Path(path)
    try:
        graph = read_nir(path, check_dict=lambda data: _precheck_node_types(path, data))
    except SnnexportError:
        raise
    except RecursionError:
        raise SnnexportError(f"{path}: malformed NIR graph (nested too deeply)") from None
    except OSError as e:
        raise SnnexportError(f"{path}: not a readable NIR HDF5 file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    except Exception as e:  # nir raises bare ValueError/KeyError/AssertionError on bad content
        raise SnnexportError(f"{path}: malformed NIR graph ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise SnnexportError(f"{path}: top-level NIR node is {type(graph).__name__}, expected NIRGraph")
    validate_graph(graph, where=str(path))
    return graph


def _known_types() -> Set[str]:
    return {n for n in dir(nir) if isinstance(getattr(nir, n), type) and issubclass(getattr(nir, n), nir.NIRNode)}


def _precheck_node_types(path: Path, data: dict) -> None:
    """Name the node whose type this nir version does not know (nir just asserts), on the
    nested dict read from the file, before nir builds nodes from it."""
    if not isinstance(data, dict):
        raise SnnexportError(f"{path}: not a NIR file (no 'node' group)")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        return
    known = _known_types()
    for name, group in nodes.items():
        if not isinstance(group, dict) or "type" not in group:
            raise SnnexportError(f"{path}: node {name!r} has no type")
        t = group["type"]
        t = t.decode("utf8", "replace") if isinstance(t, bytes) else str(t)
        if t not in known:
            raise SnnexportError(f"{path}: node {name!r} has unknown NIR type {t!r} (nir {nir.version} knows {', '.join(sorted(known))})")


def write_graph(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write with ``nir.write`` atomically and read it back before the rename."""
    path = Path(path)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), graph)
        back = nir.read(str(tmp))
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
    inputs = input_names(graph)
    input_set = set(inputs)
    roots = inputs + [n for n in graph.nodes if n not in input_set]
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
    check_graph_values(graph, where)
    try:
        gext = graph_ext(graph)
    except ExtensionError as e:
        raise SnnexportError(f"{where}: {e}") from None
    declared = (graph.nodes[input_names(graph)[0]].input_type or {}).get("input")
    if gext.input_shape and declared is not None and tuple(int(s) for s in np.asarray(declared).reshape(-1)) != gext.input_shape:
        raise SnnexportError(f"{where}: snnexport input_shape {list(gext.input_shape)} differs from the Input node's "
                             f"shape {np.asarray(declared).tolist()}")
    _, back = execution_order(graph)
    if back:
        component = strongly_connected(graph)
        with_neuron = {component[n] for n, node in graph.nodes.items() if type(node).__name__ in NEURON_TYPES}
        for a, b in sorted(back):
            # A cycle must pass through a stateful neuron, else it is an algebraic loop.
            if component[a] not in with_neuron:
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


# Expected kinds of the ``snnexport`` metadata entries (extension.py documents their meaning).
GRAPH_EXT_KINDS = {"dt": "number", "source_framework": "text", "source_framework_version": "text",
                   "input_layout": "text", "input_kind": "text", "input_shape": "ints", "default_steps": "int",
                   "snnexport_version": "text", "format_version": "int", "extra": "dict"}
NODE_EXT_KINDS = {"dynamics": "text", "compare": "text", "reset": "text", "reset_timing": "text", "dt": "number",
                  "params": "arrays", "time_reduction": "text", "source_path": "text", "framework": "text",
                  "batchnorm": "arrays", "folded_batchnorm": "text"}
# NIR node fields that are not numeric arrays (everything else must be numbers).
NON_NUMERIC_FIELDS = {"metadata", "input_type", "output_type", "padding"}


def _kind_problem(kind: str, value) -> str | None:
    """Why ``value`` is not of ``kind`` (None when it is)."""
    if kind == "text":
        return None if isinstance(value, (str, bytes)) else f"must be text, got {_describe(value)}"
    if kind == "dict":
        return None if isinstance(value, dict) else f"must be a group of entries, got {_describe(value)}"
    if kind == "arrays":
        if not isinstance(value, dict):
            return f"must be a group of numeric arrays, got {_describe(value)}"
        for k, v in value.items():
            problem = _kind_problem("numbers", v)
            if problem:
                return f"entry {k!r} {problem}"
        return None
    arr = value if isinstance(value, np.ndarray) else np.asarray(value) if isinstance(value, (int, float, np.generic)) else None
    if arr is None or arr.dtype.kind not in ("iu" if kind in ("int", "ints") else "biuf"):
        wanted = {"int": "an integer", "ints": "integers", "number": "a number", "numbers": "numbers"}[kind]
        return f"must be {wanted}, got {_describe(value)}"
    if kind in ("int", "number") and arr.size != 1:
        return f"must be a single value, got shape {list(arr.shape)}"
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        return "has NaN or infinite values"
    return None


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"array of dtype {value.dtype}"
    return type(value).__name__


def _finite_problems(value, path: str):
    """(path, problem) for every non-finite number nested anywhere in ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _finite_problems(v, f"{path}.{k}")
    elif isinstance(value, (np.ndarray, np.generic, float)):
        arr = np.asarray(value)
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            yield path, "has NaN or infinite values"


def _check_ext(meta, kinds: Dict[str, str], what: str) -> None:
    ext = (meta or {}).get(KEY) if isinstance(meta, dict) else None
    if ext is None:
        return
    if not isinstance(ext, dict):
        raise SnnexportError(f"{what}: metadata {KEY!r} must be a group of entries, got {_describe(ext)}")
    for key, value in ext.items():
        kind = kinds.get(key)
        problem = _kind_problem(kind, value) if kind else None
        if problem:
            raise SnnexportError(f"{what}: metadata field {KEY}.{key} {problem}")
        for path, problem in _finite_problems(value, f"{KEY}.{key}"):
            raise SnnexportError(f"{what}: metadata field {path} {problem}")


def check_graph_values(graph: nir.NIRGraph, where: str = "graph") -> None:
    """Every parameter numeric and finite, every ``snnexport`` metadata entry of its kind:
    one-line errors naming the node and the field (NaN never reaches a simulator or JSON)."""
    if graph.metadata is not None and not isinstance(graph.metadata, dict):
        raise SnnexportError(f"{where}: graph metadata must be a group of entries")
    _check_ext(graph.metadata, GRAPH_EXT_KINDS, f"{where}: graph")
    for name, node in graph.nodes.items():
        what = f"{where}: node {name!r}"
        meta = getattr(node, "metadata", None)
        if meta is not None and not isinstance(meta, dict):
            raise SnnexportError(f"{what}: metadata must be a group of entries")
        _check_ext(meta, NODE_EXT_KINDS, what)
        for field_name, value in vars(node).items():
            if field_name in NON_NUMERIC_FIELDS or value is None:
                continue
            if isinstance(value, (str, bytes)) or (isinstance(value, np.ndarray) and value.dtype.kind not in "biufc"):
                raise SnnexportError(f"{what}: field {field_name!r} must be numeric, got {_describe(value)}")
            if isinstance(value, (np.ndarray, np.generic, float)):
                arr = np.asarray(value)
                if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                    raise SnnexportError(f"{what}: field {field_name!r} has NaN or infinite values")


def _check_neuron_params(node, name: str) -> None:
    for field_name in ("tau", "tau_mem", "tau_syn", "r", "v_threshold", "v_leak", "v_reset"):
        if not hasattr(node, field_name):
            continue
        value = np.asarray(getattr(node, field_name), dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise ExtensionError(f"{field_name} has NaN or infinite values")
        if field_name.startswith("tau") and np.any(value <= 0):
            raise ExtensionError(f"{field_name} must be positive (min {value.min()})")


def strongly_connected(graph: nir.NIRGraph) -> Dict[str, int]:
    """Component id of every node (Tarjan, iterative, linear in nodes + edges).

    The nodes on the cycles closed by a back edge ``(a, b)`` (reachable from ``b`` and
    reaching ``a``) are exactly ``a``'s strongly connected component."""
    out = outgoing(graph)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    on_stack: Set[str] = set()
    stack: List[str] = []
    component: Dict[str, int] = {}
    counter = 0
    for root in graph.nodes:
        if root in index:
            continue
        work = [(root, iter(out[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(out[nxt])))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                cid = index[node]
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component[m] = cid
                    if m == node:
                        break
    return component


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
