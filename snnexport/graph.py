"""NIR graph helpers: safe reading/writing, validation, execution order, plain-NIR view."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import nir
import numpy as np

from .atomic import write_bytes
from .errors import SnnexportError
from .extension import (
    KEY,
    NEURON_TYPES,
    ExtensionError,
    graph_ext,
    neuron_ext,
    time_reduction,
)
from .semantics import EULER_FORMS

Edge = Tuple[str, str]


def read_graph(path: str | Path) -> nir.NIRGraph:
    """Read a NIR file safely (see :mod:`snnexport.safe_io`) with one-line errors, then
    :func:`validate_graph`."""
    from .safe_io import read_nir

    path = Path(path)
    notes: List[str] = []
    try:
        graph = read_nir(path, check_dict=lambda data: _precheck_node_types(path, data), type_notes=notes)
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
    notes += inline_subgraphs(graph, str(path))
    if notes and notes[0].startswith("nir's type check failed"):  # strip batch/time dims, then the check must pass
        notes += strip_leading_dims(graph)
        try:
            graph.infer_types()
            graph.check_types()
        except Exception as e:  # noqa: BLE001 — nir raises bare ValueError/AssertionError
            raise SnnexportError(f"{path}: malformed NIR graph ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no detail'})") from None
    graph._snnexport_reading_notes = notes  # in memory only: nir serialises dataclass fields
    graph._snnexport_source = str(path)  # named in errors about what the file says (e.g. default_steps)
    validate_graph(graph, where=str(path))
    return graph


# ----- graphs written by other exporters ----------------------------------------------------

def steps_source(graph: nir.NIRGraph) -> str:
    """Who chose T when ``--steps`` was not given: "<file>: snnexport.default_steps" (for errors)."""
    where = getattr(graph, "_snnexport_source", None)
    return f"{where}: the graph's snnexport.default_steps" if where else "the graph's snnexport.default_steps"


def reading_notes(graph: nir.NIRGraph) -> List[str]:
    """What :func:`read_graph` had to interpret in this graph (e.g. batch dims it stripped)."""
    return list(getattr(graph, "_snnexport_reading_notes", []))


def inline_subgraphs(graph: nir.NIRGraph, where: str = "graph") -> List[str]:
    """Replace every nested ``NIRGraph`` node ``sg`` by its nodes, named ``sg.<node>``: edges into
    ``sg`` go to the successors of its Input, edges out of it leave from the predecessors of its
    Output; the subgraph's own edge order (summation order) is kept."""
    notes: List[str] = []
    while True:
        name = next((k for k, n in graph.nodes.items() if isinstance(n, nir.NIRGraph)), None)
        if name is None:
            return notes
        sub = graph.nodes[name]
        ins = [k for k, n in sub.nodes.items() if isinstance(n, nir.Input)]
        outs = [k for k, n in sub.nodes.items() if isinstance(n, nir.Output)]
        if len(ins) != 1 or len(outs) != 1 or (ins[0], outs[0]) in sub.edges:
            raise SnnexportError(f"{where}: subgraph {name!r} has {len(ins)} Input and {len(outs)} Output nodes; only "
                                 f"single-input, single-output subgraphs (no direct Input -> Output edge) can be inlined")
        inner = {k: f"{name}.{k}" for k in sub.nodes if k not in (ins[0], outs[0])}
        clash = sorted(set(inner.values()) & (set(graph.nodes) - {name}))
        if clash:
            raise SnnexportError(f"{where}: inlining subgraph {name!r} would reuse node name {clash[0]!r}")
        preds = [a for a, b in graph.edges if b == name and a != name]
        sub_edges: List[Edge] = []
        for a, b in sub.edges:
            if a == ins[0]:
                sub_edges += [(p, inner[b]) for p in preds]
            elif b != outs[0]:
                sub_edges.append((inner[a], inner[b]))
        last = [inner[a] for a, b in sub.edges if b == outs[0]]
        edges: List[Edge] = []
        for a, b in graph.edges:
            if a == name and b == name:
                raise SnnexportError(f"{where}: subgraph {name!r} feeds itself; not supported")
            if b == name:
                continue
            edges += [(q, b) for q in last] if a == name else [(a, b)]
        nodes = {k: n for k, n in graph.nodes.items() if k != name}
        nodes.update({inner[k]: n for k, n in sub.nodes.items() if k in inner})
        graph.nodes, graph.edges = nodes, edges + sub_edges
        notes.append(f"subgraph {name!r} inlined as {len(inner)} nodes named {name}.<node>")


