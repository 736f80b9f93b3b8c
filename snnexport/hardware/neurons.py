"""Per-step decay factors of a neuron node, whatever dynamics form it uses.

``beta`` is the factor the membrane keeps per step without input, ``alpha`` the synaptic
current's (``None`` for neurons without one). Both follow the ``snnexport`` extension
(extension.py) when present, else NIR's Euler step ``1 - dt/tau``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..extension import neuron_ext


def _arr(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float64).reshape(-1)


def decay_factors(node, name: str, dt: float) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    t = type(node).__name__
    ext = neuron_ext(node, name)
    p = dict(ext.params) if ext is not None else {}
    dyn = ext.dynamics if ext is not None else None
    if t == "IF":
        beta = _arr(p["beta"]) if dyn == "beta" and "beta" in p else np.ones(1)
        return beta, None
    if t in ("LIF", "LI"):
        if dyn == "beta":
            return _arr(p["beta"]), None
        if dyn in ("tau", "tau_decay_input"):
            return 1.0 - 1.0 / _arr(p["tau"]), None
        if dyn == "euler":
            return 1.0 - dt * _arr(p["tau_mem_inv"]), None
        return 1.0 - dt / _arr(node.tau), None
    if t in ("CubaLIF", "CubaLI"):
        if dyn == "beta":
            return _arr(p["beta"]), _arr(p["alpha"])
        if dyn in ("norse", "norse_jump"):
            return 1.0 - dt * _arr(p["tau_mem_inv"]), 1.0 - dt * _arr(p["tau_syn_inv"])
        return 1.0 - dt / _arr(node.tau_mem), 1.0 - dt / _arr(node.tau_syn)
    raise ValueError(f"node '{name}': {t} is not a neuron type")
