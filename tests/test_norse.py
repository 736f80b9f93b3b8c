"""Norse: source rules, the Norse importer (Norse's own cells through the shared runner),
and the upstream witness (norse.torch.from_nir)."""

import itertools

import nir
import numpy as np
import pytest
import torch
import torch.nn as nn

norse_torch = pytest.importorskip("norse.torch")

from norse.torch.functional.iaf import IAFParameters  # noqa: E402
from norse.torch.functional.leaky_integrator import LIParameters  # noqa: E402
from norse.torch.functional.leaky_integrator_box import LIBoxParameters  # noqa: E402
from norse.torch.functional.lif import LIFParameters  # noqa: E402
from norse.torch.functional.lif_box import LIFBoxParameters  # noqa: E402
from norse.torch.functional.reset import reset_subtract  # noqa: E402

import snnexport  # noqa: E402
from snnexport.errors import SnnexportError  # noqa: E402
from snnexport.examples.spikingrx import sew_block_model  # noqa: E402
from snnexport.extension import KEY, GraphExt, NeuronExt, neuron_ext, set_node_ext, source_path  # noqa: E402
from snnexport.graph import read_graph, write_graph  # noqa: E402
from snnexport.simulators.norse_sim import run_norse, to_norse  # noqa: E402
from snnexport.simulators.reference import simulate  # noqa: E402
from snnexport.simulators.source import run_source_model  # noqa: E402
from snnexport.simulators.upstream_norse import run_norse_upstream  # noqa: E402
from snnexport.sources.frameworks import default_layout, detect_framework  # noqa: E402
from snnexport.sources.norse_rules import lif_cell_form  # noqa: E402

F64 = torch.float64


# ------------------------------------------------------------------ models