def _shape_of(types, key: str) -> Optional[tuple]:
    v = (types or {}).get(key)
    if v is None:
        return None
    arr = np.asarray(v).reshape(-1)
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return None
    return tuple(int(x) for x in arr)


def _expected_input(node) -> Optional[tuple]:
    """The per-sample shape a node takes, from its type or (if unset) from its weights."""
    shape = _shape_of(node.input_type, "input")
    if shape is not None:
        return shape
    if isinstance(node, (nir.Affine, nir.Linear)):
        return (int(np.asarray(node.weight).shape[1]),)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):  # channels known, spatial size free (None)
        w = np.asarray(node.weight)
        return (int(w.shape[1]) * int(node.groups),) + (None,) * (w.ndim - 2)
    return None


def _stripped(shape: tuple, want: Optional[tuple]) -> Optional[tuple]:
    """``want`` if ``shape`` is ``want`` behind extra leading (batch/time) dimensions
    (a ``None`` in ``want`` matches any size)."""
    if want is not None and None in want and len(shape) > len(want):
        tail = tuple(shape[len(shape) - len(want):])
        return tail if all(w is None or w == t for w, t in zip(want, tail)) else None
    if want is None or None in want or len(shape) <= len(want) or tuple(shape[len(shape) - len(want):]) != tuple(want):
        return None
    return tuple(want)


def strip_leading_dims(graph: nir.NIRGraph) -> List[str]:
    """Drop leading batch/time dimensions from Input/Output types (Norse writes ``[1, 10, 20]``
    for 20 inputs; sinabs/rockpool ``[2, 20]``): NIR types are per sample. Returns one note per change."""
    notes: List[str] = []
    out, inc = outgoing(graph), incoming(graph)
    for name, node in graph.nodes.items():
        if isinstance(node, nir.Input):
            shape = _shape_of(node.input_type, "input")
            wants = {_expected_input(graph.nodes[b]) for b in out.get(name, [])} - {None}
        elif isinstance(node, nir.Output):
            shape = _shape_of(node.output_type, "output")
            wants = {_shape_of(graph.nodes[a].output_type, "output") for a in inc.get(name, [])} - {None}
        else:
            continue
        if shape is None or len(wants) != 1:
            continue
        new = _stripped(shape, next(iter(wants)))
        if new is None:
            continue
        arr = np.asarray(new, dtype=np.int64)
        node.input_type = {"input": arr}
        node.output_type = {"output": arr.copy()}
        notes.append(f"{name}: type {list(shape)} holds leading batch/time dimensions; read as per-sample {list(new)}")
    return notes


