"""What every simulator participant returns, and the registry of participants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

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


def register_simulator(name: str, role: str = "simulator"):
    def deco(fn):
        SIMULATORS[name] = fn
        ROLES[name] = role
        return fn

    return deco