class LoopNet(nn.Module):
    """Cells in a time loop that threads Norse's external state (input [T, B, 6])."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 12)
        self.lif1 = norse_torch.LIFBoxCell(LIFBoxParameters(
            tau_mem_inv=torch.tensor(150.0), v_th=torch.linspace(0.2, 0.4, 12), reset_method=reset_subtract), dt=1e-3)
        self.fc2 = nn.Linear(12, 10, bias=False)
        self.lif2 = norse_torch.LIFCell(LIFParameters(
            tau_mem_inv=torch.linspace(80.0, 120.0, 10), tau_syn_inv=torch.tensor(200.0), v_th=torch.tensor(0.15),
            v_reset=torch.tensor(-0.05)), dt=1e-3)
        self.fc3 = nn.Linear(10, 4)
        self.li = norse_torch.LICell(LIParameters(tau_mem_inv=torch.tensor(90.0)), dt=1e-3)

    def forward(self, x):
        s1 = s2 = s3 = None
        outs = []
        for t in range(x.shape[0]):
            z, s1 = self.lif1(self.fc1(x[t]), s1)
            z, s2 = self.lif2(self.fc2(z), s2)
            v, s3 = self.li(self.fc3(z), s3)
            outs.append(v)
        return torch.stack(outs)


class StepNet(nn.Module):
    """Called once per step ([B, 5]); a SequentialState inside, its state kept in the module."""

    def __init__(self):
        super().__init__()
        self.seq = norse_torch.SequentialState(
            nn.Linear(5, 8),
            norse_torch.LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(120.0), v_th=torch.tensor(0.25),
                                                    v_reset=torch.tensor(-0.1), method="super"), dt=1e-3),
            nn.Linear(8, 6, bias=False),
            norse_torch.LIFCell(LIFParameters(tau_mem_inv=torch.tensor(150.0), tau_syn_inv=torch.tensor(250.0),
                                              v_th=torch.tensor(0.1), method="triangle"), dt=1e-3),
            nn.Linear(6, 3),
            norse_torch.LIBoxCell(LIBoxParameters(tau_mem_inv=torch.tensor(70.0)), dt=1e-3),
        )
        self.state = None

    def forward(self, x):
        out, self.state = self.seq(x, self.state)
        return out

    def reset_state(self):
        self.state = None


def multistep_net():
    """Multi-step modules over [T, B, 6] in a SequentialState (returns (output, states)); the
    first Linear is Lift-ed over time (Norse's container that loops a module over dim 0)."""
    return norse_torch.SequentialState(
        norse_torch.Lift(nn.Linear(6, 10)),
        norse_torch.LIF(LIFParameters(tau_mem_inv=torch.tensor(100.0), tau_syn_inv=torch.tensor(200.0),
                                      v_th=torch.tensor(0.12))),
        nn.Linear(10, 8, bias=False),
        norse_torch.LIF(LIFParameters(tau_mem_inv=torch.tensor(130.0), tau_syn_inv=torch.tensor(180.0),
                                      v_th=torch.tensor(0.08), v_reset=torch.tensor(0.02))),
        nn.Linear(8, 3),
        norse_torch.LI(LIParameters(tau_mem_inv=torch.tensor(100.0), tau_syn_inv=torch.tensor(150.0))),
    )


def scaled(model, gain=8.0, seed=0):
    """Seeded init with weights large enough for real spiking activity."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -1.0, 1.0)
            m.weight.data *= gain / np.sqrt(m.in_features)
            if m.bias is not None:
                nn.init.uniform_(m.bias, 0.0, 0.3)
    return model.eval()


def convert(model, **info):
    return snnexport.convert(model, **info)


def analog(shape, seed=0, scale=1.0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed)) * scale


# ------------------------------------------------------------------ checks

def _src_value(mod, field):
    v = getattr(mod.p, field)
    return v.detach().to(F64).numpy() if isinstance(v, torch.Tensor) else np.float64(v)


def check_parameters(model, graph):
    """Every parameter in the graph equals the source's, bitwise in float64."""
    mods = dict(model.named_modules())
    checked = 0
    for name, node in graph.nodes.items():
        path = source_path(node)
        if path is None:
            continue
        m = mods[path]
        if isinstance(m, nn.Linear):
            np.testing.assert_array_equal(node.weight, m.weight.detach().double().numpy())
            if m.bias is None:
                assert isinstance(node, nir.Linear), name
            else:
                np.testing.assert_array_equal(node.bias, m.bias.detach().double().numpy())
            checked += 1
            continue
        ext = neuron_ext(node, name)
        shape = tuple(node.output_type["output"])
        same = lambda a, b: np.testing.assert_array_equal(a, np.broadcast_to(b, shape), err_msg=name)  # noqa: E731
        assert ext.dt == m.dt
        same(ext.params["tau_mem_inv"], _src_value(m, "tau_mem_inv"))
        same(node.v_leak, _src_value(m, "v_leak"))
        if "tau_syn_inv" in ext.params:
            same(ext.params["tau_syn_inv"], _src_value(m, "tau_syn_inv"))
            same(ext.params["syn_gain"], 1.0)
        if hasattr(node, "v_threshold"):
            same(node.v_threshold, _src_value(m, "v_th"))
            if ext.reset == "value":
                same(node.v_reset, _src_value(m, "v_reset"))
        checked += 1
    return checked


def roundtrip(graph, tmp_path):
    write_graph(graph, tmp_path / "g.nir")
    g2 = read_graph(tmp_path / "g.nir")
    assert sorted(g2.edges) == sorted(graph.edges) and set(g2.nodes) == set(graph.nodes)
    for name, node in graph.nodes.items():
        for attr in ("weight", "bias", "v_threshold", "v_reset", "v_leak", "tau", "tau_mem", "tau_syn", "r", "w_in"):
            if hasattr(node, attr) and getattr(node, attr) is not None:
                np.testing.assert_array_equal(getattr(g2.nodes[name], attr), getattr(node, attr))
        a, b = neuron_ext(node), neuron_ext(g2.nodes[name])
        if a is not None:
            assert (a.dynamics, a.compare, a.reset, a.reset_timing, a.dt) == (b.dynamics, b.compare, b.reset, b.reset_timing, b.dt)
            for k in a.params:
                np.testing.assert_array_equal(a.params[k], b.params[k])
    return g2


def compare(ref, other, who, readout_tol=1e-12):
    """Spikes identical per node (with real, unsaturated activity); readouts within tol."""
    assert set(other.spikes) == set(ref.spikes) and ref.spikes
    compared = 0
    for n, s in ref.spikes.items():
        total = s.sum()
        assert 0 < total < 0.9 * s.size, f"{n}: no useful activity ({total} of {s.size})"
        assert (other.spikes[n] != s).sum() == 0, f"{who}: {n} spikes differ"
        compared += s.size
    for o in ref.readout:
        assert other.readout[o].shape == ref.readout[o].shape
        assert np.abs(other.readout[o] - ref.readout[o]).max() <= readout_tol, who
    return compared


def three_way(model, graph, x):
    ref = simulate(graph, x, F64)
    src = run_source_model(model.double(), graph, x)
    nrs = run_norse(graph, x, F64)
    n = compare(ref, src, "source")
    compare(ref, nrs, "norse")
    return ref, nrs, n


# ------------------------------------------------------------------ source -> NIR -> simulators

def test_loop_cells_convert_and_match(tmp_path):
    model = scaled(LoopNet())
    assert detect_framework(model) == "norse" and default_layout(model) == "step"
    g = convert(model, input_layout="TB", input_shape=[6], input_kind="analog")
    types = {n: type(v).__name__ for n, v in g.nodes.items()}
    assert types == {"input": "Input", "fc1": "Affine", "lif1": "LIF", "fc2": "Linear", "lif2": "CubaLIF",
                     "fc3": "Affine", "li": "CubaLI", "output": "Output"}
    assert neuron_ext(g.nodes["lif1"]).dynamics == "euler" and neuron_ext(g.nodes["lif1"]).reset == "subtract"
    assert neuron_ext(g.nodes["lif2"]).dynamics == lif_cell_form() == "norse_jump"
    assert check_parameters(model, g) == 6
    g2 = roundtrip(g, tmp_path)
    ref, nrs, n = three_way(model, g2, analog((25, 4, 6)))
    assert n == 25 * 4 * (12 + 10)
    assert nrs.adapters == []  # every node runs natively in Norse


def test_step_model_with_sequential_state(tmp_path):
    model = scaled(StepNet(), seed=1)
    g = convert(model, input_layout="step", input_shape=[5], input_kind="analog")
    assert [type(g.nodes[n]).__name__ for n in ("seq.1", "seq.3", "seq.5")] == ["LIF", "CubaLIF", "LI"]
    assert isinstance(g.nodes["seq.2"], nir.Linear)
    assert check_parameters(model, g) == 6
    g2 = roundtrip(g, tmp_path)
    ref, nrs, n = three_way(model, g2, analog((25, 3, 5)))
    assert n == 25 * 3 * (8 + 6)


def test_multistep_lif_li_sequential_state(tmp_path):
    model = scaled(multistep_net(), seed=2)
    assert default_layout(model) == "TB"
    g = convert(model, input_shape=[6], input_kind="analog")
    assert [type(g.nodes[n]).__name__ for n in ("0.lifted_module", "1", "3", "5")] == ["Affine", "CubaLIF", "CubaLIF", "CubaLI"]
    assert check_parameters(model, g) == 6
    g2 = roundtrip(g, tmp_path)
    ref, nrs, n = three_way(model, g2, analog((30, 4, 6)))
    assert n == 30 * 4 * (10 + 8)


def test_float32_norse_parameters_are_cast_for_a_float64_run():
    # Norse keeps parameters in a NamedTuple that model.double() does not convert; without
    # the framework's cast hook the float64 run would use float32(dt * tau_mem_inv).
    model = scaled(multistep_net(), seed=2)
    g = convert(model, input_shape=[6], input_kind="analog")
    assert model[1].p.tau_mem_inv.dtype == torch.float32
    src = run_source_model(model.double(), g, analog((10, 2, 6)))
    assert model[1].p.tau_mem_inv.dtype == torch.float64 and src.spikes


def test_norse_importer_on_seed000_sew_block():
    torch.manual_seed(1)
    model = sew_block_model(theta=0.3)
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) * 0.4 - 0.2)
    model.eval()
    g = convert(model, input_layout="BT", input_shape=[2, 6, 5], input_kind="analog")
    x = analog((10, 3, 2, 6, 5), scale=2.0)
    ref = simulate(g, x, F64)
    nrs = run_norse(g, x, F64)
    n = compare(ref, nrs, "norse")
    assert n == 10 * 3 * (4 + 6) * 6 * 5
    assert ref.readout["output"].shape == (3, 2, 6, 5)
    assert any("ge compare" in a for a in nrs.adapters) and any("beta form" in a for a in nrs.adapters)


