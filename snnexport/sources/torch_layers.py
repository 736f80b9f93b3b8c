"""Rules for plain ``torch.nn`` layers (shared by every framework)."""

from __future__ import annotations

import nir
import numpy as np
import torch.nn as nn

from ..errors import SnnexportError, UnsupportedModuleError
from ..extension import set_node_ext
from .registry import register_layer, register_unsupported


def np64(t) -> np.ndarray:
    return t.detach().cpu().to(dtype=__import__("torch").float64).numpy().copy()


@register_layer(nn.Linear)
def linear(m: nn.Linear, ctx):
    w = np64(m.weight)
    if m.bias is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=np64(m.bias))


def dense_grouped_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """NIR infers a conv's input channels from ``weight.shape[1]``, so grouped convolutions
    cannot be typed. Expand to the equivalent dense weight (zeros between groups): the extra
    terms are exact zeros, so every output is bit-identical."""
    if groups == 1:
        return w
    c_out, c_in_g = w.shape[:2]
    out_g = c_out // groups
    dense = np.zeros((c_out, c_in_g * groups, *w.shape[2:]), dtype=w.dtype)
    for g in range(groups):
        dense[g * out_g:(g + 1) * out_g, g * c_in_g:(g + 1) * c_in_g] = w[g * out_g:(g + 1) * out_g]
    return dense


