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
    default: the graph's ``default_steps``) and ``loop`` are exclusive.

    The steps, in the order they emit: plan the walk (:func:`_plan`), prepare every node with
    its rule (:func:`_prepare_nodes`), read the batch size and the zero states from ``x``
    (:func:`_initial_state`), name the outputs (:func:`_output_names`), emit the steps unrolled
    or as one Loop (:func:`_emit_unrolled` / :func:`_emit_loop`, each step :func:`_emit_step`),
    the time-reduced tail once (:func:`_emit_time_reduced`), then the model and its metadata."""
    onnx = load_onnx()
    _check_options(onnx, steps, loop, opset, dtype, f64_ops)
    validate_graph(graph)
    plan = _plan(graph, steps, loop)
    b = Builder(DTYPES[dtype], int(opset), f64_ops)
    b.names.add("x")
    _prepare_nodes(plan, b)
    x_shape, init_state = _initial_state(plan, b)
    names = _output_names(plan, b, membranes)
    trip: Optional[str] = None  # the Loop's trip count T (the unrolled form's T is a constant)
    if loop:
        trip = _emit_loop(plan, b, init_state, names, x_shape)
    else:
        _emit_unrolled(plan, b, init_state, names)
    _emit_time_reduced(plan, b, names, trip)
    exp = Exported(_model(plan, b, names), spikes={names.stacked[n]: n for n in names.spiking},
                   readouts={v: k for k, v in names.readouts.items()}, membranes={v: k for k, v in names.membranes.items()},
                   adapters=sorted(b.adapters), form="loop" if loop else "unrolled", steps=plan.steps, dtype=dtype,
                   opset=int(opset))
    _set_metadata(exp)
    if check:
        _check_model(onnx, exp.model)
    return exp


# ---------------------------------------------------------------- the steps of export_graph

def _check_options(onnx: Any, steps: Optional[int], loop: bool, opset: int, dtype: str, f64_ops: str) -> None:
    if loop and steps is not None:
        raise SnnexportError("--steps and --loop are exclusive (the Loop form takes any T at run time)")
    if dtype not in DTYPES:
        raise SnnexportError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if f64_ops not in F64_OPS:
        raise SnnexportError(f"f64_ops must be one of {F64_OPS}, got {f64_ops!r}")
    max_opset = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= int(opset) <= max_opset:
        raise SnnexportError(f"--opset must lie in [{MIN_OPSET}, {max_opset}] (this onnx package), got {opset}")


def _unrolled_steps(steps: Optional[int], default: Any) -> int:
    """``T`` of the unrolled form: ``steps``, else the graph's ``default_steps``."""
    try:
        steps = int(steps if steps is not None else default)
    except (TypeError, ValueError):
        raise SnnexportError(f"graph metadata default_steps {default!r} is not a whole number; pass --steps") from None
    if steps < 1:
        raise SnnexportError(f"--steps must be at least 1, got {steps}")
    return steps


@dataclass
class _Plan:
    """The walk, as the reference compiles it (:func:`snnexport.simulators.reference.program.compile_graph`):
    per-step nodes in execution order, then the time-reduced tail; every node's rule and params."""

    graph: nir.NIRGraph
    dt: float
    steps: Optional[int]              # T of the unrolled form; None: the Loop form (any T)
    inputs: Dict[str, List[str]]      # sources of each node, in summation order
    back: Set[Tuple[str, str]]        # recurrent edges: the source's previous-step value
    back_sources: List[str]           # their sources, sorted: the state carries their last value
    rules: Dict[str, Any]             # node -> its OnnxRule
    reductions: Dict[str, str]        # node -> time reduction (mean, sum, last, max)
    post: Set[str]                    # the time-reduced nodes and everything after them
    order: List[str]
    step_order: List[str]
    post_order: List[str]
    input_name: str
    in_shape: Optional[Tuple[int, ...]]
    out_shapes: Dict[str, Optional[Tuple[int, ...]]]
    params: Dict[str, Dict[str, Any]] = field(default_factory=dict)

    @property
    def loop(self) -> bool:
        return self.steps is None


