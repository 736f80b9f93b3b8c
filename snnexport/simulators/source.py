"""The source model as a verify participant, run in its own framework.

Spikes of each neuron node are recorded with forward hooks on the module named by the
node's ``source_path``; the readout is the model's own return value.
"""

from __future__ import annotations

from typing import Any, Dict, List

import nir
import numpy as np
import torch

from ..errors import SnnexportError
from ..extension import graph_ext, source_path
from ..graph import output_is_time_reduced
from ..semantics import SPIKING_TYPES
from ..sources.frameworks import cast_state, reset_state, to_source_layout
from ..sources.registry import neuron_rule
from .base import SimResult, register_simulator


def _to_time_major(t: torch.Tensor, layout: str) -> torch.Tensor:
    return t.transpose(0, 1) if layout == "BT" else t


def run_source_model(model: torch.nn.Module, graph: nir.NIRGraph, x: torch.Tensor) -> SimResult:
    ext = graph_ext(graph)
    layout = ext.input_layout
    modules = dict(model.named_modules())
    spiking = {n: node for n, node in graph.nodes.items() if type(node).__name__ in SPIKING_TYPES}
    records: Dict[str, List[torch.Tensor]] = {n: [] for n in spiking}
    hooks = []
    for name in spiking:
        path = source_path(graph.nodes[name])
        mod = modules.get(path) if path is not None else None
        if mod is None:
            raise SnnexportError(f"node {name!r}: source module {path!r} not found in the model")
        spec = neuron_rule(mod)(mod)

        def hook(m, args, out, _name=name, _idx=spec.output_index):
            out = _cast_floats(out, x.dtype)  # a user's spike function may return .float() in a float64 run
            main = out[_idx] if _idx is not None else out
            records[_name].append(main.detach().clone())  # a later in-place op (out += x) must not change it
            return out

        hooks.append(mod.register_forward_hook(hook))
    cast_state(model, x.dtype)
    reset_state(model)
    try:
        with torch.no_grad():
            if layout == "step":
                outs = _run_steps(model, x)
            elif layout == "static":  # one frame; forward repeats it over time itself
                if x.shape[0] != ext.default_steps or not bool((x == x[:1]).all()):
                    raise SnnexportError(f"this graph's input is static (the model repeats one frame over "
                                         f"{ext.default_steps} steps inside forward): the input must hold the same "
                                         f"frame at all {ext.default_steps} steps (got {x.shape[0]} steps)")
                out = model(x[0])
            else:
                out = model(to_source_layout(x, layout))
    finally:
        for h in hooks:
            h.remove()
        reset_state(model)
    res = SimResult()
    for name, recs in records.items():
        if not recs:
            continue
        per_sample = np.asarray(graph.nodes[name].output_type["output"]).size
        if len(recs) == 1 and recs[0].dim() == per_sample + 2:  # one multi-step call
            res.spikes[name] = _to_time_major(recs[0], layout).to(torch.float64).numpy()
        else:  # one call per time step (step models, or time loops inside forward)
            res.spikes[name] = torch.stack(recs).to(torch.float64).numpy()
    out_name = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)][0]
    if layout == "step":
        res.readout[out_name] = torch.stack([_first_tensor(o) for o in outs]).to(torch.float64).numpy()
    else:
        y = _first_tensor(out)
        reduced = output_is_time_reduced(graph, out_name)
        res.readout[out_name] = (y if reduced else _to_time_major(y, layout)).to(torch.float64).numpy()
    return res


def _cast_floats(out: Any, dtype: torch.dtype) -> Any:
    """A neuron's tensor outputs in the run dtype (framework state tuples left as they are)."""
    if isinstance(out, torch.Tensor):
        return out.to(dtype) if out.is_floating_point() and out.dtype != dtype else out
    if type(out) is tuple:
        return tuple(o.to(dtype) if isinstance(o, torch.Tensor) and o.is_floating_point() and o.dtype != dtype else o
                     for o in out)
    return out


def _run_steps(model: torch.nn.Module, x: torch.Tensor) -> List[Any]:
    """Call a step model once per time step. A model that returns ``(output, state)`` with a
    non-tensor state (Norse ``SequentialState``, cells) gets that state back at the next step."""
    outs, state = [], None
    for t in range(x.shape[0]):
        o = model(x[t]) if state is None else model(x[t], state)
        if isinstance(o, tuple) and len(o) == 2 and not isinstance(o[1], torch.Tensor) and isinstance(o[0], torch.Tensor):
            o, state = o[0], o[1]
        outs.append(o)
    return outs


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out:
        return _first_tensor(out[0])
    raise SnnexportError(f"source model returned {type(out).__name__}, expected a tensor")


@register_simulator("source", role="source", default=True, needs=("checkpoint",))
def run_source(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, source=None, **_: Any) -> SimResult:
    if source is None:
        raise SnnexportError("the source participant needs a checkpoint (.pt), not a .nir graph")
    model = source.model.to(dtype)
    return run_source_model(model, graph, x.to(dtype))
