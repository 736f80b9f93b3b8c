"""Neurons written the way their frameworks' users write them (issue 13, item 2): SpikingJelly
ParametricLIFNode and LIF/IF nodes with v_reset != 0, Norse LIFRecurrentCell/LIFRecurrent and
LILinearCell, snnTorch Lapicque. Each model is converted and run by every participant (the
source framework itself, the reference per-step and time-batched, the snnTorch and Norse
importers, ONNX Runtime) in float64 and float32; every spike must be equal (no rounding
allowance) and readouts within the verify tolerance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("spikingjelly")
pytest.importorskip("norse")
pytest.importorskip("snntorch")
pytest.importorskip("onnxruntime")

import norse.torch as norse_torch  # noqa: E402
import snntorch as snn  # noqa: E402
from norse.torch.functional.leaky_integrator import LIParameters  # noqa: E402
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from spikingjelly.activation_based import functional as sj_functional  # noqa: E402
from spikingjelly.activation_based import layer, neuron, surrogate  # noqa: E402

from snnexport.checkpoint import LoadedModel  # noqa: E402
from snnexport.errors import SnnexportError  # noqa: E402
from snnexport.consumers import consumer_warnings  # noqa: E402
from snnexport.extension import KEY, neuron_ext  # noqa: E402
from snnexport.graph import read_graph, write_graph  # noqa: E402
from snnexport.simulators.reference.runner import simulate  # noqa: E402
from snnexport.sources import convert_model  # noqa: E402
from snnexport.verification import READOUT_TOL, run_verify  # noqa: E402

F64, F32 = torch.float64, torch.float32
PARTICIPANTS = ["source", "reference", "snntorch", "norse", "onnxruntime"]
# a PLIF w whose float32 sigmoid is not float32(float64 sigmoid): k_float32 must be used
W_ROUNDS_APART = float(torch.tensor(-0.797, dtype=F32))


def convert(model, shape, layout):
    lm = LoadedModel(model, "model.pt", info={"input_shape": list(shape), "input_kind": "analog",
                                               "input_layout": layout})
    return lm, convert_model(lm)


def verify_everywhere(lm, graph, x, min_spikes=20):
    """Every participant, float64 and float32: every spike equal to the reference's, readouts
    within READOUT_TOL; the per-step and time-batched reference agree; real activity."""
    for dtype in (F64, F32):
        keep = {}
        rep = run_verify(graph, x, dtype, sims=PARTICIPANTS, source=lm, keep_results=keep)
        ref = keep["reference"]
        for row in rep.participants:
            assert row.error is None, (dtype, row.name, row.error)
            res = keep[row.name]
            for node, s in ref.spikes.items():
                assert np.array_equal(res.spikes[node], s), (dtype, row.name, node, int((res.spikes[node] != s).sum()))
            assert row.mismatches == 0 and row.identical, (dtype, row)
            if row.max_abs_readout_diff is not None:
                assert row.max_abs_readout_diff <= READOUT_TOL[dtype], (dtype, row.name, row.max_abs_readout_diff)
        step = simulate(graph, x, dtype, mode="step")
        for node, s in ref.spikes.items():
            assert np.array_equal(step.spikes[node], s), (dtype, "per-step vs batched", node)
        for node, s in ref.spikes.items():
            assert min_spikes <= int(s.sum()) < s.size, f"{dtype} {node}: {int(s.sum())} spikes of {s.size} (need real, unsaturated activity)"
    return rep


def analog(shape, seed=0, scale=1.0, offset=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, dtype=F64, generator=g) * scale + offset


# ----------------------------------------------------------------------------- SpikingJelly

def sj_net(make_neuron, n_in=10, hidden=24, n_out=6, seed=0):
    """The SpikingJelly tutorial shape: multi-step layer.Linear -> neuron -> layer.Linear -> neuron."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        layer.Linear(n_in, hidden, step_mode="m"), make_neuron(),
        layer.Linear(hidden, n_out, step_mode="m"), make_neuron(),
    )
    with torch.no_grad():
        net[0].weight.mul_(2.5)
        net[2].weight.mul_(5.0)
    sj_functional.reset_net(net)
    return net.eval()


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, None, -0.25])
def test_parametric_lif_node_identical_everywhere(decay_input, v_reset):
    def plif():
        return neuron.ParametricLIFNode(init_tau=2.5, decay_input=decay_input, v_reset=v_reset,
                                        surrogate_function=surrogate.ATan(), step_mode="m")

    net = sj_net(plif)
    with torch.no_grad():  # a trained-looking w, one whose float32 sigmoid rounds apart from float64's
        net[1].w.fill_(W_ROUNDS_APART)
        net[3].w.fill_(0.41)
    lm, graph = convert(net, (10,), "TB")
    ext = neuron_ext(graph.nodes["1"], "1")
    assert ext.dynamics == ("sigmoid_decay_input" if decay_input else "sigmoid")
    w32 = torch.tensor(W_ROUNDS_APART, dtype=F32)
    assert float(ext.params["k"].reshape(-1)[0]) == float(torch.sigmoid(w32.double()))
    assert float(ext.params["k_float32"].reshape(-1)[0]) == float(torch.sigmoid(w32))
    scale = 4.0 if decay_input else 1.0
    verify_everywhere(lm, graph, analog((16, 5, 10), seed=1, scale=scale))