def _plan(graph: nir.NIRGraph, steps: Optional[int], loop: bool) -> _Plan:
    """Order the nodes, find each one's rule, and refuse what cannot be exported."""
    gext = graph_ext(graph)
    steps_given = steps is not None
    if not loop:
        steps = _unrolled_steps(steps, gext.default_steps)
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
    return _Plan(graph, float(gext.dt), None if loop else steps, inputs, back, sorted({a for a, _ in back}), rules,
                 reductions, post, order, step_order, post_order, input_name, in_shape, out_shapes)


def _prepare_nodes(plan: _Plan, b: Builder) -> None:
    """Every node's rule prepares its params (initializers); fills in output shapes that the
    graph does not record (graphs built without NIR type inference)."""
    out_shapes = plan.out_shapes
    for name in plan.order:
        node = plan.graph.nodes[name]
        # the data's shape (the source's output) first: NIR infers a grouped conv's input type wrongly
        ins = out_shapes.get(plan.inputs[name][0]) if plan.inputs[name] else None
        if ins is None:
            ins = _shape(getattr(node, "input_type", None), "input")
        if name == plan.input_name:
            ins = plan.in_shape
        b.scope = name
        params = plan.params[name] = plan.rules[name].prepare(node, Ctx(name, b, plan.dt, ins, out_shapes.get(name)))
        if out_shapes.get(name) is None:
            out_shapes[name] = params.get("_out", ins if type(node).__name__ in SHAPE_PRESERVING else None)


def _initial_state(plan: _Plan, b: Builder) -> Tuple[str, Dict[Any, Any]]:
    """``(Shape(x), state at t = 0)``: the batch size read from ``x``, every neuron's zero state,
    and for every back edge its source's value at rest."""
    b.scope = "init"
    x_shape = b.op("Shape", "x")
    b.batch_dim = b.op("Gather", x_shape, b.i64("init/index1", [1]), axis=0)
    state: Dict[Any, Any] = {}
    for name in plan.step_order:
        if plan.rules[name].init is not None:  # neurons, and state carried by other nodes (Delay)
            state[name] = plan.rules[name].init(b, plan.params[name])
    rest: Dict[str, str] = {}
    for a in plan.back_sources:
        state[("prev", a)] = _at_rest(plan, b, a, rest)
    return x_shape, state


def _at_rest(plan: _Plan, b: Builder, a: str, rest: Dict[str, str]) -> str:
    """What a back edge carries at t = 0, the value its source has at rest (neurons and input
    zero): zeros for a neuron, f(0) for a stateless node (a recurrent Affine's bias), as the reference."""
    if a not in rest:
        if plan.rules[a].neuron or a == plan.input_name or not plan.inputs[a]:
            if plan.out_shapes.get(a) is None:
                raise SnnexportError(f"node {a!r}: output shape unknown, needed for its recurrent edge")
            rest[a] = b.zeros(plan.out_shapes[a])
        else:  # every cycle passes through a neuron, so this recursion ends
            total = None
            for src in plan.inputs[a]:
                v = _at_rest(plan, b, src, rest)
                total = v if total is None else b.op("Add", total, v)
            b.scope = f"init/{a}"
            rest[a] = plan.rules[a].emit(b, total, plan.params[a], None)[0]
    return rest[a]


def _emit_step(plan: _Plan, b: Builder, x_t: str, state: Dict[Any, Any], tag: str):
    """One time step: every per-step node's rule on the sum of its inputs. Returns ``(values,
    new state, membranes)``; the state carries neuron states and back-edge sources."""
    values: Dict[str, str] = {}
    mems: Dict[str, str] = {}
    new_state: Dict[Any, Any] = {}
    for name in plan.step_order:
        b.scope = f"{name}{tag}"
        if name == plan.input_name:
            xin = x_t
        else:
            xin = None
            for src in plan.inputs[name]:  # edge order, left fold: the reference's summation order
                v = state[("prev", src)] if (src, name) in plan.back else values[src]
                xin = v if xin is None else b.op("Add", xin, v)
        rule = plan.rules[name]
        y, s, m = rule.emit(b, xin, plan.params[name], state.get(name))
        values[name] = y
        if rule.init is not None:
            new_state[name] = s
        if rule.neuron:
            mems[name] = m
    for a in plan.back_sources:
        new_state[("prev", a)] = values[a]
    return values, new_state, mems


