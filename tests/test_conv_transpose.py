"""nn.ConvTranspose2d (issue 13, item 6): a Conv2d extension node whose NIR fields are the exact
equivalent convolution of the zero-upsampled input (snnexport.conv_transpose). Every participant
(source, reference per-step and time-batched, snnTorch and Norse importers, ONNX Runtime with
the native ConvTranspose in float32 and the float64 lowering) gives identical spikes; the NIR
file round-trips; what is not exact is refused in one line. Seed 001's whole stereo codec
(encoder + conv-transpose decoder) is in tests/test_zoo_verify.py."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

pytest.importorskip("snntorch")
pytest.importorskip("onnxruntime")

import snntorch as snn  # noqa: E402

from snnexport import conv_transpose as ct  # noqa: E402
from snnexport.checkpoint import LoadedModel  # noqa: E402
from snnexport.counting import linear_map  # noqa: E402
from snnexport.errors import SnnexportError  # noqa: E402
from snnexport.consumers import consumer_warnings  # noqa: E402
from snnexport.graph import read_graph, write_graph  # noqa: E402
from snnexport.simulators.reference.runner import simulate  # noqa: E402
from snnexport.sources import convert_model  # noqa: E402
from snnexport.verification import READOUT_TOL, run_verify  # noqa: E402

F64, F32 = torch.float64, torch.float32
PARTICIPANTS = ["source", "reference", "snntorch", "norse", "onnxruntime"]
COMBOS = [
    dict(stride=2, padding=1),                                   # the stereo codec's layers
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=3, padding=2, output_padding=1, dilation=2),
    dict(stride=1, padding=0),
    dict(stride=2, padding=3, groups=2),                         # padding > kernel-1: the lowering crops
    dict(stride=(2, 1), padding=(0, 1), bias=False),
]


def snntorch_net(**kw):
    """snnTorch users' style: nn.Sequential of layers and init_hidden neurons, called once per step."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, **kw), snn.Leaky(beta=0.8, init_hidden=True),
                        nn.Conv2d(6, 3, 3, padding=1), snn.Leaky(beta=0.7, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
    return net.eval()


def convert(net, shape=(4, 5, 6)):
    lm = LoadedModel(net, "m.pt", info={"input_shape": list(shape), "input_kind": "analog", "input_layout": "step"})
    return lm, convert_model(lm)


@pytest.mark.parametrize("kw", COMBOS, ids=[",".join(f"{k}={v}" for k, v in c.items()) for c in COMBOS])
def test_conv_transpose_identical_everywhere(kw, tmp_path):
    lm, graph = convert(snntorch_net(**kw))
    node = graph.nodes["0"]
    m = ct.meta(node)
    assert m is not None and type(node).__name__ == "Conv2d"
    np.testing.assert_array_equal(m["weight"], lm.model[0].weight.detach().double().numpy())
    assert any("transposed convolution" in w for w in consumer_warnings(graph))
    path = tmp_path / "g.nir"
    write_graph(graph, path)
    graph = read_graph(path)
    assert ct.meta(graph.nodes["0"]) is not None
    x = torch.rand(6, 3, 4, 5, 6, dtype=F64, generator=torch.Generator().manual_seed(1))
    for dtype in (F64, F32):
        keep = {}
        rep = run_verify(graph, x, dtype, sims=PARTICIPANTS, source=lm, keep_results=keep)
        ref = keep["reference"]
        for row in rep.participants:
            assert row.error is None and row.mismatches == 0 and row.identical, (dtype, row)
            for name, s in ref.spikes.items():
                assert np.array_equal(keep[row.name].spikes[name], s), (dtype, row.name, name)
            if row.max_abs_readout_diff is not None:
                assert row.max_abs_readout_diff <= READOUT_TOL[dtype]
        step = simulate(graph, x, dtype, mode="step")
        for name, s in ref.spikes.items():
            assert np.array_equal(step.spikes[name], s)
            assert 0 < s.sum() < s.size, (dtype, name, s.sum())


@pytest.mark.parametrize("kw", COMBOS, ids=[",".join(f"{k}={v}" for k, v in c.items()) for c in COMBOS])
def test_nir_fields_are_the_equivalent_convolution(kw):
    """The plain-NIR fallback is exact math: conv2d(U(x), NIR weight) == conv_transpose2d(x) in float64
    (also what `report` counts synapses with)."""
    lm, graph = convert(snntorch_net(**kw))
    node = graph.nodes["0"]
    m = ct.meta(node)
    x = torch.randn(2, 4, 5, 6, dtype=F64, generator=torch.Generator().manual_seed(2))
    mod = lm.model[0].double()
    want = mod(x)
    w = torch.from_numpy(np.asarray(node.weight))
    got = linear_map(node)(x, w) + torch.from_numpy(np.asarray(node.bias)).reshape(1, -1, 1, 1)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=0, atol=1e-12)
    assert tuple(np.asarray(node.output_type["output"])) == tuple(want.shape[1:])
    assert tuple(ct.upsampled_shape(m)[1:]) == tuple(node.input_shape)


