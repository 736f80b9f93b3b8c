"""Plain-NIR semantics against an independent ground truth.

Each test builds a small NIR 1.0.8 graph with no snnexport neuron metadata, runs the
reference simulator (per step and time-batched) and compares with values computed here in
plain numpy straight from NIR's own equations (the docstrings of ``nir/ir/*.py``), Euler-
discretised with the graph's dt:

  LIF      tau dv/dt = (v_leak - v) + r*I;  z = v > v_threshold;  v <- v_reset where z
  IF       dv/dt = r*I  (same fire/reset)
  LI       tau dv/dt = (v_leak - v) + r*I  (output v)
  I        dv/dt = r*I  (output v)
  CubaLIF  tau_syn dI/dt = -I + w_in*S;  tau_mem dv/dt = (v_leak - v) + r*I  (CubaLI: no fire)

None of the expected values come from snnexport code.
"""

from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from snnexport.errors import SnnexportError
from snnexport.extension import KEY
from snnexport.simulators.reference.runner import simulate

DATA = Path(__file__).parent / "data" / "nir_paper"


def run(nodes, edges, x, dt=1.0):
    """Run the graph per step and time-batched; both must agree exactly. Returns the per-step result."""
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: {"dt": float(dt)}}, type_check=False)
    res = simulate(g, torch.from_numpy(np.asarray(x, dtype=np.float64)), mode="step")
    other = simulate(g, torch.from_numpy(np.asarray(x, dtype=np.float64)), mode="auto")
    for k in res.readout:
        np.testing.assert_array_equal(res.readout[k], other.readout[k])
    return res


def chain(node, n_in, x, dt=1.0, out_shape=None):
    """Input -> node -> Output."""
    shape = out_shape or n_in
    nodes = {"input": nir.Input(np.array(np.atleast_1d(n_in))), "n": node, "output": nir.Output(np.array(np.atleast_1d(shape)))}
    return run(nodes, [("input", "n"), ("n", "output")], x, dt).readout["output"]


def euler_lif(x, dt, tau, r, v_leak, thr, v_reset, fire=True):
    v = np.zeros(x.shape[1:])
    out, mem = [], []
    for xt in x:
        v = v + dt / tau * ((v_leak - v) + r * xt)
        mem.append(v.copy())
        if fire:
            z = v > thr
            v = np.where(z, v_reset, v)
            out.append(z.astype(float))
        else:
            out.append(v.copy())
    return np.array(out), np.array(mem)


def euler_cuba(x, dt, tau_syn, tau_mem, r, v_leak, w_in, thr=None, v_reset=0.0):
    """Input joins the current (Euler input term), the membrane sees it, then the current decays."""
    i = np.zeros(x.shape[1:])
    v = np.zeros(x.shape[1:])
    out = []
    for xt in x:
        i = i + dt / tau_syn * w_in * xt
        v = v + dt / tau_mem * ((v_leak - v) + r * i)
        i = i - dt / tau_syn * i
        if thr is None:
            out.append(v.copy())
        else:
            z = v > thr
            v = np.where(z, v_reset, v)
            out.append(z.astype(float))
    return np.array(out)


RNG = np.random.default_rng(7)
X3 = RNG.normal(0.8, 1.0, (40, 2, 3))
SPIKES3 = (RNG.random((60, 2, 3)) < 0.4).astype(float)

# ------------------------------------------------------------------ LIF, one test per field

LIF_BASE = dict(tau=0.004, r=1.5, v_leak=0.2, v_threshold=0.9, v_reset=-0.1)


@pytest.mark.parametrize("field,value", [("tau", 0.007), ("r", 0.6), ("v_leak", -0.4), ("v_threshold", 0.5),
                                         ("v_reset", 0.3)])
def test_lif_field(field, value):
    dt = 1e-3
    params = dict(LIF_BASE, **{field: value})
    node = nir.LIF(**{k: np.full(3, v) for k, v in params.items()})
    got = chain(node, 3, X3, dt)
    want, _ = euler_lif(X3, dt, params["tau"], params["r"], params["v_leak"], params["v_threshold"], params["v_reset"])
    np.testing.assert_array_equal(got, want)
    base, _ = euler_lif(X3, dt, **{k if k != "v_threshold" else "thr": v for k, v in LIF_BASE.items()})
    assert not np.array_equal(want, base), f"{field} must change the spikes of this test"
    assert 0 < want.sum() < want.size