def test_perturbed_threshold_is_noticed():
    model = scaled(LoopNet())
    g = convert(model, input_layout="TB", input_shape=[6], input_kind="analog")
    x = analog((25, 4, 6))
    ref = simulate(g, x, F64)
    net = to_norse(g)
    assert torch.equal(net(x), torch.from_numpy(ref.readout["output"]))
    net.neurons["lif1"].set_threshold(torch.from_numpy(g.nodes["lif1"].v_threshold) * 1.25)
    res = net.run(x)
    assert (res.spikes["lif1"] != ref.spikes["lif1"]).sum() > 0
    assert (res.spikes["lif2"] != ref.spikes["lif2"]).sum() > 0


# ------------------------------------------------------------------ every form/compare/reset/timing

def one_layer_graph(node, n_in=5, n=16, seed=0, dt=1e-3):
    w = np.random.default_rng(seed).normal(size=(n, n_in)) * 0.8
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}), "w": nir.Linear(weight=w), "n": node,
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "n"), ("n", "output")],
                        metadata={KEY: GraphExt(dt=dt, input_shape=(n_in,), input_kind="analog").to_meta()})


def neuron(kind, form, compare_, reset, timing, n=16, v_leak=0.0):
    rng = np.random.default_rng(3)
    one = np.ones(n)
    thr = rng.uniform(0.3, 0.6, n)
    if form == "beta":
        params = {"beta": rng.uniform(0.6, 0.95, n), "gain": rng.uniform(0.5, 1.5, n)}
    elif form == "if":
        form, params = "beta", {"beta": one, "gain": rng.uniform(0.2, 0.5, n)}
    elif form in ("tau", "tau_decay_input"):
        params = {"tau": rng.uniform(1.5, 4.0, n), "gain": rng.uniform(0.5, 1.5, n)}
        if form == "tau":
            params["gain"] = params["gain"] / params["tau"]
    elif form == "euler":
        params = {"tau_mem_inv": rng.uniform(100, 300, n), "r": rng.uniform(0.8, 3.0, n)}
    elif form == "cuba_beta":
        form, params = "beta", {"alpha": rng.uniform(0.3, 0.8, n), "syn_gain": rng.uniform(0.5, 1.0, n),
                                "beta": rng.uniform(0.6, 0.9, n), "gain": rng.uniform(0.5, 1.5, n)}
    else:  # norse, norse_jump
        params = {"tau_mem_inv": rng.uniform(100, 300, n), "tau_syn_inv": rng.uniform(150, 400, n),
                  "syn_gain": rng.uniform(2.0, 5.0, n)}
    vr = rng.uniform(-0.2, 0.1, n)
    if kind == "LIF":
        node = nir.LIF(tau=one, r=one, v_leak=one * v_leak, v_threshold=thr, v_reset=vr)
    elif kind == "IF":
        node = nir.IF(r=one, v_threshold=thr, v_reset=vr)
    elif kind == "CubaLIF":
        node = nir.CubaLIF(tau_syn=one, tau_mem=one, r=one, v_leak=one * v_leak, v_threshold=thr, v_reset=vr, w_in=one)
    elif kind == "LI":
        node = nir.LI(tau=one, r=one, v_leak=one * v_leak)
    else:
        node = nir.CubaLI(tau_syn=one, tau_mem=one, r=one, v_leak=one * v_leak, w_in=one)
    set_node_ext(node, **NeuronExt(form, params, compare_, reset, timing, dt=1e-3).to_meta())
    return node


