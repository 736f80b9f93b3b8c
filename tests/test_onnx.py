"""ONNX export and the onnxruntime participant: every semantic switch, both time forms,
recurrence, time reductions, the seed-000 example, a Linear model, the CLI, and a negative
control (a wrong threshold in the ONNX file is caught)."""

import json

import nir
import numpy as np
import pytest
import torch
import torch.nn as nn

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

import snnexport  # noqa: E402
from snnexport.errors import SnnexportError  # noqa: E402
from snnexport.examples.spikingrx import sew_block_model  # noqa: E402
from snnexport.extension import KEY, GraphExt, NeuronExt, set_node_ext  # noqa: E402
from snnexport.graph import write_graph  # noqa: E402
from snnexport.onnx import export_graph, write_onnx  # noqa: E402
from snnexport.simulators.onnxruntime_sim import run_model  # noqa: E402
from snnexport.simulators.reference import simulate  # noqa: E402
from snnexport.sources.registry import NeuronSpec, register_neuron  # noqa: E402
from snnexport.verification import Row, compare, run_verify  # noqa: E402
from tests.helpers import run_cli  # noqa: E402
from tests.helpers import randomise_bn  # noqa: E402

F64 = torch.float64


def ort_vs_reference(graph, x, dtype=F64, loop=False, exact_membranes=False, **kw):
    """Export, check, run in ORT, compare with the reference; returns (row, ref, ort, exported)."""
    exp = export_graph(graph, steps=None if loop else int(x.shape[0]), loop=loop,
                       dtype="float64" if dtype == F64 else "float32", membranes=True, **kw)
    onnx.checker.check_model(exp.model, full_check=True)
    x = x.to(dtype)
    ref, res = simulate(graph, x, dtype), run_model(exp.model, x)
    row = Row("onnxruntime", "simulator")
    compare(graph, ref, res, row, dtype)
    if exact_membranes:
        assert set(res.membranes) == set(ref.membranes)
        for n in ref.membranes:
            np.testing.assert_array_equal(res.membranes[n], ref.membranes[n], err_msg=n)
    return row, ref, res, exp


def assert_identical(row, ref):
    assert row.mismatches == 0 and not row.missing_nodes, row
    assert row.max_abs_readout_diff is not None and row.max_abs_readout_diff <= 1e-12, row.max_abs_readout_diff
    for n, s in ref.spikes.items():
        assert 0 < s.sum() < s.size, f"{n}: no useful activity"


# ---------------------------------------------------------------- semantics, one switch at a time

def one_neuron_graph(ext, cls="LIF", n=3, thr=0.6, v_reset=-0.1, v_leak=0.05, reduction=None):
    s = np.ones(n)
    if cls == "LIF":
        neuron = nir.LIF(tau=s * 2, r=s, v_leak=s * v_leak, v_threshold=s * thr, v_reset=s * v_reset)
    elif cls == "IF":
        neuron = nir.IF(r=s, v_threshold=s * thr, v_reset=s * v_reset)
    elif cls == "LI":
        neuron = nir.LI(tau=s * 2, r=s, v_leak=s * v_leak)
    elif cls == "CubaLIF":
        neuron = nir.CubaLIF(tau_syn=s * 3, tau_mem=s * 2, r=s, v_leak=s * v_leak, v_threshold=s * thr, v_reset=s * v_reset, w_in=s)
    else:
        neuron = nir.CubaLI(tau_syn=s * 3, tau_mem=s * 2, r=s, v_leak=s * v_leak, w_in=s)
    if ext is not None:
        set_node_ext(neuron, **ext.to_meta())
    out = nir.Output(output_type={"output": np.array([n])})
    if reduction:
        set_node_ext(out, time_reduction=reduction)
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}), "w": nir.Linear(weight=np.eye(n)), "n": neuron, "output": out}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "n"), ("n", "output")],
                        metadata={KEY: GraphExt(input_shape=(n,), input_kind="analog", dt=1e-3).to_meta()})


def analog(T=14, B=2, n=3, seed=0, scale=0.6):
    return torch.rand(T, B, n, dtype=F64, generator=torch.Generator().manual_seed(seed)) * 2 * scale