@pytest.mark.parametrize("kind", ["lif", "lif_no_decay_input", "if"])
def test_nonzero_v_reset_starts_there_everywhere(kind, tmp_path):
    def make():
        if kind == "if":
            return neuron.IFNode(v_reset=0.4, step_mode="m")
        return neuron.LIFNode(tau=2.0, v_reset=-0.3, decay_input=kind == "lif", step_mode="m")

    net = sj_net(make)
    lm, graph = convert(net, (10,), "TB")
    want = 0.4 if kind == "if" else -0.3
    ext = neuron_ext(graph.nodes["1"], "1")
    assert np.all(ext.params["v_init"] == want)
    assert any("starts at v_init" in w for w in consumer_warnings(graph))
    path = tmp_path / "g.nir"
    write_graph(graph, path)
    back = read_graph(path)
    assert np.all(neuron_ext(back.nodes["3"], "3").params["v_init"] == want)
    x = analog((14, 5, 10), seed=2, scale={"lif": 3.0, "lif_no_decay_input": 1.0, "if": 0.8}[kind])
    verify_everywhere(lm, back, x)

    # the initial state matters: without v_init the graph no longer matches SpikingJelly
    del back.nodes["1"].metadata[KEY]["params"]["v_init"]
    del back.nodes["3"].metadata[KEY]["params"]["v_init"]
    rep = run_verify(back, x, F64, sims=["source", "reference"], source=lm)
    assert not rep.identical


SINGLE_STEP = {
    "lif_v_reset": lambda: neuron.LIFNode(tau=2.0, v_reset=-0.3),
    "plif_v_reset": lambda: neuron.ParametricLIFNode(init_tau=2.5, v_reset=0.2),
    "if_v_reset": lambda: neuron.IFNode(v_reset=0.4, v_threshold=1.2),
}


@pytest.mark.parametrize("kind", list(SINGLE_STEP))
def test_single_step_mode_identical_everywhere(kind):
    """SpikingJelly's default step_mode='s': the model is called once per step (layout "step")."""
    torch.manual_seed(0)
    make = SINGLE_STEP[kind]
    net = nn.Sequential(layer.Linear(10, 24), make(), layer.Linear(24, 6), make())
    with torch.no_grad():
        net[0].weight.mul_(2.5)
        net[2].weight.mul_(5.0)
    lm, graph = convert(net.eval(), (10,), "step")
    assert "v_init" in neuron_ext(graph.nodes["1"], "1").params
    verify_everywhere(lm, graph, analog((14, 5, 10), seed=2, scale=3.0))


