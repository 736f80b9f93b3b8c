"""The time-batched reference (batched.py) against the per-step reference (runner.simulate mode="step").

Neurons fed straight from the Input node see the same currents in both modes, so their spikes
*and* membranes must be bit-identical (the fused kernel does nodes.neuron_step's operations).
Through Affine/Conv layers the GEMM over T*B rows may round differently from the per-step
GEMM: spikes must still be identical and readouts within 1e-12 (float64). No timing here.
"""

import zlib

import nir
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnexport.errors import SnnexportError
from snnexport.extension import CUBA_DYNAMICS_PARAMS, DYNAMICS_PARAMS, KEY, GraphExt, NeuronExt, set_node_ext
from snnexport.simulators.reference import batched, compile_graph, simulate
from snnexport.simulators.reference.nodes import RULES, Rule
from tests.helpers import recurrent_one_neuron_graph  # noqa: E402

CUBA_FORMS = sorted(CUBA_DYNAMICS_PARAMS)
FORMS = [("LIF", f) for f in sorted(DYNAMICS_PARAMS)] + [("CubaLIF", f) for f in CUBA_FORMS] + \
        [("LI", f) for f in sorted(DYNAMICS_PARAMS)] + [("CubaLI", f) for f in CUBA_FORMS]


def _params(form: str, cuba: bool, n: int, rng: np.random.Generator, scalar: bool) -> dict:
    def val(lo, hi):
        return np.asarray(rng.uniform(lo, hi)) if scalar else rng.uniform(lo, hi, size=n)

    table = CUBA_DYNAMICS_PARAMS if cuba else DYNAMICS_PARAMS
    ranges = {"beta": (0.5, 1.0), "alpha": (0.3, 0.95), "gain": (0.2, 1.2), "syn_gain": (0.5, 1.5), "tau": (1.5, 4.0),
              "tau_mem_inv": (100.0, 400.0), "tau_syn_inv": (50.0, 300.0), "r": (0.5, 2.0),
              "k": (0.2, 0.8), "rc_inv": (0.2, 1.5), "time_step": (0.5, 1.0), "decay": (0.5, 0.95)}
    return {k: val(*ranges[k]) for k in table[form]}


def neuron_node(cls: str, ext: NeuronExt, shape, rng, thr=0.8, v_reset=0.1, v_leak=0.05):
    ones = np.ones(shape)
    if cls in ("LIF", "CubaLIF"):
        th = thr * ones if thr is not None else rng.uniform(0.3, 1.2, size=shape)
        if cls == "LIF":
            node = nir.LIF(tau=2 * ones, r=ones, v_leak=v_leak * ones, v_threshold=th, v_reset=v_reset * ones)
        else:
            node = nir.CubaLIF(tau_mem=2 * ones, tau_syn=2 * ones, r=ones, v_leak=v_leak * ones, v_threshold=th,
                               v_reset=v_reset * ones, w_in=ones)
    elif cls == "LI":
        node = nir.LI(tau=2 * ones, r=ones, v_leak=v_leak * ones)
    else:
        node = nir.CubaLI(tau_mem=2 * ones, tau_syn=2 * ones, r=ones, v_leak=v_leak * ones, w_in=ones)
    if ext is not None:
        set_node_ext(node, **ext.to_meta())
    return node


def direct_graph(node, shape) -> nir.NIRGraph:
    """Input -> neuron -> Output: the neuron's current is the input itself (no GEMM)."""
    nodes = {"input": nir.Input(input_type={"input": np.array(shape)}), "n": node,
             "output": nir.Output(output_type={"output": np.array(shape)})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "n"), ("n", "output")],
                        metadata={KEY: GraphExt(input_shape=tuple(shape), input_kind="analog").to_meta()})


def both(g, x, dtype, **kw):
    prog = compile_graph(g, dtype)
    assert batched.batch_reason(prog) is None
    step = simulate(prog, x, record_membranes=True, mode="step", **kw)
    bat = simulate(compile_graph(g, dtype), x, record_membranes=True, mode="batched", **kw)
    return step, bat