@dataclass
class _OutputNames:
    """The per-step values kept over time and the names they are stacked under."""

    spiking: List[str]                # spiking per-step nodes: outputs spikes/<node>
    output_nodes: List[str]           # the graph's Output nodes: readout, readout/<node>
    keep: List[str]                   # per-step nodes whose values are stacked over time
    readouts: Dict[str, str]          # Output node -> ONNX output
    stacked: Dict[str, str]           # kept node -> its stacked [T, B, ...] tensor
    membranes: Dict[str, str]         # neuron -> membrane/<node> (membranes=True)

    def time_series(self) -> List[str]:
        """Keys of the per-step values stacked over time, in output order ("mem:<node>": a membrane)."""
        return list(self.keep) + [f"mem:{n}" for n in self.membranes]

    def stacked_name(self, key: str) -> str:
        return self.membranes[key[4:]] if key.startswith("mem:") else self.stacked[key]

    @staticmethod
    def node_of(key: str) -> str:
        return key[4:] if key.startswith("mem:") else key


def _output_names(plan: _Plan, b: Builder, membranes: bool) -> _OutputNames:
    spiking = [n for n in plan.step_order if plan.rules[n].spiking]
    output_nodes = [n for n, node in plan.graph.nodes.items() if isinstance(node, nir.Output)]
    needed_by_post = [s for n in plan.post_order for s in plan.inputs[n] if s not in plan.post]
    keep = list(dict.fromkeys(spiking + needed_by_post + [n for n in output_nodes if n not in plan.post]))
    neurons = [n for n in plan.step_order if plan.rules[n].neuron]
    readouts = {n: ("readout" if i == 0 else f"readout/{n}") for i, n in enumerate(output_nodes)}
    stacked = {n: (f"spikes/{n}" if n in spiking else readouts[n] if n in readouts else f"stacked/{n}") for n in keep}
    b.names.update(stacked.values())
    mem_names = {n: f"membrane/{n}" for n in neurons} if membranes else {}
    b.names.update(mem_names.values())
    return _OutputNames(spiking, output_nodes, keep, readouts, stacked, mem_names)


def _emit_unrolled(plan: _Plan, b: Builder, init_state: Dict[Any, Any], names: _OutputNames) -> None:
    """The step emitted ``T`` times; step ``t`` reads ``Gather(x, t)``; the per-step values
    stacked with ``Unsqueeze`` + ``Concat``."""
    per_step: Dict[str, List[str]] = {k: [] for k in names.time_series()}
    state = init_state
    for t in range(plan.steps):
        b.scope = f"x/t{t}"
        x_t = b.op("Gather", "x", b.i64(f"step_index/{t}", t), axis=0)
        values, state, mems = _emit_step(plan, b, x_t, state, f"/t{t}")
        for n in names.keep:
            per_step[n].append(values[n])
        for n in names.membranes:
            per_step[f"mem:{n}"].append(mems[n])
    b.scope = "stack"
    axes0 = b.i64("axes0_unsqueeze", [0])
    for key, vals in per_step.items():
        b.op("Concat", *[b.op("Unsqueeze", v, axes0) for v in vals], out=names.stacked_name(key), axis=0)