def test_perturbed_decay_factor_fails_verify():
    """verify can fail: a PLIF k off by a small amount gives different spikes than SpikingJelly."""
    net = sj_net(lambda: neuron.ParametricLIFNode(init_tau=2.5, step_mode="m"))
    lm, graph = convert(net, (10,), "TB")
    x = analog((16, 5, 10), seed=1, scale=1.2)
    assert run_verify(graph, x, F64, sims=["source", "reference"], source=lm).identical
    params = graph.nodes["1"].metadata[KEY]["params"]
    params["k"] = params["k"] * 1.05
    params.pop("k_float32", None)
    for dtype in (F64, F32):
        rep = run_verify(graph, x, dtype, sims=["source", "reference"], source=lm)
        assert not rep.identical and rep.participants[0].mismatches > 0


def test_plif_with_vector_w_is_refused_in_one_line():
    node = neuron.ParametricLIFNode(step_mode="m")
    node.w = nn.Parameter(torch.zeros(3))
    net = nn.Sequential(layer.Linear(4, 3, step_mode="m"), node).eval()
    with pytest.raises(SnnexportError) as e:
        convert(net, (4,), "TB")
    assert "\n" not in str(e.value) and "ParametricLIFNode" in str(e.value) and "w of shape" in str(e.value)


# ----------------------------------------------------------------------------- Norse

class RecurrentNet(nn.Module):
    """Norse's recurrent-cell idiom: a time loop threading the cells' states."""

    def __init__(self, multi_step=False):
        super().__init__()
        self.fc = nn.Linear(6, 12)
        p = LIFParameters(tau_mem_inv=torch.tensor(150.0), tau_syn_inv=torch.tensor(200.0), v_th=torch.tensor(0.1))
        self.multi_step = multi_step
        self.rec = (norse_torch.LIFRecurrent if multi_step else norse_torch.LIFRecurrentCell)(12, 16, p=p)
        self.readout = norse_torch.LILinearCell(16, 4, p=LIParameters(tau_mem_inv=torch.tensor(90.0)))

    def forward(self, x):
        if self.multi_step:
            z_seq, _ = self.rec(self.fc(x))
        s1 = s2 = None
        outs = []
        for t in range(x.shape[0]):
            if self.multi_step:
                z = z_seq[t]
            else:
                z, s1 = self.rec(self.fc(x[t]), s1)
            v, s2 = self.readout(z, s2)
            outs.append(v)
        return torch.stack(outs)


@pytest.mark.parametrize("multi_step", [False, True])
def test_norse_recurrent_and_linear_cells_identical_everywhere(multi_step):
    torch.manual_seed(0)
    net = RecurrentNet(multi_step).eval()
    with torch.no_grad():
        net.rec.input_weights.mul_(4.0)
    lm, graph = convert(net, (6,), "TB")
    kinds = {n: type(node).__name__ for n, node in graph.nodes.items()}
    assert kinds["rec"] == "CubaLIF" and kinds["rec.in"] == "Linear" and kinds["rec.rec"] == "Linear"
    assert kinds["readout"] == "CubaLI" and kinds["readout.in"] == "Linear"
    assert ("rec.rec", "rec") in graph.edges and ("rec", "rec.rec") in graph.edges
    np.testing.assert_array_equal(graph.nodes["rec.rec"].weight, net.rec.recurrent_weights.detach().double().numpy())
    np.testing.assert_array_equal(graph.nodes["readout.in"].weight, net.readout.input_weights.detach().double().numpy())
    x = torch.randn(20, 5, 6, dtype=F64, generator=torch.Generator().manual_seed(3)) * 3
    verify_everywhere(lm, graph, x)


def test_other_norse_recurrent_cells_are_refused_in_one_line():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = norse_torch.LSNNRecurrentCell(4, 5)

        def forward(self, x):
            s, outs = None, []
            for t in range(x.shape[0]):
                z, s = self.cell(x[t], s)
                outs.append(z)
            return torch.stack(outs)

    with pytest.raises(SnnexportError) as e:
        convert(Net().eval(), (4,), "TB")
    msg = str(e.value)
    assert "\n" not in msg and "LSNNRecurrentCell" in msg and "LIFRecurrentCell" in msg