def test_lif_membrane_matches_euler_trace():
    dt = 1e-3
    node = nir.LIF(**{k: np.full(3, v) for k, v in LIF_BASE.items()})
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([3])), "n": node, "output": nir.Output(np.array([3]))},
                     edges=[("input", "n"), ("n", "output")], metadata={KEY: {"dt": dt}}, type_check=False)
    res = simulate(g, torch.from_numpy(X3), mode="step")
    _, mem = euler_lif(X3, dt, LIF_BASE["tau"], LIF_BASE["r"], LIF_BASE["v_leak"], LIF_BASE["v_threshold"], LIF_BASE["v_reset"])
    np.testing.assert_allclose(res.membranes["n"], mem, rtol=0, atol=1e-12)


def test_li_closed_form():
    """Constant input: v_t = v_inf + (0 - v_inf) * (1 - dt/tau)^(t+1), v_inf = v_leak + r*I."""
    dt, tau, r, v_leak, current = 1e-3, 5e-3, 2.0, 0.3, 0.7
    x = np.full((25, 1, 1), current)
    got = chain(nir.LI(tau=np.array([tau]), r=np.array([r]), v_leak=np.array([v_leak])), 1, x, dt)
    v_inf = v_leak + r * current
    t = np.arange(1, 26)
    np.testing.assert_allclose(got[:, 0, 0], v_inf - v_inf * (1 - dt / tau) ** t, rtol=0, atol=1e-12)


def test_if_with_r_hand_computed():
    """dv/dt = r*I with r=2, dt=0.1, I=1.3: +0.26 a step; v > 1 first after 4 steps, then reset to 0."""
    x = np.full((12, 1, 1), 1.3)
    got = chain(nir.IF(r=np.array([2.0]), v_threshold=np.array([1.0])), 1, x, dt=0.1)
    np.testing.assert_array_equal(np.nonzero(got[:, 0, 0])[0], [3, 7, 11])
    # r = 1: +0.13 a step, 8 steps to exceed 1
    got1 = chain(nir.IF(r=np.array([1.0]), v_threshold=np.array([1.0])), 1, x, dt=0.1)
    np.testing.assert_array_equal(np.nonzero(got1[:, 0, 0])[0], [7])


def test_if_v_reset_hand_computed():
    x = np.full((12, 1, 1), 1.3)
    got = chain(nir.IF(r=np.array([2.0]), v_threshold=np.array([1.0]), v_reset=np.array([0.5])), 1, x, dt=0.1)
    # from 0.5 after a reset: 0.76, 1.02 -> fires every 2nd step after the first spike at step 3
    np.testing.assert_array_equal(np.nonzero(got[:, 0, 0])[0], [3, 5, 7, 9, 11])


def test_integrator_is_a_scaled_running_sum():
    got = chain(nir.I(r=np.array([0.5, 2.0, -1.0])), 3, X3, dt=0.01)
    np.testing.assert_allclose(got, np.cumsum(X3 * np.array([0.5, 2.0, -1.0]) * 0.01, axis=0), rtol=0, atol=1e-12)


# ------------------------------------------------------------------ CubaLIF / CubaLI

CUBA_BASE = dict(tau_syn=0.003, tau_mem=0.006, r=1.0, v_leak=0.0, w_in=1.0, v_threshold=0.25, v_reset=0.0)


@pytest.mark.parametrize("field,value", [("tau_syn", 0.008), ("tau_mem", 0.002), ("r", 2.5), ("v_leak", 0.1),
                                         ("w_in", 0.7), ("v_threshold", 0.4), ("v_reset", -0.2)])
def test_cubalif_field(field, value):
    dt = 1e-3
    p = dict(CUBA_BASE, **{field: value})
    node = nir.CubaLIF(**{k: np.full(3, v) for k, v in p.items()})
    got = chain(node, 3, SPIKES3, dt)
    want = euler_cuba(SPIKES3, dt, p["tau_syn"], p["tau_mem"], p["r"], p["v_leak"], p["w_in"], p["v_threshold"], p["v_reset"])
    np.testing.assert_array_equal(got, want)
    b = CUBA_BASE
    base = euler_cuba(SPIKES3, dt, b["tau_syn"], b["tau_mem"], b["r"], b["v_leak"], b["w_in"], b["v_threshold"], b["v_reset"])
    assert not np.array_equal(want, base), f"{field} must change the spikes of this test"
    assert 0 < want.sum() < want.size


