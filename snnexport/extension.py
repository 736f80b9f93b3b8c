r"""The ``snnexport`` NIR metadata extension: everything NIR cannot say, in one place.

NIR describes neurons as continuous ODEs (``tau * dv/dt = (v_leak - v) + r*I``), fires on
``v > v_threshold`` and resets to ``v_reset``. Trained PyTorch SNNs are discrete-time
programs with their own arithmetic, reset rules and comparisons. To make a round trip
exact, every node and the graph may carry ``metadata["snnexport"]``, a flat-ish dict that
``nir.write``/``nir.read`` round-trip as HDF5 groups. Standard NIR consumers ignore it and
still read a meaningful graph: the NIR fields are always filled with the Euler
discretisation of the same dynamics (``dt`` from the graph extension), so a consumer that
ignores the extension runs the "closest plain-NIR" network and :func:`snnexport.consumers.consumer_warnings`
says exactly where it will differ.

Graph extension (``graph.metadata["snnexport"]``), see :class:`GraphExt`.

Neuron extension (on ``LIF``, ``IF``, ``CubaLIF``, ``LI``, ``CubaLI`` nodes), see
:class:`NeuronExt`. The update of one time step ``t`` for input current ``I_t``
(the sum of all incoming edges) is, in this order:

1. **Dynamics** (``dynamics``; the float operations are done exactly in the order written):

   ``beta``            ``U = beta*U + gain*I``                           (snnTorch, seed 000/004 custom LIF, IF with beta=1)
   ``tau_decay_input`` ``U = U + (gain*I - (U - v_leak)) / tau``         (SpikingJelly LIFNode decay_input=True, seed 003)
   ``tau``             ``U = U - (U - v_leak) / tau + gain*I``           (SpikingJelly LIFNode decay_input=False)
   ``euler``           ``U = U + dt*tau_mem_inv*((v_leak - U) + r*I)``    (Norse LIFBox; NIR's own Euler step)
   ``sigmoid_decay_input`` ``U = U + (gain*I - (U - v_leak)) * k``       (SpikingJelly ParametricLIFNode decay_input=True)
   ``sigmoid``         ``U = U - (U - v_leak) * k + gain*I``             (SpikingJelly ParametricLIFNode decay_input=False)
   ``rc``              ``U = ((I*r)*rc_inv)*time_step + decay*U``        (snnTorch Lapicque: r = R, rc_inv = 1/(R*C),
                                                                        decay = 1 - time_step/(R*C), as snnTorch derives them)

   For the two ``sigmoid`` forms ``k = sigmoid(w)`` is the decay factor *as the source computes it*
   (PLIF multiplies by ``w.sigmoid()``; ``1/tau`` would round differently). Torch's float32
   sigmoid is not the float64 one rounded to float32, so the node may carry ``k_float32``
   beside ``k``: see **per-dtype parameters** below.

   ``CubaLIF``/``CubaLI`` nodes have a synaptic current ``J``:

   ``beta``   ``J = alpha*J + syn_gain*I;  U = beta*U + gain*J``         (snnTorch Synaptic)
   ``norse``  ``U = U + dt*tau_mem_inv*((v_leak - U) + J);  J = J + (-dt*tau_syn_inv)*J``,
              then (after fire/reset) ``J = J + syn_gain*I``             (Norse <= 1.0 LIFCell/LICell: input enters after the membrane step)
   ``norse_jump``  ``J = J + syn_gain*I;  U = U + dt*tau_mem_inv*((v_leak - U) + J);  J = J + (-dt*tau_syn_inv)*J``
              (Norse 1.1 LIFCell/LICell, functional/lif.py:335-341: input joins the current before the membrane step)

   With ``reset_timing == "delayed"`` the reset of the previous step enters here (snnTorch
   ``reset_delay=True``): for ``subtract``, ``U = dyn(U, I) - S[t-1]*v_threshold``; for
   ``value``, ``U = dyn(where(S[t-1], v_reset, U), I)``.
   With ``reset_timing == "delayed_after"`` (``value`` reset only) the previous step's spikes
   reset the membrane *after* this step's dynamics: ``U = where(S[t-1], v_reset, dyn(U, I))``
   (snnTorch Synaptic/RLeaky/Lapicque ``reset_mechanism="zero"`` with ``reset_delay=True``:
   ``mem = base - reset*base``, which is ``0`` where ``reset`` and ``base`` elsewhere, exactly;
   a synaptic current is not reset).

   **Initial state** (``params["v_init"]``, optional, default 0): the membrane ``U`` at the first
   step (and after every reset of the network). SpikingJelly neurons start at ``v = v_reset``;
   NIR and plain consumers start at 0. Synaptic currents and previous spikes start at 0.

   **Per-dtype parameters**: a parameter ``X_float32`` beside ``X`` is the value a float32 run
   uses instead of ``float32(X)`` (the source derives it, e.g. ``sigmoid(w)``, in the run dtype
   and the two roundings differ). Every participant reads the parameters through
   :meth:`NeuronExt.run_params`.

2. **Fire** (``compare``): ``S = U > v_threshold`` (``gt``, NIR, snnTorch, Norse) or
   ``S = U >= v_threshold`` (``ge``, SpikingJelly, seed 000). ``LI``/``CubaLI`` never fire; their
   output is the membrane ``U``.

3. **Reset** (``reset``; only with ``reset_timing == "immediate"``):
   ``value``: ``U = where(S, v_reset, U)``; ``subtract``: ``U = U - S*v_threshold``;
   ``none``: nothing.

Non-neuron node extension: ``time_reduction`` (``mean``/``sum``/``last``/``max``) on a node
means its input (the sum of its incoming edges) is first reduced over all ``T`` time steps,
and the node and everything after it is evaluated once, after the last step (e.g. seed
000's LLR head: ``llr = W @ mean_t(spikes_t) + b``). ``source_path`` names the module of
the source model the node came from.

Quantized graphs (``snnexport quantize``): ``chip`` on weight and neuron nodes holds the
target's integer parameters and ``extra.quantized_for`` on the graph names the target;
their equations are in docs/quantization.md.

Operation extension (``op`` on a non-neuron node): the node computes another function than
its NIR type says; plain consumers run the NIR type (the documented fallback, listed by
:func:`snnexport.consumers.consumer_warnings` and ``snnexport inspect``):

``max_pool2d``  stored as ``AvgPool2d`` (same ``kernel_size``, ``stride``, ``padding``):
                ``y[c, i, j] = max_{0 <= a < kh, 0 <= b < kw} x[c, i*sh + a - ph, j*sw + b - pw]``
                over the positions inside the input (padding never wins: it is -inf, as in
                ``torch.nn.functional.max_pool2d``; dilation 1, floor output size). Exact in
                every dtype (a max rounds nothing). Plain NIR consumers compute the window
                average (zero padding counted) instead. Max pooling of *spikes* needs no
                extension: it is emitted as plain ``SumPool2d -> Threshold(0.5)`` (and a sum of
                such chains for integer SEW sums), see ``sources/torch_layers.py``.

Transposed convolution (``op = "conv_transpose2d"`` on a ``Conv2d`` node; PyTorch
``ConvTranspose2d``): ``y = conv_transpose2d(x, weight, bias, stride, padding, output_padding,
groups, dilation)`` with the metadata's ``weight`` (PyTorch layout ``[C_in, C_out/groups, kh, kw]``),
``stride``, ``padding``, ``output_padding``, ``dilation``, ``groups`` and ``input_shape``
(``[C, H, W]``). The node's NIR fields are the exact equivalent ``conv2d`` (stride 1, no padding,
flipped dense weight) of the zero-upsampled, padded input; see :mod:`snnexport.conv_transpose`
for the equations and what plain NIR readers do with it.

Elementwise activations (``op = "relu"`` or ``"sigmoid"`` on a ``Scale`` node of ones; PyTorch
``nn.ReLU``/``nn.Sigmoid``): ``y = max(x, 0)`` / ``y = 1/(1 + exp(-x))`` as ``torch.relu``/
``torch.sigmoid`` compute them. Plain NIR consumers see the identity ``Scale`` (exact for ReLU
of spikes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Optional

import numpy as np

KEY = "snnexport"
FORMAT_VERSION = 1

# The forms, the parameters each needs, the neuron/spiking types: one table (snnexport/semantics.py).
from .semantics import CUBA_DYNAMICS_PARAMS, DYNAMICS_PARAMS, NEURON_TYPES, SPIKING_TYPES  # noqa: E402,F401

FLOAT32_SUFFIX = "_float32"  # a parameter's float32-run override (see "per-dtype parameters")
COMPARES = ("gt", "ge")
RESETS = ("value", "subtract", "none")
RESET_TIMINGS = ("immediate", "delayed", "delayed_after")
TIME_REDUCTIONS = ("mean", "sum", "last", "max")
INPUT_LAYOUTS = ("TB", "BT", "step", "static")
NODE_OPS = ("max_pool2d", "conv_transpose2d", "relu", "sigmoid")  # operation extensions (see module docstring)
INPUT_KINDS = ("spikes", "analog")


class ExtensionError(ValueError):
    """The snnexport metadata of a node or graph is malformed."""


def scalar(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return v.decode("utf8")
    return v


@dataclass
class NeuronExt:
    """Discrete-time semantics of one neuron node (see module docstring for equations).

    ``params`` holds the per-form arrays named in :data:`DYNAMICS_PARAMS` /
    :data:`CUBA_DYNAMICS_PARAMS`, each broadcastable to the neuron shape. Threshold,
    reset value and leak potential are the NIR node's own ``v_threshold``, ``v_reset``
    and ``v_leak`` fields (one source of truth).
    """

    dynamics: str
    params: Dict[str, np.ndarray] = field(default_factory=dict)
    compare: str = "gt"
    reset: str = "value"
    reset_timing: str = "immediate"
    dt: float = 1.0

    def run_params(self, float32: bool) -> Dict[str, np.ndarray]:
        """The parameters a run in float32 (``float32=True``) or float64 uses: each ``X_float32``
        replaces ``X`` in float32 runs and is dropped otherwise (values stay float64 arrays)."""
        out = {k: v for k, v in self.params.items() if not k.endswith(FLOAT32_SUFFIX)}
        if float32:
            for k, v in self.params.items():
                if k.endswith(FLOAT32_SUFFIX) and k[:-len(FLOAT32_SUFFIX)] in out:
                    out[k[:-len(FLOAT32_SUFFIX)]] = v
        return out

    def v_init(self) -> Optional[np.ndarray]:
        """The initial membrane, or ``None`` when it is 0 (the NIR convention)."""
        v = self.params.get("v_init")
        return None if v is None or not np.any(v != 0) else np.asarray(v, dtype=np.float64)

    def to_meta(self) -> Dict[str, Any]:
        return {
            "dynamics": self.dynamics,
            "compare": self.compare,
            "reset": self.reset,
            "reset_timing": self.reset_timing,
            "dt": float(self.dt),
            "params": {k: np.asarray(v, dtype=np.float64) for k, v in self.params.items()},
        }

    @classmethod
    def from_meta(cls, meta: Dict[str, Any], node_type: str, where: str = "") -> "NeuronExt":
        try:
            ext = cls(
                dynamics=str(scalar(meta["dynamics"])),
                params={k: np.asarray(v, dtype=np.float64) for k, v in dict(meta.get("params", {})).items()},
                compare=str(scalar(meta.get("compare", "gt"))),
                reset=str(scalar(meta.get("reset", "value"))),
                reset_timing=str(scalar(meta.get("reset_timing", "immediate"))),
                dt=float(scalar(meta.get("dt", 1.0))),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ExtensionError(f"{where}: malformed snnexport neuron metadata ({e})") from None
        ext.validate(node_type, where)
        return ext

    def validate(self, node_type: str, where: str = "") -> None:
        table = CUBA_DYNAMICS_PARAMS if node_type.startswith("Cuba") else DYNAMICS_PARAMS
        if self.dynamics not in table:
            raise ExtensionError(
                f"{where}: unknown dynamics {self.dynamics!r} for {node_type} (known: {', '.join(table)})"
            )
        missing = [p for p in table[self.dynamics] if p not in self.params]
        if missing:
            raise ExtensionError(f"{where}: dynamics {self.dynamics!r} needs parameter(s) {', '.join(missing)}")
        for name, value in self.params.items():
            if not np.all(np.isfinite(value)):
                raise ExtensionError(f"{where}: parameter {name} has non-finite values")
        if self.compare not in COMPARES:
            raise ExtensionError(f"{where}: compare must be one of {COMPARES}, got {self.compare!r}")
        if self.reset not in RESETS:
            raise ExtensionError(f"{where}: reset must be one of {RESETS}, got {self.reset!r}")
        if self.reset_timing not in RESET_TIMINGS:
            raise ExtensionError(f"{where}: reset_timing must be one of {RESET_TIMINGS}, got {self.reset_timing!r}")
        if self.reset_timing == "delayed_after" and self.reset == "subtract":
            raise ExtensionError(f"{where}: reset_timing 'delayed_after' is defined for the value reset only")
        if not (math.isfinite(self.dt) and self.dt > 0):
            raise ExtensionError(f"{where}: dt must be a positive number, got {self.dt}")


@dataclass
class GraphExt:
    """Graph-wide facts: time step, where the graph came from, how the source consumes input.

    ``input_layout``: ``TB`` (source model takes ``[T, B, ...]``), ``BT`` (``[B, T, ...]``) or
    ``step`` (called once per time step with ``[B, ...]``, state kept inside its modules) or
    ``static`` (called once with one analog frame ``[B, ...]`` that forward itself repeats over
    ``default_steps`` steps, e.g. ``x.unsqueeze(0).repeat(T, 1, ...)`` or a loop feeding ``x``
    every step; the graph's input is per step, and verify feeds ``[T, B, ...]`` with that frame
    at every step).
    Inputs given to ``snnexport verify --input`` are always time-major ``[T, B, ...]``.
    ``input_kind``: ``spikes`` (Bernoulli inputs by default) or ``analog`` (real currents).
    """

    dt: float = 1.0
    source_framework: str = "torch"
    source_framework_version: str = ""
    input_layout: str = "TB"
    input_kind: str = "spikes"
    input_shape: tuple = ()
    default_steps: int = 8
    snnexport_version: str = ""
    format_version: int = FORMAT_VERSION
    extra: Dict[str, Any] = field(default_factory=dict)
    # Which fields the graph itself states (the rest are defaults: "unknown" to inspect). Not written.
    known: frozenset = field(default=frozenset(), compare=False)

    def to_meta(self) -> Dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("input_shape", "extra", "known")}
        out["input_shape"] = np.asarray(self.input_shape, dtype=np.int64)
        out["dt"] = float(self.dt)
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_meta(cls, meta: Dict[str, Any], where: str = "graph") -> "GraphExt":
        kw: Dict[str, Any] = {"known": frozenset(f.name for f in fields(cls) if f.name in meta)}
        for f in fields(cls):
            if f.name in meta and f.name != "known":
                v = meta[f.name]
                if f.name == "input_shape":
                    kw[f.name] = tuple(int(x) for x in np.asarray(v).reshape(-1))
                elif f.name == "extra":
                    kw[f.name] = {k: scalar(x) for k, x in dict(v).items()}
                else:
                    kw[f.name] = scalar(v)
        ext = cls(**kw)
        if ext.input_layout not in INPUT_LAYOUTS:
            raise ExtensionError(f"{where}: input_layout must be one of {INPUT_LAYOUTS}, got {ext.input_layout!r}")
        if ext.input_kind not in INPUT_KINDS:
            raise ExtensionError(f"{where}: input_kind must be one of {INPUT_KINDS}, got {ext.input_kind!r}")
        if not (math.isfinite(float(ext.dt)) and float(ext.dt) > 0):
            raise ExtensionError(f"{where}: dt must be a positive number, got {ext.dt}")
        return ext


# ----- accessors -------------------------------------------------------------------------

def node_ext(node) -> Dict[str, Any]:
    """The raw ``snnexport`` metadata dict of a node (empty if none)."""
    meta = getattr(node, "metadata", None) or {}
    return dict(meta.get(KEY, {}) or {})


def set_node_ext(node, **values: Any) -> None:
    meta = dict(getattr(node, "metadata", None) or {})
    ext = dict(meta.get(KEY, {}) or {})
    ext.update({k: v for k, v in values.items() if v is not None})
    meta[KEY] = ext
    node.metadata = meta


def neuron_ext(node, where: str = "") -> Optional[NeuronExt]:
    ext = node_ext(node)
    if "dynamics" not in ext:
        return None
    return NeuronExt.from_meta(ext, type(node).__name__, where)


def plain_ext(node, dt: float) -> NeuronExt:
    """A node without our metadata: NIR's own semantics, Euler-discretised with the graph dt."""
    name = type(node).__name__
    if name in ("IF", "I"):  # dv/dt = r*I
        return NeuronExt("beta", {"beta": np.ones_like(node.r), "gain": np.asarray(node.r) * dt}, dt=dt)
    if name in ("CubaLIF", "CubaLI"):
        # NIR's Euler step for the synapse adds (dt/tau_syn)*w_in*I; Norse's order (input first).
        # The membrane sees r*J: J is linear in its input, so r folds into the input gain
        # (bit-identical to the same graph with w_in*r and r=1).
        return NeuronExt("norse_jump", {"tau_mem_inv": 1.0 / np.asarray(node.tau_mem), "tau_syn_inv": 1.0 / np.asarray(node.tau_syn),
                                        "syn_gain": np.asarray(node.r) * np.asarray(node.w_in) * dt / np.asarray(node.tau_syn)},
                         dt=dt)
    return NeuronExt("euler", {"tau_mem_inv": 1.0 / np.asarray(node.tau), "r": np.asarray(node.r)}, dt=dt)


