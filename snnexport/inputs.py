"""Inputs shared by verify and report: a user's array, or seeded input of the kind the model expects.

Convention: always **time-major** ``[T, B, *input_shape]`` (``T`` steps, ``B`` samples),
whatever layout the source model itself uses. Files: ``.npy``, or ``.npz`` holding one
array (or one named ``x``), recognised by content (any suffix, any byte order). Without a file: Bernoulli(``rate``) spikes for graphs whose
``input_kind`` is ``spikes``, standard-normal currents for ``analog``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import nir
import numpy as np
import torch

from .errors import SnnexportError
from .extension import graph_ext


def load_array(path: str | Path, graph: Optional[nir.NIRGraph] = None) -> np.ndarray:
    """The input array of a .npy/.npz file (kind sniffed from the content, whatever the suffix),
    checked against the memory budget, and the shape ``graph`` expects, before allocation
    (see :mod:`snnexport.safe_io`)."""
    from .safe_io import load_array_file

    check = None if graph is None else (lambda shape, dtype: check_input_header(shape, dtype, graph, str(path)))
    return load_array_file(path, check_header=check)


def check_input_header(shape: tuple, dtype: np.dtype, graph: nir.NIRGraph, where: str) -> None:
    """Shape and dtype checks of an input, before its data is read."""
    want = tuple(graph_ext(graph).input_shape)
    if dtype.kind not in "fiub":
        raise SnnexportError(f"{where}: input dtype {dtype} is not numeric")
    if len(shape) != 2 + len(want):
        raise SnnexportError(
            f"{where}: input has rank {len(shape)} (shape {tuple(shape)}); expected time-major [T, B, {', '.join(map(str, want))}]"
        )
    if want and tuple(shape[2:]) != want:
        raise SnnexportError(f"{where}: per-sample input shape {tuple(shape[2:])} differs from the model's {want}")
    if shape[0] < 1 or shape[1] < 1:
        raise SnnexportError(f"{where}: input has no time steps or no samples (shape {tuple(shape)})")


def check_input(arr: np.ndarray, graph: nir.NIRGraph, where: str) -> np.ndarray:
    check_input_header(arr.shape, arr.dtype, graph, where)
    if not np.all(np.isfinite(arr.astype(np.float64, copy=False))):
        raise SnnexportError(f"{where}: input contains NaN or infinite values")
    return arr


def make_input(graph: nir.NIRGraph, steps: Optional[int] = None, batch: int = 4, seed: int = 0,
               rate: float = 0.2, path: Optional[str] = None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The verify/report input, time-major ``[T, B, *input_shape]`` in ``dtype``."""
    if path is not None:
        arr = check_input(load_array(path, graph), graph, str(path))
        return torch.from_numpy(np.ascontiguousarray(arr)).to(dtype)
    ext = graph_ext(graph)
    given_steps = bool(steps)
    steps = int(steps or ext.default_steps)
    if steps < 1 or batch < 1:
        raise SnnexportError(f"--steps and --batch must be at least 1 (got {steps}, {batch})")
    if not 0.0 <= rate <= 1.0:
        raise SnnexportError(f"--rate must lie in [0, 1], got {rate}")
    shape = (steps, batch, *ext.input_shape)
    from .resources import current_budget

    nbytes = float(np.prod(np.asarray(shape, dtype=np.float64))) * 8
    if nbytes > current_budget():
        from .graph import steps_source

        who = "" if given_steps else f"{steps_source(graph)} = {steps}: "
        raise SnnexportError(f"{who}input of shape {list(shape)} needs {nbytes / 2**30:.1f} GiB, more than the memory "
                             f"budget; lower --steps/--batch")
    g = torch.Generator().manual_seed(int(seed))
    if ext.input_layout == "static":  # the model repeats one frame over its own T inside forward
        if steps != ext.default_steps:
            raise SnnexportError(f"this graph's input is static: the model repeats one frame over "
                                 f"{ext.default_steps} steps inside forward; --steps must be {ext.default_steps}")
        frame = torch.randn((1, batch, *ext.input_shape), generator=g, dtype=torch.float64)
        if ext.input_kind == "spikes":
            frame = (torch.rand((1, batch, *ext.input_shape), generator=g, dtype=torch.float64) < rate).double()
        return frame.expand(shape).contiguous().to(dtype)
    if ext.input_kind == "spikes":
        return (torch.rand(shape, generator=g, dtype=torch.float64) < rate).to(dtype)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