def test_cubalif_r_equals_r_folded_into_w_in():
    """NIR: tau_mem dv/dt = (v_leak - v) + r*I with I linear in w_in*S, so (r, w_in) == (1, r*w_in)."""
    dt, r, w = 1e-3, np.array([2.5, 0.3, 4.0]), np.array([0.7, 1.0, 0.2])
    kw = dict(tau_syn=np.full(3, 0.003), tau_mem=np.full(3, 0.006), v_leak=np.zeros(3), v_threshold=np.full(3, 0.25))
    with_r = chain(nir.CubaLIF(r=r, w_in=w, **kw), 3, SPIKES3, dt)
    folded = chain(nir.CubaLIF(r=np.ones(3), w_in=r * w, **kw), 3, SPIKES3, dt)
    ignored = chain(nir.CubaLIF(r=np.ones(3), w_in=w, **kw), 3, SPIKES3, dt)
    np.testing.assert_array_equal(with_r, folded)
    assert not np.array_equal(with_r, ignored)


def test_cubali_membrane():
    dt = 1e-3
    node = nir.CubaLI(tau_syn=np.full(3, 0.003), tau_mem=np.full(3, 0.006), r=np.full(3, 1.7), v_leak=np.full(3, 0.05),
                      w_in=np.array([1.0, 0.5, 2.0]))
    got = chain(node, 3, SPIKES3, dt)
    want = euler_cuba(SPIKES3, dt, 0.003, 0.006, 1.7, 0.05, np.array([1.0, 0.5, 2.0]))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ stateless nodes

def test_affine_and_linear():
    w, b = RNG.normal(size=(2, 3)), RNG.normal(size=2)
    np.testing.assert_allclose(chain(nir.Affine(w, b), 3, X3, out_shape=2), X3 @ w.T + b, atol=1e-12)
    np.testing.assert_allclose(chain(nir.Linear(w), 3, X3, out_shape=2), X3 @ w.T, atol=1e-12)


def test_scale():
    s = np.array([2.0, -0.5, 0.0])
    np.testing.assert_array_equal(chain(nir.Scale(s), 3, X3), X3 * s)


def test_threshold_is_strict():
    x = np.array([[[0.4, 0.5, 0.6]]])
    got = chain(nir.Threshold(np.full(3, 0.5)), 3, x)
    np.testing.assert_array_equal(got, [[[0.0, 0.0, 1.0]]])  # z = 1 only for x > threshold


