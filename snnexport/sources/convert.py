"""PyTorch SNN -> NIR graph, by running the model once and recording its data flow.

Why run instead of ``torch.fx``: SNN forwards loop over time with Python ints taken from
shapes, keep state in modules and return tuples; symbolic tracing breaks on all three.
We call the model on a small sample input with

* a forward hook on every *leaf* module (one with a conversion rule): its first tensor
  argument is its input, its output becomes the output of its NIR node(s);
* a ``TorchFunctionMode`` that sees the tensor operations *between* leaves and tracks
  where each tensor came from (a sum of NIR node outputs): ``a + b`` becomes two incoming
  edges (SEW residuals), ``x[t]``/``torch.stack`` move between time-major and single-step
  views, ``x.mean(dim=time)`` marks a time reduction (readout), ``flatten`` becomes a NIR
  Flatten node. Any other operation on a tracked tensor is an error naming it.

A module called at every time step (snnTorch loops) maps to one node; its input sources
must be the same at every call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import nir
import numpy as np
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from ..errors import SnnexportError, UnsupportedModuleError
from ..extension import SPIKING_TYPES, GraphExt, KEY, node_ext, set_node_ext
from . import registry
from .frameworks import to_source_layout
from .neurons import neuron_nodes
from .torch_layers import Parallel, avg_pool2d_node, max_pool2d_nodes


# ---------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Value:
    """Provenance of a tensor: the sum of the outputs of ``terms`` (NIR node names).

    ``layout``: ``T`` (has a time dim at ``tdim`` and a batch dim), ``S`` (one step,
    ``[B, ...]``), ``R`` (reduced over time, ``[B, ...]``). ``pending``: a time reduction
    applied by a functional op that the consuming node must carry. ``state_of``: the tensor
    is internal state of that node (membrane etc.), not data.
    """

    terms: Tuple[str, ...]
    layout: str
    tdim: int = 0
    pending: Optional[str] = None
    state_of: Optional[str] = None
    step: Optional[int] = None  # S: the time step it belongs to (None: the same at every step)
    count: int = 0              # A: how many consecutive steps (0..step) were summed


# More layouts, beyond T/S/R: ``M`` (batch and time merged, ``[T*B, ...]`` when ``tdim == 0``,
# ``[B*T, ...]`` when 1: ``x.flatten(0, 1)`` before a conv), ``U`` (a per-step value with a
# size-1 time dim at ``tdim``, about to be repeated over time: ``x.unsqueeze(0).repeat(T, ...)``),
# ``A`` (a running sum over time in a Python variable: ``acc = acc + spk``).


def feature_shape(t: torch.Tensor, v: Value) -> Tuple[int, ...]:
    lead = 2 if v.layout in ("T", "U") else 1
    return tuple(int(s) for s in t.shape[lead:])


@dataclass
class RuleContext:
    """What a layer rule may know about the call it converts."""

    path: str
    in_shape: Tuple[int, ...]
    out_shape: Tuple[int, ...]
    leading_dims: int
    dt: float
    converter: "Converter"
    module: nn.Module
    time_reduction: Optional[str] = None
    input_value: Optional[Value] = None

    def input_bound(self) -> Optional[int]:
        """The input holds integers in ``[0, bound]`` (spikes: 1), or ``None`` (unknown/analog)."""
        return self.converter.int_bound(self.input_value) if self.input_value is not None else None

    def convert_child(self, child: nn.Module, attr: str = "", time_reduction: Optional[str] = None):
        """Apply the rule of an inner module (e.g. the Conv2d inside a ConvBlock)."""
        rule = registry.layer_rule(child)
        if rule is None:
            raise UnsupportedModuleError(f"{self.path}.{attr}: no rule for inner module of type {type(child).__name__}")
        if time_reduction:
            self.time_reduction = time_reduction
        sub = RuleContext(f"{self.path}.{attr}" if attr else self.path, self.in_shape, self.out_shape,
                          self.leading_dims, self.dt, self.converter, child)
        return rule(child, sub)


# ---------------------------------------------------------------------------- tracer

_PASSTHROUGH = {
    "float", "double", "half", "to", "contiguous", "clone", "detach", "type", "cpu", "requires_grad_",
    "type_as", "detach_", "__deepcopy__",
}
_SHAPE_ONLY = {"size", "dim", "__len__", "numel", "shape", "__get__", "ndim", "device", "dtype", "is_floating_point",
               "data_ptr", "element_size", "__format__", "__repr__", "tolist", "item", "__bool__", "grad_fn",
               "requires_grad", "__hash__", "is_leaf", "__index__", "is_contiguous", "untyped_storage", "storage_offset",
               "stride", "get_device", "is_sparse", "layout", "names", "__reduce_ex__", "_is_view", "is_complex"}
_FRESH = {"zeros_like", "ones_like", "empty_like", "full_like", "new_zeros", "new_ones",
          "new_empty", "new_full", "new_tensor"}
# Random draws from a signal: an encoder inside forward (snnTorch spikegen.rate, Poisson input)
_RANDOM = {"bernoulli", "bernoulli_", "poisson", "rand_like", "randn_like", "randint_like", "normal", "multinomial",
           "exponential_", "uniform_", "normal_"}
_ADD = {"add", "__add__", "__radd__", "__iadd__", "add_"}
_MUL = {"mul", "__mul__", "__rmul__", "__imul__", "mul_", "multiply"}
_DIV = {"div", "__truediv__", "__itruediv__", "div_", "true_divide", "divide"}
_RELU = {"relu", "relu_", "threshold"}  # F.relu dispatches as relu
_REDUCE = {"mean": "mean", "sum": "sum", "amax": "max", "max": "max"}
_COMPARE = {"gt", "ge", "lt", "le", "__gt__", "__ge__", "__lt__", "__le__", "greater", "greater_equal", "heaviside",
            "where", "sub", "__sub__", "__rsub__", "sub_", "__isub__"}
_NEAREST = ("supported between modules: +, c*x, x[t], out[t] = ..., stack/cat, mean/sum over time (or a running "
            "sum divided by T), flatten/view/reshape (also flatten(0, 1) around a layer), max_pool2d, avg_pool2d, relu of spikes")


class _Recorder(TorchFunctionMode):
    def __init__(self, conv: "Converter"):
        super().__init__()
        self.conv = conv

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.conv.depth == 0:
            self.conv.before_op(func, args, kwargs)
        out = func(*args, **kwargs)
        if self.conv.depth == 0:
            self.conv.on_op(func, args, kwargs, out)
        return out


def _tensors(obj) -> List[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _caller_encoder() -> Optional[str]:
    """The framework encoder function on the Python stack (e.g. ``snntorch.spikegen.rate``), if any."""
    import inspect

    outermost = None  # the encoder the user called, not the helper it calls (spikegen.rate -> rate_conv)
    for frame in inspect.stack(context=0)[2:]:
        mod = frame.frame.f_globals.get("__name__", "")
        if mod.startswith(("snntorch.spikegen", "norse.torch.functional.encode", "norse.torch.module.encode",
                           "spikingjelly.activation_based.encoding")):
            outermost = f"{mod}.{frame.function}"
    return outermost


def _is_number(o) -> bool:
    return isinstance(o, (int, float)) and not isinstance(o, bool)


class Converter:
    def __init__(self, model: nn.Module, dt: float, layout: str, steps: int = 0, batch: int = 0):
        self.model = model
        self.dt = float(dt)
        self.layout = layout
        self.steps = steps    # T of the traced sample (0: one step per call)
        self.batch = batch
        self.static_steps: Optional[int] = None  # T of a static input repeated inside forward
        self.loop_steps = 0  # most calls of one neuron in a loop over a static input
        self.depth = 0
        self.values: Dict[int, Tuple[torch.Tensor, Value]] = {}
        self.nodes: Dict[str, nir.NIRNode] = {}
        self.edges: List[Tuple[str, str]] = []
        self.module_io: Dict[int, tuple] = {}  # id -> (input terms, entry node, exit nodes, time reduction)
        self.calls: Dict[int, int] = {}  # id(module) -> completed calls (a neuron's k-th call is step k)
        self.paths = {id(m): p for p, m in model.named_modules()}
        self.stack: List[Tuple[nn.Module, Optional[Value]]] = []
        self.flatten_count = 0
        self.functional: Dict[tuple, Tuple[str, ...]] = {}  # op key -> exit nodes (an op repeated each step)
        self.buffers: Dict[int, tuple] = {}  # id(buffer) -> (buffer, tdim, {step: Value}) for out[t] = ...
        self.zero_operands: set = set()  # untracked all-zero operands of the add being recorded
        self.fresh_state: List[str] = []  # neurons handed a state tensor created inside forward

    @property
    def total_steps(self) -> int:
        """Steps of the traced run: the sample's T, or the steps of a static input repeated inside forward."""
        return self.static_steps or self.loop_steps or self.steps

    # -- value bookkeeping
    def get(self, t) -> Optional[Value]:
        if not isinstance(t, torch.Tensor):
            return None
        hit = self.values.get(id(t))
        if hit is not None and hit[0] is t:
            return hit[1]
        buf = self.buffers.get(id(t))
        if buf is not None and buf[0] is t:
            return self._buffer_value(buf)
        return None

    def put(self, t: torch.Tensor, v: Value) -> None:
        self.values[id(t)] = (t, v)  # keeping t alive prevents id reuse

    def add_node(self, name: str, node: nir.NIRNode, path: Optional[str]) -> str:
        base, i = name or "node", 1
        while name in self.nodes or name in ("input", "output"):
            name = f"{base}_{i}"
            i += 1
        if path is not None:
            set_node_ext(node, source_path=path)
        self.nodes[name] = node
        return name

    def int_bound(self, v: Value) -> Optional[int]:
        """``v`` holds integers in ``[0, bound]``: the sum of spiking outputs (1 each), or ``None``."""
        if v.pending or v.state_of or v.layout == "A" or not v.terms:
            return None
        total = 0
        for term in v.terms:
            b = self._node_bound(term, 0)
            if b is None:
                return None
            total += b
        return total

    def _node_bound(self, name: str, depth: int) -> Optional[int]:
        node = self.nodes.get(name)
        if node is None or depth > 50 or node_ext(node).get("time_reduction"):
            return None  # the model input: its values are whatever the user feeds
        tname = type(node).__name__
        if tname in SPIKING_TYPES or tname == "Threshold":
            return 1
        if tname == "Flatten":
            bounds = [self._node_bound(a, depth + 1) for a, b in self.edges if b == name]
            return None if not bounds or None in bounds else sum(bounds)
        return None

    def _settle(self, v: Value, where: str) -> Value:
        """A running sum over time (``A``) used as data: the sum over all steps (a ``sum`` readout)."""
        if v.layout != "A":
            return v
        total = self.total_steps
        if v.step != v.count - 1 or (total and v.count != total):
            raise SnnexportError(f"{where}: a running sum over time of {', '.join(v.terms)} covers {v.count} of "
                                 f"{total} steps; only a sum over every step is a readout (sum all steps, or index x[t])")
        return Value(v.terms, "R", 0, "sum")

    # -- hooks on leaf modules
    def pre_hook(self, module, args, kwargs):
        if self.depth > 0:
            self.stack.append((module, None))
            self.depth += 1
            return
        path = self.paths.get(id(module), type(module).__name__)
        reason = registry.unsupported_reason(module)
        if reason is not None or not registry.is_leaf(module):
            raise UnsupportedModuleError(
                f"module {path!r} of type {type(module).__module__}.{type(module).__qualname__} is not supported"
                # a known module's reason names its rewrite; the whole list would bury it
                + (f": {reason} (README 'Supported modules')" if reason
                   else f"; supported types: {', '.join(_short(registry.supported_types()))}"))
        ins = _tensors(list(args) + list(kwargs.values()))
        v = self.get(ins[0]) if ins else None
        if v is None or v.state_of is not None:
            raise SnnexportError(f"module {path!r}: its first tensor argument does not come from the model input "
                                 f"(a constant or state made inside forward); feed it the output of another module")
        if v.layout == "U":
            raise SnnexportError(f"module {path!r}: its input has a size-1 time dimension; repeat it over time "
                                 f"(x.unsqueeze(0).repeat(T, ...)) or feed one step")
        if registry.neuron_rule(module) is not None and any(self.get(t) is None for t in ins[1:]):
            self.fresh_state.append(path)  # state made inside this call (mem = lif.init_leaky() in forward)
        self.stack.append((module, self._settle(v, f"module {path!r}")))
        self.depth += 1

    def post_hook(self, module, args, kwargs, output):
        self.depth -= 1
        mod, v = self.stack.pop()
        if v is None:
            return
        path = self.paths.get(id(module), type(module).__name__)
        x = _tensors(list(args) + list(kwargs.values()))[0]
        spec_rule = registry.neuron_rule(module)
        if spec_rule is not None:
            spec = spec_rule(module)
            main = output[spec.output_index] if spec.output_index is not None else output
            self._check_neuron_input(module, path, spec, v)
        else:
            spec, main = None, output
        if not isinstance(main, torch.Tensor):
            raise SnnexportError(f"module {path!r}: expected a tensor output, got {type(main).__name__}")
        call = self.calls.get(id(module), 0)
        self.calls[id(module)] = call + 1
        if spec is not None and call >= 1 and v.layout == "S" and self.layout in ("step", "static"):
            self._see_loop(call + 1)  # a neuron stepped in a loop over one input frame: a static input
        known = self.module_io.get(id(module))
        if known is None:
            entry, exits, reduction = self._convert_module(module, path, spec, x, main, v)
            self.module_io[id(module)] = (v.terms, entry, exits, reduction)
        else:
            terms, entry, exits, reduction = known
            if terms != v.terms:
                raise SnnexportError(f"module {path!r} is called with different inputs ({', '.join(terms)} vs "
                                     f"{', '.join(v.terms)}); a module must be used in one place of the network "
                                     f"(make one module per use)")
        step = call if spec is not None else v.step  # a neuron's k-th call is step k; layers keep their input's step
        if exits is None:  # identity
            out_v = Value(v.terms, v.layout, v.tdim, v.pending, step=v.step)
        elif reduction or v.pending:
            out_v = Value(exits, "R")
        else:
            out_v = Value(exits, v.layout, v.tdim, step=step if v.layout == "S" else None)
        self.put(main, out_v)
        for t in _tensors(output):
            if t is not main and self.get(t) is None:
                self.put(t, Value((), v.layout, v.tdim, state_of=exits[0] if exits else entry))

    def _check_neuron_input(self, module, path: str, spec, v: Value) -> None:
        if v.layout == "M":
            raise SnnexportError(f"neuron {path!r} is called on a tensor whose batch and time dimensions are merged "
                                 f"([T*B, ...]); reshape it back to [T, B, ...] (or index x[t]) before the neuron")
        if v.layout == "R":
            raise SnnexportError(f"neuron {path!r} is called on a value reduced over time; a neuron runs at every step")
        one_step = spec.framework == "snntorch" or (spec.framework == "norse" and type(module).__name__.endswith("Cell"))
        if one_step and v.layout == "T":
            raise SnnexportError(
                f"neuron {path!r} ({type(module).__name__}) takes one time step per call but got the whole "
                f"{'[T, B, ...]' if v.tdim == 0 else '[B, T, ...]'} input (converted with input layout "
                f"{self.layout!r}); loop over x[t] in forward, or convert with --input-layout step if the model is "
                f"called once per step")

    def _convert_module(self, module, path, spec, x, out, v: Value):
        in_shape, out_shape = feature_shape(x, v), feature_shape(out, v)
        if spec is not None:
            if in_shape != out_shape and spec.input_weight is None:
                raise SnnexportError(f"neuron {path!r}: output shape {out_shape} differs from input shape {in_shape}")
            made = neuron_nodes(spec, out_shape, self.dt, path)
            name = self.add_node(path, made[0][1], path)
            extras = dict(made[1:])
            entry = name
            if "in" in extras:  # a cell that projects its own input (Norse LILinearCell): input -> in -> neuron
                entry = self.add_node(f"{path}.in", extras.pop("in"), path)
                self.edges.append((entry, name))
            self._connect(v, entry)
            for suffix, extra in extras.items():
                rec = self.add_node(f"{path}.{suffix}", extra, path)
                self.edges += [(name, rec), (rec, name)]
            return entry, (name,), None
        rule = registry.layer_rule(module)
        lead = 2 if v.layout == "T" else 1
        ctx = RuleContext(path, in_shape, out_shape, lead, self.dt, self, module, input_value=v)
        result = rule(module, ctx)
        if ctx.time_reduction and v.layout == "R":
            raise SnnexportError(f"module {path!r}: reduces over time an input that has no time dimension")
        if result is None or (isinstance(result, (list, tuple)) and not result):
            if ctx.time_reduction:
                raise SnnexportError(f"module {path!r}: an identity rule cannot carry a time reduction")
            return None, None, None
        entry, exits = self.place(result, v, path, path, ctx.time_reduction)
        return entry, exits, ctx.time_reduction

    def place(self, result, v: Value, name: str, path: Optional[str], reduction: Optional[str] = None):
        """Add a rule's result (a node, a chain, or :class:`Parallel` chains whose outputs sum),
        fed by ``v``. Returns (first node, exit nodes)."""
        chains = [list(c) for c in result] if isinstance(result, Parallel) else \
            [list(result) if isinstance(result, (list, tuple)) else [result]]
        entry, exits = None, []
        for ci, chain in enumerate(chains):
            names = []
            for i, node in enumerate(chain):
                suffix = (f".{ci}" if len(chains) > 1 else "") + (f".{i}" if i else "")
                names.append(self.add_node(f"{name}{suffix}", node, path))
            if reduction:
                set_node_ext(self.nodes[names[0]], time_reduction=reduction)
            self._connect(v, names[0])
            self.edges += list(zip(names[:-1], names[1:]))
            entry = entry or names[0]
            exits.append(names[-1])
        return entry, tuple(exits)

    def _connect(self, v: Value, target: str) -> None:
        if v.pending:
            ext = node_ext(self.nodes[target])
            if ext.get("time_reduction") not in (None, v.pending):
                raise SnnexportError(f"node {target!r}: two different time reductions of its input")
            set_node_ext(self.nodes[target], time_reduction=v.pending)
        for term in v.terms:
            self.edges.append((term, target))

    def _functional(self, key: tuple, src: Value, build, name: str) -> Value:
        """One NIR node (or chain) for a functional op; the same op on the same input at every
        step (inside a time loop) maps to the same node."""
        full = key + (src.terms, src.layout, src.pending)
        exits = self.functional.get(full)
        if exits is None:
            _, exits = self.place(build(), src, name, None)
            self.functional[full] = exits
        if src.pending:
            return Value(exits, "R")
        return Value(exits, src.layout, src.tdim, step=src.step)

    # -- functional ops between leaves
    def before_op(self, func, args, kwargs) -> None:
        """In-place writes must be seen before they happen (``out[t] = spk``)."""
        name = getattr(func, "__name__", str(func))
        if name == "__setitem__" and len(args) == 3:
            self._setitem(args[0], args[1], args[2])
        elif name in _ADD:  # an in-place add overwrites its left operand: see whether it was all zeros first
            self.zero_operands = {id(a) for a in args if isinstance(a, torch.Tensor) and self.get(a) is None
                                  and not a.is_complex() and bool(torch.all(a == 0))}

    def on_op(self, func, args, kwargs, out) -> None:
        name = getattr(func, "__name__", str(func))
        if name == "__setitem__":
            return  # handled in before_op
        ins = [(t, self.get(t)) for t in _tensors(list(args) + list(kwargs.values()))]
        traced = [(t, v) for t, v in ins if v is not None]
        if not traced:
            return
        if name in _SHAPE_ONLY:
            return
        if name in _RANDOM:
            self._refuse_random(name, traced[0][1])
        if not _tensors(out) or name in _FRESH:
            if name.endswith("_") and name not in ("requires_grad_", "detach_") and not _tensors(out):
                raise UnsupportedModuleError(f"in-place operation {name} on the output of "
                                             f"{', '.join(traced[0][1].terms) or 'the input'} is not supported")
            return
        values = [v for _, v in traced]
        if any(v.state_of for v in values):
            if all(v.state_of for v in values):  # bookkeeping on state (e.g. recording membranes)
                for t in _tensors(out):
                    self.put(t, Value((), values[0].layout, values[0].tdim, state_of=values[0].state_of))
                return
            raise SnnexportError(f"operation {name} mixes the state of node {values[0].state_of or values[-1].state_of!r} "
                                 f"with data (neuron arithmetic written inline in forward); only spikes/outputs may "
                                 f"flow between modules: put the neuron maths in a module with a rule "
                                 f"(snnexport.register_neuron)")
        src_t, src = traced[0]
        if name in _PASSTHROUGH:
            self.put(out, src)
        elif name in _ADD:
            self._add(name, args, kwargs, out, traced)
        elif name in _MUL:
            self._mul(name, args, kwargs, out, traced)
        elif name in _DIV:
            self._div(name, args, kwargs, out, traced)
        elif name in _RELU:
            self._relu(name, args, out, src)
        elif name in ("__getitem__", "select", "unbind"):
            self._index(name, args, kwargs, out, src_t, src)
        elif name in ("stack", "cat", "concat", "concatenate"):
            self._stack(name, args, kwargs, out, traced)
        elif name in _REDUCE:
            self._reduce(name, args, kwargs, out, src_t, self._settle(src, f"operation {name}"))
        elif name in ("flatten", "view", "reshape", "unflatten"):
            self._reshape(name, out, src_t, src)
        elif name in ("unsqueeze", "repeat", "expand", "expand_as"):
            self._broadcast_time(name, args, out, src_t, src)
        elif name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
            self._max_pool(name, args, kwargs, out, src_t, src)
        elif name == "avg_pool2d":
            self._avg_pool(name, args, kwargs, out, src_t, src)
        else:
            self._refuse(name, src)

    def _refuse(self, name: str, src: Value):
        if _caller_encoder():  # inside spikegen.rate & co: name the call the user wrote
            self._refuse_random(name, src)
        where = ", ".join(src.terms) or "the model input"
        if name in _COMPARE:
            raise UnsupportedModuleError(
                f"operation torch.{name} on the output of {where}: neuron arithmetic written inline in forward "
                f"(a spike function or reset) has no rule; put the neuron in its own nn.Module and teach it with "
                f"snnexport.register_neuron, or use a framework neuron")
        raise UnsupportedModuleError(f"operation torch.{name} on the output of {where} is not supported by the "
                                     f"converter; {_NEAREST}")

    def _refuse_random(self, name: str, src: Value):
        enc = _caller_encoder()
        what = enc or f"torch.{name}"  # the encoder's first traced op (clamp, ...) is not what the user wrote
        raise UnsupportedModuleError(
            f"{what} inside forward draws random numbers from {', '.join(src.terms) or 'the input'}: a random encoder "
            f"can never be exact; move it into the data pipeline (encode x with it before calling the model, "
            f"e.g. spikes = spikegen.rate(x, num_steps=T), and convert the model that takes [T, B, ...] spikes)")

    def _add(self, name, args, kwargs, out, traced):
        others = [a for a in list(args) + list(kwargs.values()) if self.get(a) is None]
        for o in others:
            zero = (_is_number(o) and o == 0) or id(o) in self.zero_operands  # e.g. acc = torch.zeros_like(spk)
            if not zero and (isinstance(o, torch.Tensor) or _is_number(o)):
                raise UnsupportedModuleError(
                    f"operation {name}: adds a constant or a tensor made inside forward (not from the input) to the "
                    f"output of {', '.join(traced[0][1].terms)}; NIR has no bias-only node: fold the constant into "
                    f"the preceding layer's bias, or keep neuron maths inside a neuron module")
        vals = [v for _, v in traced]
        if len(vals) == 2 and (vals[1].layout == "A" or (vals[0].step is not None and vals[1].step is not None
                                                         and vals[1].step < vals[0].step)):
            vals = vals[::-1]  # acc = spk + acc: the running sum first
        if len(vals) == 2 and vals[0].terms == vals[1].terms and vals[0].layout in ("S", "A") \
                and vals[1].layout == "S" and vals[0].step is not None and vals[1].step == vals[0].step + 1:
            count = vals[0].count if vals[0].layout == "A" else 1
            self.put(out, Value(vals[0].terms, "A", 0, step=vals[1].step, count=count + 1))  # acc = acc + spk[t]
            return
        if len(vals) == 1 and vals[0].layout == "A":
            self.put(out, vals[0])
            return
        vals = [self._settle(v, f"operation {name}") for v in vals]
        lay = {(v.layout, v.tdim if v.layout in ("T", "M") else 0, v.pending) for v in vals}
        if len(lay) != 1:
            raise SnnexportError(f"operation {name}: adds tensors of different time layouts ({sorted(lay)})")
        steps = {v.step for v in vals if v.layout == "S"}
        if len(steps) > 1 and None not in steps:
            raise SnnexportError(f"operation {name}: adds outputs of different time steps ({sorted(steps)}); "
                                 f"only a running sum over all steps (a readout) is supported")
        terms = tuple(t for v in vals for t in v.terms)
        if len(set(terms)) != len(terms):
            raise UnsupportedModuleError(f"operation {name}: adds the output of {terms[0]} to itself; write 2 * x")
        step = next(iter(steps)) if len(steps) == 1 else None
        self.put(out, Value(terms, vals[0].layout, vals[0].tdim, vals[0].pending, step=step))

    def _scalar_operand(self, name, args, kwargs, traced) -> float:
        if len(traced) != 1:
            raise UnsupportedModuleError(f"operation {name} of two signals ({', '.join(t for _, v in traced for t in v.terms)}) "
                                         f"has no NIR node; only multiplication by a constant number is supported")
        others = [a for a in list(args) + list(kwargs.values()) if self.get(a) is None]
        num = [o for o in others if _is_number(o) or (isinstance(o, torch.Tensor) and o.numel() == 1)]
        if len(others) != 1 or not num:
            raise UnsupportedModuleError(f"operation {name} by a tensor constant is not supported (only a number: "
                                         f"c * x, x / c)")
        return float(num[0])

    def _mul(self, name, args, kwargs, out, traced):
        c = self._scalar_operand(name, args, kwargs, traced)
        src = self._settle(traced[0][1], f"operation {name}")
        if c == 1.0:
            self.put(out, src)
            return
        shape = feature_shape(out, src)
        self.put(out, self._functional(("scale", c, shape), src,
                                       lambda: nir.Scale(scale=np.full(shape, c, dtype=np.float64)), "scale"))

    def _div(self, name, args, kwargs, out, traced):
        if self.get(args[0]) is None:
            raise UnsupportedModuleError(f"operation {name}: dividing a number by a signal has no NIR node")
        c = self._scalar_operand(name, args, kwargs, traced)
        src = traced[0][1]
        if src.layout == "A":
            src = self._settle(src, f"operation {name}")
        if src.layout == "R" and src.pending == "sum" and c == (self.total_steps or -1):
            self.put(out, Value(src.terms, "R", 0, "mean"))  # sum over T steps / T: the time mean
            return
        raise UnsupportedModuleError(
            f"operation {name} of the output of {', '.join(src.terms)} by {c:g}: only a sum over all "
            f"{self.total_steps or 'T'} steps divided by that T (the time mean) is exact; write c * x "
            f"(NIR Scale) with c = 1/{c:g} (rounds differently), or fold the factor into the next layer")

    def _relu(self, name, args, out, src):
        if name == "threshold" and not (len(args) >= 3 and args[1] == 0 and args[2] == 0):
            self._refuse(name, src)
        if src.layout != "A" and self.int_bound(src) is not None:
            self.put(out, src)  # spikes (and integer sums of spikes) are >= 0: relu is the identity
            return
        raise UnsupportedModuleError(f"operation {name} on the output of {', '.join(src.terms) or 'the input'}: relu "
                                     f"of analog values has no NIR node (it is the identity only on spikes); "
                                     f"use an nn.ReLU module (converted exactly as the relu extension), or drop it")

    def _setitem(self, buf, idx, val) -> None:
        v = self.get(val)
        bv = self.get(buf) if id(buf) not in self.buffers else None
        if bv is not None:
            raise UnsupportedModuleError(f"in-place write x[...] = ... into the output of {', '.join(bv.terms) or 'the input'} "
                                         f"is not supported; build a new tensor (torch.stack) instead")
        if v is None:
            return
        idx_t = idx if isinstance(idx, tuple) else (idx,)
        pos = [i for i, e in enumerate(idx_t) if not (isinstance(e, slice) and e == slice(None))]
        ok = len(pos) == 1 and pos[0] in (0, 1) and isinstance(idx_t[pos[0]], int) and v.layout == "S" \
            and buf.dim() == val.dim() + 1
        if not ok:
            raise UnsupportedModuleError(f"write out[{idx}] = (output of {', '.join(v.terms) or 'state'}) is not "
                                         f"supported; only per-step results written as out[t] = x (or out[:, t] = x) "
                                         f"into a [T, B, ...] buffer")
        tdim = pos[0]
        t = idx_t[tdim] % buf.shape[tdim]
        entry = self.buffers.get(id(buf))
        if entry is None or entry[0] is not buf:
            entry = (buf, tdim, {})
            self.buffers[id(buf)] = entry
        if v.step is not None and v.step != t:
            raise UnsupportedModuleError(f"write out[{t}] = output of {', '.join(v.terms)} at step {v.step}: a buffer "
                                         f"must hold step t at position t")
        entry[2][t] = v

    def _buffer_value(self, entry) -> Value:
        buf, tdim, writes = entry
        vals = list(writes.values())
        if any(v.state_of for v in vals):
            return Value((), "T", tdim, state_of=next(v.state_of for v in vals if v.state_of))
        T = buf.shape[tdim]
        if sorted(writes) != list(range(T)) or len({(v.terms, v.pending) for v in vals}) != 1:
            raise UnsupportedModuleError(f"a [T, B, ...] buffer filled by out[t] = ... is used with steps "
                                         f"{sorted(writes)} of {T} written (or from different sources); write every step")
        return Value(vals[0].terms, "T", tdim, vals[0].pending)

    def _index(self, name, args, kwargs, out, src_t, src):
        if src.layout != "T":
            raise UnsupportedModuleError(
                f"operation {name} on a tensor without a time dimension (from {', '.join(src.terms) or 'the input'}) is "
                f"not supported{self._layout_hint()}")
        if name == "__getitem__":
            idx = args[1]
            idx = idx if isinstance(idx, tuple) else (idx,)
            pos = [i for i, e in enumerate(idx) if not (isinstance(e, slice) and e == slice(None))]
            ok = len(pos) == 1 and pos[0] == src.tdim and isinstance(idx[pos[0]], int)
            steps = [idx[pos[0]] % src_t.shape[src.tdim]] if ok else []
        else:
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            ok = dim in (src.tdim, src.tdim - src_t.dim())
            steps = list(range(src_t.shape[src.tdim])) if ok else []  # unbind: every step
        if not ok:
            raise UnsupportedModuleError(f"operation {name} that does not select one time step (from "
                                         f"{', '.join(src.terms) or 'the input'}) is not supported{self._layout_hint()}")
        if name == "select":
            steps = [int(args[2] if len(args) > 2 else kwargs.get("index")) % src_t.shape[src.tdim]]
        for t, step in zip(_tensors(out), steps):
            self.put(t, Value(src.terms, "S", 0, src.pending, step=step))

    def _layout_hint(self) -> str:
        want = {"TB": "[T, B, ...]", "BT": "[B, T, ...]", "step": "one step [B, ...] per call",
                "static": "one frame [B, ...] repeated inside forward"}.get(self.layout, self.layout)
        return (f" (converted with input layout {self.layout!r}: the model gets {want}; if it takes another layout, "
                f"pass --input-layout TB, BT or step)")

    def _stack(self, name, args, kwargs, out, traced):
        vals = [self._settle(v, f"operation {name}") for _, v in traced]
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if name != "stack":
            self._cat(name, dim, out, traced, vals)
            return
        if any(v.layout != "S" for v in vals) or len({(v.terms, v.pending) for v in vals}) != 1:
            raise UnsupportedModuleError(f"operation {name}: only stacking the steps of one output over time is "
                                         f"supported (torch.stack of x[t] for every t)")
        steps = [v.step for v in vals]
        if None not in steps and steps != list(range(len(steps))):
            raise UnsupportedModuleError(f"operation stack of steps {steps}: stack every step in order")
        if dim not in (0, 1):
            raise UnsupportedModuleError(f"operation stack(dim={dim}) is not supported; stack steps along dim 0 or 1")
        if None in steps and self.layout == "step":
            self._see_static(len(vals))
        self.put(out, Value(vals[0].terms, "T", int(dim), vals[0].pending))

    def _cat(self, name, dim, out, traced, vals):
        """``torch.cat`` along the first feature dim: each part placed by a 0/1 Linear (or 1x1 Conv2d)
        into its slice, the parts summed by the consumer (exact: every output is one input
        plus exact zeros)."""
        v0 = vals[0]
        if len({(v.layout, v.tdim, v.pending) for v in vals}) != 1 or v0.layout not in ("T", "S", "R", "M"):
            raise UnsupportedModuleError(f"operation {name}: concatenates tensors of different time layouts")
        steps = {v.step for v in vals}
        if v0.layout == "S" and len(steps) > 1 and None not in steps:
            raise UnsupportedModuleError(f"operation {name}: concatenates outputs of different time steps")
        t0 = traced[0][0]
        lead = 2 if v0.layout == "T" else 1
        d = dim % t0.dim()
        if d != lead:
            raise UnsupportedModuleError(
                f"operation {name}(dim={dim}) is not supported: only concatenation along the first feature "
                f"(channel) dimension, dim={lead}, is exact in NIR (as placement layers)")
        shapes = [tuple(int(s) for s in t.shape[lead:]) for t, _ in traced]
        total = sum(s[0] for s in shapes)
        terms, off = [], 0
        for (t, v), shp in zip(traced, shapes):
            n = shp[0]
            if len(shp) == 1:
                w = np.zeros((total, n))
                w[off + np.arange(n), np.arange(n)] = 1.0
                build = lambda w=w: nir.Linear(weight=w)  # noqa: E731
            elif len(shp) == 3:
                w = np.zeros((total, n, 1, 1))
                w[off + np.arange(n), np.arange(n), 0, 0] = 1.0
                build = lambda w=w, shp=shp: nir.Conv2d(input_shape=shp[1:], weight=w, stride=(1, 1), padding=(0, 0),  # noqa: E731
                                                        dilation=(1, 1), groups=1, bias=np.zeros(total))
            else:
                raise UnsupportedModuleError(f"operation {name} of per-sample shape {shp} is not supported "
                                             f"(only [N] features or [C, H, W] channels)")
            placed = self._functional(("cat", off, total, shp), self._settle(v, name), build, "cat")
            terms += placed.terms
            off += n
        step = next(iter(steps)) if len(steps) == 1 else None
        self.put(out, Value(tuple(terms), "R" if v0.pending else v0.layout, v0.tdim, step=step))

    def _reduce(self, name, args, kwargs, out, src_t, src):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if isinstance(dim, (tuple, list)) and len(dim) == 1:
            dim = dim[0]
        if src.layout != "T" or dim is None or dim not in (src.tdim, src.tdim - src_t.dim()) or kwargs.get("keepdim"):
            raise UnsupportedModuleError(f"operation {name}(dim={dim}) is not supported: only a reduction over the time dimension")
        main = out[0] if isinstance(out, tuple) else out  # max returns (values, indices)
        self.put(main, Value(src.terms, "R", 0, _REDUCE[name]))

    def _reshape(self, name, out, src_t, src):
        src = self._settle(src, f"operation {name}")
        if src.layout in ("T", "M") and out.dim() != src_t.dim():
            merged = self._merge_split(name, out, src_t, src)
            if merged is not None:
                src, src_t = merged
                if src.layout == "T":
                    src_shape = out.shape[:2] + src_t.shape[1:]
                    in_f, out_f = tuple(src_shape[2:]), tuple(out.shape[2:])
                    if in_f == out_f or len(out_f) == 1:
                        self._feature_reshape(name, out, in_f, out_f, src)
                        return
                    raise UnsupportedModuleError(f"operation {name} to per-sample shape {out_f} is not supported")
                self.put(out, src)
                return
        lead = 2 if src.layout == "T" else 1
        if tuple(out.shape[:lead]) != tuple(src_t.shape[:lead]):
            raise UnsupportedModuleError(
                f"operation {name} merges or splits batch/time dimensions of the output of {', '.join(src.terms) or 'the input'} "
                f"in a way the converter cannot follow (supported: x.flatten(0, 1) -> layers -> x.reshape(T, B, ...))"
                f"{self._layout_hint()}")
        self._feature_reshape(name, out, tuple(src_t.shape[lead:]), tuple(out.shape[lead:]), src)

    def _feature_reshape(self, name, out, in_f, out_f, src):
        if in_f == out_f:
            self.put(out, src)
            return
        if len(out_f) != 1:
            raise UnsupportedModuleError(f"operation {name} to per-sample shape {out_f} is not supported (only flattening)")

        def build():
            self.flatten_count += 1
            return nir.Flatten(input_type={"input": np.array(in_f)}, start_dim=0, end_dim=-1)

        self.put(out, self._functional(("flatten", in_f), src, build, f"flatten_{self.flatten_count + 1}"))

    def _merge_split(self, name, out, src_t, src):
        """``[T, B, ...] -> [T*B, ...]`` (layout M) and back. Returns (value, tensor-like shape source) or None."""
        if src.layout == "T" and out.dim() >= 2 and out.shape[0] == src_t.shape[0] * src_t.shape[1] \
                and tuple(out.shape[1:]) == tuple(src_t.shape[2:]):
            return Value(src.terms, "M", src.tdim, src.pending), out
        if src.layout == "M" and out.dim() >= 3 and out.shape[0] * out.shape[1] == src_t.shape[0]:
            tpos = 0 if src.tdim == 0 else 1
            if self.steps and out.shape[tpos] != self.steps:
                raise UnsupportedModuleError(f"operation {name}: splits a merged [T*B, ...] tensor into "
                                             f"{tuple(out.shape[:2])}, which does not put the {self.steps} steps back "
                                             f"at dim {tpos}")
            return Value(src.terms, "T", src.tdim, src.pending), src_t
        return None

    def _broadcast_time(self, name, args, out, src_t, src):
        """A per-step value repeated over time: ``x.unsqueeze(0).repeat(T, 1, ...)``, ``expand``."""
        static_ok = src.layout == "S" and src.step is None and src.terms == ("input",) and not src.pending
        if name == "unsqueeze" and static_ok:
            dim = args[1] if len(args) > 1 else 0
            if dim in (0, 1):
                self.put(out, Value(src.terms, "U", int(dim)))
                return
        if name in ("repeat", "expand", "expand_as") and (static_ok or src.layout == "U"):
            shape, got = tuple(src_t.shape), tuple(out.shape)
            if src.layout == "U":  # the size-1 time dim grows to T, nothing else changes
                tdim = src.tdim
                ok = len(got) == len(shape) and got[:tdim] + got[tdim + 1:] == shape[:tdim] + shape[tdim + 1:]
            else:  # x.repeat(T, 1, ...) / x.expand(T, *x.shape): a new leading time dim
                tdim = 0
                ok = len(got) == len(shape) + 1 and got[1:] == shape
            if ok:
                self._see_static(int(out.shape[tdim]))
                self.put(out, Value(src.terms, "T", tdim))
                return
        if src.layout == "T" and src.terms == ("input",):
            raise UnsupportedModuleError(
                f"operation {name} of the model input: it looks like a static frame repeated over time inside "
                f"forward, but the input was given as {self.layout!r} [T, B, ...]; convert with --input-layout step "
                f"(one frame [B, ...] per call: snnexport then records a static input)")
        self._refuse(name, src)

    def _see_loop(self, calls: int) -> None:
        if self.static_steps is not None and calls > self.static_steps:
            raise UnsupportedModuleError(f"a neuron is stepped {calls} times but the input is repeated over "
                                         f"{self.static_steps} steps")
        self.layout = "static"
        self.loop_steps = max(calls, self.loop_steps)

    def _see_static(self, steps: int) -> None:
        if self.layout not in ("step", "static"):
            raise UnsupportedModuleError(f"the model repeats a per-step value over {steps} steps inside forward; "
                                         f"only the model input can be repeated (a static input, --input-layout step)")
        if self.static_steps not in (None, steps):
            raise UnsupportedModuleError(f"the input is repeated over {self.static_steps} and {steps} steps")
        self.static_steps = steps
        self.layout = "static"

    def _max_pool(self, name, args, kwargs, out, src_t, src):
        if src.layout in ("T", "U", "A", "R"):
            raise UnsupportedModuleError(f"operation {name} on the output of {', '.join(src.terms) or 'the input'} with "
                                         f"layout {src.layout}: pool one step [B, C, H, W] (or a flatten(0, 1) tensor)")
        names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
        defaults = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}
        params = dict(defaults)
        params.update(dict(zip(names, args[1:])))
        params.update({k: v for k, v in kwargs.items() if k in names})
        main = out[0] if isinstance(out, tuple) else out
        if name == "max_pool2d_with_indices":
            params["return_indices"] = True
        in_shape, out_shape = feature_shape(src_t, src), feature_shape(main, src)
        bound = self.int_bound(src)
        key = ("max_pool2d", tuple(str(params[k]) for k in names), in_shape)
        made = max_pool2d_nodes(f"operation {name} on the output of {', '.join(src.terms) or 'the input'}", in_shape,
                                out_shape, params["kernel_size"], params["stride"], params["padding"],
                                params["dilation"], params["ceil_mode"], params["return_indices"], bound)
        self.put(main, self._functional(key, src, lambda: made, "max_pool2d"))

    def _avg_pool(self, name, args, kwargs, out, src_t, src):
        """``F.avg_pool2d`` between modules: the same NIR node as ``nn.AvgPool2d``."""
        where = f"operation {name} on the output of {', '.join(src.terms) or 'the input'}"
        if src.layout in ("T", "U", "A", "R"):
            raise UnsupportedModuleError(f"{where} with layout {src.layout}: pool one step [B, C, H, W] "
                                         f"(or a flatten(0, 1) tensor)")
        names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
        params = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True, "divisor_override": None}
        params.update(dict(zip(names, args[1:])))
        params.update({k: v for k, v in kwargs.items() if k in names})
        made = avg_pool2d_node(where, feature_shape(src_t, src), feature_shape(out, src), *(params[k] for k in names))
        key = ("avg_pool2d", tuple(str(params[k]) for k in names), feature_shape(src_t, src))
        self.put(out, self._functional(key, src, lambda: made, "avg_pool2d"))