def _conv(m, ctx, nir_cls, spatial: int):
    if m.padding_mode != "zeros":
        raise SnnexportError(f"{ctx.path}: {type(m).__name__} with padding_mode={m.padding_mode!r} has no NIR equivalent (only zero padding)")
    if isinstance(m.padding, str):
        raise SnnexportError(f"{ctx.path}: string padding {m.padding!r} is not supported; use explicit integers")
    w = dense_grouped_weight(np64(m.weight), m.groups)
    bias = np64(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    in_shape = tuple(ctx.in_shape)
    if len(in_shape) != spatial + 1:
        raise SnnexportError(f"{ctx.path}: {type(m).__name__} got per-sample input shape {in_shape}")
    if spatial == 1:
        return nir_cls(input_shape=int(in_shape[1]), weight=w, stride=int(m.stride[0]), padding=int(m.padding[0]),
                       dilation=int(m.dilation[0]), groups=1, bias=bias)
    return nir_cls(input_shape=tuple(int(s) for s in in_shape[1:]), weight=w, stride=tuple(m.stride),
                   padding=tuple(m.padding), dilation=tuple(m.dilation), groups=1, bias=bias)


@register_layer(nn.Conv2d)
def conv2d(m: nn.Conv2d, ctx):
    return _conv(m, ctx, nir.Conv2d, 2)


@register_layer(nn.Conv1d)
def conv1d(m: nn.Conv1d, ctx):
    return _conv(m, ctx, nir.Conv1d, 1)


def bn_scale_shift(m) -> tuple:
    """Eval-mode BatchNorm as ``y = x*scale + shift`` (per channel)."""
    if m.training:
        raise SnnexportError("BatchNorm in training mode cannot be exported (call model.eval())")
    if not m.track_running_stats or m.running_mean is None:
        raise SnnexportError("BatchNorm without running statistics normalises with batch statistics; NIR cannot express it")
    var = np64(m.running_var)
    mean = np64(m.running_mean)
    gamma = np64(m.weight) if m.weight is not None else np.ones_like(var)
    beta = np64(m.bias) if m.bias is not None else np.zeros_like(var)
    scale = gamma / np.sqrt(var + float(m.eps))
    return scale, beta - mean * scale


@register_layer(nn.BatchNorm2d)
def batchnorm2d(m: nn.BatchNorm2d, ctx):
    """Emitted as a diagonal 1x1 conv (exact: off-diagonal terms are zeros); folded into a
    preceding Conv2d by the converter when that conv feeds nothing else."""
    scale, shift = bn_scale_shift(m)
    c = scale.shape[0]
    w = np.zeros((c, c, 1, 1))
    w[np.arange(c), np.arange(c), 0, 0] = scale
    node = nir.Conv2d(input_shape=tuple(int(s) for s in ctx.in_shape[1:]), weight=w, stride=(1, 1), padding=(0, 0),
                      dilation=(1, 1), groups=1, bias=shift)
    set_node_ext(node, batchnorm={"scale": scale, "shift": shift})
    return node


@register_layer(nn.BatchNorm1d)
def batchnorm1d(m: nn.BatchNorm1d, ctx):
    scale, shift = bn_scale_shift(m)
    if len(ctx.in_shape) != 1:
        raise SnnexportError(f"{ctx.path}: BatchNorm1d over {tuple(ctx.in_shape)} inputs is not supported (only [B, N])")
    node = nir.Affine(weight=np.diag(scale), bias=shift)
    set_node_ext(node, batchnorm={"scale": scale, "shift": shift})
    return node


@register_layer(nn.Flatten)
def flatten(m: nn.Flatten, ctx):
    start = m.start_dim - ctx.leading_dims if m.start_dim >= 0 else m.start_dim
    end = m.end_dim - ctx.leading_dims if m.end_dim >= 0 else m.end_dim
    if start < 0 and m.start_dim >= 0:
        raise SnnexportError(f"{ctx.path}: Flatten(start_dim={m.start_dim}) would merge batch/time dimensions")
    return nir.Flatten(input_type={"input": np.array(ctx.in_shape)}, start_dim=int(start), end_dim=int(end))


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def avg_pool2d_node(where: str, in_shape, out_shape, kernel, stride=None, padding=0, ceil_mode=False,
                    count_include_pad=True, divisor_override=None):
    """``nir.AvgPool2d`` for ``nn.AvgPool2d`` / ``F.avg_pool2d``, or a one-line refusal of the
    options NIR's pooling cannot say (it always divides by the full window, zero padding counted)."""
    k, s, pad = _pair(kernel), _pair(stride if stride not in (None, ()) else kernel), _pair(padding)
    if len(in_shape) != 3:
        raise SnnexportError(f"{where}: avg_pool2d of per-sample shape {tuple(in_shape)}, not [C, H, W]")
    floor = tuple((n + 2 * pp - kk) // ss + 1 for n, pp, kk, ss in zip(in_shape[1:], pad, k, s))
    if ceil_mode and tuple(out_shape[1:]) != floor:
        raise SnnexportError(f"{where}: avg_pool2d(ceil_mode=True) gives output size {tuple(out_shape[1:])}, not "
                             f"{floor}; NIR pooling has no ceil mode (use ceil_mode=False)")
    if any(pad) and count_include_pad is False:
        raise SnnexportError(f"{where}: avg_pool2d(count_include_pad=False) with padding has no NIR equivalent")
    if divisor_override is not None:
        raise SnnexportError(f"{where}: avg_pool2d(divisor_override=...) has no NIR equivalent")
    return nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array(pad))


@register_layer(nn.AvgPool2d)
def avgpool2d(m: nn.AvgPool2d, ctx):
    return avg_pool2d_node(f"module {ctx.path!r}", ctx.in_shape, ctx.out_shape, m.kernel_size, m.stride, m.padding,
                           m.ceil_mode, m.count_include_pad, m.divisor_override)


@register_layer(nn.AdaptiveAvgPool2d)
def adaptive_avgpool2d(m: nn.AdaptiveAvgPool2d, ctx):
    """Exactly ``AvgPool2d(kernel = stride = in // out)`` when each output size divides the input size
    (SEW-ResNet's ``AdaptiveAvgPool2d((1, 1))``: the global average); uneven windows have no NIR form."""
    if len(ctx.in_shape) != 3:
        raise SnnexportError(f"module {ctx.path!r}: AdaptiveAvgPool2d of per-sample shape {tuple(ctx.in_shape)}, "
                             f"not [C, H, W]")
    size, out = tuple(int(n) for n in ctx.in_shape[1:]), tuple(int(n) for n in ctx.out_shape[1:])
    if any(o == 0 or n % o for n, o in zip(size, out)):
        raise SnnexportError(f"module {ctx.path!r}: AdaptiveAvgPool2d from {size} to {out} pools uneven windows, "
                             f"which NIR's AvgPool2d cannot say; use an input size divisible by the output size")
    k = tuple(n // o for n, o in zip(size, out))
    return nir.AvgPool2d(kernel_size=np.array(k), stride=np.array(k), padding=np.array((0, 0)))


@register_layer(nn.Identity)
def identity(m, ctx):
    return None


@register_layer(nn.Dropout)
def dropout(m, ctx):
    return None  # eval mode: identity


register_layer(nn.Dropout1d, dropout)
register_layer(nn.Dropout2d, dropout)

# ---------------------------------------------------------------------------- max pooling

class Parallel(list):
    """A rule result of several chains of NIR nodes, each fed the rule's input; the module's
    output is the *sum* of the chains' last nodes (NIR sums incoming edges)."""


def max_pool2d_nodes(where: str, in_shape, out_shape, kernel, stride, padding, dilation=1, ceil_mode=False,
                     return_indices=False, bound=None):
    """NIR nodes computing ``max_pool2d`` exactly. ``bound``: the input is known to hold
    integers in ``[0, bound]`` (spikes: 1; a SEW sum of K spike tensors: K), else ``None``.

    * ``bound == 1`` (spikes): ``SumPool2d -> Threshold(0.5)``: a window's max is 1 iff its sum
      is >= 1 (sums of 0/1 are exact integers; zero padding never adds a spike).
    * ``bound == K > 1``: ``max = sum_{k=1..K} [any(x >= k)]``, i.e. K parallel chains
      ``Threshold(k - 0.5) -> SumPool2d -> Threshold(0.5)`` summed into the consumer.
    * otherwise (analog currents) the ``max_pool2d`` extension node (see snnexport.extension).
    """
    k, s, p = _pair(kernel), _pair(stride if stride not in (None, ()) else kernel), _pair(padding)
    why = None
    if return_indices:
        why = "return_indices=True returns pooling indices, not data"
    elif _pair(dilation) != (1, 1):
        why = f"dilation={dilation} has no NIR pooling equivalent"
    elif len(in_shape) != 3:
        why = f"per-sample input shape {tuple(in_shape)} is not [C, H, W]"
    if why is None:
        floor = tuple((n + 2 * pp - kk) // ss + 1 for n, pp, kk, ss in zip(in_shape[1:], p, k, s))
        if tuple(out_shape[1:]) != floor:
            why = (f"ceil_mode=True gives output size {tuple(out_shape[1:])}, not {floor}; NIR pooling has no ceil mode "
                   f"(pad the input or use ceil_mode=False)")
    if why is not None:
        raise SnnexportError(f"{where}: max_pool2d with {why}")
    pool = dict(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p))
    half = lambda shape, v: nir.Threshold(threshold=np.full(tuple(int(d) for d in shape), v))  # noqa: E731
    if bound == 1:
        return [nir.SumPool2d(**pool), half(out_shape, 0.5)]
    if bound is not None and bound > 1:
        return Parallel([half(in_shape, kk - 0.5), nir.SumPool2d(**pool), half(out_shape, 0.5)]
                        for kk in range(1, int(bound) + 1))
    node = nir.AvgPool2d(**pool)  # plain-NIR fallback: the window average (see extension.MAX_POOL_DOC)
    set_node_ext(node, op="max_pool2d")
    return node


@register_layer(nn.MaxPool2d)
def maxpool2d(m: nn.MaxPool2d, ctx):
    return max_pool2d_nodes(f"module {ctx.path!r}", ctx.in_shape, ctx.out_shape, m.kernel_size, m.stride, m.padding, m.dilation,
                            m.ceil_mode, m.return_indices, ctx.input_bound())


for _cls in (nn.MaxPool1d, nn.MaxPool3d, nn.AdaptiveMaxPool2d):
    register_unsupported(_cls, "snnexport converts only MaxPool2d (exactly); use MaxPool2d with a fixed kernel, or AvgPool2d")


@register_layer(nn.ConvTranspose2d)
def conv_transpose2d(m: nn.ConvTranspose2d, ctx):
    """A ``Conv2d`` extension node (:mod:`snnexport.conv_transpose`): NIR fields = the equivalent
    convolution of the zero-upsampled input, metadata = PyTorch's own parameters."""
    from .. import conv_transpose as ct

    if m.padding_mode != "zeros":
        raise SnnexportError(f"{ctx.path}: ConvTranspose2d with padding_mode={m.padding_mode!r} is not supported "
                             f"(only zero padding)")
    in_shape = tuple(int(s) for s in ctx.in_shape)
    if len(in_shape) != 3:
        raise SnnexportError(f"{ctx.path}: ConvTranspose2d got per-sample input shape {in_shape}, expected [C, H, W]")
    w_t = np64(m.weight)
    bias = np64(m.bias) if m.bias is not None else np.zeros(w_t.shape[1] * m.groups)
    meta = {"op": ct.OP, "stride": np.array(m.stride, dtype=np.int64), "padding": np.array(m.padding, dtype=np.int64),
            "output_padding": np.array(m.output_padding, dtype=np.int64),
            "dilation": np.array(m.dilation, dtype=np.int64), "groups": int(m.groups), "weight": w_t,
            "input_shape": np.array(in_shape, dtype=np.int64)}
    node = nir.Conv2d(input_shape=None, weight=ct.forward_weight(w_t, int(m.groups)), stride=(1, 1), padding=(0, 0),
                      dilation=tuple(int(d) for d in m.dilation), groups=1, bias=bias)
    set_node_ext(node, **meta)
    shape = ct.upsampled_shape(ct.meta(node))
    if min(shape[1:]) < 1:
        raise SnnexportError(f"{ctx.path}: ConvTranspose2d padding {tuple(m.padding)} crops away the whole input")
    node.input_shape = tuple(shape[1:])
    node.__post_init__()  # NIR's own types for U(x): its output type is the layer's output
    if tuple(int(s) for s in node.output_type["output"]) != tuple(int(s) for s in ctx.out_shape):
        raise SnnexportError(f"{ctx.path}: ConvTranspose2d output {tuple(ctx.out_shape)} differs from its equivalent "
                             f"convolution's {tuple(node.output_type['output'])}")
    node.input_type = {"input": np.array(in_shape, dtype=np.int64)}  # the real input (see snnexport.conv_transpose)
    return node
register_unsupported(nn.ConvTranspose1d, "NIR has no transposed-convolution node")


def _activation(op: str):
    """``nn.ReLU``/``nn.Sigmoid`` on analog values (e.g. seed 001's decoder): a ``Scale`` node of
    ones carrying ``op`` in its metadata (see :mod:`snnexport.extension`); plain NIR consumers
    see the identity (exact for ReLU of spikes, 0/1)."""
    def rule(m, ctx):
        if getattr(m, "inplace", False):
            raise SnnexportError(f"{ctx.path}: {type(m).__name__}(inplace=True) overwrites its input; use inplace=False")
        node = nir.Scale(scale=np.ones(tuple(int(s) for s in ctx.in_shape)))
        set_node_ext(node, op=op)
        return node
    return rule


@register_layer(nn.ReLU)
def relu(m, ctx):
    """Identity on spikes and integer spike sums (all >= 0: plain NIR, nothing to say); on analog
    values the ``relu`` activation extension."""
    if ctx.input_bound() is not None:  # in place or not: relu leaves values >= 0 unchanged
        return None
    return _activation("relu")(m, ctx)
register_layer(nn.Sigmoid, _activation("sigmoid"))