SPIKING_CASES = [("LIF", f) for f in ("beta", "tau", "tau_decay_input", "euler")] + [("IF", "if")] + \
                [("CubaLIF", f) for f in ("norse_jump", "norse", "cuba_beta")]
EXACT = {"euler", "if", "norse_jump", "norse"}


@pytest.mark.parametrize("kind,form", SPIKING_CASES)
def test_every_switch_matches_reference(kind, form):
    x = analog((40, 3, 5), seed=5, scale=1.5)
    for compare_, reset, timing in itertools.product(("gt", "ge"), ("value", "subtract", "none"),
                                                     ("immediate", "delayed")):
        for v_leak in ((0.0, 0.15) if form in ("euler", "norse_jump", "norse", "tau") else (0.0,)):
            g = one_layer_graph(neuron(kind, form, compare_, reset, timing, v_leak=v_leak))
            # per-step reference: the same per-step GEMM as the importer, so exact forms are bit-equal
            ref = simulate(g, x, F64, mode="step")
            nrs = run_norse(g, x, F64)
            case = (kind, form, compare_, reset, timing, v_leak)
            s = ref.spikes["n"]
            assert 0 < s.sum() < 0.9 * s.size, case
            assert (nrs.spikes["n"] != s).sum() == 0, case
            if "n" in nrs.membranes:  # composite steps report the membrane compared with threshold
                tol = 0 if form in EXACT else 1e-12
                assert np.abs(nrs.membranes["n"] - ref.membranes["n"]).max() <= tol, case


@pytest.mark.parametrize("kind,form", [("LI", "euler"), ("LI", "beta"), ("LI", "tau"), ("LI", "if"),
                                       ("CubaLI", "norse_jump"), ("CubaLI", "norse"), ("CubaLI", "cuba_beta")])
