"""Upstream witness: sinabs' own NIR import (``sinabs.nir.from_nir``) on the plain graph.

What a user gets from sinabs 3.1.3 without snnexport (``sinabs/nir.py:_import_sinabs_module``):
it ignores our metadata (we pass :func:`snnexport.graph.plain_view`) and the graph's dt; every
``IF`` becomes ``IAFSqueeze(spike_threshold=v_threshold, min_v_mem=-v_threshold)`` (``r`` and
``dt`` ignored: ``v += I``), every ``LIF`` ``LIFSqueeze(tau_mem=tau, norm_input=False)``, which
reads ``tau`` as a number of *time steps* (decay ``exp(-1/tau)`` a step, input added unscaled);
``LIF`` with ``v_leak != 0`` and every ``CubaLIF``/``LI`` with ``r != 1`` are refused. sinabs
neurons emit several spikes in one step when the membrane exceeds several thresholds
(``MultiSpike``) and reset by subtracting the threshold per spike (``MembraneSubtract``).
The imported network runs in float32 (its state buffers are created in float32) on the whole
sequence at once, in sinabs' squeezed layout ``[B*T, ...]`` (batch-major); spikes are recorded
with forward hooks on the modules named like the graph's neuron nodes and returned as counts
per step, time-major. Disagreements with the reference are these documented conventions
(see :func:`snnexport.consumers.consumer_notes`, "sinabs import").
"""

from __future__ import annotations

from typing import Any, Dict

import nir
import torch

from ..errors import SnnexportError
from ..graph import plain_view
from .base import SimResult, record_spiking_outputs, register_simulator, upstream_failure



def import_upstream(graph: nir.NIRGraph, batch: int) -> torch.nn.Module:
    try:
        from sinabs.nir import from_nir

        return from_nir(plain_view(graph), batch_size=batch)
    except Exception as e:  # noqa: BLE001 - upstream raises anything (ValueError, NotImplementedError, ...)
        raise upstream_failure("sinabs.nir.from_nir failed", e) from None


def _module_for(modules: Dict[str, torch.nn.Module], name: str):
    for candidate in (name, name.replace(".", "_")):
        if candidate in modules:
            return modules[candidate]
    hits = [m for p, m in modules.items() if p.split(".")[-1] in (name, name.replace(".", "_"))]
    return hits[0] if len(hits) == 1 else None


def _time_major(y: torch.Tensor, steps: int, batch: int) -> torch.Tensor:
    """sinabs' ``[B*T, ...]`` (batch-major) back to ``[T, B, ...]``."""
    return y.reshape(batch, steps, *y.shape[1:]).transpose(0, 1)


@register_simulator("sinabs-upstream", role="upstream", needs=("sinabs",))
def run_upstream(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, **_: Any) -> SimResult:
    steps, batch = int(x.shape[0]), int(x.shape[1])
    net = import_upstream(graph, batch)
    modules = dict(net.named_modules())
    records, hooks = record_spiking_outputs(graph, lambda name: _module_for(modules, name))
    squeezed = x.to(torch.float32).transpose(0, 1).reshape(batch * steps, *x.shape[2:])
    try:
        with torch.no_grad():
            out = net(squeezed)
    except Exception as e:  # noqa: BLE001
        raise upstream_failure("sinabs' imported network failed to run", e) from None
    finally:
        for h in hooks:
            h.remove()
    out = out[0] if isinstance(out, tuple) else out
    res = SimResult(adapters=["run in float32 (sinabs creates its state in float32); input squeezed to [B*T, ...] "
                              "and outputs back to time-major"],
                    note="sinabs.nir.from_nir on the plain graph (tau in time steps, r and dt ignored, "
                         "multi-spikes with subtract reset)")
    for name, recs in records.items():
        if len(recs) == 1 and recs[0].shape[0] == batch * steps:
            res.spikes[name] = _time_major(recs[0], steps, batch).to(torch.float64).numpy()
    out_name = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)][0]
    if out.shape[0] != batch * steps:
        raise SnnexportError(f"sinabs' imported network returned {list(out.shape)}, expected [B*T={batch * steps}, ...]")
    res.readout[out_name] = _time_major(out, steps, batch).to(torch.float64).numpy()
    return res