def drive(T=14, B=2, n=3, amp=0.6):
    """An oscillating drive with noise: every form and reset mode fires some of the time."""
    t = torch.arange(T, dtype=F64)[:, None, None]
    phase = torch.arange(B * n, dtype=F64).reshape(1, B, n)
    noise = torch.rand(T, B, n, dtype=F64, generator=torch.Generator().manual_seed(0)) * 0.2
    return amp * (1 + torch.sin(0.8 * t + phase)) + noise


FORM_PARAMS = {
    "beta": {"beta": np.array([0.8]), "gain": np.array([0.5])},
    "tau_decay_input": {"tau": np.array([2.0]), "gain": np.array([1.0])},
    "tau": {"tau": np.array([3.0]), "gain": np.array([0.7])},
    "euler": {"tau_mem_inv": np.array([200.0, 150.0, 300.0]), "r": np.array([1.0])},
    # SpikingJelly PLIF; the second also starts at v_init (SpikingJelly's v_reset != 0)
    "sigmoid_decay_input": {"k": np.array([0.4]), "gain": np.array([1.0])},
    "sigmoid": {"k": np.array([0.3]), "gain": np.array([0.7]), "v_init": np.array([0.2, -0.1, 0.5])},
    # snnTorch Lapicque
    "rc": {"r": np.array([5.0]), "rc_inv": np.array([0.2]), "time_step": np.array([0.9]), "decay": np.array([0.82])},
}


@pytest.mark.parametrize("dynamics", list(FORM_PARAMS))
@pytest.mark.parametrize("compare_", ["gt", "ge"])
@pytest.mark.parametrize("reset", ["value", "subtract", "none"])
@pytest.mark.parametrize("timing", ["immediate", "delayed"])
def test_lif_every_switch_matches_reference_bit_for_bit(dynamics, compare_, reset, timing):
    ext = NeuronExt(dynamics, FORM_PARAMS[dynamics], compare_, reset, timing, dt=1e-3)
    g = one_neuron_graph(ext)
    x = drive() * (8 if dynamics == "euler" else 1)
    for loop in (False, True):
        row, ref, _, _ = ort_vs_reference(g, x, loop=loop, exact_membranes=True)
        assert_identical(row, ref)


def test_ge_and_gt_differ_on_an_exact_tie():
    x = torch.tensor([0.5, 0.5, 0.0], dtype=F64).reshape(3, 1, 1)
    for compare_, want in (("ge", [0.0, 1.0, 0.0]), ("gt", [0.0, 0.0, 0.0])):
        ext = NeuronExt("beta", {"beta": np.array([1.0]), "gain": np.array([1.0])}, compare_, "subtract")
        g = one_neuron_graph(ext, n=1, thr=1.0)
        exp = export_graph(g, steps=3)
        ops = {nd.op_type for nd in exp.model.graph.node}
        assert ("GreaterOrEqual" in ops) == (compare_ == "ge") and ("Greater" in ops) == (compare_ == "gt")
        assert run_model(exp.model, x).spikes["n"].reshape(-1).tolist() == want


