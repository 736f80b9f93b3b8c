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

One small rule per NIR node type lives in :data:`ONNX_RULES` (registered with
:func:`onnx_rule`); a node type without a rule is a one-line :class:`SnnexportError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import click
import nir
import numpy as np

from .cli import model_options
from .errors import SnnexportError, terminal_safe
from . import jsonout
from .extension import SPIKING_TYPES, NeuronExt, graph_ext, neuron_ext, node_op
from .graph import execution_order, incoming, time_reduced_region, validate_graph

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Unsqueeze/ReduceSum with axes as inputs, GreaterOrEqual
# ONNX ops that onnxruntime's CPU provider implements for float32 but not for float64.
ORT_NO_FLOAT64 = ("Conv", "ConvTranspose", "AveragePool")
F64_OPS = ("lower", "cast")
DTYPES = {"float64": np.float64, "float32": np.float32}
META_PREFIX = "snnexport."
SHAPE_PRESERVING = ("Input", "Output", "Scale", "Threshold")
EULER_FORMS = ("euler", "norse", "norse_jump")  # forms with a_mem = dt*tau_mem_inv


def _onnx():
    try:
        import onnx  # noqa: F401
    except ModuleNotFoundError:
        raise SnnexportError("ONNX export needs the 'onnx' package (pip install onnx)") from None
    return onnx


# ---------------------------------------------------------------- builder

class Builder:
    """Emits ONNX nodes into the current graph (the main graph or a Loop body); every
    initializer goes to the main graph (a Loop body reads it from the outer scope)."""

    def __init__(self, dtype: np.dtype, opset: int, f64_ops: str):
        from onnx import TensorProto, helper

        self.helper = helper
        self.np_dtype = np.dtype(dtype)
        self.elem = TensorProto.DOUBLE if self.np_dtype == np.float64 else TensorProto.FLOAT
        self.opset = opset
        self.f64_ops = f64_ops
        self.nodes: List[Any] = []
        self.inits: List[Any] = []
        self.names: Set[str] = set()
        self.scope = ""
        self.adapters: Set[str] = set()
        self.zero_cache: Dict[Tuple, str] = {}
        self.batch_dim: Optional[str] = None  # 1-D int64 tensor [B]

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def op(self, op_type: str, *inputs: str, out: Optional[str] = None, **attrs: Any) -> str:
        y = out if out is not None else self.fresh(f"{self.scope}/{op_type}" if self.scope else op_type)
        if out is not None:
            self.names.add(out)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [y], name=y, **attrs))
        return y

    def const(self, base: str, array: Any, dtype: Any = None) -> str:
        from onnx import numpy_helper

        arr = np.asarray(array, dtype=dtype) if dtype is not None else np.asarray(array)
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.array(arr, order="C"), name))  # keeps 0-d scalars 0-d
        return name

    def cast_param(self, value: Any) -> np.ndarray:
        """A parameter in the export dtype, rounded exactly as ``torch.as_tensor(float64).to(dtype)``."""
        return np.asarray(value, dtype=np.float64).astype(self.np_dtype)

    def param(self, node: str, key: str, value: Any) -> str:
        return self.const(f"{node}/{key}", self.cast_param(value))

    def i64(self, base: str, values: Any) -> str:
        return self.const(base, np.asarray(values, dtype=np.int64))

    def zeros(self, shape: Tuple[int, ...]) -> str:
        """Zeros ``[B, *shape]`` in the export dtype (shared per shape)."""
        from onnx import numpy_helper

        key = tuple(shape)
        if key not in self.zero_cache:
            scope, self.scope = self.scope, "init"
            dims = self.op("Concat", self.batch_dim, self.i64(f"init/shape{list(key)}", list(key)), axis=0)
            zero = numpy_helper.from_array(np.zeros(1, dtype=self.np_dtype))
            self.zero_cache[key] = self.op("ConstantOfShape", dims, value=zero)
            self.scope = scope
        return self.zero_cache[key]

    def reduce_max0(self, x: str) -> str:
        if self.opset >= 18:
            return self.op("ReduceMax", x, self.i64("axes0", [0]), keepdims=0)
        return self.op("ReduceMax", x, axes=[0], keepdims=0)


# ---------------------------------------------------------------- rules

@dataclass
class Ctx:
    name: str
    b: Builder
    dt: float
    in_shape: Optional[Tuple[int, ...]]
    out_shape: Optional[Tuple[int, ...]]


@dataclass
class OnnxRule:
    """``prepare(node, ctx) -> params`` (adds initializers); ``emit(b, x, params, state) ->
    (y, state, membrane)``; ``init(b, params) -> state`` for neurons (zero tensors)."""

    prepare: Callable[[Any, Ctx], Dict[str, Any]]
    emit: Callable[[Builder, str, Dict[str, Any], Any], Tuple[str, Any, Optional[str]]]
    init: Optional[Callable[[Builder, Dict[str, Any]], Dict[str, str]]] = None
    neuron: bool = False
    spiking: bool = False


ONNX_RULES: Dict[str, OnnxRule] = {}


def onnx_rule(*type_names: str, **kw: Any):
    """Register ``fn() -> (prepare, emit[, init])`` as the ONNX rule of NIR node types."""

    def deco(fn):
        parts = fn()
        for t in type_names:
            ONNX_RULES[t] = OnnxRule(*parts, **kw)
        return fn

    return deco


def _stateless(fn):
    return lambda b, x, p, s: (fn(b, x, p), None, None)


def _need_shape(ctx: Ctx, which: str) -> Tuple[int, ...]:
    shape = ctx.in_shape if which == "input" else ctx.out_shape
    if shape is None:
        raise SnnexportError(f"node {ctx.name!r}: {which} shape unknown, the ONNX export needs it")
    return shape


@onnx_rule("Input", "Output")
def _identity():
    return (lambda n, c: {}), _stateless(lambda b, x, p: x)


def _matmul_out(n, c: Ctx) -> Tuple[int, ...]:
    return tuple((c.in_shape or (0,))[:-1]) + (int(np.asarray(n.weight).shape[0]),)


@onnx_rule("Affine")
def _affine():
    def prepare(n, c):
        return {"wt": c.b.param(c.name, "weight_t", np.asarray(n.weight).T), "bias": c.b.param(c.name, "bias", n.bias),
                "_out": _matmul_out(n, c)}

    # torch F.linear(x, W, b): the product, then the bias added to it
    return prepare, _stateless(lambda b, x, p: b.op("Add", b.op("MatMul", x, p["wt"]), p["bias"]))


@onnx_rule("Linear")
def _linear():
    return (lambda n, c: {"wt": c.b.param(c.name, "weight_t", np.asarray(n.weight).T), "_out": _matmul_out(n, c)}), \
        _stateless(lambda b, x, p: b.op("MatMul", x, p["wt"]))


def _scale_prepare(n, c):
    from .extension import _scalar, node_ext

    op = _scalar(node_ext(n).get("op"))
    if op is None:
        return {"s": c.b.param(c.name, "scale", n.scale)}
    ops = {"relu": "Relu", "sigmoid": "Sigmoid"}  # snnexport activation ops (extension)
    if op not in ops:
        raise SnnexportError(f"node {c.name!r}: unknown snnexport op {op!r} on a Scale node (known: {', '.join(ops)})")
    return {"op": ops[op]}


@onnx_rule("Scale")
def _scale():
    return _scale_prepare, _stateless(lambda b, x, p: b.op(p["op"], x) if "op" in p else b.op("Mul", x, p["s"]))


@onnx_rule("Threshold")
def _threshold():
    return (lambda n, c: {"t": c.b.param(c.name, "threshold", n.threshold)}), \
        _stateless(lambda b, x, p: b.op("Cast", b.op("Greater", x, p["t"]), to=b.elem))


@onnx_rule("Flatten")
def _flatten():
    def prepare(n, c):
        shp = _need_shape(c, "input")
        start, end = int(n.start_dim) % len(shp), int(n.end_dim) % len(shp)
        out = list(shp[:start]) + [int(np.prod(shp[start:end + 1]))] + list(shp[end + 1:])
        return {"shape": c.b.i64(f"{c.name}/shape", [0] + out), "_out": tuple(out)}  # 0: keep the batch dim

    return prepare, _stateless(lambda b, x, p: b.op("Reshape", x, p["shape"]))


# ----- convolution and pooling: native, float32 between Casts, or float64 im2col

def _tuple(v: Any, dims: int) -> Tuple[int, ...]:
    return tuple(int(x) for x in np.broadcast_to(np.atleast_1d(np.asarray(v)), (dims,)))


def _pads(padding: Any, kernel, dilation, dims: int) -> Tuple[List[int], List[int]]:
    if isinstance(padding, str):
        if padding == "valid":
            return [0] * dims, [0] * dims
        if padding == "same":  # torch: the odd pixel goes to the end
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            return [t // 2 for t in total], [t - t // 2 for t in total]
        raise SnnexportError(f"padding {padding!r} is not supported")
    p = _tuple(padding, dims)
    return list(p), list(p)


def _window_plan(c: Ctx, kernel, stride, dilation, padding, dims: int, channels: Optional[int] = None) -> Dict[str, Any]:
    """Static facts of a sliding window over a ``[C, *S]`` input, and the im2col indices
    into the flattened padded input: ``idx[k, p]`` = input position of kernel offset ``k``
    (row-major over kernel dims) for output position ``p``."""
    shp = _need_shape(c, "input")
    if len(shp) != dims + 1:
        raise SnnexportError(f"node {c.name!r}: input shape {shp} is not [C, {dims} spatial dims]")
    if channels is not None and shp[0] != channels:
        raise SnnexportError(f"node {c.name!r}: weight expects {channels} input channels, the input has {shp[0]}")
    lo, hi = _pads(padding, kernel, dilation, dims)
    sp = [s + a + z for s, a, z in zip(shp[1:], lo, hi)]
    so = [(s - d * (k - 1) - 1) // st + 1 for s, d, k, st in zip(sp, dilation, kernel, stride)]
    if any(o < 1 for o in so):
        raise SnnexportError(f"node {c.name!r}: window larger than the padded input {sp}")
    koff = np.stack(np.meshgrid(*[np.arange(k) * d for k, d in zip(kernel, dilation)], indexing="ij"), -1).reshape(-1, dims)
    opos = np.stack(np.meshgrid(*[np.arange(o) * st for o, st in zip(so, stride)], indexing="ij"), -1).reshape(-1, dims)
    strides = np.array([int(np.prod(sp[i + 1:])) for i in range(dims)], dtype=np.int64)
    idx = ((koff[:, None, :] + opos[None, :, :]) * strides).sum(-1)
    return {"channels": int(shp[0]), "lo": lo, "hi": hi, "padded": sp, "out": so, "idx": idx.astype(np.int64),
            "k": int(np.prod(kernel)), "p": int(np.prod(so))}


def _im2col(b: Builder, x: str, p: Dict[str, Any]) -> str:
    """``[B, C, *S]`` -> ``[B, C, K, P]`` patches (zero padding)."""
    if any(p["lo"]) or any(p["hi"]):
        x = b.op("Pad", x, p["pads"])
    x = b.op("Reshape", x, p["flat_shape"])
    return b.op("Gather", x, p["idx_name"], axis=2)


def _plan_consts(c: Ctx, plan: Dict[str, Any]) -> Dict[str, Any]:
    plan["pads"] = c.b.i64(f"{c.name}/pads", [0, 0] + plan["lo"] + [0, 0] + plan["hi"])
    plan["flat_shape"] = c.b.i64(f"{c.name}/flat_shape", [0, plan["channels"], int(np.prod(plan["padded"]))])
    plan["idx_name"] = c.b.i64(f"{c.name}/im2col_index", plan["idx"])
    return plan


def _native_or_not(b: Builder, op: str) -> str:
    """``native``, ``cast`` (float32 between Casts) or ``lower`` (float64 decomposition)."""
    if b.np_dtype != np.float64 or op not in ORT_NO_FLOAT64:
        return "native"
    if b.f64_ops == "cast":
        b.adapters.add(f"{op} computed in float32 between Casts (onnxruntime has no float64 {op} kernel)")
        return "cast"
    how = {"Conv": "Pad+Gather(im2col)+MatMul", "ConvTranspose": "zero-upsampling (Unsqueeze+Pad+Reshape)+Pad/Slice+"
           "Gather(im2col)+MatMul of the equivalent convolution"}.get(op, "Pad+Gather(im2col)+ReduceSum+Div")
    b.adapters.add(f"{op} lowered to float64 {how} (onnxruntime has no float64 {op} kernel)")
    return "lower"


def _conv_transpose_prepare(n, c: Ctx, m: Dict[str, Any]) -> Dict[str, Any]:
    """Transposed convolution (:mod:`snnexport.conv_transpose`): ONNX ``ConvTranspose`` on PyTorch's
    weight; in float64 (no onnxruntime kernel) lowered to the zero-upsampling ``U(x)`` (Unsqueeze,
    Pad, Reshape, Pad/Slice) and the node's own NIR convolution as Gather(im2col)+MatMul."""
    from .conv_transpose import upsample_pads, upsampled_shape

    b = c.b
    w_t = m["weight"]
    bias = np.broadcast_to(np.asarray(n.bias, dtype=np.float64), (w_t.shape[1] * m["groups"],))
    shp = _need_shape(c, "input")
    if tuple(shp) != tuple(m["input_shape"]):
        raise SnnexportError(f"node {c.name!r}: input shape {shp} differs from the transposed convolution's "
                             f"{m['input_shape']}")
    mode = _native_or_not(b, "ConvTranspose")
    p: Dict[str, Any] = {"mode": mode, "transposed": True}
    if mode in ("native", "cast"):
        f32 = np.float32 if mode == "cast" else b.np_dtype
        k = list(w_t.shape[2:])
        p.update(w=b.const(f"{c.name}/weight", w_t.astype(f32)), bias=b.const(f"{c.name}/bias", bias.astype(f32)),
                 attrs=dict(kernel_shape=k, strides=list(m["stride"]), dilations=list(m["dilation"]),
                            pads=list(m["padding"]) * 2, output_padding=list(m["output_padding"]), group=m["groups"]))
        return p
    s = m["stride"]
    lo, hi = upsample_pads(m)
    hi = [h - (st - 1) for h, st in zip(hi, s)]  # the reshape below leaves s-1 zeros after the last pixel
    C, H, W = m["input_shape"]
    p["unsq_axes"] = b.i64(f"{c.name}/unsqueeze_axes", [3, 5])
    p["phase_pads"] = b.i64(f"{c.name}/phase_pads", [0] * 9 + [s[0] - 1, 0, s[1] - 1])
    p["up_shape"] = b.i64(f"{c.name}/up_shape", [0, C, H * s[0], W * s[1]])
    p["pads"] = b.i64(f"{c.name}/pads", [0, 0, max(lo[0], 0), max(lo[1], 0), 0, 0, max(hi[0], 0), max(hi[1], 0)])
    full = [H * s[0] + max(lo[0], 0) + max(hi[0], 0), W * s[1] + max(lo[1], 0) + max(hi[1], 0)]
    p["crop"] = None
    if min(lo) < 0 or min(hi) < 0:  # negative pads crop
        starts = [max(-lo[0], 0), max(-lo[1], 0)]
        ends = [full[0] - max(-hi[0], 0), full[1] - max(-hi[1], 0)]
        p["crop"] = (b.i64(f"{c.name}/crop_starts", starts), b.i64(f"{c.name}/crop_ends", ends),
                     b.i64(f"{c.name}/crop_axes", [2, 3]))
    sub = Ctx(c.name, b, c.dt, upsampled_shape(m), c.out_shape)
    conv_prepare, _ = _conv_rule(2, transposed_ok=False)
    p["conv"] = conv_prepare(n, sub)
    p["_out"] = p["conv"]["_out"]
    return p


def _conv_transpose_emit(b: Builder, x: str, p: Dict[str, Any]):
    if p["mode"] == "native":
        return b.op("ConvTranspose", x, p["w"], p["bias"], **p["attrs"]), None, None
    if p["mode"] == "cast":
        y = b.op("ConvTranspose", b.op("Cast", x, to=1), p["w"], p["bias"], **p["attrs"])  # 1 = FLOAT
        return b.op("Cast", y, to=b.elem), None, None
    up = b.op("Reshape", b.op("Pad", b.op("Unsqueeze", x, p["unsq_axes"]), p["phase_pads"]), p["up_shape"])
    up = b.op("Pad", up, p["pads"])
    if p["crop"] is not None:
        up = b.op("Slice", up, *p["crop"])
    _, conv_emit = _conv_rule(2, transposed_ok=False)
    return conv_emit(b, up, p["conv"], None)


def _conv_rule(dims: int, transposed_ok: bool = True):
    def prepare(n, c):
        from .conv_transpose import meta

        m = meta(n) if dims == 2 and transposed_ok else None
        if m is not None:
            return _conv_transpose_prepare(n, c, m)
        w = np.asarray(n.weight, dtype=np.float64)
        kernel = tuple(w.shape[2:])
        stride, dilation, groups = _tuple(n.stride, dims), _tuple(n.dilation, dims), int(n.groups)
        bias = np.asarray(n.bias, dtype=np.float64) if getattr(n, "bias", None) is not None else np.zeros(w.shape[0])
        bias = np.broadcast_to(bias, (w.shape[0],))
        mode = _native_or_not(c.b, "Conv")
        p: Dict[str, Any] = {"mode": mode}
        if mode in ("native", "cast"):
            lo, hi = _pads(n.padding, kernel, dilation, dims)
            f32 = np.float32 if mode == "cast" else c.b.np_dtype
            p.update(w=c.b.const(f"{c.name}/weight", w.astype(f32)), bias=c.b.const(f"{c.name}/bias", bias.astype(f32)),
                     attrs=dict(kernel_shape=list(kernel), strides=list(stride), dilations=list(dilation),
                                pads=lo + hi, group=groups))
            return p
        plan = _plan_consts(c, _window_plan(c, kernel, stride, dilation, n.padding, dims, w.shape[1] * groups))
        if groups > 1:  # dense block-diagonal weight: the extra terms are exact zeros
            og, cg = w.shape[0] // groups, w.shape[1]
            dense = np.zeros((w.shape[0], cg * groups) + kernel)
            for g in range(groups):
                dense[g * og:(g + 1) * og, g * cg:(g + 1) * cg] = w[g * og:(g + 1) * og]
            w = dense
        p.update(plan)
        p["_out"] = (w.shape[0], *plan["out"])
        p["wmat"] = c.b.param(c.name, "weight_im2col", w.reshape(w.shape[0], -1))
        p["bias"] = c.b.param(c.name, "bias", bias.reshape(-1, 1))
        p["cols_shape"] = c.b.i64(f"{c.name}/cols_shape", [0, plan["channels"] * plan["k"], plan["p"]])
        p["out_shape"] = c.b.i64(f"{c.name}/out_shape", [0, w.shape[0]] + plan["out"])
        return p

    def emit(b, x, p, s):
        if p.get("transposed"):
            return _conv_transpose_emit(b, x, p)
        if p["mode"] == "native":
            return b.op("Conv", x, p["w"], p["bias"], **p["attrs"]), None, None
        if p["mode"] == "cast":
            y = b.op("Conv", b.op("Cast", x, to=1), p["w"], p["bias"], **p["attrs"])  # 1 = FLOAT
            return b.op("Cast", y, to=b.elem), None, None
        cols = b.op("Reshape", _im2col(b, x, p), p["cols_shape"])  # [B, C*K, P]
        y = b.op("Add", b.op("MatMul", p["wmat"], cols), p["bias"])  # [B, O, P]: the product, then the bias (torch order)
        return b.op("Reshape", y, p["out_shape"]), None, None

    return prepare, emit


ONNX_RULES["Conv2d"] = OnnxRule(*_conv_rule(2))
ONNX_RULES["Conv1d"] = OnnxRule(*_conv_rule(1))


def _pool_rule(average: bool):
    def prepare(n, c):
        kernel, stride = _tuple(n.kernel_size, 2), _tuple(n.stride, 2)
        padding = _tuple(n.padding, 2)
        if average and node_op(n) == "max_pool2d":  # the max-pooling extension: ONNX MaxPool (pads never win)
            return {"mode": "max", "attrs": dict(kernel_shape=list(kernel), strides=list(stride), pads=list(padding) * 2)}
        mode = _native_or_not(c.b, "AveragePool") if average else "lower"
        p: Dict[str, Any] = {"mode": mode}
        if mode in ("native", "cast"):
            p["attrs"] = dict(kernel_shape=list(kernel), strides=list(stride), pads=list(padding) * 2, count_include_pad=1)
            return p
        plan = _plan_consts(c, _window_plan(c, kernel, stride, (1, 1), padding, 2))
        p.update(plan)
        p["axes"] = c.b.i64(f"{c.name}/axes", [2])
        p["divisor"] = c.b.param(c.name, "divisor", float(plan["k"]))  # torch: sum / (kh*kw), count_include_pad
        p["out_shape"] = c.b.i64(f"{c.name}/out_shape", [0, plan["channels"]] + plan["out"])
        p["_out"] = (plan["channels"], *plan["out"])
        return p

    def emit(b, x, p, s):
        if p["mode"] == "max":
            return b.op("MaxPool", x, **p["attrs"]), None, None
        if p["mode"] == "native":
            return b.op("AveragePool", x, **p["attrs"]), None, None
        if p["mode"] == "cast":
            return b.op("Cast", b.op("AveragePool", b.op("Cast", x, to=1), **p["attrs"]), to=b.elem), None, None
        y = b.op("ReduceSum", _im2col(b, x, p), p["axes"], keepdims=0)  # [B, C, P]
        if average:
            y = b.op("Div", y, p["divisor"])
        return b.op("Reshape", y, p["out_shape"]), None, None

    return prepare, emit


ONNX_RULES["AvgPool2d"] = OnnxRule(*_pool_rule(True))
ONNX_RULES["SumPool2d"] = OnnxRule(*_pool_rule(False))  # divisor_override=1: the plain window sum


# ----- neurons (the reference's neuron_step, op for op)

def _neuron_prepare(node, c: Ctx) -> Dict[str, Any]:
    from .simulators.reference.nodes import _plain_ext  # NIR's own semantics for nodes without our metadata

    ext: NeuronExt = neuron_ext(node, c.name) or _plain_ext(node, c.dt)
    tname = type(node).__name__
    b = c.b
    p: Dict[str, Any] = {"ext": ext, "cuba": tname.startswith("Cuba"), "spiking": tname in SPIKING_TYPES,
                         "shape": _need_shape(c, "output")}
    d = ext.dynamics
    run_params = ext.run_params(b.np_dtype == np.float32)  # k_float32 etc. replace k in a float32 export
    for key in run_params:
        if not (d in EULER_FORMS and key in ("tau_mem_inv", "tau_syn_inv")):
            p[key] = b.param(c.name, key, run_params[key])
    p["has_v_init"] = ext.v_init() is not None
    if d in ("tau", "tau_decay_input", "sigmoid", "sigmoid_decay_input") + EULER_FORMS:
        p["v_leak"] = b.param(c.name, "v_leak", getattr(node, "v_leak", 0.0))
    if d in EULER_FORMS:  # the reference derives these in the run dtype: dt*tau_inv, (-dt)*tau_syn_inv
        dt = b.np_dtype.type(ext.dt)
        p["a_mem"] = b.const(f"{c.name}/a_mem", dt * b.cast_param(ext.params["tau_mem_inv"]))
        if d in ("norse", "norse_jump"):
            p["a_syn"] = b.const(f"{c.name}/a_syn", (-dt) * b.cast_param(ext.params["tau_syn_inv"]))
    if p["spiking"]:
        p["thr"] = b.param(c.name, "v_threshold", node.v_threshold)
        p["v_reset"] = b.param(c.name, "v_reset", node.v_reset)
    p["delayed"] = ext.reset_timing in ("delayed", "delayed_after") and p["spiking"]
    p["after"] = ext.reset_timing == "delayed_after"
    return p


def _dynamics(b: Builder, U: str, J: Optional[str], I: str, p: Dict[str, Any]) -> Tuple[str, Optional[str]]:
    d = p["ext"].dynamics
    if not p["cuba"]:
        if d == "beta":  # beta*U + gain*I
            return b.op("Add", b.op("Mul", p["beta"], U), b.op("Mul", p["gain"], I)), J
        if d == "tau_decay_input":  # U + (gain*I - (U - v_leak)) / tau
            return b.op("Add", U, b.op("Div", b.op("Sub", b.op("Mul", p["gain"], I), b.op("Sub", U, p["v_leak"])), p["tau"])), J
        if d == "tau":  # U - (U - v_leak)/tau + gain*I
            return b.op("Add", b.op("Sub", U, b.op("Div", b.op("Sub", U, p["v_leak"]), p["tau"])), b.op("Mul", p["gain"], I)), J
        if d == "euler":  # U + a_mem*((v_leak - U) + r*I)
            return b.op("Add", U, b.op("Mul", p["a_mem"], b.op("Add", b.op("Sub", p["v_leak"], U), b.op("Mul", p["r"], I)))), J
        if d == "sigmoid_decay_input":  # U + (gain*I - (U - v_leak)) * k
            return b.op("Add", U, b.op("Mul", b.op("Sub", b.op("Mul", p["gain"], I), b.op("Sub", U, p["v_leak"])), p["k"])), J
        if d == "sigmoid":  # U - (U - v_leak)*k + gain*I
            return b.op("Add", b.op("Sub", U, b.op("Mul", b.op("Sub", U, p["v_leak"]), p["k"])), b.op("Mul", p["gain"], I)), J
        if d == "rc":  # ((I*r)*rc_inv)*time_step + decay*U
            inp = b.op("Mul", b.op("Mul", b.op("Mul", I, p["r"]), p["rc_inv"]), p["time_step"])
            return b.op("Add", inp, b.op("Mul", p["decay"], U)), J
    else:
        if d == "beta":  # J = alpha*J + syn_gain*I; U = beta*U + gain*J
            J = b.op("Add", b.op("Mul", p["alpha"], J), b.op("Mul", p["syn_gain"], I))
            return b.op("Add", b.op("Mul", p["beta"], U), b.op("Mul", p["gain"], J)), J
        if d == "norse":  # U = U + a_mem*((v_leak - U) + J); J = J + a_syn*J
            U = b.op("Add", U, b.op("Mul", p["a_mem"], b.op("Add", b.op("Sub", p["v_leak"], U), J)))
            return U, b.op("Add", J, b.op("Mul", p["a_syn"], J))
        if d == "norse_jump":  # Norse 1.1: J = J + syn_gain*I first; then as norse, the membrane sees the new J
            J = b.op("Add", J, b.op("Mul", p["syn_gain"], I))
            U = b.op("Add", U, b.op("Mul", p["a_mem"], b.op("Add", b.op("Sub", p["v_leak"], U), J)))
            return U, b.op("Add", J, b.op("Mul", p["a_syn"], J))
    raise SnnexportError(f"unknown dynamics {d!r}")


def _neuron_init(b: Builder, p: Dict[str, Any]) -> Dict[str, str]:
    z = b.zeros(p["shape"])
    state = {"U": b.op("Add", z, p["v_init"]) if p.get("has_v_init") else z}  # 0 + v_init is exact
    if p["cuba"]:
        state["J"] = z
    if p["delayed"]:
        state["S"] = z
    return state


def _neuron_emit(b: Builder, I: str, p: Dict[str, Any], state: Dict[str, str]):
    ext: NeuronExt = p["ext"]
    U, J = state["U"], state.get("J")
    if p["delayed"] and ext.reset == "value" and not p["after"]:
        U = b.op("Where", b.op("Cast", state["S"], to=9), p["v_reset"], U)  # 9 = BOOL
    U, J = _dynamics(b, U, J, I, p)
    if p["delayed"] and ext.reset == "subtract":
        U = b.op("Sub", U, b.op("Mul", state["S"], p["thr"]))
    if p["delayed"] and ext.reset == "value" and p["after"]:  # reset after the update (snnTorch zero, reset_delay)
        U = b.op("Where", b.op("Cast", state["S"], to=9), p["v_reset"], U)
    if ext.dynamics == "norse" and p["cuba"]:
        J = b.op("Add", J, b.op("Mul", p["syn_gain"], I))  # Norse: the input joins the current after the step
    new = {"U": U}
    if p["cuba"]:
        new["J"] = J
    if not p["spiking"]:
        return U, new, U
    fired = b.op("GreaterOrEqual" if ext.compare == "ge" else "Greater", U, p["thr"])
    S = b.op("Cast", fired, to=b.elem)
    membrane = U
    if not p["delayed"]:
        if ext.reset == "subtract":
            new["U"] = b.op("Sub", U, b.op("Mul", S, p["thr"]))
        elif ext.reset == "value":
            new["U"] = b.op("Where", fired, p["v_reset"], U)
    else:
        new["S"] = S
    return S, new, membrane


for _t in ("LIF", "IF", "CubaLIF", "LI", "CubaLI"):
    ONNX_RULES[_t] = OnnxRule(_neuron_prepare, _neuron_emit, _neuron_init, neuron=True, spiking=_t in SPIKING_TYPES)


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


def _check_unroll_size(steps: int, nodes_per_step: int) -> None:
    if steps > MAX_UNROLLED_STEPS or steps * max(1, nodes_per_step) > MAX_UNROLLED_NODE_STEPS:
        raise SnnexportError(
            f"unrolling {steps} steps of {nodes_per_step} nodes is too large for one ONNX graph (at most "
            f"{MAX_UNROLLED_STEPS} steps and {MAX_UNROLLED_NODE_STEPS} node-steps); use --loop (any T at run time) "
            f"or a smaller --steps"
        )


def export_graph(graph: nir.NIRGraph, steps: Optional[int] = None, loop: bool = False, opset: int = DEFAULT_OPSET,
                 dtype: str = "float64", f64_ops: str = "lower", membranes: bool = False, check: bool = True) -> Exported:
    """Build the ONNX model of ``graph`` (see the module docstring). ``steps`` (unrolled form,
    default: the graph's ``default_steps``) and ``loop`` are exclusive."""
    onnx = _onnx()
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
        _check_unroll_size(steps, len(step_order))
    rules = {n: ONNX_RULES[type(graph.nodes[n]).__name__] for n in order}
    for n in post_order:
        if rules[n].neuron:
            raise SnnexportError(f"node {n!r}: a neuron cannot follow a time reduction (it would run once, not per step)")
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
        if rules[name].neuron:
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
            if rules[name].neuron:
                new_state[name] = s
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
    from . import __version__

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
    onnx = _onnx()
    from .atomic import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".onnx") as tmp:
        try:
            onnx.save(exp.model, str(tmp))
        except ValueError as e:  # e.g. over the 2 GiB protobuf limit
            raise SnnexportError(f"{path}: cannot write the ONNX model ({' '.join(str(e).split())[:200]})") from None
        onnx.checker.check_model(str(tmp))
    return path


# ---------------------------------------------------------------- command

@click.command("export-onnx")
@click.argument("model", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output .onnx file (default: MODEL.onnx beside the input).")
@click.option("--steps", type=click.IntRange(min=1), help="Unroll for a fixed T (default: the graph's default_steps).")
@click.option("--loop", is_flag=True, help="Express time with an ONNX Loop (any T at run time) instead of unrolling.")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset (13 or later).")
@click.option("--dtype", type=click.Choice(list(DTYPES)), default="float64", show_default=True)
@click.option("--f64-ops", type=click.Choice(list(F64_OPS)), default="lower", show_default=True,
              help="float64 only: ops onnxruntime lacks a float64 kernel for (Conv, AveragePool) are 'lower'ed to exact "
                   "float64 Gather+MatMul, or 'cast' to float32 around the native op.")
@click.option("--membranes", is_flag=True, help="Also output membrane/<node> for every neuron.")
@click.option("--verify", "do_verify", is_flag=True,
              help="Run the written file in onnxruntime on seeded input and compare with the reference simulator.")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Batch of the --verify input.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --verify input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@model_options
def command(model, output, steps, loop, opset, dtype, f64_ops, membranes, do_verify, batch, seed, as_json,
            arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Export a NIR graph or a checkpoint as an ONNX model (unrolled over T, or a Loop)."""
    import sys

    from .cli import load_graph_or_model
    from .safe_files import refuse_overwriting_input

    refuse_overwriting_input(Path(output) if output else Path(model).with_suffix(".onnx"), model)
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    exp = export_graph(graph, steps=steps, loop=loop, opset=opset, dtype=dtype, f64_ops=f64_ops, membranes=membranes)
    out = Path(output) if output else Path(model).with_suffix(".onnx")
    write_onnx(exp, out)
    info = {"output": str(out), "bytes": out.stat().st_size, "onnx_nodes": len(exp.model.graph.node), "opset": exp.opset,
            "form": exp.form, "steps": exp.steps, "dtype": exp.dtype, "outputs": [o.name for o in exp.model.graph.output],
            "adapters": exp.adapters}
    identical = True
    if do_verify:
        import onnx
        import torch

        from .inputs import make_input
        from .simulators.onnxruntime_sim import run_model
        from .simulators.reference import simulate
        from .verify import Row, compare

        tdtype = torch.float64 if dtype == "float64" else torch.float32
        x = make_input(graph, exp.steps, batch, seed, dtype=tdtype)
        row = Row("onnxruntime", "simulator")
        compare(graph, simulate(graph, x, tdtype), run_model(onnx.load(str(out)), x), row, tdtype)
        identical = row.identical
        info["verify"] = {"identical": row.identical, "steps": int(x.shape[0]), "batch": batch, "mismatches": row.mismatches,
                          "total_spikes": row.total_spikes, "max_abs_readout_diff": row.max_abs_readout_diff}
    if as_json:
        click.echo(jsonout.dumps(info, indent=2, sort_keys=True))
    else:
        form = f"unrolled T={exp.steps}" if exp.form == "unrolled" else "Loop (any T)"
        click.echo(f"wrote {out}: {info['bytes']} bytes, {info['onnx_nodes']} ONNX nodes, opset {exp.opset}, {form}, {dtype}; "
                   f"outputs {terminal_safe(', '.join(info['outputs']))}")
        for a in exp.adapters:
            click.echo(f"adapter: {terminal_safe(a)}")  # names nodes of the file
        if do_verify:
            v = info["verify"]
            click.echo(f"verify (onnxruntime vs reference, T={v['steps']}, B={batch}): {'identical' if v['identical'] else 'DIFFERENT'}; "
                       f"{v['mismatches']} spike mismatches of {v['total_spikes']} spikes, max readout diff {v['max_abs_readout_diff']}")
    if not identical:
        sys.exit(1)