def assert_same(step, bat, exact_membranes: bool, tol=1e-12):
    assert list(step.spikes) == list(bat.spikes)
    for k in step.spikes:
        np.testing.assert_array_equal(step.spikes[k], bat.spikes[k], err_msg=k)
    assert list(step.membranes) == list(bat.membranes)
    for k in step.membranes:
        assert step.membranes[k].dtype == bat.membranes[k].dtype
        if exact_membranes:
            np.testing.assert_array_equal(step.membranes[k], bat.membranes[k], err_msg=k)
    assert list(step.readout) == list(bat.readout)
    for k in step.readout:
        r, o = step.readout[k], bat.readout[k]
        assert r.shape == o.shape and r.dtype == o.dtype
        if exact_membranes:
            np.testing.assert_array_equal(r, o)
        else:
            scale = max(1.0, float(np.abs(r).max()))
            assert float(np.abs(r - o).max()) / scale <= tol, k


# Inputs from a coarse grid make exact threshold ties common (ge and gt must then differ).
def grid_input(rng, T, B, shape, dtype):
    return torch.tensor(rng.choice([-0.5, 0.0, 0.25, 0.5, 0.8, 1.0, 1.6], size=(T, B, *shape)), dtype=dtype)


SWEEP = [(cls, form, compare, reset, timing)
         for cls, form in FORMS
         for compare in ("gt", "ge") for reset in ("value", "subtract", "none") for timing in ("immediate", "delayed")
         if cls in ("LIF", "CubaLIF") or (compare, reset, timing) == ("gt", "value", "immediate")]  # LI never fires


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("cls,form,compare,reset,timing", SWEEP)
def test_every_form_and_switch_is_bit_identical(cls, form, compare, reset, timing, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{cls} {form} {compare} {reset} {timing}".encode()))
    shape = (7,)
    ext = NeuronExt(form, _params(form, cls.startswith("Cuba"), 7, rng, scalar=False), compare, reset, timing, dt=1e-3)
    g = direct_graph(neuron_node(cls, ext, shape, rng, thr=None), shape)
    x = grid_input(rng, 30, 3, shape, dtype) * (300.0 if form in ("euler", "norse", "norse_jump") else 1.0)
    if batched.HAVE_NUMBA:  # every form runs in the fused kernel, not the torch fallback
        assert batched._plans(compile_graph(g, dtype))["n"] is not None
    step, bat = both(g, x, dtype)
    assert_same(step, bat, exact_membranes=True)
    if cls in ("LIF", "CubaLIF"):
        assert 0 < step.spikes["n"].sum() < step.spikes["n"].size


@pytest.mark.parametrize("cls", ["LIF", "IF", "CubaLIF", "LI", "CubaLI"])
def test_plain_nir_nodes_without_metadata(cls):
    rng = np.random.default_rng(1)
    shape = (5,)
    ones = np.ones(shape)
    if cls == "IF":
        node = nir.IF(r=ones * 0.7, v_threshold=ones, v_reset=ones * 0)
    else:
        node = neuron_node(cls, None, shape, rng)
    g = direct_graph(node, shape)
    x = grid_input(rng, 25, 2, shape, torch.float64)
    step, bat = both(g, x, torch.float64)
    assert_same(step, bat, exact_membranes=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FORMS), st.sampled_from(["gt", "ge"]), st.sampled_from(["value", "subtract", "none"]),
       st.sampled_from(["immediate", "delayed"]), st.booleans(), st.integers(1, 9), st.integers(1, 12),
       st.integers(0, 2**31 - 1), st.sampled_from([torch.float64, torch.float32]))
def test_hypothesis_neuron_sweep(cls_form, compare, reset, timing, scalar, B, T, seed, dtype):
    cls, form = cls_form
    rng = np.random.default_rng(seed)
    shape = (3, 2)
    ext = NeuronExt(form, _params(form, cls.startswith("Cuba"), 6, rng, scalar), compare, reset, timing, dt=1e-3)
    if not scalar:
        ext.params = {k: v.reshape(shape) for k, v in ext.params.items()}
    g = direct_graph(neuron_node(cls, ext, shape, rng, thr=float(rng.choice([0.5, 1.0]))), shape)
    scale = 300.0 if form in ("euler", "norse", "norse_jump") else 1.0
    x = torch.tensor(rng.normal(0.4, 0.6, size=(T, B, *shape)), dtype=dtype) * scale
    if rng.random() < 0.5:
        x = grid_input(rng, T, B, shape, dtype) * scale
    step, bat = both(g, x, dtype)
    assert_same(step, bat, exact_membranes=True)


