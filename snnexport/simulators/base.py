"""What every simulator participant returns, and the registry of participants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np


@dataclass
class SimResult:
    """Recorded activity of one run over ``T`` steps on a batch of ``B`` samples.

    ``spikes``: per spiking node (LIF/IF/CubaLIF), ``[T, B, *neuron_shape]`` of 0/1 values.
    ``membranes``: per neuron node, the membrane compared with the threshold at each step
    (after the dynamics, before an immediate reset), ``[T, B, *shape]``; may be partial.
    ``readout``: per Output node, ``[T, B, *shape]`` or ``[B, *shape]`` when time-reduced.
    ``activations``: per non-neuron node (Affine, Conv, ...), its output ``[T, B, *shape]``
    (or ``[B, ...]`` after a time reduction); filled by the reference simulator.
    ``adapters``: the documented adapters this participant needed (verify prints them).
    """

    spikes: Dict[str, np.ndarray] = field(default_factory=dict)
    readout: Dict[str, np.ndarray] = field(default_factory=dict)
    membranes: Dict[str, np.ndarray] = field(default_factory=dict)
    activations: Dict[str, np.ndarray] = field(default_factory=dict)
    adapters: List[str] = field(default_factory=list)
    note: Optional[str] = None


# name -> runner(graph, x, dtype, **context) -> SimResult. ``x`` is a time-major torch tensor
# [T, B, *input_shape] in the requested dtype; context may hold ``source`` (LoadedModel).
SIMULATORS: Dict[str, Callable[..., SimResult]] = {}
ROLES: Dict[str, str] = {}


@dataclass(frozen=True)
class Participant:
    """A registered participant: its ``role`` (source, reference, simulator, upstream, chip),
    whether ``verify`` runs it by default, what it ``needs`` to run ("checkpoint": the source
    model, not only a graph), the module that registered it, and its ``rank`` among its role
    (the order of verify's rows)."""

    name: str
    role: str
    default: bool
    needs: Tuple[str, ...]
    module: str
    rank: int


PARTICIPANTS: Dict[str, Participant] = {}
ROLE_ORDER = ("source", "reference", "simulator", "upstream", "chip")


def register_simulator(name: str, role: str = "simulator", default: bool = False, needs: Iterable[str] = (),
                       rank: int = 100):
    """Register ``fn(graph, x, dtype, **context) -> SimResult`` as participant ``name``."""

    def deco(fn):
        SIMULATORS[name] = fn
        ROLES[name] = role
        PARTICIPANTS[name] = Participant(name, role, bool(default), tuple(needs), fn.__module__, rank)
        return fn

    return deco


def participants(default: Optional[bool] = None, roles: Optional[Iterable[str]] = None,
                 have_source: bool = True) -> List[str]:
    """Registered participant names in row order (role, then rank), optionally only the
    default ones, only some roles, and only those runnable without a checkpoint."""
    roles = tuple(roles) if roles is not None else None
    out = [p for p in PARTICIPANTS.values() if p.name in SIMULATORS
           and (default is None or p.default == default) and (roles is None or p.role in roles)
           and (have_source or "checkpoint" not in p.needs)]
    rank = {r: i for i, r in enumerate(ROLE_ORDER)}
    return [p.name for p in sorted(out, key=lambda p: (rank.get(p.role, len(rank)), p.rank))]


def record_spiking_outputs(graph, find_module: Callable, convert: Callable = lambda t: t) -> Tuple[Dict[str, List], List]:
    """Forward hooks that record, for every spiking node of ``graph``, the output of the upstream
    module ``find_module(node_name)`` maps it to (``None``: not recorded). Each call appends the
    module's (first) output, detached and passed through ``convert``. Returns ``(records,
    hooks)``; the caller removes the hooks. Shared by the upstream witnesses."""
    from ..semantics import SPIKING_TYPES

    records: Dict[str, List] = {}
    hooks = []
    for name, node in graph.nodes.items():
        if type(node).__name__ not in SPIKING_TYPES:
            continue
        mod = find_module(name)
        if mod is None:
            continue
        records[name] = []

        def hook(m, args, out, _n=name):
            spk = out[0] if isinstance(out, tuple) else out
            records[_n].append(convert(spk.detach()))

        hooks.append(mod.register_forward_hook(hook))
    return records, hooks


def upstream_failure(what: str, e: BaseException):
    """The one-line error for an upstream framework call that raised (upstream raises anything:
    asserts, KeyError, ValueError, ...): ``<what>: <type>: <first line>``. Shared by the witnesses."""
    from ..errors import SnnexportError

    msg = str(e).splitlines()[0] if str(e) else "no detail"
    return SnnexportError(f"{what}: {type(e).__name__}: {msg}")
