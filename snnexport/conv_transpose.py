"""Transposed 2-D convolution (``nn.ConvTranspose2d``) as a NIR ``Conv2d`` extension node.

NIR has no transposed convolution, and none of its nodes can say it with the right shapes:
a stride-``s`` transposed convolution interleaves ``s*s`` output phases, which no NIR
``Conv2d``/pooling node produces, and an ``Affine`` holding the unrolled matrix acts on
flattened vectors (NIR has no un-flatten to give the layers after it their ``[C, H, W]``
back). So it is one ``Conv2d`` node whose **NIR fields are its exact equivalent convolution**
and whose ``snnexport`` metadata says what its input is (see :mod:`snnexport.extension`):

``y = conv_transpose2d(x, W_t, b, stride s, padding p, output_padding q, dilation d, groups g)``
is, in real arithmetic, ``y = conv2d(U(x), W_f, b, stride 1, padding 0, dilation d)`` where

* ``U(x)`` zero-upsamples ``x`` (``s - 1`` zeros between neighbouring pixels) and pads it with
  ``d*(k-1) - p`` zeros before and ``d*(k-1) - p + q`` after each spatial dimension (a negative
  pad crops);
* ``W_f[o, i] = flip(W_t[i, o])`` (kernel rotated by 180 degrees, in/out channels swapped;
  groups expanded to a dense block-diagonal weight: the extra terms are exact zeros).

The node's NIR fields are that ``conv2d`` (``input_shape`` = the shape of ``U(x)``, so NIR's own
output type is right), its ``input_type`` is the real input ``[C, H, W]``. Metadata
(``snnexport``): ``op = "conv_transpose2d"``, ``stride``, ``padding``, ``output_padding``,
``dilation``, ``groups``, ``weight`` (PyTorch's ``[C_in, C_out/g, kh, kw]`` weight, which our
participants use to run ``conv_transpose2d`` itself, bit-identical to the source) and
``input_shape`` ``[C, H, W]``.

**Plain NIR consumers**: ``nir.read`` rejects the file at type inference (the predecessor's
``[C, H, W]`` output does not match the node's declared ``U(x)`` input) instead of running
something wrong; read with ``type_check=False`` and apply ``U`` before the node's ``Conv2d``
to run it. :func:`read_nir` does that for snnexport.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np

OP = "conv_transpose2d"


def _pair(v) -> Tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    return (int(a[0]), int(a[-1]))


def meta(node) -> Optional[Dict[str, Any]]:
    """The transposed-convolution metadata of a ``Conv2d`` node, or ``None`` for a plain conv."""
    from .extension import scalar, node_ext

    if type(node).__name__ != "Conv2d":
        return None
    ext = node_ext(node)
    if scalar(ext.get("op")) != OP:
        return None
    return {
        "stride": _pair(ext["stride"]), "padding": _pair(ext["padding"]), "output_padding": _pair(ext["output_padding"]),
        "dilation": _pair(ext["dilation"]), "groups": int(scalar(ext["groups"])),
        "weight": np.asarray(ext["weight"], dtype=np.float64),
        "input_shape": tuple(int(s) for s in np.asarray(ext["input_shape"]).reshape(-1)),
    }


def upsample_pads(m: Dict[str, Any]) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """``(lo, hi)`` zero padding (negative: crop) per spatial dim after the zero-upsampling."""
    k = m["weight"].shape[2:]
    lo = tuple(d * (kk - 1) - p for d, kk, p in zip(m["dilation"], k, m["padding"]))
    hi = tuple(a + q for a, q in zip(lo, m["output_padding"]))
    return lo, hi


def upsampled_shape(m: Dict[str, Any]) -> Tuple[int, int, int]:
    """Shape of ``U(x)`` ``[C, H', W']``."""
    c, h, w = m["input_shape"]
    lo, hi = upsample_pads(m)
    s = m["stride"]
    return (c, (h - 1) * s[0] + 1 + lo[0] + hi[0], (w - 1) * s[1] + 1 + lo[1] + hi[1])


def forward_weight(w_t: np.ndarray, groups: int) -> np.ndarray:
    """``W_f`` ``[C_out, C_in, kh, kw]`` (dense) of a PyTorch transposed weight ``[C_in, C_out/g, kh, kw]``."""
    c_in, out_g = w_t.shape[:2]
    in_g = c_in // groups
    dense = np.zeros((out_g * groups, c_in, *w_t.shape[2:]), dtype=np.float64)
    flipped = w_t[:, :, ::-1, ::-1]
    for g in range(groups):
        block = flipped[g * in_g:(g + 1) * in_g]  # [in_g, out_g, kh, kw]
        dense[g * out_g:(g + 1) * out_g, g * in_g:(g + 1) * in_g] = block.transpose(1, 0, 2, 3)
    return dense


def upsample(x, m: Dict[str, Any]):
    """``U(x)`` on a torch tensor ``[N, C, H, W]`` (exact: only zeros are inserted)."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    s = m["stride"]
    up = x.new_zeros((n, c, (h - 1) * s[0] + 1, (w - 1) * s[1] + 1))
    up[:, :, ::s[0], ::s[1]] = x
    lo, hi = upsample_pads(m)
    return F.pad(up, (lo[1], hi[1], lo[0], hi[0])) if any(lo) or any(hi) else up


def restore_types(graph) -> int:
    """Give every transposed-convolution node its real input type (``nir.read`` recomputes it
    from the NIR fields). Returns how many nodes were fixed."""
    fixed = 0
    for node in graph.nodes.values():
        m = meta(node)
        if m is not None:
            node.input_type = {"input": np.array(m["input_shape"], dtype=np.int64)}
            fixed += 1
    return fixed


def read_nir(path: str):
    """``nir.read``; a graph with transposed-convolution nodes (which NIR's type inference
    rejects) is read without type checking, its types restored, then type-checked."""
    import nir

    try:
        return nir.read(path)
    except ValueError as first:
        if "type mismatch" not in str(first):
            raise
        graph = nir.read(path, type_check=False)
        if not restore_types(graph):
            raise
        graph.infer_types()
        return graph
