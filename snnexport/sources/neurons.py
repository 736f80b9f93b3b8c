"""NeuronSpec -> NIR neuron node: Euler-equivalent NIR fields plus the exact discrete form.

The NIR fields are chosen so that NIR's own Euler step with the graph's ``dt``
(``v += dt/tau * ((v_leak - v) + r*I)``) is mathematically the source's update; the
``snnexport`` metadata (:class:`~snnexport.extension.NeuronExt`) keeps the source's exact
arithmetic, comparison and reset so our simulators reproduce it to the bit.
"""

from __future__ import annotations

from typing import List, Tuple

import nir
import numpy as np

from ..errors import SnnexportError
from ..extension import CUBA_DYNAMICS_PARAMS, DYNAMICS_PARAMS, FLOAT32_SUFFIX, NeuronExt, set_node_ext
from .registry import NeuronSpec


def _arr(value, shape, name: str, where: str) -> np.ndarray:
    if value is None:
        raise SnnexportError(f"{where}: neuron parameter {name} is missing")
    try:
        a = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
        return np.broadcast_to(a, shape).copy()
    except ValueError:
        raise SnnexportError(
            f"{where}: neuron parameter {name} of shape {np.shape(value)} does not fit neuron shape {tuple(shape)}"
        ) from None


def _dense(w, b) -> nir.NIRNode:
    w = np.asarray(w.detach().cpu().numpy() if hasattr(w, "detach") else w, dtype=np.float64)
    if b is None:
        return nir.Linear(weight=w)
    return nir.Affine(weight=w, bias=np.asarray(b.detach().cpu().numpy() if hasattr(b, "detach") else b, dtype=np.float64))


def neuron_nodes(spec: NeuronSpec, shape: Tuple[int, ...], dt: float, where: str) -> List[Tuple[str, nir.NIRNode]]:
    """Return ``[("", neuron_node)]`` plus ``[("rec", recurrent_node)]`` for RLeaky-like specs
    and ``[("in", input_node)]`` for cells that project their input themselves (Norse
    LILinearCell/LIFRecurrentCell): the converter wires ``input -> in -> neuron``."""
    shape = tuple(int(s) for s in shape)
    dt = float(spec.dt if spec.dt is not None else dt)
    A = lambda v, n: _arr(v, shape, n, where)  # noqa: E731
    thr, v_reset, v_leak = A(spec.threshold, "threshold"), A(spec.v_reset, "v_reset"), A(spec.v_leak, "v_leak")
    if spec.reset != "value":
        v_reset = np.zeros(shape)  # NIR cannot say subtract/none; the extension does
    cuba = spec.kind.startswith("Cuba")
    table = CUBA_DYNAMICS_PARAMS if cuba else DYNAMICS_PARAMS
    if spec.dynamics not in table:
        raise SnnexportError(f"{where}: unknown dynamics {spec.dynamics!r} for {spec.kind}")
    params = {p: A(getattr(spec, p), p) for p in table[spec.dynamics]}
    v_init = A(spec.v_init, "v_init")
    if np.any(v_init != 0):
        params["v_init"] = v_init  # the membrane starts there (SpikingJelly: v_reset)
    for name, value in (spec.float32_params or {}).items():
        if name not in params:
            raise SnnexportError(f"{where}: float32 value given for unknown parameter {name!r}")
        f32 = A(value, name)
        if np.any(f32 != params[name].astype(np.float32).astype(np.float64)):
            params[name + FLOAT32_SUFFIX] = f32  # only when it differs from float32(params[name])

    if cuba:
        node = _cuba_node(spec, params, thr, v_reset, v_leak, dt, where)
    else:
        tau, r = _nir_tau_r(spec.dynamics, params, dt, where)
        if spec.kind == "LI":
            node = nir.LI(tau=tau, r=r, v_leak=v_leak)
        elif spec.kind == "LIF" and spec.dynamics == "beta" and np.all(params["beta"] == 1.0):
            node = nir.IF(r=params["gain"] / dt, v_threshold=thr, v_reset=v_reset)
        elif spec.kind == "LIF":
            node = nir.LIF(tau=tau, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset)
        else:
            raise SnnexportError(f"{where}: unknown neuron kind {spec.kind!r}")
    ext = NeuronExt(spec.dynamics, params, spec.compare, spec.reset, spec.reset_timing, dt)
    ext.validate(type(node).__name__, where)
    set_node_ext(node, **ext.to_meta(), framework=spec.framework)
    out: List[Tuple[str, nir.NIRNode]] = [("", node)]
    if spec.recurrent is not None:
        out.append(("rec", _dense(*spec.recurrent)))
    if spec.input_weight is not None:
        out.append(("in", _dense(*spec.input_weight)))
    return out