def test_torch_fallback_matches_kernel(monkeypatch):
    rng = np.random.default_rng(3)
    shape = (4,)
    ext = NeuronExt("tau_decay_input", _params("tau_decay_input", False, 4, rng, False), "ge", "value", "delayed")
    g = direct_graph(neuron_node("LIF", ext, shape, rng), shape)
    x = grid_input(rng, 20, 3, shape, torch.float64)
    kernel = simulate(compile_graph(g, torch.float64), x, mode="batched")
    monkeypatch.setattr(batched, "_neuron_plan", lambda p: None)
    loop = simulate(compile_graph(g, torch.float64), x, mode="batched")
    step = simulate(g, x, torch.float64, mode="step")
    assert_same(step, loop, exact_membranes=True)
    assert_same(kernel, loop, exact_membranes=True)


def ff_graph(reduction=None, residual=True):
    """Conv -> LIF -> (Conv + identity residual) -> LIF -> Flatten -> Affine -> CubaLIF -> Affine -> LI -> Output."""
    rng = np.random.default_rng(7)
    C, H, W = 3, 6, 5

    def lif(shape, ext):
        return neuron_node("LIF", ext, shape, rng, thr=0.5)

    e1 = NeuronExt("beta", {"beta": np.array(0.9), "gain": np.array(0.1)}, "ge", "subtract")
    e2 = NeuronExt("beta", {"beta": np.full((C, 1, 1), 0.8), "gain": np.ones((C, 1, 1))}, "gt", "subtract", "delayed")
    e3 = NeuronExt("beta", {"alpha": np.array(0.7), "syn_gain": np.array(1.0), "beta": np.array(0.85), "gain": np.array(1.0)},
                   "gt", "value")
    e4 = NeuronExt("beta", {"beta": np.array(0.9), "gain": np.array(1.0)})
    n_flat = C * H * W
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, H, W])}),
        "c1": nir.Conv2d(input_shape=(H, W), weight=rng.normal(0, 1, (C, 2, 3, 3)), stride=1, padding=1, dilation=1,
                         groups=1, bias=rng.normal(0, 0.1, C)),
        "l1": lif((C, H, W), e1),
        "c2": nir.Conv2d(input_shape=(H, W), weight=rng.normal(0, 0.6, (C, C, 3, 3)), stride=1, padding=1, dilation=1,
                         groups=1, bias=rng.normal(0, 0.1, C)),
        "l2": lif((C, H, W), e2),
        "flat": nir.Flatten(input_type={"input": np.array([C, H, W])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(0, 0.3, (12, n_flat)), bias=rng.normal(0, 0.1, 12)),
        "l3": neuron_node("CubaLIF", e3, (12,), rng, thr=0.6),
        "fc2": nir.Affine(weight=rng.normal(0, 0.5, (4, 12)), bias=rng.normal(0, 0.1, 4)),
        "li": neuron_node("LI", e4, (4,), rng),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    edges = [("input", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l2", "flat"), ("flat", "fc"), ("fc", "l3"),
             ("l3", "fc2"), ("fc2", "li"), ("li", "output")]
    if residual:  # two summed edges into c2 (spikes and scaled spikes) and an identity shortcut into l2
        nodes["sc"] = nir.Scale(scale=np.full((C, H, W), 0.5))
        edges += [("l1", "sc"), ("sc", "c2"), ("l1", "l2")]
    if reduction:
        nodes["head"] = nir.Affine(weight=rng.normal(0, 0.5, (4, 12)), bias=rng.normal(0, 0.1, 4))
        set_node_ext(nodes["head"], time_reduction=reduction)
        nodes["out2"] = nir.Output(output_type={"output": np.array([4])})
        edges += [("l3", "head"), ("head", "out2")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: GraphExt(input_shape=(2, H, W), input_kind="analog").to_meta()})


@pytest.mark.parametrize("reduction", [None, "mean", "sum", "last", "max"])
@pytest.mark.parametrize("B", [1, 3, 8])
def test_feed_forward_network_spikes_identical(reduction, B):
    g = ff_graph(reduction)
    x = torch.tensor(np.random.default_rng(B).normal(0.5, 1.0, size=(16, B, 2, 6, 5)))
    step, bat = both(g, x, torch.float64)
    assert_same(step, bat, exact_membranes=False)
    assert all(0 < v.sum() < v.size for v in step.spikes.values())
    if reduction:
        assert step.readout["out2"].shape == (B, 4)


def test_record_activations_match():
    g = ff_graph("mean")
    x = torch.tensor(np.random.default_rng(0).normal(0.5, 1.0, size=(10, 2, 2, 6, 5)))
    step, bat = both(g, x, torch.float64, record_activations=True)
    assert sorted(step.activations) == sorted(bat.activations)
    for k in step.activations:
        r = step.activations[k]
        assert r.shape == bat.activations[k].shape
        assert float(np.abs(r - bat.activations[k]).max()) <= 1e-12 * max(1.0, float(np.abs(r).max())), k


def mlp_graph(rng, sizes=(60, 96, 80, 10)):
    nodes = {"input": nir.Input(input_type={"input": np.array([sizes[0]])})}
    edges, prev = [], "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        nodes[f"fc{i}"] = nir.Affine(weight=rng.normal(0, 1.5 / np.sqrt(a * 0.2), (b, a)), bias=rng.normal(0, 0.1, b))
        ext = NeuronExt("beta", {"beta": np.array(0.95), "gain": np.array(1.0)}, "gt", "subtract", "delayed")
        nodes[f"lif{i}"] = neuron_node("LIF", ext, (b,), rng, thr=1.0)
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([sizes[-1]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: GraphExt(input_shape=(sizes[0],)).to_meta()})


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("B", [1, 2, 4, 16])
def test_event_driven_linear_matches(B, dtype):
    rng = np.random.default_rng(B)
    g = mlp_graph(rng)
    x = (torch.rand(25, B, 60, generator=torch.Generator().manual_seed(B)) < 0.15).to(dtype)
    step = simulate(g, x, dtype, mode="step")
    for event in ("on", "off", "auto"):
        prog = compile_graph(g, dtype)
        bat = batched.simulate_batched(prog, x, record_membranes=True, event=event)
        for k in step.spikes:
            np.testing.assert_array_equal(step.spikes[k], bat.spikes[k], err_msg=f"{k} event={event}")
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        for k in step.membranes:
            d = float(np.abs(step.membranes[k] - bat.membranes[k]).max())
            assert d <= tol * max(1.0, float(np.abs(step.membranes[k]).max())), (k, event, d)
    assert sum(v.sum() for v in step.spikes.values()) > 0


def test_event_linear_kernel_sums_active_columns_in_order():
    if not batched.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(0)
    x = (rng.random((9, 13)) < 0.3) * rng.choice([1.0, 2.5], size=(9, 13))
    w = rng.normal(size=(7, 13))
    b = rng.normal(size=7)
    out = np.empty((9, 7))
    batched._event_linear(x, np.ascontiguousarray(w.T), b, True, out)
    want = np.zeros((9, 7))
    for m in range(9):
        acc = np.zeros(7)
        for k in range(13):
            if x[m, k] != 0:
                acc = acc + x[m, k] * w[:, k]
        want[m] = acc + b
    np.testing.assert_array_equal(out, want)


def test_recurrent_and_custom_rules_stay_per_step():
    g = recurrent_one_neuron_graph()
    x = torch.tensor([1.5, 0.0, 0.0, 0.0], dtype=torch.float64).reshape(-1, 1, 1)
    assert "recurrent" in batched.batch_reason(compile_graph(g))
    assert simulate(g, x).spikes["n"].reshape(-1).tolist() == [1.0, 1.0, 1.0, 1.0]  # auto -> per step
    with pytest.raises(SnnexportError, match="recurrent"):
        simulate(g, x, mode="batched")
    with pytest.raises(SnnexportError, match="mode"):
        simulate(g, x, mode="fast")

    calls = []
    base = RULES["Affine"]

    def counting_step(x, s, p):
        calls.append(tuple(x.shape))
        return base.step(x, s, p)

    g2 = mlp_graph(np.random.default_rng(0), (6, 5, 3))
    prog = compile_graph(g2, torch.float64, rules={"Affine": Rule(base.prepare, counting_step)})
    assert "custom" in batched.batch_reason(prog)
    x2 = (torch.rand(7, 2, 6) < 0.5).double()
    res = simulate(prog, x2)  # auto: custom rules -> per step, one call per step and layer
    assert len(calls) == 7 * 2 and all(c == (2, 6) or c == (2, 5) for c in calls)
    np.testing.assert_array_equal(res.spikes["lif1"], simulate(g2, x2, torch.float64).spikes["lif1"])


# ----------------------------------------------------------------------------- activity, numba policy, float32 vs snnTorch

@pytest.fixture(autouse=True)
def _kernels_always(monkeypatch, request):
    """Every test here runs the numba kernels (when installed) regardless of the per-process
    break-even, except those that test that policy."""
    if not request.node.name.startswith("test_numba_loaded_only_past_break_even"):
        monkeypatch.setattr(batched, "NUMBA_BREAK_EVEN_S", 0.0)


@pytest.mark.parametrize("B", [3, 16])
def test_spike_count_from_scan_drives_event_decision(B, monkeypatch):
    """float64: the event/dense choice of the hidden layers uses the spike count returned by the
    scan (no count_nonzero pass over them); spikes equal dense-only and per step."""
    if not batched.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(40 + B)
    g = mlp_graph(rng)
    x = (torch.rand(25, B, 60, generator=torch.Generator().manual_seed(B)) < 0.1).double()
    prog = compile_graph(g, torch.float64)
    counted, chosen = [], []
    real_count, real_event = torch.count_nonzero, batched._event_linear

    def counting(t, *a, **k):
        counted.append(tuple(t.shape))
        return real_count(t, *a, **k)

    monkeypatch.setattr(torch, "count_nonzero", counting)
    monkeypatch.setattr(batched, "_event_linear", lambda x2, *a: (chosen.append(x2.shape), real_event(x2, *a)))
    auto = batched.simulate_batched(prog, x, event="auto")
    assert counted == [(25 * B, 60)]  # only the Input node's spikes are counted; the scans count the rest
    assert len(chosen) >= 2  # sparse hidden layers (>= 64 outputs) went event-driven
    dense = batched.simulate_batched(compile_graph(g, torch.float64), x, event="off")
    step = simulate(g, x, torch.float64, mode="step")
    for k in step.spikes:
        np.testing.assert_array_equal(auto.spikes[k], dense.spikes[k], err_msg=k)
        np.testing.assert_array_equal(auto.spikes[k], step.spikes[k], err_msg=k)
    assert sum(int(v.sum()) for v in auto.spikes.values()) > 0


def test_scan_returns_the_number_of_spikes_it_wrote():
    if not batched.HAVE_NUMBA:
        pytest.skip("numba not installed")
    rng = np.random.default_rng(5)
    g = mlp_graph(rng)
    prog = compile_graph(g, torch.float32)
    x = (torch.rand(12, 4, 60, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    plans = batched._plans(prog)
    I = torch.randn(12, 4, 96, generator=torch.Generator().manual_seed(2)) * 2
    out, _, count = batched._run_neuron("lif0", prog, plans["lif0"], I, False, True)
    assert count == int(out.sum()) and 0 < count < out.numel()
    assert x.sum() > 0


def test_float32_dense_path_and_spikes_in_run_dtype():
    """float32 Affine layers run on oneDNN where torch has it; spikes identical to per step on
    this net, SimResult spikes are a float32 copy (no float64 conversion)."""
    g = mlp_graph(np.random.default_rng(9))
    x = (torch.rand(25, 16, 60, generator=torch.Generator().manual_seed(3)) < 0.2).float()
    prog = compile_graph(g, torch.float32)
    plans = batched._plans(prog)
    if batched.USE_ONEDNN and torch.backends.mkldnn.is_available():
        assert plans["fc0"]["onednn"] is not None
    assert compile_graph(g, torch.float64) is not None and batched._plans(compile_graph(g, torch.float64))["fc0"]["onednn"] is None
    bat = batched.simulate_batched(prog, x)
    step = simulate(g, x, torch.float32, mode="step")
    for k in step.spikes:
        assert bat.spikes[k].dtype == np.float32
        np.testing.assert_array_equal(bat.spikes[k], step.spikes[k], err_msg=k)
    again = batched.simulate_batched(prog, x)  # workspace reused: the first result is not overwritten
    for k in step.spikes:
        np.testing.assert_array_equal(bat.spikes[k], again.spikes[k])


def test_numba_loaded_only_past_break_even(monkeypatch):
    monkeypatch.setattr(batched, "NUMBA_BREAK_EVEN_S", 1.0)
    monkeypatch.setattr(batched, "LOOP_STEP_S", 0.1)
    monkeypatch.setattr(batched, "LOOP_ELEM_S", 0.001)
    monkeypatch.setattr(batched, "_torch_loop_work", 0.0)
    monkeypatch.setattr(batched, "_kernels_loaded", False)
    loads = []
    monkeypatch.setattr(batched, "_load_kernels", lambda: loads.append(1) or batched.HAVE_NUMBA)
    assert batched._use_kernels(2, 200) is False and batched._use_kernels(2, 200) is False and loads == []  # 0.4 s each
    assert batched._use_kernels(2, 200) is batched.HAVE_NUMBA  # 1.2 s of estimated loop overhead: now it pays
    assert loads == ([1] if batched.HAVE_NUMBA else [])
    g = mlp_graph(np.random.default_rng(1))
    x = (torch.rand(5, 2, 60, generator=torch.Generator().manual_seed(0)) < 0.3).double()
    monkeypatch.setattr(batched, "_torch_loop_work", 0.0)
    monkeypatch.setattr(batched, "NUMBA_BREAK_EVEN_S", 1e9)
    small = batched.simulate_batched(compile_graph(g, torch.float64), x)  # torch loop: below break-even
    np.testing.assert_array_equal(small.spikes["lif1"], simulate(g, x, torch.float64, mode="step").spikes["lif1"])
    assert batched._torch_loop_work == pytest.approx(5 * 3 * 0.1 + 5 * 2 * (96 + 80 + 10) * 0.001)


@pytest.mark.slow
def test_float32_flips_against_snntorch_within_rounding_rule():
    """MNIST-FC in float32 at B=16: the reference (oneDNN GEMM) against the snnTorch model's own
    loop. Flips, if any, must be what verify calls rounding (membrane within float32 rounding
    of the threshold) and their consequences."""
    from pathlib import Path

    from snnexport.checkpoint import load
    from snnexport.sources import convert_model
    from snnexport.verification import run_verify

    path = Path(__file__).resolve().parents[1] / "models" / "checkpoints" / "mnist_snntorch.pt"
    if not path.exists():
        pytest.skip("MNIST checkpoint not shipped")
    loaded = load(path)
    graph = convert_model(loaded)
    x = (torch.rand(25, 16, 784, generator=torch.Generator().manual_seed(16)) < 0.15).float()
    report = run_verify(graph, x, torch.float32, ["source", "reference"], source=loaded)
    row = {r.name: r for r in report.participants}["source"]
    assert row.total_spikes > 0
    assert row.mismatches == row.rounding_mismatches + row.consequential_mismatches, row
    assert report.identical, row


def test_float32_linear_without_bias_on_onednn():
    g = mlp_graph(np.random.default_rng(12))
    for name in ("fc0", "fc1", "fc2"):
        g.nodes[name] = nir.Linear(weight=g.nodes[name].weight)
    x = (torch.rand(20, 8, 60, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    prog = compile_graph(g, torch.float32)
    bat = batched.simulate_batched(prog, x, record_membranes=True)
    step = simulate(g, x, torch.float32, mode="step")
    for k in step.spikes:
        np.testing.assert_array_equal(bat.spikes[k], step.spikes[k], err_msg=k)
    for k in step.membranes:
        assert float(np.abs(step.membranes[k] - bat.membranes[k]).max()) <= 1e-5 * max(1.0, float(np.abs(step.membranes[k]).max()))
    assert sum(int(v.sum()) for v in step.spikes.values()) > 0
