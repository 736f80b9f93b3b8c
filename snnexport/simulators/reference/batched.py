"""Time-batched execution of the reference simulator (feed-forward graphs).

In a graph without back edges no node depends on the output of a node at the same or a
later position of the execution order *in the same step*, and a stateless node (Affine,
Conv, pooling, ...) has no state across steps. So every stateless node can run **once**
over all ``T`` steps, on its summed input reshaped to ``[T*B, ...]`` (one GEMM or one
convolution per layer), and only the neuron update is a scan over ``T``; a ``Delay`` is its
input shifted by ``d`` steps along time (zeros in front), per element. The scan is one
fused numba kernel per call (:func:`_scan`) that does **exactly** the float operations of
:func:`snnexport.simulators.reference.nodes.neuron_step`, in the same order and dtype (no
fast-math, no FMA contraction), so a neuron fed the same currents produces bit-identical
spikes and membranes. Dynamics forms the kernel does not know, parameters that do not
broadcast to the neuron shape, a missing numba, or a process where loading numba does not
pay yet, fall back to a loop over ``T`` that calls ``neuron_step`` itself.

What may differ from the per-step mode is the rounding of the *linear maps*. float64 runs
MKL's dgemm over ``[T*B, K]``: MKL picks its kernel by row count (``M = 1`` is a GEMV;
remainder rows are summed in another order), so with full-precision random float64 weights
B = 1 and B not a multiple of 4 differ by ~4e-15; the float32-trained MNIST checkpoint run in
float64 is bit-equal at every B (its partial sums are exact in float64). float32 runs oneDNN
with packed weights (:data:`USE_ONEDNN`; ~2x MKL's sgemm here): row-independent, but a few
ulp from MKL's rounding, so a neuron within that of its threshold can flip against the
per-step mode or snnTorch (MNIST-FC: 0 of 311,200 spike values at B=16, T=25; 190 of 39.8 M at
T=200, B=256, which verify classifies as rounding and its consequences; counted in
benchmarks/README.md). ``tests/test_batched.py`` checks identical spikes over every neuron
form and switch, and bit-identical membranes where no GEMM is involved.

Event-driven accumulation (``event="auto"``): an Affine/Linear layer whose input is sparse
(spikes) can gather the rows of ``W.T`` of its active inputs instead of a dense GEMM:
``y[m] = sum_{k: x[m,k] != 0} x[m,k] * W.T[k] (+ b)``, summed in increasing ``k``. That order
is no GEMM's, so ``auto`` uses it only in float64 (:data:`EVENT_DTYPES`; in float32 it flipped
489 of 39.8 M spikes against snnTorch at T=200, B=256) and only where it was measured faster
than the GEMM: the input's activity must lie below :data:`EVENT_MAX_RATE`. The activity is
the spike count the neuron scan that wrote the input returns (no extra pass); only the Input
node's values are counted with ``count_nonzero``.

Buffers (layer outputs, summed inputs, neuron outputs) are allocated once per program and
input shape and reused by later runs (a fresh page costs ~1-5 us on this project's VMs).
:func:`simulate_batched` copies spikes out in the run dtype (a float32 run no longer converts
them to float64: half the fresh pages, no conversion pass). uint8 would be 1/8, but callers do
arithmetic on them (``torch.from_numpy(spikes) * 0.9`` would turn float32 for uint8).
numba is imported only once a process's runs have cost the torch loop more than loading it
(:data:`NUMBA_BREAK_EVEN_S`).

Entry points: :func:`batch_reason` (``None`` if a program can run time-batched),
:func:`run_batched` (tensors living in the program's workspace, for benchmarks) and
:func:`simulate_batched` (a :class:`~snnexport.simulators.base.SimResult` like
``runner.simulate``, which calls it in ``mode="auto"``).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from typing import Any, Dict, Optional, Tuple

import nir
import numpy as np
import torch

from ...errors import SnnexportError
from ...semantics import FORMS, step_params, unsupported_reason
from ..base import SimResult
from .nodes import RULES, neuron_step
from .program import run_post

# optional: without numba every neuron scan uses the torch loop (same results, slower). numba is
# imported lazily, only once a process has run enough neuron steps for it to pay (see
# NUMBA_BREAK_EVEN_S): importing it and loading its cached kernels costs ~0.85 s per process.
HAVE_NUMBA = os.environ.get("SNNEXPORT_NO_NUMBA", "") == "" and importlib.util.find_spec("numba") is not None

# When loading numba pays: the torch loop's extra cost over the fused kernel is modelled as
# LOOP_STEP_S per neuron node and step (the per-step torch op overhead) plus LOOP_ELEM_S per
# neuron-step; loading numba and its cached kernels costs ~NUMBA_BREAK_EVEN_S per process.
# Measured on this project's CPU (benchmarks/README.md, "numba break-even"; MNIST-FC at the
# default B=4, T=25 that is ~1.7 ms a run, so a process needs ~500 such runs before the
# kernels pay). The estimate is summed per process over all runs; once loaded, the kernels
# are always used.
NUMBA_BREAK_EVEN_S = float(os.environ.get("SNNEXPORT_NUMBA_BREAK_EVEN_S", "0.85"))
LOOP_STEP_S = 20e-6
LOOP_ELEM_S = 2e-9
_torch_loop_work = 0.0  # estimated seconds the torch loop has cost more than the kernels so far
_kernels_loaded = False

# When the event-driven Affine/Linear path is used by ``event="auto"``: input activity (the
# fraction of non-zero inputs) below EVENT_MAX_RATE[rows < SMALL_ROWS] and at least
# EVENT_MIN_OUT outputs. Measured break-even against MKL's GEMM on this project's CPU (AMD
# EPYC, 1 thread, `python benchmarks/bench_simulators.py --break-even`): ~0.45 of active inputs
# with few rows (T*B = 25), ~0.22-0.35 with many (T*B = 400..6400), for 256..512 outputs, in
# float32 and float64; with 10 outputs the dense GEMM wins at almost any rate (the per-row
# scan of the inputs dominates). The limits below sit under break-even, so "auto" only picks it where
# it is clearly faster. Set EVENT_MAX_RATE values to 0 to disable.
EVENT_MAX_RATE: Dict[bool, float] = {True: 0.35, False: 0.2}
EVENT_MIN_OUT = 64
SMALL_ROWS = 64
# dtypes in which event="auto" may pick the event-driven path. Its sum over active inputs in
# increasing k rounds differently from any GEMM: in float32 issue 16 counted 16 of 311,200
# spikes flipped against snnTorch's own loop at B=16 and 755 at T=200, B=256 (489 in
# benchmarks/README.md's run), neurons a few ulp from threshold;
# in float64 the difference (~1e-15) has flipped none. float32 uses the oneDNN GEMM instead.
EVENT_DTYPES = (torch.float64,)

# ---------------------------------------------------------------------------------------------
# numba kernels

# The fused kernel's branch (``form`` in :func:`_scan_py`) of each form of the semantics table
# it runs, keyed as the table keys forms: (name, cuba). Its parameter slots p0..p3 are the form's
# step parameters in the table's order (semantics.step_params). A form without a branch runs
# the exact torch loop (neuron_step): a new form of the table needs no edit here.
KERNEL_BRANCHES = {("beta", False): 0, ("tau_decay_input", False): 1, ("tau", False): 2, ("euler", False): 3,
                   ("beta", True): 4, ("norse", True): 5, ("norse_jump", True): 6,
                   ("sigmoid_decay_input", False): 7, ("sigmoid", False): 8, ("rc", False): 9}
# (name, cuba) -> (branch, slot names), read from the table: a branch whose form left the table is never used
_KERNEL_FORMS = {(f.name, f.cuba): (KERNEL_BRANCHES[(f.name, f.cuba)], step_params(f))
                 for f in FORMS if (f.name, f.cuba) in KERNEL_BRANCHES}
_RESET = {"none": 0, "subtract": 1, "value": 2}


def _scan_py(I, out, mem, rec, form, p0, p1, p2, p3, vleak, thr, vreset, consts,
             spiking, ge, reset, delayed):  # pragma: no cover - compiled by numba
    """One neuron node over all steps. ``I``: ``[T, B, N]`` summed input currents; ``out``:
    spikes (spiking) or membranes (LI/CubaLI), ``[T, B, N]``; ``mem``: membranes compared
    with the threshold (written if ``rec``). Parameters are ``[N]`` arrays in the run dtype;
    ``consts = [0, 1]`` in that dtype. Each pass over a row mirrors one line of
    ``nodes.neuron_step`` (same operations, same order, same dtype); the switches are
    tested once per row so that every pass is a branch-free loop LLVM can vectorise. Returns
    the number of spikes written (the activity test of the next layer, at no extra pass)."""
    T, B, N = I.shape
    count = 0
    zero = consts[0]
    one = consts[1]
    U = np.zeros((B, N), I.dtype)
    J = np.zeros((B, N), I.dtype)
    Sp = np.zeros((B, N), I.dtype)
    for t in range(T):
        for b in range(B):
            u = U[b]
            j = J[b]
            sp = Sp[b]
            i = I[t, b]
            o = out[t, b]
            if delayed and reset == 2:  # U = where(S_prev, v_reset, U)
                for n in range(N):
                    u[n] = vreset[n] if sp[n] != zero else u[n]
            if form == 0:    # beta: U = beta*U + gain*I
                for n in range(N):
                    u[n] = p0[n] * u[n] + p1[n] * i[n]
            elif form == 1:  # tau_decay_input: U = U + (gain*I - (U - v_leak)) / tau
                for n in range(N):
                    u[n] = u[n] + (p1[n] * i[n] - (u[n] - vleak[n])) / p0[n]
            elif form == 2:  # tau: U = U - (U - v_leak) / tau + gain*I
                for n in range(N):
                    u[n] = u[n] - (u[n] - vleak[n]) / p0[n] + p1[n] * i[n]
            elif form == 3:  # euler: U = U + a_mem*((v_leak - U) + r*I)
                for n in range(N):
                    u[n] = u[n] + p0[n] * ((vleak[n] - u[n]) + p1[n] * i[n])
            elif form == 4:  # cuba beta: J = alpha*J + syn_gain*I; U = beta*U + gain*J
                for n in range(N):
                    j[n] = p0[n] * j[n] + p1[n] * i[n]
                    u[n] = p2[n] * u[n] + p3[n] * j[n]
            elif form == 5:  # norse: U = U + a_mem*((v_leak - U) + J); J = J + a_syn*J
                for n in range(N):
                    u[n] = u[n] + p0[n] * ((vleak[n] - u[n]) + j[n])
                    j[n] = j[n] + p1[n] * j[n]
            elif form == 6:  # norse_jump: J = J + syn_gain*I first
                for n in range(N):
                    j[n] = j[n] + p2[n] * i[n]
                    u[n] = u[n] + p0[n] * ((vleak[n] - u[n]) + j[n])
                    j[n] = j[n] + p1[n] * j[n]
            elif form == 7:  # sigmoid_decay_input (PLIF): U = U + (gain*I - (U - v_leak)) * k
                for n in range(N):
                    u[n] = u[n] + (p1[n] * i[n] - (u[n] - vleak[n])) * p0[n]
            elif form == 8:  # sigmoid (PLIF, decay_input=False): U = U - (U - v_leak) * k + gain*I
                for n in range(N):
                    u[n] = u[n] - (u[n] - vleak[n]) * p0[n] + p1[n] * i[n]
            else:            # rc (snnTorch Lapicque): U = ((I*r)*rc_inv)*time_step + decay*U
                for n in range(N):
                    u[n] = ((i[n] * p0[n]) * p1[n]) * p2[n] + p3[n] * u[n]
            if delayed and reset == 1:  # U = U - S_prev*thr
                for n in range(N):
                    u[n] = u[n] - sp[n] * thr[n]
            if form == 5:  # J_next = J + syn_gain*I (input joins after the membrane step)
                for n in range(N):
                    j[n] = j[n] + p2[n] * i[n]
            if rec:  # the membrane compared with the threshold (LI/CubaLI: the output)
                m = mem[t, b]
                for n in range(N):
                    m[n] = u[n]
            if not spiking:
                for n in range(N):
                    o[n] = u[n]
                continue
            if ge:  # S = U >= thr
                for n in range(N):
                    s = u[n] >= thr[n]
                    o[n] = one if s else zero
                    count += s
            else:   # S = U > thr
                for n in range(N):
                    s = u[n] > thr[n]
                    o[n] = one if s else zero
                    count += s
            if not delayed:
                if reset == 1:    # U = U - S*thr
                    for n in range(N):
                        u[n] = u[n] - o[n] * thr[n]
                elif reset == 2:  # U = where(S, v_reset, U)
                    for n in range(N):
                        u[n] = vreset[n] if o[n] != zero else u[n]
            if delayed:
                for n in range(N):
                    sp[n] = o[n]
    return count


def _event_linear_py(x, wt, bias, has_bias, out):  # pragma: no cover - compiled by numba
    """``out[m] = sum_{k: x[m,k] != 0} x[m,k]*wt[k] (+ bias)``, k increasing. ``x [M,K]``,
    ``wt [K,N]`` (= W.T, contiguous), ``out [M,N]``."""
    M, K = x.shape
    N = wt.shape[1]
    idx = np.empty(K, np.int64)
    for m in range(M):
        cnt = 0
        for k in range(K):
            if x[m, k] != 0:
                idx[cnt] = k
                cnt += 1
        for n in range(N):
            out[m, n] = 0
        for c in range(cnt):
            k = idx[c]
            v = x[m, k]
            for n in range(N):
                out[m, n] = out[m, n] + v * wt[k, n]
        if has_bias:
            for n in range(N):
                out[m, n] = out[m, n] + bias[n]


def _load_kernels() -> bool:
    """Import numba and compile (or load from its cache) the kernels; ``False`` without numba."""
    global _kernels_loaded, _scan, _event_linear
    if not HAVE_NUMBA:
        return False
    if not _kernels_loaded:
        import numba

        jit = dict(cache=True, nogil=True, error_model="numpy", fastmath=False)
        _scan = numba.njit(**jit)(_scan_py)
        _event_linear = numba.njit(**jit)(_event_linear_py)
        _kernels_loaded = True
    return True


def __getattr__(name: str):  # PEP 562: ``batched._scan`` / ``batched._event_linear`` load numba on first use
    if name in ("_scan", "_event_linear"):
        if not _load_kernels():
            return None
        return globals()[name]
    raise AttributeError(name)


def _use_kernels(steps: int, work: int) -> bool:
    """Whether this run's neuron scans use the numba kernels: numba is already loaded in this
    process, or the torch loop's estimated extra cost so far plus this run's (``steps``:
    T times neuron nodes, ``work``: neuron-steps) passes NUMBA_BREAK_EVEN_S."""
    global _torch_loop_work
    if not HAVE_NUMBA:
        return False
    extra = steps * LOOP_STEP_S + work * LOOP_ELEM_S
    if _kernels_loaded or _torch_loop_work + extra >= NUMBA_BREAK_EVEN_S:
        return _load_kernels()
    _torch_loop_work += extra
    return False


# ---------------------------------------------------------------------------------------------
# planning

def batch_reason(prog) -> Optional[str]:
    """Why ``prog`` cannot run time-batched, or ``None`` if it can."""
    if prog.back:
        return "the graph has recurrent (back) edges"
    for name in prog.order + prog.post_order:
        tname = type(prog.graph.nodes[name]).__name__
        if prog.rules[name] is not RULES.get(tname):
            return f"node {name!r} uses a custom (non-reference) rule"
        if prog.rules[name].stateful and prog.rules[name].over_time is None:
            return f"node {name!r} ({tname}) has state across steps and no time-batched form"
    return _unsupported_form(prog)


def _unsupported_form(prog) -> Optional[str]:
    """A neuron whose form the semantics table declares the batched backend cannot run."""
    for name in prog.order:
        if prog.rules[name].neuron:
            tname, dynamics = type(prog.graph.nodes[name]).__name__, prog.params[name]["ext"].dynamics
            why = unsupported_reason("batched", dynamics, tname)
            if why is not None:
                return f"node {name!r}: the batched backend cannot run dynamics {dynamics!r} on {tname}: {why}"
    return None


def _flat_param(t: Any, shape: tuple, n: int) -> Optional[np.ndarray]:
    """A neuron parameter broadcast to the per-sample shape, as a contiguous ``[N]`` array."""
    if not isinstance(t, torch.Tensor):
        return None
    try:
        full = torch.broadcast_to(t, shape)
    except RuntimeError:
        return None
    return full.contiguous().reshape(n).numpy()


def _neuron_plan(p: Dict[str, Any]) -> Optional[tuple]:
    """Kernel arguments for a neuron node, or ``None`` (use the exact torch loop)."""
    if not HAVE_NUMBA or p.get("shape") is None:
        return None
    ext = p["ext"]
    branch = _KERNEL_FORMS.get((ext.dynamics, bool(p["cuba"])))
    if branch is None or ext.reset not in _RESET:
        return None
    form, slot_names = branch
    if ext.v_init() is not None:
        return None  # the kernel starts every membrane at 0; the torch loop honours v_init
    if ext.reset_timing == "delayed_after":
        return None  # the reset after the next update: the torch loop (neuron_step) runs it
    shape = tuple(p["shape"])
    n = int(np.prod(shape)) if shape else 1
    dtype = p["v_leak"].dtype
    slots = []
    for key in slot_names:
        a = _flat_param(p.get(key), shape, n)
        if a is None:
            return None
        slots.append(a)
    dummy = np.zeros(n, dtype=slots[0].dtype)
    while len(slots) < 4:
        slots.append(dummy)
    vleak = _flat_param(p["v_leak"], shape, n)
    thr = _flat_param(p["thr"], shape, n) if p["spiking"] else dummy
    vreset = _flat_param(p["v_reset"], shape, n) if p["spiking"] else dummy
    if vleak is None or thr is None or vreset is None:
        return None
    arrays = [*slots, vleak, thr, vreset]
    if any(a.dtype != arrays[0].dtype for a in arrays) or torch.from_numpy(arrays[0][:0]).dtype != dtype:
        return None
    consts = np.array([0, 1], dtype=arrays[0].dtype)
    delayed = ext.reset_timing == "delayed" and bool(p["spiking"])
    return (form, *arrays, consts, bool(p["spiking"]), ext.compare == "ge", _RESET[ext.reset], delayed)


# float32 dense Affine/Linear layers run on oneDNN (torch's bundled MKL-DNN) with the weight
# packed once per program: ~2x MKL's sgemm on this CPU (benchmarks/README.md, "GEMM floor").
# oneDNN rounds differently from MKL (a few ulp) but is row-independent (a row rounds the same
# at any M), so float32 spikes may flip only for membranes within rounding of the threshold
# (counted against snnTorch in the benchmark; verify classifies them). oneDNN has no float64:
# float64 keeps MKL's dgemm, bit-identical to the per-step reference. Set to False to use MKL.
USE_ONEDNN = os.environ.get("SNNEXPORT_NO_ONEDNN", "") == ""


def _onednn_weight(p: Dict[str, Any]) -> Optional[torch.Tensor]:
    """The weight packed for oneDNN's linear, or ``None`` (float64, no oneDNN, odd shapes)."""
    w, bias = p["w"], p.get("b")
    if not USE_ONEDNN or w.dtype != torch.float32 or w.dim() != 2 or not torch.backends.mkldnn.is_available() \
            or (bias is not None and (bias.dtype != torch.float32 or tuple(bias.shape) != (w.shape[0],))):
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(w.contiguous())
    except (RuntimeError, AttributeError):  # pragma: no cover - a torch build without the op
        return None