def test_plain_nir_reader_rejects_instead_of_running_something_wrong(tmp_path):
    _, graph = convert(snntorch_net(stride=2, padding=1))
    path = tmp_path / "g.nir"
    write_graph(graph, path)
    with pytest.raises(ValueError, match="type mismatch"):
        nir.read(str(path))
    back = ct.read_nir(str(path))
    assert tuple(back.nodes["0"].input_type["input"]) == (4, 5, 6)


def test_forward_weight_is_pytorch_conv_transpose_with_groups():
    g = torch.Generator().manual_seed(3)
    w_t = torch.randn(6, 2, 3, 2, dtype=F64, generator=g)  # 6 in, groups=3 -> 6 out
    x = torch.randn(1, 6, 4, 4, dtype=F64, generator=g)
    m = {"stride": (1, 1), "padding": (0, 0), "output_padding": (0, 0), "dilation": (1, 1), "groups": 3,
         "weight": w_t.numpy(), "input_shape": (6, 4, 4)}
    want = F.conv_transpose2d(x, w_t, groups=3)
    got = F.conv2d(ct.upsample(x, m), torch.from_numpy(ct.forward_weight(w_t.numpy(), 3)))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("build, shape, match", [
    (lambda: nn.Sequential(nn.ConvTranspose2d(4, 6, 3), nn.ReLU(inplace=True)), (4, 5, 6), "inplace"),
    (lambda: nn.Sequential(nn.ConvTranspose1d(4, 6, 3)), (4, 5), "transposed-convolution"),
])
def test_what_is_not_exact_is_refused_in_one_line(build, shape, match):
    with pytest.raises(SnnexportError) as e:
        convert(build().eval(), shape)
    assert "\n" not in str(e.value) and match in str(e.value)


def test_output_size_argument_is_refused_in_one_line():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1)

        def forward(self, x):
            return self.up(x, output_size=[10, 12])  # output_padding chosen at call time

    with pytest.raises(SnnexportError) as e:
        convert(Net().eval())
    assert "\n" not in str(e.value) and "ConvTranspose2d output" in str(e.value)


def test_activation_ops_run_everywhere():
    """ReLU/Sigmoid on analog values (the codec decoder's) as Scale extension ops, in every participant."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(6, 3, 3, padding=1), nn.Sigmoid(), snn.Leaky(beta=0.8, init_hidden=True,
                                                                                threshold=0.6)).eval()
    lm, graph = convert(net)
    assert [type(graph.nodes[n]).__name__ for n in ("1", "3")] == ["Scale", "Scale"]
    x = torch.randn(5, 3, 4, 5, 6, dtype=F64, generator=torch.Generator().manual_seed(4))
    for dtype in (F64, F32):
        rep = run_verify(graph, x, dtype, sims=PARTICIPANTS, source=lm)
        for row in rep.participants:
            assert row.error is None and row.mismatches == 0 and row.identical, (dtype, row)
        assert 0 < rep.participants[1].total_spikes