def _short(names: Sequence[str]) -> List[str]:
    return [n.split(".")[-1] if n.startswith("torch.nn.") else n for n in names]


# ---------------------------------------------------------------------------- driver

@dataclass
class ConvertOptions:
    dt: float = 1e-3
    input_layout: str = "TB"
    input_shape: Tuple[int, ...] = ()
    input_kind: str = "spikes"
    steps: int = 8
    framework: str = "torch"
    framework_version: str = ""
    fold_batchnorm: bool = True
    extra: Dict[str, Any] = field(default_factory=dict)
    layout_guessed: bool = False  # not given: a model that fails to trace is retried with step <-> TB


def sample_input(opts: ConvertOptions, steps: int = 3, batch: int = 2, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    shape = (steps, batch, *opts.input_shape)
    x = (torch.rand(shape, generator=g, dtype=dtype) < 0.5).to(dtype) if opts.input_kind == "spikes" \
        else torch.randn(shape, generator=g, dtype=dtype)
    return x


def trace_to_nir(model: nn.Module, opts: ConvertOptions) -> nir.NIRGraph:
    """Convert an eval-mode model; see the module docstring for how.

    When the input layout was only guessed (no ``input_layout`` saved or given: the
    framework's default, else ``TB``) and the model cannot be traced with it, the other
    layouts are tried in turn (``TB``, ``step`` -- a static frame if forward repeats it --,
    ``BT``); the first that traces wins. Otherwise the first error that is about more than
    the layout is raised. The converted graph is then run once the way ``verify`` runs the
    source model, so that a wrong layout fails here, naming the layout, not later in verify."""
    from dataclasses import replace

    tries = [opts] + ([replace(opts, input_layout=lay) for lay in ("TB", "step", "BT") if lay != opts.input_layout]
                      if opts.layout_guessed else [])
    errors = []
    for attempt in tries:
        try:
            graph = _trace(model, attempt)
            break
        except (SnnexportError, RuntimeError, IndexError, ValueError, TypeError) as e:
            errors.append((e, attempt))
    else:
        # a torch crash on the sample, or our own layout complaint, is only a layout symptom
        is_layout = lambda e: not isinstance(e, SnnexportError) or "input layout" in str(e) \
            or "--input-layout" in str(e)  # noqa: E731
        e, attempt = next(((e, a) for e, a in errors if not is_layout(e)), errors[0])
        raise _layout_error(e, attempt) from None
    _dry_run(model, graph, opts)
    return graph


def _layout_error(e: Exception, opts: ConvertOptions) -> SnnexportError:
    if isinstance(e, SnnexportError):
        return e
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    want = {"TB": "[T, B, ...]", "BT": "[B, T, ...]", "step": "one step [B, ...] per call",
            "static": "one frame [B, ...]"}.get(opts.input_layout, opts.input_layout)
    return SnnexportError(f"running the model on a sample in input layout {opts.input_layout!r} ({want}, per-sample "
                          f"shape {list(opts.input_shape)}) failed: {type(e).__name__}: {first}; check --input-layout "
                          f"(TB, BT or step) and --input-shape")


def _dry_run(model: nn.Module, graph: nir.NIRGraph, opts: ConvertOptions) -> None:
    """Run source and reference on a small input the way verify does; shapes must agree."""
    from ..extension import graph_ext
    from ..simulators.reference import simulate
    from ..simulators.source import run_source_model

    ext = graph_ext(graph)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    x = sample_input(opts, steps=int(ext.default_steps), batch=3, dtype=dtype)
    if ext.input_layout == "static":
        x = x[:1].expand(x.shape[0], *x.shape[1:]).contiguous()
    try:
        src = run_source_model(model, graph, x)
        ref = simulate(graph, x, dtype)
    except (RuntimeError, IndexError, ValueError, TypeError) as e:
        raise _layout_error(e, replace_layout(opts, ext.input_layout)) from None
    for name, r in ref.readout.items():
        got = src.readout.get(name)
        if got is None or got.shape != r.shape:
            raise SnnexportError(
                f"the converted graph's output has shape {list(r.shape)} but the model returns "
                f"{None if got is None else list(got.shape)} when run with input layout {ext.input_layout!r} on "
                f"[T={x.shape[0]}, B={x.shape[1]}] input; check --input-layout (TB, BT or step)")


def replace_layout(opts: ConvertOptions, layout: str) -> ConvertOptions:
    from dataclasses import replace

    return replace(opts, input_layout=layout)


def _trace(model: nn.Module, opts: ConvertOptions) -> nir.NIRGraph:
    from .. import __version__
    from .frameworks import load_rules_for, reset_state

    load_rules_for(model)  # only the frameworks this model uses (no Norse import for a plain-torch model)
    steps = int(opts.steps) if 1 <= int(opts.steps) <= 64 else 8
    batch = 3 if steps == 2 else 2  # T != B, so merged [T*B, ...] tensors can be told apart
    per_call = opts.input_layout in ("step", "static")
    conv = Converter(model, opts.dt, opts.input_layout, 0 if per_call else steps, batch)
    hooks = []

    def walk(module: nn.Module):
        if registry.is_leaf(module) or not list(module.children()):
            hooks.append(module.register_forward_pre_hook(conv.pre_hook, with_kwargs=True))
            hooks.append(module.register_forward_hook(conv.post_hook, with_kwargs=True))
            return
        for child in module.children():
            walk(child)

    walk(model)
    x = sample_input(opts, steps=steps, batch=batch, dtype=next((p.dtype for p in model.parameters()), torch.float32))
    try:
        reset_state(model)
        with torch.no_grad(), _Recorder(conv):
            if per_call:
                xin = x[0]
                conv.put(xin, Value(("input",), "S"))
                out = model(xin)
            else:
                xin = to_source_layout(x, opts.input_layout)
                conv.put(xin, Value(("input",), "T", 1 if opts.input_layout == "BT" else 0))
                out = model(xin)
    finally:
        for h in hooks:
            h.remove()
        reset_state(model)
    layout, default_steps = conv.layout, int(opts.steps)
    if opts.input_layout == "static" and layout == "static" and not conv.total_steps:
        raise SnnexportError("input layout 'static' but forward neither repeats its input over time nor steps a "
                             "neuron in a loop; use --input-layout step")
    if layout == "static":
        default_steps = conv.total_steps
    if layout == "step" and conv.fresh_state:
        raise SnnexportError(
            f"neuron {conv.fresh_state[0]!r} gets a fresh state at every call (e.g. mem = lif.init_leaky() inside "
            f"forward) while the model is called once per time step, so it forgets its membrane between steps; "
            f"create the state once outside the time loop (or use init_hidden=True), or loop over the steps inside "
            f"forward")
    outs = [(t, conv.get(t)) for t in _tensors(out)]
    data = [(t, v) for t, v in outs if v is not None and v.state_of is None]
    if not data:
        raise SnnexportError("the model's output does not depend on its input through supported modules")
    out_t, out_v = data[0]
    out_v = conv._settle(out_v, "the model output")
    if out_v.layout in ("M", "U"):
        raise SnnexportError("the model output has merged batch/time dimensions (or a size-1 time dim); reshape it "
                             "to [T, B, ...] before returning it")
    if layout == "static" and out_v.layout == "S":
        raise SnnexportError("the model steps over a static input but returns only one step; return every step "
                             "(torch.stack(spk_rec)) or a time reduction (sum/mean over time)")
    nodes = dict(conv.nodes)
    nodes["input"] = nir.Input(input_type={"input": np.array(opts.input_shape, dtype=np.int64)})
    out_shape = feature_shape(out_t, out_v)
    nodes["output"] = nir.Output(output_type={"output": np.array(out_shape, dtype=np.int64)})
    edges = list(dict.fromkeys(conv.edges))  # de-duplicate, keep order
    edges += [(t, "output") for t in out_v.terms]
    if out_v.pending:
        set_node_ext(nodes["output"], time_reduction=out_v.pending)
    if opts.fold_batchnorm:
        nodes, edges = fold_batchnorm(nodes, edges)
    ext = GraphExt(dt=opts.dt, source_framework=opts.framework, source_framework_version=opts.framework_version,
                   input_layout=layout, input_kind=opts.input_kind, input_shape=tuple(opts.input_shape),
                   default_steps=default_steps, snnexport_version=__version__, extra=dict(opts.extra))
    try:
        graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: ext.to_meta()})
    except ValueError as e:
        raise SnnexportError(f"converted graph fails NIR type checking: {str(e).splitlines()[0]}") from None
    return graph


