"""The reference simulator against hand-written single-neuron loops, one per semantic switch.

Each expected trace is computed here by a plain Python loop written from the equations in
snnexport/extension.py, independently of the simulator's code.
"""

import nir
import numpy as np
import pytest
import torch

from snnexport.extension import KEY, GraphExt, NeuronExt, set_node_ext
from snnexport.simulators.reference import simulate
from tests.helpers import recurrent_one_neuron_graph  # noqa: E402


def one_neuron_graph(ext: NeuronExt, threshold=1.0, v_reset=0.0, v_leak=0.0, node_cls="LIF", reduction=None):
    s = np.ones(1)
    if node_cls == "LIF":
        neuron = nir.LIF(tau=s * 2, r=s, v_leak=s * v_leak, v_threshold=s * threshold, v_reset=s * v_reset)
    elif node_cls == "LI":
        neuron = nir.LI(tau=s * 2, r=s, v_leak=s * v_leak)
    set_node_ext(neuron, **ext.to_meta())
    out = nir.Output(output_type={"output": np.array([1])})
    if reduction:
        set_node_ext(out, time_reduction=reduction)
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}),
             "w": nir.Linear(weight=np.eye(1)), "n": neuron, "output": out}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "n"), ("n", "output")],
                     metadata={KEY: GraphExt(input_shape=(1,), input_kind="analog").to_meta()})
    return g


def run(g, inputs):
    x = torch.tensor(inputs, dtype=torch.float64).reshape(-1, 1, 1)
    res = simulate(g, x, torch.float64)
    return res


def loop(inputs, update, thr=1.0, compare="gt", reset="value", timing="immediate", v_reset=0.0):
    U, S_prev, out, mems = 0.0, 0.0, [], []
    for I in inputs:
        if timing == "delayed" and reset == "value" and S_prev:
            U = v_reset
        U = update(U, I)
        if timing == "delayed" and reset == "subtract":
            U = U - S_prev * thr
        S = float(U >= thr) if compare == "ge" else float(U > thr)
        mems.append(U)
        if timing == "immediate":
            if reset == "subtract":
                U = U - S * thr
            elif reset == "value" and S:
                U = v_reset
        out.append(S)
        S_prev = S
    return out, mems


INPUTS = [0.7, 0.6, 0.1, 0.9, 1.3, 0.0, 0.45, 0.8, 2.5, 0.2, 0.6, 0.6]


@pytest.mark.parametrize("reset", ["value", "subtract", "none"])
@pytest.mark.parametrize("timing", ["immediate", "delayed"])
@pytest.mark.parametrize("compare", ["gt", "ge"])
def test_beta_form_all_switches(reset, timing, compare):
    beta, gain = 0.8, 0.5
    ext = NeuronExt("beta", {"beta": np.array([beta]), "gain": np.array([gain])}, compare, reset, timing)
    res = run(one_neuron_graph(ext, threshold=0.6), INPUTS)
    want, mems = loop(INPUTS, lambda U, I: beta * U + gain * I, 0.6, compare, reset, timing)
    assert res.spikes["n"].reshape(-1).tolist() == want
    assert sum(want) > 0 and sum(want) < len(want)
    np.testing.assert_array_equal(res.membranes["n"].reshape(-1), np.array(mems))


def test_tau_forms_match_spikingjelly_equations():
    tau, vl = 2.0, 0.1
    for form, upd in (("tau_decay_input", lambda U, I: U + (I - (U - vl)) / tau),
                      ("tau", lambda U, I: U - (U - vl) / tau + I)):
        ext = NeuronExt(form, {"tau": np.array([tau]), "gain": np.array([1.0])}, "ge", "subtract")
        res = run(one_neuron_graph(ext, v_leak=vl), INPUTS)
        want, mems = loop(INPUTS, upd, 1.0, "ge", "subtract")
        assert res.spikes["n"].reshape(-1).tolist() == want, form
        np.testing.assert_array_equal(res.membranes["n"].reshape(-1), np.array(mems))


def test_euler_form_is_norse_lifbox_order():
    dt, tau_inv, vl = 1e-3, 200.0, 0.0
    a = dt * tau_inv  # Norse multiplies dt * tau_mem_inv first
    ext = NeuronExt("euler", {"tau_mem_inv": np.array([tau_inv]), "r": np.array([1.0])}, dt=dt)
    inputs = [x * 8 for x in INPUTS]
    res = run(one_neuron_graph(ext), inputs)
    want, mems = loop(inputs, lambda U, I: U + a * ((vl - U) + I))
    assert res.spikes["n"].reshape(-1).tolist() == want
    assert sum(want) > 0


def test_ge_fires_on_exact_tie_and_gt_does_not():
    ins = [0.5, 0.5, 0.0]
    for compare, expected in (("ge", [0.0, 1.0, 0.0]), ("gt", [0.0, 0.0, 0.0])):
        ext = NeuronExt("beta", {"beta": np.array([1.0]), "gain": np.array([1.0])}, compare, "subtract")
        assert run(one_neuron_graph(ext), ins).spikes["n"].reshape(-1).tolist() == expected


def test_delayed_subtract_is_snntorch_order():
    # snnTorch reset_delay=True: U_t = beta*U_{t-1} + I_t - S_{t-1}*theta (theta undecayed)
    ext = NeuronExt("beta", {"beta": np.array([0.9]), "gain": np.array([1.0])}, "gt", "subtract", "delayed")
    res = run(one_neuron_graph(ext), [1.5, 0.0, 0.0])
    np.testing.assert_allclose(res.membranes["n"].reshape(-1), [1.5, 0.9 * 1.5 - 1.0, 0.9 * (0.9 * 1.5 - 1.0)])


def test_time_mean_readout_and_li_membrane_output():
    ext = NeuronExt("beta", {"beta": np.array([0.5]), "gain": np.array([1.0])})
    res = run(one_neuron_graph(ext, node_cls="LI", reduction="mean"), [1.0, 1.0, 0.0, 2.0])
    mems = [1.0, 1.5, 0.75, 2.375]
    assert res.readout["output"].shape == (1, 1)
    assert res.readout["output"].item() == pytest.approx(np.mean(mems), abs=0)


def test_recurrent_edge_is_one_step_delayed():
    g = recurrent_one_neuron_graph()
    # beta = 0: U_t = I_t + 2*S_{t-1}: one kick at t=0 then self-sustained firing
    res = run(g, [1.5, 0.0, 0.0, 0.0])
    assert res.spikes["n"].reshape(-1).tolist() == [1.0, 1.0, 1.0, 1.0]
    res = run(g, [0.5, 0.0, 0.0, 0.0])
    assert res.spikes["n"].reshape(-1).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_float32_run_uses_float32_arithmetic():
    ext = NeuronExt("beta", {"beta": np.array([0.95]), "gain": np.array([1.0])})
    g = one_neuron_graph(ext)
    x = torch.tensor([0.3] * 20, dtype=torch.float32).reshape(-1, 1, 1)
    res = simulate(g, x, torch.float32)
    U, mems = np.float32(0), []
    for _ in range(20):
        U = np.float32(np.float32(0.95) * U + np.float32(0.3))
        mems.append(U)
        if U > 1:
            U = np.float32(0)
    np.testing.assert_array_equal(res.membranes["n"].reshape(-1), np.array(mems, dtype=np.float32))
