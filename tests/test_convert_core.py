"""Converter core: torch layer rules, the seed-000 worked example, BN folding, errors."""

import nir
import numpy as np
import pytest
import torch
import torch.nn as nn

import snnexport
from snnexport.errors import SnnexportError, UnsupportedModuleError
from snnexport.examples.spikingrx import LIF, SpikingRx, sew_block_model
from snnexport.extension import neuron_ext, node_ext, time_reduction
from snnexport.graph import read_graph, write_graph
from snnexport.simulators.reference import simulate
from snnexport.simulators.source import run_source_model
from snnexport.sources.torch_layers import bn_scale_shift




def convert(model, **info):
    return snnexport.convert(model, **info)


def assert_equivalent(model, graph, x):
    ref = simulate(graph, x, torch.float64)
    src = run_source_model(model.double(), graph, x)
    assert set(src.spikes) == set(ref.spikes) and ref.spikes
    for n in ref.spikes:
        total = ref.spikes[n].sum()
        assert 0 < total < ref.spikes[n].size, f"{n}: no useful activity ({total})"
        assert (ref.spikes[n] != src.spikes[n]).sum() == 0, n
    for o in ref.readout:
        assert np.abs(ref.readout[o] - src.readout[o]).max() <= 1e-12
    return ref


def test_seed000_sew_block_parameters_and_equivalence(tmp_path):
    torch.manual_seed(1)
    model = randomise_bn(sew_block_model(theta=0.3))
    g = convert(model, input_layout="BT", input_shape=[2, 6, 5], input_kind="analog")
    # stem conv with BN folded: W*scale, b*scale + shift, computed independently in float64
    scale, shift = bn_scale_shift(model.stem_norm.bn)
    w = model.stem.conv.weight.detach().double().numpy() * scale[:, None, None, None]
    b = model.stem.conv.bias.detach().double().numpy() * scale + shift
    np.testing.assert_array_equal(g.nodes["stem"].weight, w)
    np.testing.assert_array_equal(g.nodes["stem"].bias, b)
    np.testing.assert_array_equal(g.nodes["blocks.0.shortcut"].weight, model.blocks[0].shortcut.conv.weight.detach().double().numpy())
    ext = neuron_ext(g.nodes["stem_lif"])
    assert (ext.dynamics, ext.compare, ext.reset, ext.reset_timing) == ("beta", "ge", "subtract", "immediate")
    assert ext.params["beta"].flat[0] == 0.8 and ext.params["gain"].flat[0] == 1 - 0.8
    assert g.nodes["stem_lif"].v_threshold.flat[0] == 0.3
    assert time_reduction(g.nodes["head"]) == "mean"
    assert sorted(a for a, b in g.edges if b == "head") == ["blocks.0.lif", "blocks.0.shortcut"]
    write_graph(g, tmp_path / "g.nir")
    g2 = read_graph(tmp_path / "g.nir")
    for name, node in g.nodes.items():
        for attr in ("weight", "bias", "v_threshold", "tau", "r"):
            if hasattr(node, attr):
                np.testing.assert_array_equal(getattr(g2.nodes[name], attr), getattr(node, attr))
    assert sorted(g2.edges) == sorted(g.edges)
    x = torch.randn(10, 3, 2, 6, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2
    assert_equivalent(model, g2, x)


def test_spikingrx_identity_shortcuts_sum_all_paths():
    torch.manual_seed(2)
    model = randomise_bn(SpikingRx(in_ch=2, hidden=4, blocks=2, bits_per_symbol=2, theta=0.25))
    g = convert(model, input_layout="BT", input_shape=[2, 5, 4], input_kind="analog")
    # block 1's input = lif0 + stem_lif; the head sums lif1 + lif0 + stem_lif
    assert [a for a, b in g.edges if b == "head"] == ["blocks.1.lif", "blocks.0.lif", "stem_lif"]
    x = torch.randn(8, 2, 2, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 3
    assert_equivalent(model, g, x)


class StepLIF(nn.Module):
    """A user's single-step neuron with state inside (seed 004 style, reset to zero)."""

    def __init__(self, beta=0.9, threshold=1.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold
        self.mem = None

    def reset_state(self):
        self.mem = None

    def forward(self, x):
        if self.mem is None:
            self.mem = torch.zeros_like(x)
        self.mem = self.beta * self.mem + x
        spk = (self.mem >= self.threshold).to(x.dtype)
        self.mem = self.mem * (1.0 - spk)
        return spk


from snnexport.sources.registry import NeuronSpec, register_neuron  # noqa: E402
from tests.helpers import randomise_bn  # noqa: E402

register_neuron(StepLIF, lambda m: NeuronSpec("beta", beta=m.beta, gain=1.0, threshold=m.threshold, reset="value", compare="ge"))


def test_step_model_with_conv1d_avgpool_flatten_bn1d_dropout():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1, groups=2), StepLIF(0.7, 0.5),
        nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 8, 6), nn.BatchNorm1d(6)), nn.Identity(), StepLIF(0.8, 0.4),
        nn.Linear(6, 3, bias=False), StepLIF(0.9, 0.3),
    )
    randomise_bn(model)
    g = convert(model, input_layout="step", input_shape=[2, 8], input_kind="analog")
    types = {n: type(v).__name__ for n, v in g.nodes.items()}
    assert types["0"] == "Conv1d" and types["2.0"] == "Flatten" and types["2.2"] == "Affine" and types["5"] == "Linear"
    assert "2.3" not in g.nodes  # BatchNorm1d folded into the Linear
    # grouped conv expanded to a dense block-diagonal weight (exact)
    w = g.nodes["0"].weight
    assert w.shape == (4, 2, 3) and np.all(w[:2, 1] == 0) and np.all(w[2:, 0] == 0)
    x = torch.randn(12, 3, 2, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 2
    assert_equivalent(model, g, x)


def test_avgpool2d_conv_stride_dilation():
    torch.manual_seed(6)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, stride=2, padding=2, dilation=2), StepLIF(0.5, 0.3), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 2 * 2, 4), StepLIF(0.6, 0.2))
    g = convert(model.eval(), input_layout="step", input_shape=[1, 9, 9], input_kind="analog")
    assert isinstance(g.nodes["2"], nir.AvgPool2d)
    assert tuple(g.nodes["0"].stride) == (2, 2) and tuple(g.nodes["0"].dilation) == (2, 2)
    x = torch.randn(10, 2, 1, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(7)) * 3
    assert_equivalent(model, g, x)