def _plans(prog) -> Dict[str, Any]:
    cache = getattr(prog, "_batched_plans", None)
    if cache is None:
        cache = {}
        for name in prog.order:
            rule = prog.rules[name]
            p = prog.params[name]
            if rule.neuron:
                cache[name] = _neuron_plan(p)
            elif type(prog.graph.nodes[name]).__name__ in ("Affine", "Linear"):
                cache[name] = {"wt": p["w"].t().contiguous().numpy(), "onednn": _onednn_weight(p)}
        prog._batched_plans = cache  # a Program is a plain dataclass: plan and workspace ride along
        prog._batched_ws = {}
        prog._batched_lock = threading.RLock()
    return cache


def release_workspace(prog) -> None:
    """Free the buffers a program keeps between time-batched runs."""
    if getattr(prog, "_batched_ws", None) is not None:
        prog._batched_ws = {}


def _buffer(prog, key: tuple, shape: tuple) -> torch.Tensor:
    """A reused scratch tensor (fresh pages cost ~4 us each on this machine: reuse them)."""
    ws = prog._batched_ws
    t = ws.get(key)
    if t is None or tuple(t.shape) != tuple(shape):
        t = torch.empty(shape, dtype=prog.dtype)
        ws[key] = t
    return t


# ---------------------------------------------------------------------------------------------
# execution