@pytest.mark.parametrize("cls,ext,thr,amp", [
    ("CubaLIF", NeuronExt("beta", {"alpha": np.array([0.6]), "syn_gain": np.array([0.9]), "beta": np.array([0.8]),
                                   "gain": np.array([0.5])}, "gt", "subtract", "delayed"), 2.0, 0.6),
    ("CubaLIF", NeuronExt("norse", {"tau_mem_inv": np.array([100.0]), "tau_syn_inv": np.array([200.0]),
                                    "syn_gain": np.array([1.0])}, "gt", "value", dt=1e-3), 1.0, 0.6),
    ("CubaLIF", NeuronExt("norse_jump", {"tau_mem_inv": np.array([100.0]), "tau_syn_inv": np.array([200.0]),
                                         "syn_gain": np.array([1.0])}, "ge", "subtract", "delayed", dt=1e-3), 1.0, 0.6),
    ("CubaLI", NeuronExt("norse", {"tau_mem_inv": np.array([100.0]), "tau_syn_inv": np.array([200.0]),
                                   "syn_gain": np.array([1.0])}, dt=1e-3), None, 0.6),
    ("LI", NeuronExt("tau_decay_input", {"tau": np.array([2.0]), "gain": np.array([1.0])}), None, 0.6),
    # plain NIR nodes (no snnexport metadata): read as the reference reads them (thr: chosen below)
    ("LIF", None, "auto", 0.6), ("IF", None, "auto", 0.6), ("CubaLIF", None, "auto", 3.0),
])
def test_cuba_li_and_plain_nir_neurons(cls, ext, thr, amp):
    spiking = thr is not None
    if thr == "auto":  # a threshold the membrane crosses now and then, whatever scale the plain reading gives
        mem = simulate(one_neuron_graph(ext, cls=cls, thr=1e9), drive(amp=amp), F64).membranes["n"]
        thr = float(np.quantile(mem, 0.6))
    g = one_neuron_graph(ext, cls=cls, thr=thr or 1.0, reduction=None if spiking else "mean")
    for loop in (False, True):
        row, ref, res, _ = ort_vs_reference(g, drive(amp=amp), loop=loop, exact_membranes=True)
        # membranes are bit-equal (checked above); torch's vectorised time-mean sums in another order
        assert row.mismatches == 0 and row.max_abs_readout_diff <= 1e-12
        if spiking:
            assert 0 < ref.spikes["n"].sum() < ref.spikes["n"].size
        else:
            assert res.readout["output"].shape == (2, 3)


# ---------------------------------------------------------------- recurrence and readouts

def recurrent_graph(reduction):
    rng = np.random.default_rng(3)
    s = np.ones(5)

    def lif(thr, reset, timing="immediate"):
        node = nir.LIF(tau=s * 2, r=s, v_leak=s * 0, v_threshold=s * thr, v_reset=s * 0)
        set_node_ext(node, **NeuronExt("beta", {"beta": np.array([0.85]), "gain": np.array([1.0])}, "gt", reset, timing).to_meta())
        return node

    nodes = {"input": nir.Input(input_type={"input": np.array([4])}),
             "fc": nir.Affine(weight=rng.normal(size=(5, 4)), bias=rng.normal(size=5) * 0.1), "lif1": lif(0.8, "subtract"),
             # recurrent Affine: at t = 0 its back edge carries f(0) = its bias, as the reference does
             "rec": nir.Affine(weight=rng.normal(size=(5, 5)) * 0.6, bias=rng.normal(size=5) * 0.3),
             "fc2": nir.Affine(weight=rng.normal(size=(5, 5)), bias=np.zeros(5)), "lif2": lif(0.5, "value", "delayed"),
             "rec2": nir.Linear(weight=-np.eye(5) * 0.3),
             "head": nir.Affine(weight=rng.normal(size=(3, 5)), bias=rng.normal(size=3)),
             "output": nir.Output(output_type={"output": np.array([3])})}
    edges = [("input", "fc"), ("fc", "lif1"), ("lif1", "rec"), ("rec", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"),
             ("lif2", "rec2"), ("rec2", "lif1"), ("lif2", "head"), ("head", "output")]
    if reduction:
        set_node_ext(nodes["head"], time_reduction=reduction)
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: GraphExt(input_shape=(4,), input_kind="spikes").to_meta()})


@pytest.mark.parametrize("reduction", [None, "mean", "sum", "last", "max"])
def test_recurrent_graph_with_every_readout(reduction):
    g = recurrent_graph(reduction)
    x = (torch.rand(16, 3, 4, generator=torch.Generator().manual_seed(4)) < 0.4).to(F64)
    for loop in (False, True):
        opset = 21 if loop else 13  # the lowest supported opset, and one with ReduceMax axes as an input
        row, ref, res, exp = ort_vs_reference(g, x, loop=loop, opset=opset)
        assert exp.model.opset_import[0].version == opset
        assert_identical(row, ref)
        for n in ref.membranes:  # the MatMuls sum in another order than torch: ULPs, never more
            np.testing.assert_allclose(res.membranes[n], ref.membranes[n], rtol=0, atol=1e-12, err_msg=n)
        assert res.readout["output"].shape == ((3, 3) if reduction else (16, 3, 3))
        if loop:
            assert [n.op_type for n in exp.model.graph.node].count("Loop") == 1