# ----------------------------------------------------------------------------- snnTorch

LAPICQUES = {
    "beta": lambda: snn.Lapicque(beta=0.9, init_hidden=True),
    "tutorial_R_C_time_step": lambda: snn.Lapicque(R=5, C=1e-3, time_step=1e-3, init_hidden=True),
    "float_R_no_reset": lambda: snn.Lapicque(R=5.3, C=0.02, time_step=1e-2, reset_mechanism="none", init_hidden=True),
    "beta_and_R": lambda: snn.Lapicque(beta=0.83, R=3, init_hidden=True),
}


@pytest.mark.parametrize("kind", list(LAPICQUES))
def test_snntorch_lapicque_identical_everywhere(kind):
    """snnTorch tutorial 2's neuron, in an nn.Sequential of init_hidden neurons called once per step."""
    torch.manual_seed(0)
    make = LAPICQUES[kind]
    net = nn.Sequential(nn.Linear(8, 16), make(), nn.Linear(16, 4), make()).eval()
    with torch.no_grad():  # the membrane's steady state is R*I: scale the weights by 1/R for real activity
        net[0].weight.mul_(15.0 / float(net[1].R))
        net[2].weight.mul_(15.0 / float(net[1].R))
    lm, graph = convert(net, (8,), "step")
    ext = neuron_ext(graph.nodes["1"], "1")
    assert ext.dynamics == "rc"
    assert ext.reset == ("none" if kind == "float_R_no_reset" else "subtract")
    assert ext.reset_timing == ("immediate" if kind == "float_R_no_reset" else "delayed")
    m = net[1]
    assert float(ext.params["decay"].reshape(-1)[0]) == float(1 - m.time_step.double() / (m.R * m.C.double()))
    x = analog((20, 4, 8), seed=5, scale=1.5)
    verify_everywhere(lm, graph, x, min_spikes=10)


ZERO_DELAYED = {
    "synaptic": lambda: snn.Synaptic(alpha=0.7, beta=0.85, reset_mechanism="zero", init_hidden=True),
    "rleaky": lambda: snn.RLeaky(beta=0.85, linear_features=16, reset_mechanism="zero", init_hidden=True),
    "lapicque": lambda: snn.Lapicque(beta=0.85, reset_mechanism="zero", init_hidden=True),
}


@pytest.mark.parametrize("kind", list(ZERO_DELAYED))
def test_snntorch_zero_reset_with_reset_delay_identical_everywhere(kind):
    """mem = base - reset*base: zeroed *after* the next update (reset_timing "delayed_after")."""
    torch.manual_seed(1)
    make = ZERO_DELAYED[kind]
    first = make()
    second = snn.Synaptic(alpha=0.7, beta=0.85, reset_mechanism="zero", init_hidden=True) if kind == "rleaky" \
        else make()
    net = nn.Sequential(nn.Linear(8, 16), first, nn.Linear(16, 4), second).eval()
    gain = 12.0 if kind == "lapicque" else 3.0  # Lapicque(beta) integrates 1/(R*C) = -log(beta) of its input
    with torch.no_grad():
        net[0].weight.mul_(gain)
        net[2].weight.mul_(gain)
    lm, graph = convert(net, (8,), "step")
    ext = neuron_ext(graph.nodes["1"], "1")
    assert (ext.reset, ext.reset_timing) == ("value", "delayed_after")
    assert any("after the next step's update" in w for w in consumer_warnings(graph))
    x = analog((24, 4, 8), seed=6, scale=1.5)
    verify_everywhere(lm, graph, x, min_spikes=10)


def test_snntorch_alpha_refusal_says_why():
    net = nn.Sequential(nn.Linear(4, 5), snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)).eval()
    with pytest.raises(SnnexportError) as e:
        convert(net, (4,), "step")
    assert "\n" not in str(e.value) and "Alpha" in str(e.value)
