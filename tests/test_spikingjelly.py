"""SpikingJelly -> NIR: parameters in the graph, NIR file round trip, and identical spike
trains between SpikingJelly itself (``run_source_model``) and the reference simulator."""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import torch
import torch.nn as nn

pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import layer, neuron, surrogate  # noqa: E402

import nir  # noqa: E402

import snnexport  # noqa: E402
from snnexport.errors import SnnexportError  # noqa: E402
from snnexport.consumers import consumer_warnings  # noqa: E402
from snnexport.extension import KEY, graph_ext, neuron_ext  # noqa: E402
from snnexport.simulators.reference.runner import simulate  # noqa: E402
from snnexport.simulators.source import run_source_model  # noqa: E402

F64 = torch.float64


# ---------------------------------------------------------------------------- helpers

def convert(model, shape, layout="TB", **info):
    info = {"input_kind": "analog", **info}
    return snnexport.convert(model, input_shape=list(shape), input_layout=layout, **info)


def randomize_bn(bn: nn.BatchNorm2d, g: torch.Generator) -> None:
    c = bn.num_features
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(c, generator=g) * 0.3)
        bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
        bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(c, generator=g) * 0.2 + 0.1)


def folded(conv: nn.Conv2d, bn: nn.BatchNorm2d):
    """Conv followed by eval BatchNorm as one conv, computed here in float64 (independently of snnexport)."""
    w = conv.weight.detach().to(F64)
    b = conv.bias.detach().to(F64) if conv.bias is not None else torch.zeros(w.shape[0], dtype=F64)
    s = bn.weight.detach().to(F64) / torch.sqrt(bn.running_var.detach().to(F64) + bn.eps)
    return (w * s[:, None, None, None]).numpy(), ((b - bn.running_mean.detach().to(F64)) * s + bn.bias.detach().to(F64)).numpy()


def compare(model, graph, x, dtype=F64, label=""):
    """Source model vs reference simulator on the same input: per spiking node (count, spikes, mismatches)."""
    src = run_source_model(model.to(dtype), graph, x.to(dtype))
    ref = simulate(graph, x, dtype)
    assert set(ref.spikes) == set(src.spikes) and ref.spikes
    stats = {}
    for name, s in ref.spikes.items():
        assert src.spikes[name].shape == s.shape, name
        stats[name] = (s.size, int(s.sum()), int((src.spikes[name] != s).sum()))
    (out,) = ref.readout
    diff = float(np.max(np.abs(src.readout[out] - ref.readout[out])))
    total = sum(v[0] for v in stats.values())
    mism = sum(v[2] for v in stats.values())
    print(f"[{label}] compared {total} spike slots over {len(stats)} layers ({sum(v[1] for v in stats.values())} spikes), "
          f"{mism} mismatches, readout max |diff| {diff:.3g}; per layer {stats}")
    return stats, diff, src, ref


def assert_active(stats):
    for name, (size, spikes, _) in stats.items():
        assert 0 < spikes < size, f"layer {name}: {spikes} spikes of {size} (need real, unsaturated activity)"


def assert_exact(stats, diff, tol=1e-12):
    assert all(m == 0 for _, _, m in stats.values()), stats
    assert diff <= tol


# ---------------------------------------------------------------------------- models

class ConvBNNet(nn.Module):
    """Multi-step: Conv2d -> BN -> LIF, Conv2d -> BN -> IF, AvgPool, Dropout, Flatten -> Linear -> LIF."""

    def __init__(self, decay_input: bool, v_reset, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        m = "m"
        self.conv1 = layer.Conv2d(2, 6, 3, padding=1, step_mode=m)
        self.bn1 = layer.BatchNorm2d(6, step_mode=m)
        self.lif1 = neuron.LIFNode(tau=2.0, decay_input=decay_input, v_reset=v_reset, v_threshold=1.0, step_mode=m)
        self.conv2 = layer.Conv2d(6, 8, 3, stride=2, padding=1, step_mode=m)
        self.bn2 = layer.BatchNorm2d(8, step_mode=m)
        self.if2 = neuron.IFNode(v_threshold=0.8, v_reset=v_reset, step_mode=m)
        self.pool = layer.AvgPool2d(2, step_mode=m)
        self.drop = layer.Dropout(0.3, step_mode=m)
        self.flat = layer.Flatten(step_mode=m)
        self.fc = layer.Linear(8 * 2 * 2, 10, step_mode=m)
        self.lif3 = neuron.LIFNode(tau=3.0, decay_input=decay_input, v_reset=v_reset, v_threshold=0.5, step_mode=m)
        randomize_bn(self.bn1, g)
        randomize_bn(self.bn2, g)
        with torch.no_grad():
            self.conv2.weight.mul_(2.0)
            self.fc.weight.mul_(3.0 if decay_input else 1.5)

    def forward(self, x):
        x = self.lif1(self.bn1(self.conv1(x)))
        x = self.if2(self.bn2(self.conv2(x)))
        return self.lif3(self.fc(self.flat(self.drop(self.pool(x)))))


class SeqContainerNet(nn.Module):
    """The SpikingJelly tutorial style: plain torch layers inside SeqToANNContainer."""

    def __init__(self, seed: int = 1):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.block1 = layer.SeqToANNContainer(nn.Conv2d(2, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6))
        self.lif1 = neuron.LIFNode(tau=2.0, step_mode="m")
        self.block2 = layer.SeqToANNContainer(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 10))
        self.if2 = neuron.IFNode(v_reset=None, step_mode="m")
        randomize_bn(self.block1[1], g)
        with torch.no_grad():
            self.block1[0].weight.mul_(3.0)
            self.block2[2].weight.mul_(6.0)

    def forward(self, x):
        return self.if2(self.block2(self.lif1(self.block1(x))))