def graph_ext(graph) -> GraphExt:
    """The graph extension; for a graph written elsewhere (no ``input_shape`` recorded) the
    per-sample input shape is the ``Input`` node's own type."""
    meta = getattr(graph, "metadata", None) or {}
    ext = GraphExt.from_meta(dict(meta.get(KEY, {}) or {}))
    if "input_shape" not in ext.known:
        declared = _input_node_shape(graph)
        if declared is not None:
            ext.input_shape = declared
    return ext


def _input_node_shape(graph) -> Optional[tuple]:
    for node in (getattr(graph, "nodes", None) or {}).values():
        if type(node).__name__ == "Input":
            shape = (node.input_type or {}).get("input")
            return None if shape is None else tuple(int(s) for s in np.asarray(shape).reshape(-1))
    return None


def time_reduction(node) -> Optional[str]:
    red = scalar(node_ext(node).get("time_reduction"))
    if red is None or red == "":
        return None
    if red not in TIME_REDUCTIONS:
        raise ExtensionError(f"time_reduction must be one of {TIME_REDUCTIONS}, got {red!r}")
    return red


def node_op(node) -> Optional[str]:
    """The operation extension of a node (one of :data:`NODE_OPS`), or ``None``."""
    op = scalar(node_ext(node).get("op"))
    if op in (None, ""):
        return None
    if op not in NODE_OPS:
        raise ExtensionError(f"unknown snnexport op {op!r} (known: {', '.join(NODE_OPS)})")
    return str(op)


def source_path(node) -> Optional[str]:
    p = scalar(node_ext(node).get("source_path"))
    return str(p) if p not in (None, "") else None


# ----- what a standard NIR consumer would get wrong ----------------------------------------