def _emit_loop(plan: _Plan, b: Builder, init_state: Dict[Any, Any], names: _OutputNames, x_shape: str) -> str:
    """One ``Loop`` over ``T = Shape(x)[0]`` whose body is one step: states loop-carried, the
    per-step values scan outputs. Returns the trip count ``T`` (an int64 scalar)."""
    from onnx import TensorProto, helper

    outer_nodes, b.nodes = b.nodes, []
    carried = list(init_state.items())  # [(key, {slot: name} | name)]
    body_inputs, state_in, flat_init, flat_shapes = _loop_carried_inputs(plan, b, carried)
    b.scope = "x/t"
    x_t = b.op("Gather", "x", "iter", axis=0)
    values, new_state, mems = _emit_step(plan, b, x_t, state_in, "")
    b.scope = "body"
    cond_out = b.op("Identity", "cond_in")
    fresh_out = _body_output_namer(b, body_inputs)
    state_out: List[str] = []
    for key, val in carried:
        if isinstance(val, dict):
            state_out += [fresh_out(new_state[key][slot]) for slot in val]
        else:
            state_out.append(fresh_out(new_state[key]))
    scan_keys = names.time_series()
    scan_out = [fresh_out(mems[names.node_of(k)] if k.startswith("mem:") else values[k]) for k in scan_keys]
    out_vi = [helper.make_tensor_value_info(cond_out, TensorProto.BOOL, [])]
    out_vi += [helper.make_tensor_value_info(nm, b.elem, _dims(shp, "B")) for nm, shp in zip(state_out, flat_shapes)]
    out_vi += [helper.make_tensor_value_info(nm, b.elem, _dims(plan.out_shapes.get(names.node_of(k)), "B"))
               for nm, k in zip(scan_out, scan_keys)]
    body = helper.make_graph(b.nodes, "step", body_inputs, out_vi)
    b.nodes = outer_nodes
    b.scope = "loop"
    trip = b.op("Gather", x_shape, b.i64("loop/index0", 0), axis=0)
    cond = b.const("loop/true", np.array(True))
    finals = [b.fresh(f"loop/final{i}") for i in range(len(state_out))]
    loop_outs = finals + [names.stacked_name(k) for k in scan_keys]
    b.nodes.append(helper.make_node("Loop", [trip, cond] + flat_init, loop_outs, name="loop", body=body))
    return trip


def _loop_carried_inputs(plan: _Plan, b: Builder, carried: List[Tuple[Any, Any]]):
    """The Loop body's inputs: ``iter``, ``cond_in``, then one per carried state tensor (a
    neuron's slots, a back edge's previous value). Returns ``(body inputs, state as the step
    reads it, initial values, shapes)``, the last two flat in carried order."""
    from onnx import TensorProto, helper

    body_inputs = [helper.make_tensor_value_info("iter", TensorProto.INT64, []),
                   helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])]
    b.names.update(("iter", "cond_in"))
    state_in: Dict[Any, Any] = {}
    flat_init: List[str] = []
    flat_shapes: List[Tuple[int, ...]] = []

    def carry(base: str, init: str, shape) -> str:
        nm = b.fresh(base)
        flat_init.append(init)
        flat_shapes.append(shape)
        body_inputs.append(helper.make_tensor_value_info(nm, b.elem, _dims(shape, "B")))
        return nm

    for key, val in carried:
        label = key if isinstance(key, str) else f"prev/{key[1]}"
        shape = plan.params[key]["shape"] if isinstance(key, str) else plan.out_shapes[key[1]]
        if isinstance(val, dict):
            state_in[key] = {slot: carry(f"state_in/{label}/{slot}", init, shape) for slot, init in val.items()}
        else:
            state_in[key] = carry(f"state_in/{label}", val, shape)
    return body_inputs, state_in, flat_init, flat_shapes


def _body_output_namer(b: Builder, body_inputs: List[Any]):
    """A Loop body output must be a value of its own: a body input, an outer value or one
    already output passes through an ``Identity``."""
    seen: Set[str] = set(n.name for n in body_inputs) | {"x"}

    def fresh_out(v: str) -> str:
        if v in seen or v.startswith(("state_in/", "init/")) or any(v == i.name for i in b.inits):
            v = b.op("Identity", v)
        seen.add(v)
        return v

    return fresh_out