def test_readout_neurons_match_reference(kind, form):
    x = analog((30, 3, 5), seed=6)
    g = one_layer_graph(neuron(kind, form, "gt", "none", "immediate", v_leak=0.1 if form != "beta" else 0.0))
    ref, nrs = simulate(g, x, F64, mode="step"), run_norse(g, x, F64)  # same per-step GEMM: exact forms bit-equal
    diff = np.abs(nrs.readout["output"] - ref.readout["output"]).max()
    assert diff == 0 if form in EXACT else diff <= 1e-12, (kind, form, diff)


def test_ge_tie_fires_and_subtracts_theta_itself():
    node = neuron("IF", "if", "ge", "subtract", "immediate", n=1)
    node.v_threshold = np.array([0.5])
    set_node_ext(node, params={"beta": np.ones(1), "gain": np.ones(1)})
    g = one_layer_graph(node, n_in=1, n=1)
    g.nodes["w"] = nir.Linear(weight=np.ones((1, 1)))
    x = torch.tensor([0.25, 0.25, 0.0, 0.5, 0.0], dtype=F64).reshape(5, 1, 1)
    ref, nrs = simulate(g, x, F64), run_norse(g, x, F64)
    assert ref.spikes["n"].reshape(-1).tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_array_equal(nrs.spikes["n"], ref.spikes["n"])
    np.testing.assert_array_equal(nrs.membranes["n"], ref.membranes["n"])  # 0 after the reset, not 0.5 - ulp


def test_plain_nir_graph_uses_graph_dt():
    one = np.ones(16)
    node = nir.LIF(tau=one * 5e-3, r=one * 2.0, v_leak=one * 0.0, v_threshold=one * 0.3, v_reset=one * 0.0)
    g = one_layer_graph(node, dt=1e-3)
    x = analog((30, 3, 5), seed=7, scale=2.0)
    ref, nrs = simulate(g, x, F64), run_norse(g, x, F64)
    assert 0 < ref.spikes["n"].sum()
    np.testing.assert_array_equal(nrs.spikes["n"], ref.spikes["n"])
    assert nrs.adapters == []


# ------------------------------------------------------------------ refusals and the upstream witness

def test_unsupported_norse_settings_are_refused():
    bad = [
        norse_torch.LIFBoxCell(LIFBoxParameters(v_leak=torch.tensor(0.1))),
        norse_torch.LIFCell(LIFParameters(v_leak=torch.tensor(-0.1))),
        norse_torch.LIFBoxCell(LIFBoxParameters(reset_method=lambda z, v, r, th: v)),
        norse_torch.IAFCell(IAFParameters(v_reset=torch.tensor(0.2))),
    ]
    for cell in bad:
        model = norse_torch.SequentialState(nn.Linear(3, 4), cell)
        with pytest.raises(SnnexportError):
            convert(model, input_layout="step", input_shape=[3])


def test_upstream_witness_runs_and_shows_its_faults():
    model = scaled(norse_torch.SequentialState(
        nn.Linear(6, 12),
        norse_torch.LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(150.0), v_th=torch.tensor(0.3),
                                                v_reset=torch.tensor(-0.2))),
        nn.Linear(12, 4)), seed=3)
    g = convert(model, input_layout="step", input_shape=[6], input_kind="analog")
    x = analog((25, 4, 6))
    ref = simulate(g, x, F64)
    up = run_norse_upstream(g, x, F64)
    assert set(up.spikes) == {"1"} and up.spikes["1"].shape == ref.spikes["1"].shape
    assert "v_reset != 0 ignored" in (up.note or "")
    assert (up.spikes["1"] != ref.spikes["1"]).sum() > 0  # upstream resets to 0, not v_reset
    # with v_reset = 0 the witness agrees with the reference
    model[1].p = model[1].p._replace(v_reset=torch.tensor(0.0))
    g0 = convert(model, input_layout="step", input_shape=[6], input_kind="analog")
    up0 = run_norse_upstream(g0, x, F64)
    assert (up0.spikes["1"] != simulate(g0, x, F64).spikes["1"]).sum() == 0


def test_upstream_crash_is_one_error_line():
    g = one_layer_graph(neuron("LIF", "euler", "gt", "value", "immediate"))
    g.nodes["w"] = nir.Conv1d(input_shape=5, weight=np.ones((1, 1, 1)), stride=1, padding=0, dilation=1, groups=1,
                              bias=np.zeros(1))
    with pytest.raises(SnnexportError, match="norse"):
        run_norse_upstream(g, analog((3, 2, 5)), F64)
