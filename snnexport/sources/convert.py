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
from ..extension import GraphExt, KEY, node_ext, set_node_ext
from . import registry
from .neurons import neuron_nodes


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


def feature_shape(t: torch.Tensor, v: Value) -> Tuple[int, ...]:
    lead = 2 if v.layout == "T" else 1
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
_FRESH = {"zeros_like", "ones_like", "empty_like", "rand_like", "randn_like", "full_like", "new_zeros", "new_ones",
          "new_empty", "new_full", "new_tensor"}
_ADD = {"add", "__add__", "__radd__", "__iadd__", "add_"}
_REDUCE = {"mean": "mean", "sum": "sum", "amax": "max", "max": "max"}


class _Recorder(TorchFunctionMode):
    def __init__(self, conv: "Converter"):
        super().__init__()
        self.conv = conv

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
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


class Converter:
    def __init__(self, model: nn.Module, dt: float, layout: str):
        self.model = model
        self.dt = float(dt)
        self.layout = layout
        self.depth = 0
        self.values: Dict[int, Tuple[torch.Tensor, Value]] = {}
        self.nodes: Dict[str, nir.NIRNode] = {}
        self.edges: List[Tuple[str, str]] = []
        self.module_io: Dict[int, tuple] = {}  # id -> (input terms, entry node, exit node, time reduction)
        self.paths = {id(m): p for p, m in model.named_modules()}
        self.stack: List[Tuple[nn.Module, Optional[Value]]] = []
        self.flatten_count = 0

    # -- value bookkeeping
    def get(self, t) -> Optional[Value]:
        if not isinstance(t, torch.Tensor):
            return None
        hit = self.values.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else None

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
                f"{': ' + reason if reason else ''}; supported types: {', '.join(_short(registry.supported_types()))}"
            )
        ins = _tensors(list(args) + list(kwargs.values()))
        v = self.get(ins[0]) if ins else None
        if v is None or v.state_of is not None:
            raise SnnexportError(f"module {path!r}: its first tensor argument does not come from the model input")
        self.stack.append((module, v))
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
        else:
            spec, main = None, output
        if not isinstance(main, torch.Tensor):
            raise SnnexportError(f"module {path!r}: expected a tensor output, got {type(main).__name__}")
        known = self.module_io.get(id(module))
        if known is None:
            entry, exit_, reduction = self._convert_module(module, path, spec, x, main, v)
            self.module_io[id(module)] = (v.terms, entry, exit_, reduction)
        else:
            terms, entry, exit_, reduction = known
            if terms != v.terms:
                raise SnnexportError(f"module {path!r} is called with different inputs ({terms} vs {v.terms}); "
                                     f"a module must be used in one place of the network")
        if exit_ is None:  # identity
            out_v = v
        elif reduction:
            out_v = Value((exit_,), "R")
        else:
            out_v = Value((exit_,), v.layout, v.tdim)
        self.put(main, out_v)
        for t in _tensors(output):
            if t is not main and self.get(t) is None:
                self.put(t, Value((), v.layout, v.tdim, state_of=exit_ or entry))

    def _convert_module(self, module, path, spec, x, out, v: Value):
        in_shape, out_shape = feature_shape(x, v), feature_shape(out, v)
        if spec is not None:
            if in_shape != out_shape:
                raise SnnexportError(f"neuron {path!r}: output shape {out_shape} differs from input shape {in_shape}")
            made = neuron_nodes(spec, out_shape, self.dt, path)
            name = self.add_node(path, made[0][1], path)
            self._connect(v, name)
            for suffix, extra in made[1:]:
                rec = self.add_node(f"{path}.{suffix}", extra, path)
                self.edges += [(name, rec), (rec, name)]
            return name, name, None
        rule = registry.layer_rule(module)
        lead = 2 if v.layout == "T" else 1
        ctx = RuleContext(path, in_shape, out_shape, lead, self.dt, self, module)
        result = rule(module, ctx)
        chain = [] if result is None else (list(result) if isinstance(result, (list, tuple)) else [result])
        if ctx.time_reduction and v.layout == "R":
            raise SnnexportError(f"module {path!r}: reduces over time an input that has no time dimension")
        if not chain:
            if ctx.time_reduction:
                raise SnnexportError(f"module {path!r}: an identity rule cannot carry a time reduction")
            return None, None, None
        names = []
        for i, node in enumerate(chain):
            names.append(self.add_node(path if i == 0 else f"{path}.{i}", node, path))
        if ctx.time_reduction:
            set_node_ext(self.nodes[names[0]], time_reduction=ctx.time_reduction)
        self._connect(v, names[0])
        self.edges += list(zip(names[:-1], names[1:]))
        return names[0], names[-1], ctx.time_reduction

    def _connect(self, v: Value, target: str) -> None:
        if v.pending:
            ext = node_ext(self.nodes[target])
            if ext.get("time_reduction") not in (None, v.pending):
                raise SnnexportError(f"node {target!r}: two different time reductions of its input")
            set_node_ext(self.nodes[target], time_reduction=v.pending)
        for term in v.terms:
            self.edges.append((term, target))

    # -- functional ops between leaves
    def on_op(self, func, args, kwargs, out) -> None:
        ins = [(t, self.get(t)) for t in _tensors(list(args) + list(kwargs.values()))]
        traced = [(t, v) for t, v in ins if v is not None]
        if not traced:
            return
        name = getattr(func, "__name__", str(func))
        if name in _SHAPE_ONLY or not _tensors(out):
            return
        if name in _FRESH:
            return
        values = [v for _, v in traced]
        if any(v.state_of for v in values):
            if all(v.state_of for v in values):  # bookkeeping on state (e.g. recording membranes)
                for t in _tensors(out):
                    self.put(t, Value((), values[0].layout, values[0].tdim, state_of=values[0].state_of))
                return
            raise SnnexportError(f"operation {name} mixes the state of node {values[0].state_of or values[-1].state_of!r} "
                                 f"with data; only spikes/outputs may flow between modules")
        src_t, src = traced[0]
        if name in _PASSTHROUGH:
            self.put(out, src)
        elif name in _ADD:
            self._add(name, args, kwargs, out, traced)
        elif name in ("__getitem__", "select", "unbind"):
            self._index(name, args, kwargs, out, src_t, src)
        elif name in ("stack", "cat"):
            self._stack(name, args, kwargs, out, traced)
        elif name in _REDUCE:
            self._reduce(name, args, kwargs, out, src_t, src)
        elif name in ("flatten", "view", "reshape", "unflatten"):
            self._reshape(name, out, src_t, src)
        else:
            where = ", ".join(src.terms) or "the model input"
            raise UnsupportedModuleError(
                f"operation torch.{name} on the output of {where} is not supported by the converter; "
                f"supported between modules: +, x[t], stack, mean/sum over time, flatten"
            )

    def _add(self, name, args, kwargs, out, traced):
        others = [a for a in list(args) + list(kwargs.values()) if self.get(a) is None]
        for o in others:
            if isinstance(o, torch.Tensor) or (isinstance(o, (int, float)) and o != 0):
                raise UnsupportedModuleError(
                    f"operation {name}: adding a constant to the output of {', '.join(traced[0][1].terms)} is not supported")
        vals = [v for _, v in traced]
        lay = {(v.layout, v.tdim if v.layout == "T" else 0, v.pending) for v in vals}
        if len(lay) != 1:
            raise SnnexportError(f"operation {name}: adds tensors of different time layouts ({sorted(lay)})")
        terms = tuple(t for v in vals for t in v.terms)
        self.put(out, Value(terms, vals[0].layout, vals[0].tdim, vals[0].pending))

    def _index(self, name, args, kwargs, out, src_t, src):
        if src.layout != "T":
            raise UnsupportedModuleError(f"operation {name} on a tensor without a time dimension (from {', '.join(src.terms)}) is not supported")
        if name == "__getitem__":
            idx = args[1]
            idx = idx if isinstance(idx, tuple) else (idx,)
            pos = [i for i, e in enumerate(idx) if not (isinstance(e, slice) and e == slice(None))]
            ok = len(pos) == 1 and pos[0] == src.tdim and isinstance(idx[pos[0]], int)
        else:
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            ok = dim in (src.tdim, src.tdim - src_t.dim())
        if not ok:
            raise UnsupportedModuleError(f"operation {name} that does not select one time step (from {', '.join(src.terms)}) is not supported")
        for t in _tensors(out):
            self.put(t, Value(src.terms, "S", 0, src.pending))

    def _stack(self, name, args, kwargs, out, traced):
        vals = [v for _, v in traced]
        if any(v.layout != "S" for v in vals) or len({v.terms for v in vals}) != 1:
            raise UnsupportedModuleError(f"operation {name}: only stacking the steps of one output over time is supported")
        dim = kwargs.get("dim", args[1] if len(args) > 1 else 0)
        if name == "cat" or dim not in (0, 1):
            raise UnsupportedModuleError(f"operation {name}(dim={dim}) is not supported; stack steps along dim 0 or 1")
        self.put(out, Value(vals[0].terms, "T", int(dim), vals[0].pending))

    def _reduce(self, name, args, kwargs, out, src_t, src):
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if isinstance(dim, (tuple, list)) and len(dim) == 1:
            dim = dim[0]
        if src.layout != "T" or dim is None or dim not in (src.tdim, src.tdim - src_t.dim()) or kwargs.get("keepdim"):
            raise UnsupportedModuleError(f"operation {name}(dim={dim}) is not supported: only a reduction over the time dimension")
        main = out[0] if isinstance(out, tuple) else out  # max returns (values, indices)
        self.put(main, Value(src.terms, "R", 0, _REDUCE[name]))

    def _reshape(self, name, out, src_t, src):
        lead = 2 if src.layout == "T" else 1
        if tuple(out.shape[:lead]) != tuple(src_t.shape[:lead]):
            raise UnsupportedModuleError(
                f"operation {name} merges or splits batch/time dimensions of the output of {', '.join(src.terms)}; "
                f"do that inside a module with a rule (see snnexport/examples/spikingrx.py ConvBlock)")
        in_f, out_f = tuple(src_t.shape[lead:]), tuple(out.shape[lead:])
        if in_f == out_f:
            self.put(out, src)
            return
        if len(out_f) != 1:
            raise UnsupportedModuleError(f"operation {name} to per-sample shape {out_f} is not supported (only flattening)")
        node = nir.Flatten(input_type={"input": np.array(in_f)}, start_dim=0, end_dim=-1)
        self.flatten_count += 1
        fname = self.add_node(f"flatten_{self.flatten_count}", node, None)
        self._connect(src, fname)
        self.put(out, Value((fname,), src.layout, src.tdim))


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