def _conv_numpy(x, w, b, stride, pad, groups):
    """Direct cross-correlation, zero padding, groups; x [B, C, *S], w [O, C/groups, *K]."""
    nd = w.ndim - 2
    x = np.pad(x, [(0, 0), (0, 0)] + [(pad, pad)] * nd)
    out_c, cpg = w.shape[0], w.shape[1]
    opg = out_c // groups
    size = [(x.shape[2 + d] - w.shape[2 + d]) // stride + 1 for d in range(nd)]
    y = np.zeros((x.shape[0], out_c, *size))
    for o in range(out_c):
        g = o // opg
        xs = x[:, g * cpg:(g + 1) * cpg]
        for idx in np.ndindex(*size):
            sl = tuple(slice(i * stride, i * stride + w.shape[2 + d]) for d, i in enumerate(idx))
            y[(slice(None), o, *idx)] = (xs[(slice(None), slice(None), *sl)] * w[o]).reshape(x.shape[0], -1).sum(1) + b[o]
    return y


@pytest.mark.parametrize("groups,pad,stride", [(1, 0, 1), (2, 1, 1), (4, 2, 2)])
def test_conv2d_groups_padding_stride(groups, pad, stride):
    x = RNG.normal(size=(2, 1, 4, 5, 6))  # T=2, B=1, C=4
    w, b = RNG.normal(size=(4, 4 // groups, 3, 3)), RNG.normal(size=4)
    node = nir.Conv2d(input_shape=(5, 6), weight=w, stride=stride, padding=pad, dilation=1, groups=groups, bias=b)
    want = np.stack([_conv_numpy(xt, w, b, stride, pad, groups) for xt in x])
    got = chain(node, (4, 5, 6), x, out_shape=want.shape[2:])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("groups,pad", [(1, 1), (2, 0)])
def test_conv1d_groups_padding(groups, pad):
    x = RNG.normal(size=(2, 3, 2, 7))
    w, b = RNG.normal(size=(4, 2 // groups, 3)), RNG.normal(size=4)
    node = nir.Conv1d(input_shape=7, weight=w, stride=1, padding=pad, dilation=1, groups=groups, bias=b)
    want = np.stack([_conv_numpy(xt, w, b, 1, pad, groups) for xt in x])
    np.testing.assert_allclose(chain(node, (2, 7), x, out_shape=want.shape[2:]), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["SumPool2d", "AvgPool2d"])
def test_pools_with_stride_and_padding(kind):
    x = RNG.normal(size=(2, 1, 2, 5, 5))
    node = getattr(nir, kind)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([1, 1]))
    xp = np.pad(x, [(0, 0)] * 3 + [(1, 1), (1, 1)])
    want = np.zeros((2, 1, 2, 3, 3))
    for i in range(3):
        for j in range(3):
            want[..., i, j] = xp[..., 2 * i:2 * i + 2, 2 * j:2 * j + 2].sum(axis=(-1, -2))
    if kind == "AvgPool2d":
        want = want / 4  # the padded zeros count (PyTorch's count_include_pad=True, what NIR exporters use)
    nodes = {"input": nir.Input(np.array([2, 5, 5])), "p": node, "output": nir.Output(np.array([2, 3, 3]))}
    got = run(nodes, [("input", "p"), ("p", "output")], x).readout["output"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("start,end,shape", [(0, -1, (24,)), (1, 2, (2, 12)), (0, 1, (6, 4)), (1, -1, (2, 12))])
def test_flatten_start_end_dims(start, end, shape):
    """NIR Flatten dims count per-sample dimensions (no batch)."""
    x = RNG.normal(size=(2, 3, 2, 3, 4))
    node = nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=start, end_dim=end)
    assert tuple(node.output_type["output"]) == shape  # nir's own shape rule agrees
    got = chain(node, (2, 3, 4), x, out_shape=shape)
    np.testing.assert_array_equal(got, x.reshape(2, 3, *shape))


def test_recurrent_edge_carries_previous_step():
    """Input -> LIF; LIF -> Affine(w_rec) -> LIF: the recurrent input at t is w_rec @ z[t-1] (zero at t = 0)."""
    dt, n = 1e-3, 3
    w_rec = RNG.normal(0, 2.0, (n, n))
    lif = nir.LIF(tau=np.full(n, 0.004), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.5))
    nodes = {"input": nir.Input(np.array([n])), "lif": lif, "rec": nir.Linear(w_rec), "output": nir.Output(np.array([n]))}
    edges = [("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    got = run(nodes, edges, X3, dt).readout["output"]
    v, z, want = np.zeros((2, n)), np.zeros((2, n)), []
    for xt in X3:
        current = xt + z @ w_rec.T
        v = v + dt / 0.004 * ((0 - v) + current)
        z = (v > 0.5).astype(float)
        v = np.where(z > 0, 0.0, v)
        want.append(z)
    np.testing.assert_array_equal(got, np.array(want))
    assert np.array(want).sum() > 0


def test_delay_whole_steps_and_non_integer_refused_by_name():
    """NIR Delay y(t) = x(t - delay) on the dt grid: 2 and 1 steps (tests/test_nir_delay.py has the rest)."""
    x = np.arange(1.0, 9.0).reshape(4, 1, 2)
    want = np.array([[0, 0], [0, 2], [1, 4], [3, 6]], dtype=float).reshape(4, 1, 2)
    np.testing.assert_array_equal(chain(nir.Delay(delay=np.array([0.002, 0.001])), 2, x, dt=1e-3), want)
    with pytest.raises(SnnexportError, match=r"'n': Delay 0\.0015 at dt = 0\.001 is 1\.5 steps"):
        chain(nir.Delay(delay=np.array([0.002, 0.0015])), 2, np.zeros((3, 1, 2)), dt=1e-3)


# ------------------------------------------------------------------ the NIR paper's LIF example

def _paper_input():
    """The paper's input (paper/01_lif/lif_*.py): 100 coarse steps, each followed by 9 empty ones."""
    d0 = [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0,
          1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1,
          1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    x = np.zeros(1000)
    x[np.arange(100)[np.array(d0) == 1] * 10] = 1.0
    return x


def test_nir_paper_lif_example(capsys):
    from snnexport.graph import apply_run_options, read_graph

    g = read_graph(DATA / "lif_norse.nir")
    apply_run_options(g, "lif_norse.nir", dt=1e-4)
    x = _paper_input()
    published = np.loadtxt(DATA / "lif_norse.csv", delimiter=",")
    np.testing.assert_array_equal(published[:, 0], x)  # the input we rebuilt is the paper's
    res = simulate(g, torch.from_numpy(x.reshape(1000, 1, 1)))
    spikes = next(iter(res.spikes.values()))[:, 0, 0]
    # published output steps of the exact, Norse, snnTorch, Nengo and SpiNNaker2 runs
    np.testing.assert_array_equal(np.nonzero(spikes)[0], [460, 510, 710, 760])
    np.testing.assert_array_equal(np.nonzero(published[:, 2])[0], [460, 510, 710, 760])
    # Norse's published membrane (float32, after reset) within float32 rounding
    mem = next(iter(res.membranes.values()))[:, 0, 0]
    after_reset = np.where(spikes > 0, 0.0, mem)
    np.testing.assert_allclose(after_reset, published[:, 1], rtol=0, atol=2e-7)