def _run_neuron(name: str, prog, plan, I: torch.Tensor, rec: bool, kernels: bool
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[int]]:
    """``I [T, B, *shape]`` -> (output ``[T, B, *shape]`` in the workspace, fresh membranes or
    None, the number of spikes written or None if not counted)."""
    p = prog.params[name]
    if p["shape"] is None:
        raise SnnexportError(f"node {name!r}: neuron shape unknown")
    T, B = I.shape[:2]
    out = _buffer(prog, (name, "out"), (T, B, *p["shape"]))
    if tuple(I.shape) != tuple(out.shape) or not kernels:
        plan = None  # a current that broadcasts to the neuron shape: let torch do it per step
    mem = torch.empty_like(out) if rec else None
    if plan is not None:
        I3 = I.contiguous().reshape(T, B, -1).numpy()
        m3 = mem.view(T, B, -1).numpy() if rec else np.empty((1, 1, 1), dtype=I3.dtype)
        count = _scan(I3, out.view(T, B, -1).numpy(), m3, rec, *plan)
        return out, mem, (int(count) if p["spiking"] else None)
    state = prog.rules[name].init(p, B)
    for t in range(T):
        y, state, m = neuron_step(I[t], state, p)
        out[t] = y
        if rec:
            mem[t] = m
    return out, mem, None


