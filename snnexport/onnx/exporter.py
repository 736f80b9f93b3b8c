"""``snnexport export-onnx``: a NIR graph, with its exact discrete semantics, as an ONNX model.

The ONNX graph computes what :mod:`snnexport.simulators.reference` computes, with the same
float operations in the same order (see :mod:`snnexport.extension`): every neuron step is
a short chain of ``Mul``/``Add``/``Sub``/``Div`` nodes written exactly as the reference
writes it, the threshold test is ``Greater`` (``gt``) or ``GreaterOrEqual`` (``ge``), the
reset is ``Where`` (``value``) or ``Sub(U, Mul(S, thr))`` (``subtract``), at once or one
step late (``reset_timing``). Parameters the reference derives (``a_mem = dt*tau_mem_inv``)
are derived here with the same float operation in the export dtype.

Two forms of the time dimension:

* **unrolled** (``steps=T``): the step is emitted ``T`` times into one flat graph; step
  ``t`` reads ``Gather(x, t)`` and the previous step's state tensors; per-step outputs are
  stacked with ``Unsqueeze`` + ``Concat``. The input's ``T`` is fixed.
* **loop** (``loop=True``): one ``Loop`` node (trip count ``Shape(x)[0]``) whose body is one
  step; neuron states and recurrent (back-edge) values are loop-carried, per-step outputs
  are scan outputs. Any ``T`` at run time.

Both: input ``x`` ``[T, B, *input_shape]``; outputs ``spikes/<node>`` ``[T, B, *shape]`` for
every spiking node, ``readout`` (the Output node; ``readout/<name>`` for further Output
nodes), time-reduced (``ReduceSum`` then ``Div`` by ``T`` for ``mean``, as torch does) where the
graph says, and with ``membranes=True`` ``membrane/<node>``. Neuron states start at zero
(``ConstantOfShape`` of ``[B, *shape]``, ``B`` read from ``x``). Back edges carry the source's
previous-step output, zero at step 0. Time-reduced nodes and everything after them run once,
after the last step.

onnxruntime (CPU) has no float64 kernel for ``Conv`` and ``AveragePool`` (probed with
onnxruntime 1.32). In a float64 export these ops are by default *lowered* to float64 ops
that it does have (``Pad`` + ``Gather`` of the im2col patches + ``MatMul`` / ``ReduceSum``),
which keeps the run exact; ``f64_ops="cast"`` instead emits the native op in float32
between two ``Cast`` nodes (smaller, faster, but only float32-accurate). Either choice is
listed in :attr:`Exported.adapters` and in the model's ``snnexport.adapters`` metadata.

One small rule per NIR node type lives in :data:`snnexport.onnx.rules.ONNX_RULES`; this module
walks the graph and calls them; a node type without a rule is a one-line :class:`SnnexportError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

import nir
import numpy as np

from ..errors import SnnexportError
from ..extension import graph_ext
from ..graph import execution_order, incoming, time_reduced_region, validate_graph
from .builder import DEFAULT_OPSET, DTYPES, F64_OPS, META_PREFIX, MIN_OPSET, SHAPE_PRESERVING, Builder, load_onnx
from .rules import ONNX_RULES, Ctx

# ---------------------------------------------------------------- graph export

@dataclass
class Exported:
    """An exported model and what its outputs mean."""

    model: Any  # onnx.ModelProto
    spikes: Dict[str, str] = field(default_factory=dict)      # ONNX output -> NIR node
    readouts: Dict[str, str] = field(default_factory=dict)
    membranes: Dict[str, str] = field(default_factory=dict)
    adapters: List[str] = field(default_factory=list)
    form: str = "unrolled"
    steps: Optional[int] = None
    dtype: str = "float64"
    opset: int = DEFAULT_OPSET


def _shape(typedict: Any, key: str) -> Optional[Tuple[int, ...]]:
    try:
        v = (typedict or {}).get(key)
        if v is None:
            return None
        arr = np.asarray(v).reshape(-1)
        if arr.size == 0 and key == "output":
            return ()
        return tuple(int(s) for s in arr.tolist())
    except (TypeError, ValueError):
        return None


def _dims(shape: Optional[Tuple[int, ...]], *lead: Any) -> Optional[List[Any]]:
    return None if shape is None else [*lead, *shape]


def unsupported(tname: str, name: str) -> SnnexportError:
    return SnnexportError(f"node {name!r}: no ONNX export rule for NIR type {tname} (supported: {', '.join(sorted(ONNX_RULES))})")


# Unrolling emits every step's ops: past these a file's default_steps (10^9 was accepted)
# would build a graph until memory runs out. The Loop form has no such limit.
MAX_UNROLLED_STEPS = 100_000
MAX_UNROLLED_NODE_STEPS = 2_000_000  # steps x NIR nodes per step


def _check_unroll_size(steps: int, nodes_per_step: int, who: str = "") -> None:
    if steps > MAX_UNROLLED_STEPS or steps * max(1, nodes_per_step) > MAX_UNROLLED_NODE_STEPS:
        raise SnnexportError(
            f"{who}unrolling {steps} steps of {nodes_per_step} nodes is too large for one ONNX graph (at most "
            f"{MAX_UNROLLED_STEPS} steps and {MAX_UNROLLED_NODE_STEPS} node-steps); use --loop (any T at run time) "
            f"or a smaller --steps"
        )


def export_graph(graph: nir.NIRGraph, steps: Optional[int] = None, loop: bool = False, opset: int = DEFAULT_OPSET,
                 dtype: str = "float64", f64_ops: str = "lower", membranes: bool = False, check: bool = True) -> Exported:
    """Build the ONNX model of ``graph`` (see the module docstring). ``steps`` (unrolled form,
    default: the graph's ``default_steps``) and ``loop`` are exclusive."""
    onnx = load_onnx()
    from onnx import TensorProto, helper

    if loop and steps is not None:
        raise SnnexportError("--steps and --loop are exclusive (the Loop form takes any T at run time)")
    if dtype not in DTYPES:
        raise SnnexportError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if f64_ops not in F64_OPS:
        raise SnnexportError(f"f64_ops must be one of {F64_OPS}, got {f64_ops!r}")
    max_opset = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= int(opset) <= max_opset:
        raise SnnexportError(f"--opset must lie in [{MIN_OPSET}, {max_opset}] (this onnx package), got {opset}")
    validate_graph(graph)
    gext = graph_ext(graph)
    steps_given = steps is not None
    if not loop:
        try:
            steps = int(steps if steps is not None else gext.default_steps)
        except (TypeError, ValueError):
            raise SnnexportError(f"graph metadata default_steps {gext.default_steps!r} is not a whole number; "
                                 f"pass --steps") from None
        if steps < 1:
            raise SnnexportError(f"--steps must be at least 1, got {steps}")

    # structure, as the reference compiles it
    order, back = execution_order(graph)
    inputs = incoming(graph)
    for name in order:
        tname = type(graph.nodes[name]).__name__
        if tname not in ONNX_RULES:
            raise unsupported(tname, name)
    reductions, post = time_reduced_region(graph)
    step_order = [n for n in order if n not in post]
    post_order = [n for n in order if n in post]
    if not loop:
        from ..graph import steps_source

        _check_unroll_size(steps, len(step_order), "" if steps_given else f"{steps_source(graph)} = {steps}: ")
    rules = {n: ONNX_RULES[type(graph.nodes[n]).__name__] for n in order}
    for n in post_order:
        if rules[n].neuron or rules[n].init is not None:
            what = "a neuron" if rules[n].neuron else f"a {type(graph.nodes[n]).__name__} (state across steps)"
            raise SnnexportError(f"node {n!r}: {what} cannot follow a time reduction (it would run once, not per step)")
    input_name = [n for n in order if isinstance(graph.nodes[n], nir.Input)][0]
    out_shapes = {n: _shape(node.output_type, "output") for n, node in graph.nodes.items()}
    in_shape = tuple(int(s) for s in gext.input_shape) or _shape(graph.nodes[input_name].input_type, "input")

    b = Builder(DTYPES[dtype], int(opset), f64_ops)
    b.names.add("x")
    params: Dict[str, Dict[str, Any]] = {}
    for name in order:
        node = graph.nodes[name]
        # the data's shape (the source's output) first: NIR infers a grouped conv's input type wrongly
        ins = out_shapes.get(inputs[name][0]) if inputs[name] else None
        if ins is None:
            ins = _shape(getattr(node, "input_type", None), "input")
        if name == input_name:
            ins = in_shape
        b.scope = name
        params[name] = rules[name].prepare(node, Ctx(name, b, float(gext.dt), ins, out_shapes.get(name)))
        if out_shapes.get(name) is None:  # graphs built without NIR type inference
            out_shapes[name] = params[name].get("_out", ins if type(node).__name__ in SHAPE_PRESERVING else None)

    # batch size and zero initial states, read from x
    b.scope = "init"
    xshape = b.op("Shape", "x")
    b.batch_dim = b.op("Gather", xshape, b.i64("init/index1", [1]), axis=0)
    init_state: Dict[Any, Any] = {}
    for name in step_order:
        if rules[name].init is not None:  # neurons, and state carried by other nodes (Delay)
            init_state[name] = rules[name].init(b, params[name])
    # a back edge carries, at t = 0, the value its source has at rest (neurons and input zero):
    # zeros for a neuron, f(0) for a stateless node (a recurrent Affine's bias), as the reference
    rest: Dict[str, str] = {}

    def at_rest(a: str) -> str:
        if a not in rest:
            if rules[a].neuron or a == input_name or not inputs[a]:
                if out_shapes.get(a) is None:
                    raise SnnexportError(f"node {a!r}: output shape unknown, needed for its recurrent edge")
                rest[a] = b.zeros(out_shapes[a])
            else:  # every cycle passes through a neuron, so this recursion ends
                total = None
                for src in inputs[a]:
                    v = at_rest(src)
                    total = v if total is None else b.op("Add", total, v)
                b.scope = f"init/{a}"
                rest[a] = rules[a].emit(b, total, params[a], None)[0]
        return rest[a]

    back_src = sorted({a for a, _ in back})
    for a in back_src:
        init_state[("prev", a)] = at_rest(a)

    def emit_step(x_t: str, state: Dict[Any, Any], tag: str):
        values: Dict[str, str] = {}
        mems: Dict[str, str] = {}
        new_state: Dict[Any, Any] = {}
        for name in step_order:
            b.scope = f"{name}{tag}"
            if name == input_name:
                xin = x_t
            else:
                xin = None
                for src in inputs[name]:  # edge order, left fold: the reference's summation order
                    v = state[("prev", src)] if (src, name) in back else values[src]
                    xin = v if xin is None else b.op("Add", xin, v)
            y, s, m = rules[name].emit(b, xin, params[name], state.get(name))
            values[name] = y
            if rules[name].init is not None:
                new_state[name] = s
            if rules[name].neuron:
                mems[name] = m
        for a in back_src:
            new_state[("prev", a)] = values[a]
        return values, new_state, mems

    spiking = [n for n in step_order if rules[n].spiking]
    outputs_nodes = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    needed_by_post = [s for n in post_order for s in inputs[n] if s not in post]
    keep: List[str] = list(dict.fromkeys(spiking + needed_by_post + [n for n in outputs_nodes if n not in post]))
    neurons = [n for n in step_order if rules[n].neuron]
    readout_names = {n: ("readout" if i == 0 else f"readout/{n}") for i, n in enumerate(outputs_nodes)}
    stacked_name = {n: (f"spikes/{n}" if n in spiking else readout_names[n] if n in readout_names else f"stacked/{n}") for n in keep}
    b.names.update(stacked_name.values())
    mem_name = {n: f"membrane/{n}" for n in neurons} if membranes else {}
    b.names.update(mem_name.values())

    trip: Optional[str] = None  # the Loop's trip count T (int64 scalar)
    if not loop:
        per_step: Dict[str, List[str]] = {n: [] for n in list(keep) + [f"mem:{n}" for n in mem_name]}
        state = init_state
        for t in range(steps):
            b.scope = f"x/t{t}"
            x_t = b.op("Gather", "x", b.i64(f"step_index/{t}", t), axis=0)
            values, state, mems = emit_step(x_t, state, f"/t{t}")
            for n in keep:
                per_step[n].append(values[n])
            for n in mem_name:
                per_step[f"mem:{n}"].append(mems[n])
        b.scope = "stack"
        axes0 = b.i64("axes0_unsqueeze", [0])
        for key, vals in per_step.items():
            out = mem_name[key[4:]] if key.startswith("mem:") else stacked_name[key]
            b.op("Concat", *[b.op("Unsqueeze", v, axes0) for v in vals], out=out, axis=0)
    else:
        outer_nodes = b.nodes
        b.nodes = []
        carried = list(init_state.items())  # [(key, {slot: name} | name)]
        body_inputs = [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
                       helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])]
        b.names.update(("iter", "cond_in"))
        state_in: Dict[Any, Any] = {}
        flat_init: List[str] = []
        flat_shapes: List[Tuple[int, ...]] = []
        for key, val in carried:
            label = key if isinstance(key, str) else f"prev/{key[1]}"
            shape = params[key]["shape"] if isinstance(key, str) else out_shapes[key[1]]
            if isinstance(val, dict):
                state_in[key] = {}
                for slot, init in val.items():
                    nm = b.fresh(f"state_in/{label}/{slot}")
                    state_in[key][slot] = nm
                    flat_init.append(init)
                    flat_shapes.append(shape)
                    body_inputs.append(helper.make_tensor_value_info(nm, b.elem, _dims(shape, "B")))
            else:
                nm = b.fresh(f"state_in/{label}")
                state_in[key] = nm
                flat_init.append(val)
                flat_shapes.append(shape)
                body_inputs.append(helper.make_tensor_value_info(nm, b.elem, _dims(shape, "B")))
        b.scope = "x/t"
        x_t = b.op("Gather", "x", "iter", axis=0)
        values, new_state, mems = emit_step(x_t, state_in, "")
        b.scope = "body"
        body_outs: List[str] = [b.op("Identity", "cond_in")]
        seen: Set[str] = set(n.name for n in body_inputs) | {"x"}

        def fresh_out(v: str) -> str:
            if v in seen or v.startswith(("state_in/", "init/")) or any(v == i.name for i in b.inits):
                v = b.op("Identity", v)
            seen.add(v)
            return v

        state_out: List[str] = []
        for key, val in carried:
            if isinstance(val, dict):
                state_out += [fresh_out(new_state[key][slot]) for slot in val]
            else:
                state_out.append(fresh_out(new_state[key]))
        scan_keys = list(keep) + [f"mem:{n}" for n in mem_name]
        scan_out = [fresh_out(mems[k[4:]] if k.startswith("mem:") else values[k]) for k in scan_keys]
        body_outs += state_out + scan_out
        out_vi = [helper.make_tensor_value_info(body_outs[0], TensorProto.BOOL, [])]
        out_vi += [helper.make_tensor_value_info(nm, b.elem, _dims(shp, "B")) for nm, shp in zip(state_out, flat_shapes)]
        for nm, k in zip(scan_out, scan_keys):
            node = k[4:] if k.startswith("mem:") else k
            shp = out_shapes.get(node)
            out_vi.append(helper.make_tensor_value_info(nm, b.elem, _dims(shp, "B")))
        body = helper.make_graph(b.nodes, "step", body_inputs, out_vi)
        b.nodes = outer_nodes
        b.scope = "loop"
        trip = b.op("Gather", xshape, b.i64("loop/index0", 0), axis=0)
        cond = b.const("loop/true", np.array(True))
        finals = [b.fresh(f"loop/final{i}") for i in range(len(state_out))]
        loop_outs = finals + [mem_name[k[4:]] if k.startswith("mem:") else stacked_name[k] for k in scan_keys]
        b.nodes.append(helper.make_node("Loop", [trip, cond] + flat_init, loop_outs, name="loop", body=body))

    # time-reduced nodes and everything after them: once, after the last step
    post_values: Dict[str, str] = {}
    for name in post_order:
        b.scope = name
        total = None
        for src in inputs[name]:
            v = post_values[src] if src in post_values else stacked_name[src]
            total = v if total is None else b.op("Add", total, v)
        red = reductions.get(name)
        if red in ("mean", "sum"):
            total = b.op("ReduceSum", total, b.i64(f"{name}/axes", [0]), keepdims=0)
            if red == "mean":  # torch's CPU mean: the sum, divided by T
                total = b.op("Div", total, b.op("Cast", trip, to=b.elem) if loop else b.param(name, "T", float(steps)))
        elif red == "last":
            total = b.op("Gather", total, b.i64(f"{name}/last", -1), axis=0)
        elif red == "max":
            total = b.reduce_max0(total)
        y, _, _ = rules[name].emit(b, total, params[name], None)
        if name in readout_names:
            y = b.op("Identity", y, out=readout_names[name])
        post_values[name] = y

    tdim: Any = steps if not loop else "T"
    x_vi = helper.make_tensor_value_info("x", b.elem, [tdim, "B", *in_shape] if in_shape is not None else None)
    graph_outputs = []
    for n in spiking:
        graph_outputs.append(helper.make_tensor_value_info(stacked_name[n], b.elem, [tdim, "B", *out_shapes[n]] if out_shapes[n] is not None else None))
    for n in outputs_nodes:
        shp = out_shapes.get(n)
        dims = None if shp is None else (["B", *shp] if n in post else [tdim, "B", *shp])
        graph_outputs.append(helper.make_tensor_value_info(readout_names[n], b.elem, dims))
    for n, nm in mem_name.items():
        shp = params[n]["shape"]
        graph_outputs.append(helper.make_tensor_value_info(nm, b.elem, [tdim, "B", *shp]))
    g = helper.make_graph(b.nodes, "snnexport", [x_vi], graph_outputs, initializer=b.inits)
    opsets = [helper.make_opsetid("", int(opset))]
    from .. import __version__

    model = helper.make_model(g, opset_imports=opsets, producer_name="snnexport", producer_version=__version__,
                              doc_string="Exported by snnexport from a NIR graph; see docs/onnx.md")
    model.ir_version = helper.find_min_ir_version_for(opsets)
    exp = Exported(model, spikes={stacked_name[n]: n for n in spiking}, readouts={v: k for k, v in readout_names.items()},
                   membranes={v: k for k, v in mem_name.items()}, adapters=sorted(b.adapters),
                   form="loop" if loop else "unrolled", steps=None if loop else steps, dtype=dtype, opset=int(opset))
    meta = {"form": exp.form, "steps": "" if loop else str(steps), "dtype": dtype, "spikes": json.dumps(exp.spikes),
            "readouts": json.dumps(exp.readouts), "membranes": json.dumps(exp.membranes), "adapters": json.dumps(exp.adapters),
            "input_layout": "TB (time-major [T, B, ...])"}
    helper.set_model_props(model, {META_PREFIX + k: v for k, v in meta.items()})
    if check:
        try:
            onnx.checker.check_model(model, full_check=True)
        except Exception as e:  # noqa: BLE001 — our bug, but say it in one line
            raise SnnexportError(f"exported ONNX model fails onnx.checker ({' '.join(str(e).split())[:300]})") from None
    return exp


def outputs_of(model) -> Dict[str, Dict[str, str]]:
    """``{"spikes": {...}, "readouts": {...}, "membranes": {...}}`` from a model's metadata."""
    props = {p.key: p.value for p in model.metadata_props}
    out = {}
    for k in ("spikes", "readouts", "membranes"):
        raw = props.get(META_PREFIX + k)
        out[k] = json.loads(raw) if raw else {}
    out["adapters"] = json.loads(props.get(META_PREFIX + "adapters", "[]"))
    return out


def write_onnx(exp: Exported, path: str | Path) -> Path:
    """Write atomically; the written file is re-read and checked before the rename."""
    onnx = load_onnx()
    from ..atomic import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".onnx") as tmp:
        try:
            onnx.save(exp.model, str(tmp))
        except ValueError as e:  # e.g. over the 2 GiB protobuf limit
            raise SnnexportError(f"{path}: cannot write the ONNX model ({' '.join(str(e).split())[:200]})") from None
        onnx.checker.check_model(str(tmp))
    return path