class StereoEncoder(nn.Module):
    """Seed 001 stereo-codec style encoder: (Conv2d(.., 5, stride 2, pad 2) + LIF(tau=2)) x 2, mean over time."""

    def __init__(self, channels: int = 8, seed: int = 2):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = layer.Conv2d(3, channels, 5, stride=2, padding=2, step_mode="m")
        self.sn1 = neuron.LIFNode(tau=2.0, step_mode="m")
        self.conv2 = layer.Conv2d(channels, channels, 5, stride=2, padding=2, step_mode="m")
        self.sn2 = neuron.LIFNode(tau=2.0, step_mode="m")
        with torch.no_grad():
            self.conv1.weight.mul_(8.0)
            self.conv2.weight.mul_(12.0)

    def forward(self, x):  # [T, B, 3, H, W] -> [B, C, H/4, W/4]
        return self.sn2(self.conv2(self.sn1(self.conv1(x)))).mean(0)


def conv_input(T=8, B=4, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, 2, 8, 8, generator=g, dtype=F64) * 1.5 + 0.5


# ---------------------------------------------------------------------------- tests

@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_multistep_conv_bn(decay_input, v_reset):
    model = ConvBNNet(decay_input, v_reset).eval()
    graph = convert(model, (2, 8, 8))
    ge = graph_ext(graph)
    assert ge.source_framework == "spikingjelly" and ge.source_framework_version.startswith("spikingjelly")
    assert ge.input_layout == "TB"

    # BatchNorm folded into the convolutions, values equal to an independent float64 fold
    assert not any("bn" in n for n in graph.nodes)
    for conv, bn in ((model.conv1, model.bn1), (model.conv2, model.bn2)):
        w, b = folded(conv, bn)
        node = graph.nodes[[n for n in graph.nodes if n == ("conv1" if conv is model.conv1 else "conv2")][0]]
        np.testing.assert_allclose(node.weight, w, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(node.bias, b, rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(graph.nodes["fc"].weight, model.fc.weight.detach().double().numpy())
    np.testing.assert_array_equal(graph.nodes["fc"].bias, model.fc.bias.detach().double().numpy())
    flat = graph.nodes["flat"]
    assert isinstance(flat, nir.Flatten) and int(flat.start_dim) == 0
    assert tuple(np.asarray(flat.output_type["output"])) == (32,)

    # neurons: forms, tau, thresholds, compare, reset
    form = "tau_decay_input" if decay_input else "tau"
    reset = "subtract" if v_reset is None else "value"
    for name, tau, thr in (("lif1", 2.0, 1.0), ("lif3", 3.0, 0.5)):
        node = graph.nodes[name]
        assert isinstance(node, nir.LIF)
        ext = neuron_ext(node)
        assert (ext.dynamics, ext.compare, ext.reset) == (form, "ge", reset)
        assert np.all(ext.params["tau"] == tau) and np.all(ext.params["gain"] == 1.0)
        assert np.all(node.v_threshold == thr) and np.all(node.v_leak == 0.0) and np.all(node.v_reset == 0.0)
        np.testing.assert_allclose(node.tau, tau * ge.dt)  # NIR field: Euler-equivalent
    ifn = graph.nodes["if2"]
    assert isinstance(ifn, nir.IF)
    ext = neuron_ext(ifn)
    assert (ext.dynamics, ext.compare, ext.reset) == ("beta", "ge", reset)
    assert np.all(ext.params["beta"] == 1.0) and np.all(ifn.v_threshold == 0.8)
    assert any("v >= threshold" in w for w in consumer_warnings(graph))

    x = conv_input()
    stats, diff, _, _ = compare(model, graph, x, label=f"conv-bn decay_input={decay_input} v_reset={v_reset}")
    assert_active(stats)
    assert_exact(stats, diff)


def test_nir_file_round_trip(tmp_path):
    model = ConvBNNet(True, None).eval()
    graph = convert(model, (2, 8, 8))
    path = tmp_path / "sj.nir"
    nir.write(str(path), graph)
    back = nir.read(str(path))
    assert set(back.nodes) == set(graph.nodes)
    assert sorted(map(tuple, back.edges)) == sorted(map(tuple, graph.edges))
    for name in ("lif1", "if2", "lif3"):
        a, b = neuron_ext(graph.nodes[name]), neuron_ext(back.nodes[name])
        assert (a.dynamics, a.compare, a.reset) == (b.dynamics, b.compare, b.reset)
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    assert graph_ext(back).source_framework == "spikingjelly"
    x = conv_input(seed=4)
    first = simulate(graph, x, F64)
    stats, diff, _, again = compare(model, back, x, label="conv-bn after nir.write/nir.read")
    assert_active(stats)
    assert_exact(stats, diff)
    for name, s in first.spikes.items():
        np.testing.assert_array_equal(again.spikes[name], s)


def test_seq_to_ann_container():
    model = SeqContainerNet().eval()
    graph = convert(model, (2, 8, 8))
    kinds = {n: type(v).__name__ for n, v in graph.nodes.items()}
    # block1 = conv (with the BN folded in); block2 = pool -> flatten -> affine
    assert kinds["block1"] == "Conv2d" and "block1.1" not in kinds
    assert [kinds[n] for n in ("block2", "block2.1", "block2.2")] == ["AvgPool2d", "Flatten", "Affine"]
    w, b = folded(model.block1[0], model.block1[1])
    np.testing.assert_allclose(graph.nodes["block1"].weight, w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(graph.nodes["block1"].bias, b, rtol=1e-13, atol=1e-15)
    stats, diff, _, _ = compare(model, graph, conv_input(seed=5), label="SeqToANNContainer")
    assert_active(stats)
    assert_exact(stats, diff)


def test_single_step_model():
    torch.manual_seed(6)
    model = nn.Sequential(
        layer.Linear(12, 16),
        neuron.LIFNode(tau=2.5, decay_input=False, v_reset=None),
        layer.Linear(16, 12),
        neuron.SimpleLIFNode(tau=2.0, decay_input=True, v_reset=-0.1),  # starts at 0, resets to -0.1
        layer.Linear(12, 6),
        neuron.IFNode(v_threshold=0.7),
    ).eval()
    with torch.no_grad():
        model[2].weight.mul_(8.0)
        model[4].weight.mul_(2.0)
    graph = convert(model, (12,), layout=None)  # the framework hook picks the layout
    assert graph_ext(graph).input_layout == "step"
    ext = neuron_ext(graph.nodes["3"])
    assert (ext.dynamics, ext.reset) == ("tau_decay_input", "value") and np.all(graph.nodes["3"].v_leak == -0.1)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(10, 5, 12, generator=g, dtype=F64) * 2.0
    stats, diff, _, _ = compare(model, graph, x, label="single-step")
    assert_active(stats)
    assert_exact(stats, diff)


@pytest.mark.parametrize("kind", ["lif_decay_input", "lif_no_decay_input", "if"])
@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_membranes_bit_identical(kind, v_reset):
    """Stronger than equal spikes: the reference membrane, reset as SpikingJelly resets it, equals
    SpikingJelly's own v_seq (store_v_seq=True) bit for bit, at every step and neuron."""
    torch.manual_seed(10)
    if kind == "if":
        sn = neuron.IFNode(v_threshold=0.9, v_reset=v_reset, step_mode="m", store_v_seq=True)
    else:
        sn = neuron.LIFNode(tau=1.7, decay_input=kind == "lif_decay_input", v_threshold=0.9, v_reset=v_reset,
                            step_mode="m", store_v_seq=True)
    model = nn.Sequential(layer.Linear(7, 9, step_mode="m"), sn).eval()
    graph = convert(model, (7,))
    g = torch.Generator().manual_seed(11)
    x = torch.randn(25, 3, 7, generator=g, dtype=F64) * 1.5
    v_seq = []
    sn.register_forward_hook(lambda m, a, out: v_seq.append(m.v_seq.clone()))  # run_source_model resets after
    stats, diff, _, ref = compare(model, graph, x, label=f"membranes {kind} v_reset={v_reset}")
    assert_active(stats)
    assert_exact(stats, diff)
    h, spk = torch.from_numpy(ref.membranes["1"]), torch.from_numpy(ref.spikes["1"])
    after = h - spk * 0.9 if v_reset is None else torch.where(spk.bool(), torch.zeros_like(h), h)
    (v_seq,) = v_seq
    assert v_seq.dtype == F64 and torch.equal(after, v_seq), float((after - v_seq).abs().max())


def test_threshold_tie_fires_on_ge():
    """0.5 + 0.5 puts v exactly on v_threshold = 1.0: SpikingJelly fires (v >= thr), plain NIR (v > thr) does not."""
    fc = layer.Linear(1, 1, bias=False, step_mode="m")
    with torch.no_grad():
        fc.weight.fill_(0.5)
    model = nn.Sequential(fc, neuron.IFNode(v_threshold=1.0, v_reset=0.0, step_mode="m")).eval()
    graph = convert(model, (1,), dt=1.0)
    x = torch.ones(4, 1, 1, dtype=F64)
    stats, diff, src, ref = compare(model, graph, x, label="threshold tie")
    assert_exact(stats, diff)
    assert ref.spikes["1"].reshape(-1).tolist() == [0.0, 1.0, 0.0, 1.0]
    assert src.spikes["1"].reshape(-1).tolist() == [0.0, 1.0, 0.0, 1.0]
    np.testing.assert_array_equal(ref.membranes["1"].reshape(-1)[:2], [0.5, 1.0])

    # a plain-NIR consumer: same graph, neuron metadata ignored (IF: v += r*dt*I, fires on v > thr)
    plain = copy.deepcopy(graph)
    node = plain.nodes["1"]
    node.metadata = {k: v for k, v in node.metadata.items() if k != KEY}
    assert neuron_ext(node) is None
    assert simulate(plain, x, F64).spikes["1"].reshape(-1).tolist() == [0.0, 0.0, 1.0, 0.0]
    # and only the comparison changed: compare="gt" in our own metadata gives the same
    gt = copy.deepcopy(graph)
    gt.nodes["1"].metadata[KEY]["compare"] = "gt"
    assert simulate(gt, x, F64).spikes["1"].reshape(-1).tolist() == [0.0, 0.0, 1.0, 0.0]
    assert any(w.startswith("1: fires on v >= threshold") for w in consumer_warnings(graph))


def test_stereo_codec_encoder_time_mean():
    model = StereoEncoder().eval()
    graph = convert(model, (3, 32, 32))
    assert node_kinds(graph) == ["Conv2d", "LIF", "Conv2d", "LIF"]
    out = graph.nodes["output"]
    assert out.metadata[KEY]["time_reduction"] == "mean"
    assert tuple(np.asarray(out.output_type["output"])) == (8, 8, 8)
    g = torch.Generator().manual_seed(8)
    x = torch.rand(4, 2, 3, 32, 32, generator=g, dtype=F64)
    stats, diff, src, ref = compare(model, graph, x, label="stereo encoder, time-mean readout")
    assert_active(stats)
    assert_exact(stats, diff)
    (name,) = ref.readout
    assert ref.readout[name].shape == (2, 8, 8, 8)
    np.testing.assert_array_equal(src.readout[name], ref.readout[name])  # equal, not just close


def test_stereo_encoder_float32_registered_op_path(monkeypatch):
    """float32 + built-in surrogate runs torch.ops.sj_lif.forward (not the float64 Python path): same spikes."""
    import spikingjelly._ops.lif as sj_lif_ops

    calls = []
    registered = sj_lif_ops._forward
    monkeypatch.setattr(sj_lif_ops, "_forward", lambda *a, **k: calls.append(a[0].dtype) or registered(*a, **k))
    model = StereoEncoder().eval()
    graph = convert(model, (3, 32, 32))
    g = torch.Generator().manual_seed(9)
    x = torch.rand(4, 2, 3, 32, 32, generator=g, dtype=torch.float32)
    stats, diff, _, _ = compare(model, graph, x, dtype=torch.float32, label="stereo encoder float32")
    assert calls and set(calls) == {torch.float32}  # the registered-op path really ran
    assert_active(stats)
    assert_exact(stats, diff, tol=1e-6)


def test_zoo_stereo_codec_encoder():
    """The zoo's seed-001 encoder (models/stereo_codec.py: ATan surrogate, reset_net inside forward)."""
    try:
        from models.stereo_codec import StereoEncoder as ZooEncoder
    except ImportError:
        pytest.skip("models.stereo_codec not available")
    g = torch.Generator().manual_seed(12)
    x = torch.rand(4, 2, 6, 32, 32, generator=g, dtype=F64)
    for gain in (4.0, 8.0, 16.0):  # untrained weights barely spike; the architecture is the zoo's, not ours
        torch.manual_seed(0)
        model = ZooEncoder().eval()
        with torch.no_grad():
            for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
                conv.weight.mul_(gain)
        graph = convert(model, (6, 32, 32))
        if all(s.sum() > 0 for s in simulate(graph, x, F64).spikes.values()):
            break
    assert graph.nodes["output"].metadata[KEY]["time_reduction"] == "mean"
    stats, diff, src, ref = compare(model, graph, x, label="zoo stereo_codec encoder")
    assert_active(stats)
    assert_exact(stats, diff)
    (name,) = ref.readout
    np.testing.assert_array_equal(src.readout[name], ref.readout[name])


def node_kinds(graph):
    from snnexport.graph import execution_order

    order, _ = execution_order(graph)
    return [type(graph.nodes[n]).__name__ for n in order if n not in ("input", "output")]


# ---------------------------------------------------------------------------- refusals

def _one_neuron(sn, shape=(4,)):
    return nn.Sequential(layer.Linear(shape[0], 4, step_mode="m"), sn).eval()


# v_reset != 0 (carried as v_init) and ParametricLIFNode convert: tests/test_neurons_more.py
@pytest.mark.parametrize("make", [
    lambda: neuron.ILIFNode(step_mode="m"),
])
def test_other_neurons_refused(make):
    with pytest.raises(SnnexportError, match="no exact snnexport neuron form"):
        convert(_one_neuron(make()), (4,))


def test_overridden_dynamics_refused():
    class MyLIF(neuron.LIFNode):
        def single_step_functional_forward(self, inputs, states, **kw):
            return super().single_step_functional_forward(inputs, states, **kw)

    with pytest.raises(SnnexportError, match="overrides single_step_functional_forward"):
        convert(_one_neuron(MyLIF(step_mode="m")), (4,))


def test_non_spiking_surrogate_refused():
    sn = neuron.LIFNode(surrogate_function=surrogate.Sigmoid(spiking=False), step_mode="m")
    with pytest.raises(SnnexportError, match="spiking=False"):
        convert(_one_neuron(sn), (4,))


def test_weight_standardised_conv_refused():
    model = nn.Sequential(layer.WSConv2d(2, 4, 3, step_mode="m"), neuron.IFNode(step_mode="m")).eval()
    with pytest.raises(SnnexportError, match="weight-standardised"):
        convert(model, (2, 8, 8))


def test_training_mode_dropout_refused():
    model = nn.Sequential(layer.Linear(4, 4, step_mode="m"), layer.Dropout(0.5, step_mode="m"),
                          neuron.IFNode(step_mode="m"))
    model.train()
    with pytest.raises(SnnexportError, match="Dropout in training mode"):
        convert(model, (4,))


# ---------------------------------------------------------------------------- other importers

@pytest.mark.parametrize("sim", ["snntorch_sim", "norse_sim"])
def test_other_simulators_on_spikingjelly_graphs(sim):
    if importlib.util.find_spec(f"snnexport.simulators.{sim}") is None:
        pytest.skip(f"snnexport.simulators.{sim} not written yet")
    from snnexport.simulators import SIMULATORS, load_all

    load_all()
    name = sim.removesuffix("_sim")
    if name not in SIMULATORS:
        pytest.skip(f"simulator {name!r} not registered")
    fc = layer.Linear(1, 1, bias=False, step_mode="m")
    with torch.no_grad():
        fc.weight.fill_(0.5)
    tie = nn.Sequential(fc, neuron.IFNode(v_threshold=1.0, v_reset=0.0, step_mode="m")).eval()
    cases = [(ConvBNNet(d, r).eval(), (2, 8, 8), conv_input()) for d in (True, False) for r in (None, 0.0)]
    cases += [(SeqContainerNet().eval(), (2, 8, 8), conv_input(seed=5)),
              (StereoEncoder().eval(), (3, 32, 32), torch.rand(4, 2, 3, 32, 32, dtype=F64)),
              (tie, (1,), torch.ones(4, 1, 1, dtype=F64))]
    for model, shape, x in cases:
        graph = convert(model, shape)
        ref = simulate(graph, x, F64)
        other = SIMULATORS[name](graph, x, F64)
        for n, s in ref.spikes.items():
            assert int((other.spikes[n] != s).sum()) == 0, (sim, type(model).__name__, n)
        (out,) = ref.readout
        assert float(np.max(np.abs(other.readout[out] - ref.readout[out]))) <= 1e-12