def sample_input(opts: ConvertOptions, steps: int = 3, batch: int = 2, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    shape = (steps, batch, *opts.input_shape)
    x = (torch.rand(shape, generator=g, dtype=dtype) < 0.5).to(dtype) if opts.input_kind == "spikes" \
        else torch.randn(shape, generator=g, dtype=dtype)
    return x


def to_source_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """Time-major [T, B, ...] -> what the source model's forward takes."""
    return x.transpose(0, 1).contiguous() if layout == "BT" else x


def trace_to_nir(model: nn.Module, opts: ConvertOptions) -> nir.NIRGraph:
    """Convert an eval-mode model; see the module docstring for how."""
    from .. import __version__
    from .frameworks import load_rules_for, reset_state

    load_rules_for(model)  # only the frameworks this model uses (no Norse import for a plain-torch model)
    conv = Converter(model, opts.dt, opts.input_layout)
    hooks = []

    def walk(module: nn.Module):
        if registry.is_leaf(module) or not list(module.children()):
            hooks.append(module.register_forward_pre_hook(conv.pre_hook, with_kwargs=True))
            hooks.append(module.register_forward_hook(conv.post_hook, with_kwargs=True))
            return
        for child in module.children():
            walk(child)

    walk(model)
    x = sample_input(opts, dtype=next((p.dtype for p in model.parameters()), torch.float32))
    try:
        reset_state(model)
        with torch.no_grad(), _Recorder(conv):
            if opts.input_layout == "step":
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
    outs = [(t, conv.get(t)) for t in _tensors(out)]
    data = [(t, v) for t, v in outs if v is not None and v.state_of is None]
    if not data:
        raise SnnexportError("the model's output does not depend on its input through supported modules")
    out_t, out_v = data[0]
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
                   input_layout=opts.input_layout, input_kind=opts.input_kind, input_shape=tuple(opts.input_shape),
                   default_steps=int(opts.steps), snnexport_version=__version__, extra=dict(opts.extra))
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