def _nir_tau_r(dynamics: str, p, dt: float, where: str):
    if dynamics == "beta":
        one_minus = 1.0 - p["beta"]
        if np.any(p["beta"] < 0) or np.any(p["beta"] > 1):
            raise SnnexportError(f"{where}: beta must lie in [0, 1]")
        safe = np.where(one_minus > 0, one_minus, np.inf)  # beta == 1: no leak (tau -> inf)
        with np.errstate(divide="ignore"):
            tau = np.where(one_minus > 0, dt / np.where(one_minus > 0, one_minus, 1.0), np.finfo(np.float64).max)
        r = np.where(one_minus > 0, p["gain"] / safe, p["gain"])
        return tau, r
    if dynamics in ("tau_decay_input", "tau"):
        if np.any(p["tau"] <= 0):
            raise SnnexportError(f"{where}: tau must be positive")
        tau = p["tau"] * dt
        r = p["gain"] if dynamics == "tau_decay_input" else p["gain"] * p["tau"]
        return tau, r
    if dynamics == "euler":
        return 1.0 / p["tau_mem_inv"], p["r"]
    if dynamics == "rc":  # U += (1-decay)*((0 - U) + r_nir*I): tau = dt/(1-decay), r_nir = R (in real arithmetic)
        k = 1.0 - p["decay"]
        if np.any(k <= 0) or np.any(k > 1):
            raise SnnexportError(f"{where}: Lapicque decay 1 - time_step/(R*C) must lie in [0, 1)")
        return dt / k, p["r"] * p["rc_inv"] * p["time_step"] / k
    if dynamics in ("sigmoid_decay_input", "sigmoid"):  # U += k*((v_leak - U) + r*I): tau = dt/k
        if np.any(p["k"] <= 0) or np.any(p["k"] > 1):
            raise SnnexportError(f"{where}: decay factor k = sigmoid(w) must lie in (0, 1]")
        return dt / p["k"], p["gain"] if dynamics == "sigmoid_decay_input" else p["gain"] / p["k"]
    raise SnnexportError(f"{where}: unknown dynamics {dynamics!r}")


def _cuba_node(spec: NeuronSpec, p, thr, v_reset, v_leak, dt: float, where: str):
    if spec.dynamics == "beta":
        tau_syn = dt / (1.0 - p["alpha"])
        w_in = p["syn_gain"] / (1.0 - p["alpha"])
        tau_mem = dt / (1.0 - p["beta"])
        r = p["gain"] / (1.0 - p["beta"])
    else:  # norse forms: the input jump syn_gain*I equals NIR's Euler input term (dt/tau_syn)*w_in*I
        tau_syn, tau_mem = 1.0 / p["tau_syn_inv"], 1.0 / p["tau_mem_inv"]
        w_in, r = p["syn_gain"] / (dt * p["tau_syn_inv"]), np.ones_like(tau_mem)
    if spec.kind == "CubaLI":
        return nir.CubaLI(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, w_in=w_in)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=r, v_leak=v_leak, v_threshold=thr, v_reset=v_reset, w_in=w_in)