def test_maxpool1d_error_names_path_type_and_reason():
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Sequential(nn.MaxPool1d(2)), StepLIF())
    with pytest.raises(UnsupportedModuleError) as e:
        convert(model.eval(), input_layout="step", input_shape=[1, 8])
    msg = str(e.value)
    assert "'1.0'" in msg and "MaxPool1d" in msg and "only MaxPool2d" in msg and "\n" not in msg


def test_module_without_rule_lists_supported_types():
    model = nn.Sequential(nn.Linear(4, 3), nn.GELU(), StepLIF())  # (ReLU/Sigmoid have activation-op rules)
    with pytest.raises(UnsupportedModuleError) as e:
        convert(model.eval(), input_layout="step", input_shape=[4])
    assert "'1'" in str(e.value) and "GELU" in str(e.value) and "Linear" in str(e.value)


class SigmoidNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.lif = LIF()

    def forward(self, x):
        return self.lif(torch.sigmoid(self.fc(x)))


def test_unsupported_functional_op_is_named():
    with pytest.raises(UnsupportedModuleError, match="sigmoid"):
        convert(SigmoidNet().eval(), input_layout="BT", input_shape=[3])


def test_time_loop_model_with_sum_readout():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.lif1, self.fc2, self.lif2 = nn.Linear(5, 7), StepLIF(0.9, 0.5), nn.Linear(7, 3), StepLIF(0.8, 0.3)

        def forward(self, x):
            out = []
            for t in range(x.shape[0]):
                out.append(self.lif2(self.fc2(self.lif1(self.fc1(x[t])))))
            return torch.stack(out).sum(0)

    torch.manual_seed(8)
    model = Loop().eval()
    g = convert(model, input_layout="TB", input_shape=[5], input_kind="spikes")
    assert node_ext(g.nodes["output"]).get("time_reduction") == "sum"
    x = (torch.rand(15, 4, 5, generator=torch.Generator().manual_seed(9)) < 0.5).double()
    ref = assert_equivalent(model, g, x)
    assert ref.readout["output"].shape == (4, 3)


def test_batchnorm_in_training_mode_is_refused():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3), StepLIF())
    with pytest.raises(SnnexportError, match="training mode"):
        convert(model.train(), input_layout="step", input_shape=[3])
