"""Upstream witness: what ``norse.torch.from_nir`` makes of the plain view of the graph.

Runs Norse's own NIR importer (``norse/torch/utils/import_nir.py``, via ``nirtorch.load``)
on :func:`snnexport.graph.plain_view` (no ``snnexport`` metadata, as any consumer sees the
file) with the graph's ``dt``, one step at a time with the executor's state threaded, and
records the spikes of every neuron node it created. Nothing is corrected: differences
from the reference are upstream's. Known upstream behaviour (Norse 1.1.0):

* ``LIF`` -> ``LIFBoxCell``: ``r`` is ignored (only a warning) and ``v_reset`` is dropped
  (``import_nir.py:123-130``: the reset potential stays at its default 0); ``IF`` ->
  ``IAFCell``: ``r`` and ``v_reset`` ignored (``:93-96``); ``CubaLIF``: ``v_reset`` dropped and
  the synapse integrator gets the *membrane's* ``v_leak`` (``:99-105``).
* ``LI``/``CubaLI``/``Conv1d``/``AvgPool2d`` have no mapping (``_import_norse_module``
  returns ``None``); parameters become float32 (``_to_tensor``).
* Time reductions (``snnexport`` metadata) are unknown to a plain consumer: the readout
  node runs at every step.
* (Export side, ``utils/export_nir.py:29-40``: ``tau = dt / tau_mem_inv`` where NIR's
  ``tau`` is ``1 / tau_mem_inv``; snnexport never uses Norse's exporter.)
"""

from __future__ import annotations

from typing import Any, List

import nir
import numpy as np
import torch

from ..errors import SnnexportError
from ..extension import graph_ext
from ..semantics import SPIKING_TYPES
from ..graph import output_names
from .base import SimResult, record_spiking_outputs, register_simulator

_SPIKING = SPIKING_TYPES  # the semantics table (snnexport/semantics.py)


def _sanitize(name: str) -> str:
    try:
        from nirtorch.utils import sanitize_name

        return sanitize_name(name)
    except ImportError:  # pragma: no cover
        return name.replace(".", "_")


def _shape(node) -> tuple:
    shp = (node.output_type or {}).get("output")
    return tuple(int(v) for v in np.asarray(shp).tolist()) if shp is not None else ()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def upstream_notes(graph: nir.NIRGraph) -> List[str]:
    """Where Norse's importer will ignore something this graph says."""
    notes = []
    for name, node in graph.nodes.items():
        t = type(node).__name__
        if t in ("LIF", "IF") and not np.allclose(np.asarray(node.r), 1.0):
            notes.append(f"{name}: r != 1 ignored by norse from_nir")
        if t in _SPIKING and np.any(np.asarray(node.v_reset) != 0):
            notes.append(f"{name}: v_reset != 0 ignored by norse from_nir (resets to 0)")
        if t in ("LI", "CubaLI", "Conv1d", "AvgPool2d", "Threshold", "Scale"):
            notes.append(f"{name}: NIR {t} has no mapping in norse from_nir")
        if t == "Delay":
            notes.append(f"{name}: NIR Delay has no mapping in norse from_nir: dropped with its edges")
    return notes


@register_simulator("norse-upstream", role="upstream", default=True, needs=("norse",), rank=2)
def run_norse_upstream(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, **_: Any) -> SimResult:
    import norse.torch as nt

    dt = float(graph_ext(graph).dt)
    from .upstream_snntorch import importable_view  # names torch accepts as submodules

    plain, upstream_name = importable_view(graph)
    try:  # ignore_warnings: the ignored parameters are listed in the note instead of logged
        module = nt.from_nir(plain, ignore_warnings=True, dt=dt)
    except Exception as e:  # upstream raises anything; report it as one line
        raise SnnexportError(f"norse.torch.from_nir failed: {_one_line(e)}") from None
    module = module.to(dtype)  # Linear/Conv weights; Norse cell parameters stay float32 (upstream's choice)
    subs = dict(module.named_modules())
    records, hooks = record_spiking_outputs(graph, lambda name: subs.get(_sanitize(upstream_name[name])))
    outs: List[torch.Tensor] = []
    state = None
    try:
        with torch.no_grad():
            for t in range(x.shape[0]):
                out = module(x[t].to(dtype), state)
                if isinstance(out, tuple):
                    out, state = out
                outs.append(out)
    except Exception as e:
        raise SnnexportError(f"Norse module from norse.torch.from_nir failed to run: {_one_line(e)}") from None
    finally:
        for h in hooks:
            h.remove()
    res = SimResult()
    notes = upstream_notes(graph)
    T, B = int(x.shape[0]), int(x.shape[1])
    for name, recs in records.items():
        if not recs:
            continue
        s = torch.stack(recs).to(torch.float64).numpy()
        want = (T, B, *_shape(graph.nodes[name]))
        if s.shape == want:
            res.spikes[name] = s
        else:  # a shape verify could not compare: say so instead of failing the whole run
            notes.append(f"{name}: upstream spikes have shape {s.shape}, expected {want}")
    try:
        from ..graph import output_is_time_reduced  # added by the core; absent in older trees
    except ImportError:  # pragma: no cover
        output_is_time_reduced = None
    out_name = output_names(graph)[0]
    reduced = output_is_time_reduced(graph, out_name) if output_is_time_reduced else False
    if reduced:
        notes.append(f"{out_name}: time reduction unknown to a plain consumer; upstream readout is per step, not compared")
    elif outs and all(isinstance(o, torch.Tensor) for o in outs):
        y = torch.stack(outs).to(torch.float64).numpy()
        want = (T, B, *_shape(graph.nodes[out_name]))
        if y.shape == want:
            res.readout[out_name] = y
        else:
            notes.append(f"{out_name}: upstream readout has shape {y.shape}, expected {want}")
    res.note = "; ".join(notes) if notes else None
    return res
