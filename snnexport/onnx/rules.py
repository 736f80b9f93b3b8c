"""One small ONNX rule per NIR node type (registry :data:`ONNX_RULES`, decorator :func:`onnx_rule`).

Each rule is ``prepare(node, ctx) -> params`` (adds initializers), ``emit(b, x, params, state)
-> (y, state, membrane)`` and, for neurons, ``init(b, params) -> state``; the neuron rules
write the reference's neuron_step op for op (see :mod:`snnexport.extension`). A rule with an
``init`` and ``neuron=False`` (``Delay``) carries state across steps without being a neuron.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from ..errors import SnnexportError
from ..extension import NeuronExt, neuron_ext, node_op, plain_ext
from ..semantics import CUBA_TYPES, EULER_FORMS, NEURON_TYPES, SPIKING_TYPES, delay_groups, delay_steps, require_form
from .builder import ORT_NO_FLOAT64, Builder

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
    from ..extension import scalar, node_ext

    op = scalar(node_ext(n).get("op"))
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
    from ..conv_transpose import upsample_pads, upsampled_shape

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
        from ..conv_transpose import meta

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


# ----- Delay: a state buffer carried across steps

MAX_ONNX_DELAY_STEPS = 10_000  # the buffer is [B, max(d), *shape] per run; a longer delay is refused


def _delay_prepare(n, c: Ctx) -> Dict[str, Any]:
    """State ``H [B, D, *shape]``, ``H[:, j] = x[t-1-j]`` (``D = max(d)``); ``y = x`` where
    ``d = 0``, else ``Gather(H, d-1, axis=1)``, selected per group of equal ``d`` with ``Where``;
    next ``H = Concat(x, H[:, :D-1])`` along axis 1. At rest (``H = 0``) the output is 0."""
    steps = delay_steps(n.delay, c.dt, c.name)
    shape = tuple(c.in_shape) if c.in_shape is not None else _need_shape(c, "output")  # a scalar delay's type is []
    longest = int(steps.max()) if steps.size else 0
    if longest > MAX_ONNX_DELAY_STEPS:
        raise SnnexportError(f"node {c.name!r}: Delay of {longest} steps: the ONNX export carries at most "
                             f"{MAX_ONNX_DELAY_STEPS} steps of history")
    if len(set(steps.reshape(-1).tolist())) > 1:
        try:
            np.broadcast_shapes(steps.shape, shape)
        except ValueError:
            raise SnnexportError(f"node {c.name!r}: Delay has {list(steps.shape)} delays, its input has per-sample "
                                 f"shape {list(shape)}") from None
    b = c.b
    p: Dict[str, Any] = {"D": longest, "shape": (longest, *shape), "_out": shape, "groups": []}
    for k, mask in delay_groups(steps):
        sel = b.i64(f"{c.name}/past{k}", k - 1) if k else None
        p["groups"].append((k, sel, None if mask is None else b.const(f"{c.name}/delay_mask{k}", mask.astype(bool))))
    if longest > 1:
        p["axes1"] = b.i64(f"{c.name}/axes1", [1])
        p["keep"] = (b.i64(f"{c.name}/keep_start", [0]), b.i64(f"{c.name}/keep_end", [longest - 1]), p["axes1"])
    elif longest == 1:
        p["axes1"] = b.i64(f"{c.name}/axes1", [1])
    return p


def _delay_init(b: Builder, p: Dict[str, Any]) -> Dict[str, str]:
    return {"H": b.zeros(p["shape"])} if p["D"] else {}


def _delay_emit(b: Builder, x: str, p: Dict[str, Any], state: Optional[Dict[str, str]]):
    if state is None:  # the value at rest (a recurrent edge's t = 0): nothing has arrived
        state = _delay_init(b, p)
    y = None
    for k, sel, mask in p["groups"]:
        v = x if k == 0 else b.op("Gather", state["H"], sel, axis=1)
        y = v if mask is None else b.op("Where", mask, v, y)
    if not p["D"]:
        return y, {}, None
    newest = b.op("Unsqueeze", x, p["axes1"])
    H = newest if p["D"] == 1 else b.op("Concat", newest, b.op("Slice", state["H"], *p["keep"]), axis=1)
    return y, {"H": H}, None


ONNX_RULES["Delay"] = OnnxRule(_delay_prepare, _delay_emit, _delay_init)


# ----- neurons (the reference's neuron_step, op for op)

def _neuron_prepare(node, c: Ctx) -> Dict[str, Any]:
    ext: NeuronExt = neuron_ext(node, c.name) or plain_ext(node, c.dt)  # NIR's own semantics without our metadata
    tname = type(node).__name__
    require_form("onnx", ext.dynamics, tname, c.name)
    b = c.b
    p: Dict[str, Any] = {"ext": ext, "cuba": tname in CUBA_TYPES, "spiking": tname in SPIKING_TYPES,
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


for _t in (t for t in NEURON_TYPES if t != "I"):  # no ONNX rule for NIR's Integrator yet
    ONNX_RULES[_t] = OnnxRule(_neuron_prepare, _neuron_emit, _neuron_init, neuron=True, spiking=_t in SPIKING_TYPES)