def fold_batchnorm(nodes: Dict[str, nir.NIRNode], edges: List[Tuple[str, str]]):
    """Fold a BatchNorm node into the Conv2d/Affine/Linear that alone feeds it (and feeds
    nothing else). Exact in real arithmetic; float results differ by rounding only."""
    def succ(n):
        return [b for a, b in edges if a == n]

    def pred(n):
        return [a for a, b in edges if b == n]

    for name in list(nodes):
        node = nodes.get(name)
        bn = node_ext(node).get("batchnorm") if node is not None else None
        if bn is None:
            continue
        p = pred(name)
        if len(p) != 1 or p[0] not in nodes or succ(p[0]) != [name] or node_ext(nodes[name]).get("time_reduction"):
            continue
        prev = nodes[p[0]]
        if node_ext(prev).get("op"):  # an extension op (transposed conv): its metadata weight is the one run
            continue
        scale, shift = np.asarray(bn["scale"]), np.asarray(bn["shift"])
        if isinstance(prev, (nir.Conv2d, nir.Conv1d)):
            shape = (-1,) + (1,) * (prev.weight.ndim - 1)
            prev.weight = prev.weight * scale.reshape(shape)
            prev.bias = prev.bias * scale + shift
        elif isinstance(prev, nir.Affine):
            prev.weight = prev.weight * scale[:, None]
            prev.bias = prev.bias * scale + shift
        elif isinstance(prev, nir.Linear):
            new = nir.Affine(weight=prev.weight * scale[:, None], bias=shift.copy(), metadata=prev.metadata)
            nodes[p[0]] = prev = new
        else:
            continue
        set_node_ext(prev, folded_batchnorm=node_ext(node).get("source_path", name))
        edges = [(p[0] if a == name else a, b) for a, b in edges if b != name]
        del nodes[name]
    return nodes, edges