def _event_pays(x2: torch.Tensor, n_out: int, active: Optional[int]) -> bool:
    """Event-driven accumulation pays below EVENT_MAX_RATE. ``active``: the number of non-zero
    inputs if known (counted by the neuron scan that wrote them), else counted here."""
    limit = EVENT_MAX_RATE[x2.shape[0] < SMALL_ROWS]
    if limit <= 0.0 or n_out < EVENT_MIN_OUT:
        return False
    if active is None:
        active = int(torch.count_nonzero(x2))
    return active < limit * x2.numel()


def _run_linear(name: str, prog, plan, x2: torch.Tensor, event: str, active: Optional[int] = None,
                kernels: bool = True) -> Optional[torch.Tensor]:
    """Affine/Linear over ``x2 [M, K]``: event-driven where it pays (float64 only in ``auto``:
    its summation order is not the GEMM's, see EVENT_DTYPES), else oneDNN (float32) or
    ``addmm``/``mm`` with ``out=`` into the workspace (bit-identical to ``F.linear``).
    ``None``: use the rule."""
    p = prog.params[name]
    w, bias = p["w"], p.get("b")
    if x2.dim() != 2 or w.dim() != 2 or (bias is not None and tuple(bias.shape) != (w.shape[0],)):
        return None
    if event != "off" and plan is not None and kernels and \
            (event == "on" or (prog.dtype in EVENT_DTYPES and _event_pays(x2, w.shape[0], active))):
        out = _buffer(prog, (name, "out"), (x2.shape[0], w.shape[0]))
        b = bias.numpy() if bias is not None else plan["wt"][0]
        _event_linear(x2.contiguous().numpy(), plan["wt"], b, bias is not None, out.numpy())
        return out
    if plan is not None and plan.get("onednn") is not None and x2.dtype == torch.float32:
        # oneDNN writes a fresh output (no out= variant); glibc serves it from the heap it
        # freed on the previous call, so it costs no new pages in steady state
        return torch.ops.mkldnn._linear_pointwise(x2.contiguous(), plan["onednn"], bias, "none", [], "")
    out = _buffer(prog, (name, "out"), (x2.shape[0], w.shape[0]))
    if bias is not None:
        torch.addmm(bias, x2, w.t(), out=out)
    else:
        torch.mm(x2, w.t(), out=out)
    return out