def test_loop_form_runs_any_length():
    g = recurrent_graph("mean")
    exp = export_graph(g, loop=True)
    for T in (1, 5, 23):
        x = (torch.rand(T, 2, 4, generator=torch.Generator().manual_seed(T)) < 0.5).to(F64)
        ref, res = simulate(g, x, F64), run_model(exp.model, x)
        for n in ref.spikes:
            np.testing.assert_array_equal(res.spikes[n], ref.spikes[n])
        np.testing.assert_allclose(res.readout["output"], ref.readout["output"], rtol=0, atol=1e-12)


def test_conv_pool_flatten_scale_threshold_layers():
    rng = np.random.default_rng(0)

    def lif(shape, thr):
        s = np.ones(shape)
        node = nir.LIF(tau=s * 2, r=s, v_leak=s * 0, v_threshold=s * thr, v_reset=s * 0)
        set_node_ext(node, **NeuronExt("beta", {"beta": np.array([0.7]), "gain": np.array([1.0])}, "ge", "subtract").to_meta())
        return node

    nodes = {"input": nir.Input(input_type={"input": np.array([2, 8, 8])}),
             "conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(size=(4, 2, 3, 3)), stride=(2, 1), padding=(1, 2),
                                dilation=(1, 2), groups=1, bias=rng.normal(size=4) * 0.1),
             "lif1": lif((4, 4, 8), 0.5),
             "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 2]), padding=np.array([1, 0])),
             "sum": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])),
             "flat": nir.Flatten(input_type={"input": np.array([4, 4, 3])}, start_dim=0),
             "scale": nir.Scale(scale=rng.uniform(0.5, 1.5, size=48)),
             "fc": nir.Affine(weight=rng.normal(size=(6, 48)), bias=rng.normal(size=6)),
             "lif2": lif((6,), 0.4), "thr": nir.Threshold(threshold=np.full(6, 0.5)),
             "output": nir.Output(output_type={"output": np.array([6])})}
    edges = [("input", "conv"), ("conv", "lif1"), ("lif1", "pool"), ("pool", "sum"), ("sum", "flat"), ("flat", "scale"),
             ("scale", "fc"), ("fc", "lif2"), ("lif2", "thr"), ("thr", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: GraphExt(input_shape=(2, 8, 8), input_kind="analog").to_meta()})
    x = torch.randn(8, 2, 2, 8, 8, dtype=F64, generator=torch.Generator().manual_seed(1)) * 2
    row, ref, _, exp = ort_vs_reference(g, x)
    assert_identical(row, ref)
    assert any("Conv lowered" in a for a in exp.adapters) and any("AveragePool lowered" in a for a in exp.adapters)
    row, ref, _, exp = ort_vs_reference(g, x, dtype=torch.float32)  # native Conv/AveragePool in float32
    assert row.identical and exp.adapters == []
    assert {"Conv", "AveragePool"} <= {n.op_type for n in exp.model.graph.node}


