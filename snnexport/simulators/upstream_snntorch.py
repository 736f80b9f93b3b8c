"""Upstream witness: snnTorch's own NIR import (``snntorch.import_nir.import_from_nir``) on the plain graph.

What a user gets from snnTorch 1.0.0 without snnexport (``snntorch/import_nir.py``): it
ignores our metadata (we pass :func:`snnexport.graph.plain_view`), assumes ``dt = 1e-4``
whatever the graph says (``beta = 1 - 1e-4/tau``, import_nir.py:243-250), imports every LIF
as ``snn.Leaky(reset_mechanism="zero", reset_delay=False)`` with the threshold divided by
``r*dt/tau`` (its "hack_w_scale", import_nir.py:252-276), every IF as ``snn.Leaky(beta=0.9)``
(import_nir.py:226-240) and CubaLIF as ``snn.Synaptic`` with the same assumptions; it loads
weights as float32 ``torch.Tensor``. It is run here step by step (``init_hidden=True``
neurons keep their state inside the modules) in the requested dtype (with the exact float32-spike cast of
:func:`snnexport.sources.snntorch_rules.float64_fixes`, without which a float64 run
crashes); spikes are recorded
with forward hooks on the modules named like the graph's neuron nodes. Time reductions are
not applied (plain NIR has none): the readout is per step.

``export_upstream(model, sample)`` calls ``snntorch.export_nir.export_to_nir`` for comparison.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Dict, List, Optional

import nir
import torch

import snntorch as snn

from ..errors import SnnexportError
from ..graph import plain_view
from ..sources.snntorch_rules import float64_fixes
from .base import SimResult, record_spiking_outputs, register_simulator, upstream_failure



def _sanitize(name: str) -> str:
    import keyword

    name = name.replace(".", "_")
    return "nir_node_" + name if keyword.iskeyword(name) else name


def importable_view(graph: nir.NIRGraph) -> tuple:
    """``(plain view, {node name: name the upstream importer sees})``.

    Upstream importers turn node names into torch submodule attributes, which fails for names
    like ``forward``, ``__class__`` or ``a.b``; those nodes are renamed ``node_<i>`` in the copy
    handed to the importer only (results are reported under the user's names)."""
    import keyword

    plain = plain_view(graph)
    taken = set(plain.nodes)

    def safe(n: str) -> bool:
        return (n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("_")
                and not hasattr(torch.nn.ModuleDict, n) and not n.startswith("nir_node_"))

    names: Dict[str, str] = {}
    i = 0
    for n in plain.nodes:
        if safe(n):
            names[n] = n
            continue
        while f"node_{i}" in taken:
            i += 1
        names[n] = f"node_{i}"
        taken.add(names[n])
    if any(a != b for a, b in names.items()):
        plain.nodes = {names[n]: node for n, node in plain.nodes.items()}
        plain.edges = [(names[a], names[b]) for a, b in plain.edges]
    return plain, names


def import_upstream(graph: nir.NIRGraph, plain: Optional[nir.NIRGraph] = None) -> torch.nn.Module:
    """``snntorch.import_from_nir`` on the plain view of ``graph`` (its prints silenced)."""
    plain = plain if plain is not None else importable_view(graph)[0]
    try:
        from snntorch.import_nir import import_from_nir  # not re-exported by snntorch 1.0.0's __init__

        with contextlib.redirect_stdout(io.StringIO()):
            return import_from_nir(plain)
    except Exception as e:  # noqa: BLE001 - upstream raises anything (asserts, KeyError, ...)
        raise upstream_failure("snntorch.import_from_nir failed", e) from None


def _reset(net: torch.nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, snn.SpikingNeuron) and callable(getattr(m, "reset_mem", None)):
            m.reset_mem()


@register_simulator("snntorch-upstream", role="upstream", default=True, needs=("snntorch",), rank=1)
def run_upstream(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, **_: Any) -> SimResult:
    plain, upstream_name = importable_view(graph)
    net = import_upstream(graph, plain)
    try:
        net = net.to(dtype)
    except Exception as e:  # noqa: BLE001
        raise SnnexportError(f"snnTorch's imported network cannot be cast to {dtype}: {e}") from None
    float64_fixes(net)  # snnTorch's float32 spikes would crash the next float64 nn.Linear
    modules = dict(net.named_modules())

    def find(name):
        mod = modules.get(_sanitize(upstream_name[name]))
        if mod is None:  # e.g. inside an RNN subgraph: look for a module whose path ends with the name
            hits = [m for p, m in modules.items() if p.split(".")[-1] == _sanitize(upstream_name[name])]
            mod = hits[0] if len(hits) == 1 else None
        return mod

    records, hooks = record_spiking_outputs(graph, find, convert=lambda t: t.to(torch.float64))
    _reset(net)
    outs: List[torch.Tensor] = []
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            state = None
            for t in range(x.shape[0]):
                out = net(x[t].to(dtype), state)
                if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
                    out, state = out
                outs.append(out[0] if isinstance(out, tuple) else out)
    except Exception as e:  # noqa: BLE001
        raise upstream_failure("snnTorch's imported network failed to run", e) from None
    finally:
        for h in hooks:
            h.remove()
        _reset(net)
    res = SimResult(adapters=[] if dtype == torch.float32 else
                    ["spikes cast from snnTorch's float32 to the run dtype (exact: 0/1), as for the source model"],
                    note="snntorch.import_from_nir on the plain graph (assumes dt=1e-4, zero reset, "
                         "reset_delay=False; no time reductions)")
    for name, recs in records.items():
        if len(recs) == x.shape[0]:
            res.spikes[name] = torch.stack(recs).numpy()
    out_name = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)][0]
    res.readout[out_name] = torch.stack([o.to(torch.float64) for o in outs]).numpy()
    return res


def export_upstream(model: torch.nn.Module, sample: torch.Tensor, **kw: Any) -> nir.NIRGraph:
    """``snntorch.export_to_nir(model, sample)`` (for comparison with snnexport's converter).
    It assumes ``dt = 1e-4`` and writes reset-to-zero LIF nodes, whatever the neurons do."""
    try:
        from snntorch.export_nir import export_to_nir

        with contextlib.redirect_stdout(io.StringIO()):
            return export_to_nir(model, sample, **kw)
    except Exception as e:  # noqa: BLE001
        raise upstream_failure("snntorch.export_to_nir failed", e) from None


__all__ = ["run_upstream", "import_upstream", "export_upstream"]