def apply_run_options(graph: nir.NIRGraph, where: str, dt: Optional[float] = None,
                      input_shape: Optional[tuple] = None) -> List[str]:
    """Fill in what a graph from elsewhere does not state, from ``--dt``/``--input-shape``.
    Returns notes (warnings) for the user; raises when an option contradicts the graph."""
    notes: List[str] = []
    meta = dict(graph.metadata or {})
    ext_meta = dict(meta.get(KEY, {}) or {})
    recorded = graph_ext(graph)
    if dt is not None:
        if not (np.isfinite(dt) and dt > 0):
            raise SnnexportError(f"--dt must be a positive number, got {dt}")
        if "dt" in recorded.known and float(recorded.dt) != float(dt):
            raise SnnexportError(f"{where}: graph records dt={recorded.dt:g}; --dt {dt:g} contradicts it")
        ext_meta["dt"] = float(dt)
    elif "dt" not in recorded.known:
        notes.append(f"{where}: graph records no time step; assuming dt={recorded.dt:g} (time constants counted in "
                     f"steps). Give --dt (snnTorch exports mean 1e-4, Norse 1e-3)")
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        inp = input_names(graph)[0]
        declared = _shape_of(graph.nodes[inp].input_type, "input")
        if declared is not None and declared != shape and _stripped(declared, shape) is None:
            raise SnnexportError(f"{where}: --input-shape {list(shape)} differs from the Input node's shape {list(declared)}")
        if declared != shape:
            arr = np.asarray(shape, dtype=np.int64)
            graph.nodes[inp].input_type = {"input": arr}
            graph.nodes[inp].output_type = {"output": arr.copy()}
            notes.append(f"{where}: Input {inp!r} type {list(declared) if declared else None} read as {list(shape)} (--input-shape)")
        if "input_shape" in recorded.known and tuple(recorded.input_shape) != shape:
            raise SnnexportError(f"{where}: graph records input_shape {list(recorded.input_shape)}; --input-shape {list(shape)} contradicts it")
    if ext_meta != dict(meta.get(KEY, {}) or {}):
        meta[KEY] = ext_meta
        graph.metadata = meta
    return notes


def euler_warnings(graph: nir.NIRGraph) -> List[str]:
    """Neurons whose Euler step dt/tau exceeds 1: the membrane overshoots its target every
    step (and oscillates without bound past 2), so the discrete run has little to do with the ODE."""
    dt = float(graph_ext(graph).dt)
    out: List[str] = []
    for name, node in graph.nodes.items():
        ext = neuron_ext(node, name) if type(node).__name__ in NEURON_TYPES else None
        if ext is not None and ext.dynamics not in EULER_FORMS:
            continue  # discrete-time forms: no ODE to be unstable
        step = float(ext.dt) if ext is not None else dt
        for field_name in ("tau", "tau_mem", "tau_syn"):
            if ext is not None:
                inv = ext.params.get(field_name + "_inv") if field_name != "tau" else ext.params.get("tau_mem_inv")
                ratio = None if inv is None else float(np.max(np.asarray(inv))) * step
            elif hasattr(node, field_name):
                ratio = step / float(np.min(np.asarray(getattr(node, field_name), dtype=np.float64)))
            else:
                ratio = None
            if ratio is not None and ratio > 1:
                out.append(f"node {name!r}: dt/{field_name} = {ratio:.4g} > 1: the Euler step overshoots"
                           f"{' and diverges' if ratio > 2 else ''}; spikes and energy of this run are not the ODE's (wrong --dt?)")
                break
    return out


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


def read_back(data: bytes) -> nir.NIRGraph:
    """``nir.read`` of HDF5 bytes this process wrote (a graph with transposed-convolution nodes,
    which nir's type inference rejects, is read with their types restored)."""
    import io

    from .conv_transpose import read_nir as read_with_conv_transpose

    return read_with_conv_transpose(io.BytesIO(data))


def write_graph(graph: nir.NIRGraph, path: str | Path) -> Path:
    """Write with ``nir.write`` atomically and read it back before the rename."""
    import io

    path = Path(path)
    # HDF5 is built in memory and written with os.write: h5py writing to a full disk segfaulted.
    buf = io.BytesIO()
    nir.write(buf, graph)
    back = read_back(buf.getvalue())  # a transposed-conv graph needs its types restored
    if set(back.nodes) != set(graph.nodes) or sorted(back.edges) != sorted(graph.edges):
        raise SnnexportError(f"{path}: graph read back from HDF5 differs from the one written")
    write_bytes(path, buf.getbuffer(), suffix=".nir")
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
# Entries that count or measure time: zero or negative is malformed (not "use the default").
POSITIVE_EXT_FIELDS = {"default_steps", "format_version"}
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
        if key in POSITIVE_EXT_FIELDS and kind and np.asarray(value).size == 1 and not np.asarray(value).item() > 0:
            raise SnnexportError(f"{what}: metadata field {KEY}.{key} must be positive, got {np.asarray(value).item()}")
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
