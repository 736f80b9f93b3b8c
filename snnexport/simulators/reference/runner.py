"""The reference simulator: a pure functional step over a compiled NIR graph, and a runner.

``program = compile_graph(graph, dtype)``; ``state = init_state(program, batch)``;
``outputs, state = step(program, x_t, state)`` advances every node by one time step.
:func:`simulate` runs ``T`` steps and evaluates time-reduced nodes (readouts) at the end.
:class:`ReferenceSimulator` is the thin ``nn.Module`` around it.
"""

from __future__ import annotations

from typing import Any, Dict, List

import nir
import torch

from ...errors import SnnexportError
from ..base import SimResult, register_simulator
from .program import Program, compile_graph, forget_programs, program_for, run_post  # noqa: F401  (names of the runner API)


def init_state(prog: Program, batch: int) -> Dict[str, Any]:
    state: Dict[str, Any] = {}
    for name in prog.order:
        rule = prog.rules[name]
        if rule.neuron:
            p = prog.params[name]
            if p["shape"] is None:
                raise SnnexportError(f"node {name!r}: neuron shape unknown")
            state[name] = rule.init(p, batch)
    # previous-step outputs for back edges (recurrent connections): at t = 0, the value the
    # source has at rest (every neuron output and the input zero): zeros for a neuron, f(0)
    # for a stateless node, e.g. a recurrent Affine's bias (snnTorch RLeaky: recurrent(spk=0))
    rest: Dict[str, torch.Tensor] = {}
    for a, _ in prog.back:
        state[("prev", a)] = _at_rest(prog, a, batch, rest)
    return state


def _at_rest(prog: Program, name: str, batch: int, rest: Dict[str, torch.Tensor]) -> torch.Tensor:
    if name not in rest:
        rule = prog.rules[name]
        if rule.neuron or name == prog.input_name or not prog.inputs[name]:
            shp = prog.out_shapes.get(name)
            if shp is None:
                raise SnnexportError(f"node {name!r}: output shape unknown, needed for its recurrent edge")
            rest[name] = torch.zeros((batch, *shp), dtype=prog.dtype)
        else:  # every cycle passes through a neuron, so this recursion ends; a Delay at rest
            # (state None: nothing has arrived) outputs 0, or its input where d = 0
            total = None
            for src in prog.inputs[name]:
                v = _at_rest(prog, src, batch, rest)
                total = v if total is None else total + v
            rest[name] = rule.step(total, None, prog.params[name])[0]
    return rest[name]


def _sum_inputs(prog: Program, name: str, values: Dict[str, torch.Tensor], state) -> torch.Tensor:
    total = None
    for src in prog.inputs[name]:
        v = state[("prev", src)] if (src, name) in prog.back else values[src]
        total = v if total is None else total + v
    return total


def step(prog: Program, x_t: torch.Tensor, state: Dict[str, Any]):
    """Advance every per-step node by one time step. Returns (node outputs, new state, membranes)."""
    values: Dict[str, torch.Tensor] = {}
    membranes: Dict[str, torch.Tensor] = {}
    new_state = dict(state)
    for name in prog.order:
        rule = prog.rules[name]
        x = x_t if name == prog.input_name else _sum_inputs(prog, name, values, state)
        y, s, mem = rule.step(x, state.get(name), prog.params[name])
        values[name] = y
        if rule.neuron or rule.stateful:
            new_state[name] = s
        if rule.neuron:
            membranes[name] = mem
    for a, _ in prog.back:
        new_state[("prev", a)] = values[a]
    return values, new_state, membranes


def simulate(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype = torch.float64,
             record_activations: bool = False, record_membranes: bool = True, mode: str = "auto") -> SimResult:
    """Run ``x`` (time-major ``[T, B, *input_shape]``) through ``graph``.

    ``mode="auto"`` runs time-batched (:mod:`.batched`: one GEMM/convolution per layer over all
    steps, a fused neuron scan; same spikes) when the graph has no back edges and uses only the
    reference rules, else per step; ``"step"`` always per step; ``"batched"`` insists."""
    prog = graph if isinstance(graph, Program) else compile_graph(graph, dtype)
    if mode not in ("auto", "step", "batched"):
        raise SnnexportError(f"simulate: mode must be auto, step or batched, got {mode!r}")
    if mode != "step":
        from .batched import batch_reason, simulate_batched

        reason = batch_reason(prog)
        if reason is None:
            return simulate_batched(prog, x, record_activations, record_membranes)
        if mode == "batched":
            raise SnnexportError(f"simulate: cannot run time-batched: {reason}")
    x = x.to(prog.dtype)
    T, B = x.shape[:2]
    state = init_state(prog, B)
    per_step: Dict[str, List[torch.Tensor]] = {}
    mems: Dict[str, List[torch.Tensor]] = {}
    needed_by_post = {src for n in prog.post_order for src in prog.inputs[n] if src not in prog.post_order}
    keep = set(n for n in prog.order if prog.rules[n].spiking) | needed_by_post
    keep |= {n for n in prog.order if isinstance(prog.graph.nodes[n], nir.Output)}
    if record_activations:
        keep |= set(prog.order)
    with torch.no_grad():
        for t in range(T):
            values, state, membranes = step(prog, x[t], state)
            for n in keep:
                per_step.setdefault(n, []).append(values[n])
            if record_membranes:
                for n, m in membranes.items():
                    mems.setdefault(n, []).append(m)
        stacked = {n: torch.stack(v) for n, v in per_step.items()}
        post_values = run_post(prog, stacked)
    res = SimResult(adapters=list(prog.adapters))
    for n in prog.order:
        if prog.rules[n].spiking:
            res.spikes[n] = stacked[n].to(torch.float64).numpy()
        elif record_activations and not isinstance(prog.graph.nodes[n], (nir.Input, nir.Output)):
            res.activations[n] = stacked[n].numpy()
    res.membranes = {n: torch.stack(v).numpy() for n, v in mems.items() if v[0] is not None}
    for n, node in prog.graph.nodes.items():
        if isinstance(node, nir.Output):
            res.readout[n] = (post_values[n] if n in post_values else stacked[n]).numpy()
        elif record_activations and n in post_values:
            res.activations[n] = post_values[n].numpy()
    return res


class ReferenceSimulator(torch.nn.Module):
    """``nn.Module`` wrapper: ``forward(x [T, B, ...]) -> readout of the first Output node``."""

    def __init__(self, graph: nir.NIRGraph, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.program = compile_graph(graph, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = simulate(self.program, x)
        return torch.from_numpy(next(iter(res.readout.values())))


@register_simulator("reference", role="reference", default=True)
def run_reference(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, **_: Any) -> SimResult:
    return simulate(program_for(graph, dtype), x, dtype)