def _emit_time_reduced(plan: _Plan, b: Builder, names: _OutputNames, trip: Optional[str]) -> None:
    """Time-reduced nodes and everything after them: once, after the last step, on the stacked values."""
    post_values: Dict[str, str] = {}
    for name in plan.post_order:
        b.scope = name
        total = None
        for src in plan.inputs[name]:
            v = post_values[src] if src in post_values else names.stacked[src]
            total = v if total is None else b.op("Add", total, v)
        total = _reduce_time(plan, b, name, total, trip)
        y, _, _ = plan.rules[name].emit(b, total, plan.params[name], None)
        if name in names.readouts:
            y = b.op("Identity", y, out=names.readouts[name])
        post_values[name] = y


def _reduce_time(plan: _Plan, b: Builder, name: str, total: str, trip: Optional[str]) -> str:
    red = plan.reductions.get(name)
    if red in ("mean", "sum"):
        total = b.op("ReduceSum", total, b.i64(f"{name}/axes", [0]), keepdims=0)
        if red == "mean":  # torch's CPU mean: the sum, divided by T
            total = b.op("Div", total, b.op("Cast", trip, to=b.elem) if plan.loop else b.param(name, "T", float(plan.steps)))
    elif red == "last":
        total = b.op("Gather", total, b.i64(f"{name}/last", -1), axis=0)
    elif red == "max":
        total = b.reduce_max0(total)
    return total


def _model(plan: _Plan, b: Builder, names: _OutputNames):
    """The ModelProto: input ``x [T, B, *input_shape]``, then spikes, readouts and membranes."""
    from onnx import helper

    tdim: Any = "T" if plan.loop else plan.steps
    x_vi = helper.make_tensor_value_info("x", b.elem, [tdim, "B", *plan.in_shape] if plan.in_shape is not None else None)
    graph_outputs = []
    for n in names.spiking:
        shp = plan.out_shapes[n]
        dims = None if shp is None else [tdim, "B", *shp]
        graph_outputs.append(helper.make_tensor_value_info(names.stacked[n], b.elem, dims))
    for n in names.output_nodes:
        shp = plan.out_shapes.get(n)
        dims = None if shp is None else (["B", *shp] if n in plan.post else [tdim, "B", *shp])
        graph_outputs.append(helper.make_tensor_value_info(names.readouts[n], b.elem, dims))
    for n, nm in names.membranes.items():
        graph_outputs.append(helper.make_tensor_value_info(nm, b.elem, [tdim, "B", *plan.params[n]["shape"]]))
    g = helper.make_graph(b.nodes, "snnexport", [x_vi], graph_outputs, initializer=b.inits)
    opsets = [helper.make_opsetid("", b.opset)]
    from .. import __version__

    model = helper.make_model(g, opset_imports=opsets, producer_name="snnexport", producer_version=__version__,
                              doc_string="Exported by snnexport from a NIR graph; see docs/onnx.md")
    model.ir_version = helper.find_min_ir_version_for(opsets)
    return model


def _set_metadata(exp: Exported) -> None:
    """What the outputs mean, under ``snnexport.*`` model properties (read back by :func:`outputs_of`)."""
    from onnx import helper

    meta = {"form": exp.form, "steps": "" if exp.steps is None else str(exp.steps), "dtype": exp.dtype,
            "spikes": json.dumps(exp.spikes), "readouts": json.dumps(exp.readouts), "membranes": json.dumps(exp.membranes),
            "adapters": json.dumps(exp.adapters), "input_layout": "TB (time-major [T, B, ...])"}
    helper.set_model_props(exp.model, {META_PREFIX + k: v for k, v in meta.items()})


def _check_model(onnx: Any, model: Any) -> None:
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 — our bug, but say it in one line
        raise SnnexportError(f"exported ONNX model fails onnx.checker ({' '.join(str(e).split())[:300]})") from None


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