def test_grouped_conv1d_is_lowered_exactly():
    rng = np.random.default_rng(5)
    s = np.ones((4, 5))
    lif = nir.LIF(tau=s * 2, r=s, v_leak=s * 0, v_threshold=s * 0.3, v_reset=s * 0)
    set_node_ext(lif, **NeuronExt("beta", {"beta": np.array([0.6]), "gain": np.array([1.0])}, "gt", "value").to_meta())
    nodes = {"input": nir.Input(input_type={"input": np.array([2, 9])}),
             "conv": nir.Conv1d(input_shape=9, weight=rng.normal(size=(4, 1, 3)), stride=2, padding=1, dilation=1, groups=2,
                                bias=np.zeros(4)),
             "lif": lif, "output": nir.Output(output_type={"output": np.array([4, 5])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False,
                     metadata={KEY: GraphExt(input_shape=(2, 9), input_kind="analog").to_meta()})
    x = torch.randn(9, 2, 2, 9, dtype=F64, generator=torch.Generator().manual_seed(2))
    row, ref, _, _ = ort_vs_reference(g, x)
    assert_identical(row, ref)


# ---------------------------------------------------------------- seed 000 and a Linear model



@pytest.fixture(scope="module")
def sew_graph():
    torch.manual_seed(1)
    model = randomise_bn(sew_block_model(theta=0.3))
    return snnexport.convert(model, input_layout="BT", input_shape=[2, 6, 5], input_kind="analog")


SEW_X = torch.randn(10, 3, 2, 6, 5, dtype=F64, generator=torch.Generator().manual_seed(0)) * 2


@pytest.mark.parametrize("loop", [False, True])
def test_seed000_sew_block_exact_in_float64(sew_graph, loop, tmp_path):
    row, ref, res, exp = ort_vs_reference(sew_graph, SEW_X, loop=loop)
    assert_identical(row, ref)
    assert res.readout["output"].shape == (3, 2, 6, 5)  # time-mean LLR head
    assert exp.adapters == ["Conv lowered to float64 Pad+Gather(im2col)+MatMul (onnxruntime has no float64 Conv kernel)"]
    out = write_onnx(exp, tmp_path / "sew.onnx")
    back = onnx.load(str(out))
    onnx.checker.check_model(back)
    assert [o.name for o in back.graph.output] == ["spikes/stem_lif", "spikes/blocks.0.lif", "readout",
                                                   "membrane/stem_lif", "membrane/blocks.0.lif"]
    again = run_model(back, SEW_X)
    for n in res.spikes:
        np.testing.assert_array_equal(again.spikes[n], res.spikes[n])


def test_seed000_float32_and_cast_fallback(sew_graph):
    row, _, _, exp = ort_vs_reference(sew_graph, SEW_X, dtype=torch.float32)
    assert row.identical and exp.adapters == []
    row, ref, res, exp = ort_vs_reference(sew_graph, SEW_X, f64_ops="cast")
    assert exp.adapters == ["Conv computed in float32 between Casts (onnxruntime has no float64 Conv kernel)"]
    assert res.adapters == exp.adapters
    assert 1e-12 < row.max_abs_readout_diff < 1e-5  # float32-accurate only: not identical in a float64 verify
    assert not row.identical


def test_wrong_threshold_in_the_onnx_file_is_caught(sew_graph):
    exp = export_graph(sew_graph, steps=10)
    init = {i.name: i for i in exp.model.graph.initializer}["blocks.0.lif/v_threshold"]
    wrong = numpy_helper.to_array(init) * 1.1
    init.CopyFrom(numpy_helper.from_array(wrong, init.name))
    ref, res = simulate(sew_graph, SEW_X, F64), run_model(exp.model, SEW_X)
    row = Row("onnxruntime", "simulator")
    compare(sew_graph, ref, res, row, F64)
    assert row.mismatches > 0 and not row.identical
    assert row.first_divergence["node"] == "blocks.0.lif"


def test_verify_participant(sew_graph):
    rep = run_verify(sew_graph, SEW_X, F64, ["reference", "onnxruntime"])
    ort_row = [r for r in rep.participants if r.name == "onnxruntime"][0]
    assert rep.identical and ort_row.mismatches == 0 and ort_row.total_spikes > 0
    assert any("Conv lowered" in a for a in ort_row.adapters)


class ResetNeuron(nn.Module):
    """A user's single-step neuron: beta*U + I, fire on U > theta, then its own reset."""

    def __init__(self, beta, threshold, reset):
        super().__init__()
        self.beta, self.threshold, self.reset = beta, threshold, reset
        self.mem = None

    def reset_state(self):
        self.mem = None

    def forward(self, x):
        if self.mem is None:
            self.mem = torch.zeros_like(x)
        self.mem = self.beta * self.mem + x
        spk = (self.mem > self.threshold).to(x.dtype)
        if self.reset == "value":
            self.mem = torch.where(spk.bool(), torch.zeros_like(self.mem), self.mem)
        elif self.reset == "subtract":
            self.mem = self.mem - spk * self.threshold
        return spk


register_neuron(ResetNeuron, lambda m: NeuronSpec("beta", beta=m.beta, gain=1.0, threshold=m.threshold, reset=m.reset, compare="gt"))


def linear_model():
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(12, 16), ResetNeuron(0.9, 0.6, "value"), nn.Linear(16, 10), ResetNeuron(0.8, 0.5, "subtract"),
                          nn.Linear(10, 4), ResetNeuron(0.7, 0.4, "none")).eval()
    return snnexport.convert(model, input_layout="step", input_shape=[12], input_kind="spikes")


@pytest.mark.parametrize("loop", [False, True])
def test_linear_model_with_each_reset_mode(loop):
    g = linear_model()
    x = (torch.rand(20, 4, 12, generator=torch.Generator().manual_seed(8)) < 0.3).to(F64)
    row, ref, _, exp = ort_vs_reference(g, x, loop=loop)
    assert_identical(row, ref)
    assert exp.adapters == []
    ops = [n.op_type for n in exp.model.graph.node] + [n.op_type for lp in exp.model.graph.node if lp.op_type == "Loop"
                                                       for n in lp.attribute[0].g.node]
    assert "Where" in ops and "Sub" in ops  # value and subtract resets


# ---------------------------------------------------------------- errors and the CLI

def test_node_without_onnx_rule_is_named():
    g = one_neuron_graph(NeuronExt("beta", {"beta": np.array([0.5]), "gain": np.array([1.0])}))
    g.nodes["w"] = nir.I(r=np.ones(3))  # NIR's Integrator: no ONNX rule yet (Delay has one: tests/test_nir_delay.py)
    with pytest.raises(SnnexportError) as e:
        export_graph(g)
    assert "'w'" in str(e.value) and "type I " in str(e.value) and "\n" not in str(e.value)




def test_cli_export_graph_and_checkpoint(sew_graph, tmp_path, capsys):
    import snnexport

    write_graph(sew_graph, tmp_path / "sew.nir")
    code, out, err = run_cli(["export-onnx", str(tmp_path / "sew.nir"), "-o", str(tmp_path / "a.onnx"), "--steps", "5",
                              "--verify", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["verify"]["identical"] and info["verify"]["mismatches"] == 0 and info["steps"] == 5, err
    onnx.checker.check_model(str(tmp_path / "a.onnx"))
    code, out, _ = run_cli(["export-onnx", str(tmp_path / "sew.nir"), "--loop", "--opset", "19", "--dtype", "float32"], capsys)
    assert code == 0 and "Loop" in out and (tmp_path / "sew.onnx").exists()
    assert onnx.load(str(tmp_path / "sew.onnx")).opset_import[0].version == 19
    model = ResetNeuronNet()
    snnexport.save(model, tmp_path / "lin.pt", arch="tests.test_onnx:ResetNeuronNet", input_layout="step", input_shape=[12],
                   input_kind="spikes", steps=6)
    code, out, err = run_cli(["export-onnx", str(tmp_path / "lin.pt"), "--verify", "--trust-arch"], capsys)  # a test module: trusted explicitly
    assert code == 0 and "identical" in out and (tmp_path / "lin.onnx").exists(), err


class ResetNeuronNet(nn.Sequential):
    def __init__(self):
        torch.manual_seed(3)
        super().__init__(nn.Linear(12, 8), ResetNeuron(0.9, 0.3, "subtract"), nn.Linear(8, 3), ResetNeuron(0.8, 0.2, "value"))


@pytest.mark.parametrize("args,needle", [
    (["--steps", "4", "--loop"], "exclusive"),
    (["--opset", "9"], "--opset"),
    (["--steps", "0"], "--steps"),
])
def test_cli_errors_are_one_line_and_write_nothing(sew_graph, tmp_path, capsys, args, needle):
    write_graph(sew_graph, tmp_path / "g.nir")
    code, _, err = run_cli(["export-onnx", str(tmp_path / "g.nir"), "-o", str(tmp_path / "g.onnx")] + args, capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not (tmp_path / "g.onnx").exists() and not list(tmp_path.glob(".g.onnx*"))


# zoo checkpoints: ONNX Runtime is a participant of tests/test_zoo_verify.py