def _sum(prog, name: str, values: Dict[str, torch.Tensor]) -> torch.Tensor:
    """The node's summed input, edges added left to right as the per-step runner does."""
    srcs = prog.inputs[name]
    if len(srcs) == 1:
        return values[srcs[0]]
    vs = [values[s] for s in srcs]
    if any(v.shape != vs[0].shape for v in vs):
        total = vs[0]
        for v in vs[1:]:
            total = total + v
        return total
    total = _buffer(prog, (name, "sum"), tuple(vs[0].shape))
    torch.add(vs[0], vs[1], out=total)
    for v in vs[2:]:
        total.add_(v)
    return total


def run_batched(prog, x: torch.Tensor, record_membranes: bool = False, event: str = "auto", keep: Optional[set] = None
                ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
    """Run a feed-forward reference program over ``x [T, B, ...]`` (in ``prog.dtype``).

    Returns ``(values, membranes, post_values)``: ``values`` holds the ``[T, B, ...]`` output of
    every per-step node (only the spiking and Output nodes and those in ``keep`` if ``keep`` is
    given: the others are dropped after their last use), ``membranes`` every neuron's membranes if ``record_membranes`` (fresh
    tensors), ``post_values`` the time-reduced nodes and their descendants (``[B, ...]``).
    The ``values`` of Affine/Linear, neuron and multi-input nodes live in a workspace kept
    on the program and **overwritten by its next run**: copy what you keep
    (:func:`simulate_batched` does). ``event``: ``"auto"`` (event-driven Affine/Linear where
    measured faster), ``"on"`` or ``"off"``.
    """
    if event not in ("auto", "on", "off"):
        raise SnnexportError(f"event must be auto, on or off, got {event!r}")
    reason = batch_reason(prog)
    if reason is not None:
        raise SnnexportError(f"cannot run time-batched: {reason}")
    plans = _plans(prog)
    x = x.to(prog.dtype)
    T, B = x.shape[:2]
    nodes = prog.graph.nodes
    last_use: Dict[str, int] = {}
    if keep is not None:
        keep = set(keep) | {n for n in prog.order if prog.rules[n].spiking or isinstance(nodes[n], nir.Output)}
        keep |= {src for n in prog.post_order for src in prog.inputs[n]}
        for i, name in enumerate(prog.order):
            for src in prog.inputs[name]:
                last_use[src] = i
    values: Dict[str, torch.Tensor] = {}
    membranes: Dict[str, torch.Tensor] = {}
    active: Dict[str, int] = {}  # spiking node -> spikes its scan wrote (the next layer's activity test)
    neurons = [n for n in prog.order if prog.rules[n].neuron and prog.params[n].get("shape") is not None]
    work = T * B * sum(int(np.prod(prog.params[n]["shape"])) for n in neurons)
    kernels = _load_kernels() if event == "on" else _use_kernels(T * len(neurons), work)
    with prog._batched_lock, torch.no_grad():
        for i, name in enumerate(prog.order):
            rule = prog.rules[name]
            if name == prog.input_name:
                values[name] = x
                continue
            total = _sum(prog, name, values)
            if rule.neuron:
                y, mem, count = _run_neuron(name, prog, plans.get(name), total, record_membranes, kernels)
                if count is not None:
                    active[name] = count
                if record_membranes:
                    membranes[name] = mem
            elif rule.over_time is not None:  # state across steps (Delay): all steps at once, a shift along time
                y = rule.over_time(total, prog.params[name])
            else:
                x2 = total.reshape(T * B, *total.shape[2:])
                srcs = prog.inputs[name]
                n_active = active.get(srcs[0]) if len(srcs) == 1 else None
                y2 = _run_linear(name, prog, plans.get(name), x2, event, n_active, kernels) if name in plans else None
                if y2 is None:
                    y2, _, _ = rule.step(x2, None, prog.params[name])
                y = y2.reshape(T, B, *y2.shape[1:])
            values[name] = y
            if keep is not None:
                for src in prog.inputs[name]:
                    if last_use.get(src) == i and src not in keep:
                        del values[src]
        post_values = run_post(prog, values)  # evaluated once, on time-reduced inputs (as runner.simulate)
    return values, membranes, post_values


def simulate_batched(prog, x: torch.Tensor, record_activations: bool = False, record_membranes: bool = True,
                     event: str = "auto") -> SimResult:
    """Same result as ``runner.simulate(..., mode="step")`` for a feed-forward reference program."""
    _plans(prog)
    nodes = prog.graph.nodes
    keep = set(prog.order) if record_activations else set()
    with prog._batched_lock:  # values may live in the program's workspace until copied here
        values, membranes, post_values = run_batched(prog, x, record_membranes, event, keep)
        res = SimResult(adapters=list(prog.adapters))
        for n in prog.order:
            if prog.rules[n].spiking:  # 0/1 in the run dtype: a plain copy (float32 runs: half the float64 pages)
                res.spikes[n] = values[n].clone().numpy()
            elif record_activations and not isinstance(nodes[n], (nir.Input, nir.Output)):
                res.activations[n] = values[n].clone().numpy()
        res.membranes = {n: m.numpy() for n, m in membranes.items()}
        for n, node in nodes.items():
            if isinstance(node, nir.Output):
                res.readout[n] = post_values[n].numpy() if n in post_values else values[n].clone().numpy()
            elif record_activations and n in post_values:
                res.activations[n] = post_values[n].numpy()
    return res


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels for float32 and float64."""
    if not _load_kernels():
        return
    for dt in (np.float32, np.float64):
        z = np.zeros(1, dt)
        _scan(np.zeros((1, 1, 1), dt), np.zeros((1, 1, 1), dt), np.zeros((1, 1, 1), dt), False,
              0, z, z, z, z, z, z, z, np.array([0, 1], dt), True, False, 1, False)
        _event_linear(np.zeros((1, 1), dt), np.zeros((1, 1), dt), z, False, np.zeros((1, 1), dt))


__all__ = ["batch_reason", "run_batched", "simulate_batched", "release_workspace", "warm_up", "EVENT_MAX_RATE", "EVENT_DTYPES", "HAVE_NUMBA",
           "NUMBA_BREAK_EVEN_S", "USE_ONEDNN"]
