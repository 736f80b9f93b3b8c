"""The Python API: the README example (executed verbatim), convert/verify/report/simulate,
the program cache and snnexport.testing."""

import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import snnexport
from snnexport.simulators import base
from snnexport.simulators.reference import program, runner
from snnexport.testing import assert_spike_identical

ROOT = Path(__file__).resolve().parents[1]
N_IN, N_HID, N_OUT, T, B = 10, 14, 4, 12, 5


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf8")
    section = text.split("## Python API", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "README's Python API section has no ```python block"
    return m.group(1)


def test_readme_example_runs():
    """CI executes exactly the README's example: every test function it defines must pass."""
    mod = types.ModuleType("readme_example")
    exec(compile(readme_example(), "README.md:Python API", "exec"), mod.__dict__)
    tests = [v for k, v in vars(mod).items() if k.startswith("test_") and callable(v)]
    assert tests, "the README example defines no test function"
    for t in tests:
        t()


class Net(torch.nn.Module):
    """Plain torch + a hand-written snnTorch-free LIF would need a rule; use snnTorch's Leaky."""

    def __init__(self, beta=0.85):
        super().__init__()
        import snntorch as snn

        self.fc1, self.lif1 = torch.nn.Linear(N_IN, N_HID), snn.Leaky(beta=beta)
        self.fc2, self.lif2 = torch.nn.Linear(N_HID, N_OUT), snn.Leaky(beta=beta)
        with torch.no_grad():
            self.fc1.weight.mul_(3.0)
            self.fc2.weight.mul_(3.0)

    def forward(self, x):
        m1, m2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        out = []
        for t in range(x.shape[0]):
            s1, m1 = self.lif1(self.fc1(x[t]), m1)
            s2, m2 = self.lif2(self.fc2(s1), m2)
            out.append(s2)
        return torch.stack(out)


def spikes_in(seed=0, steps=T, batch=B):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(steps, batch, N_IN, generator=g) < 0.4).float()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    return Net().eval()


def test_import_snnexport_is_cheap():
    code = "import sys, snnexport; assert 'torch' not in sys.modules, 'torch imported'; print(len(snnexport.__all__))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_convert_module(model):
    x = spikes_in()
    graph = snnexport.convert(model, x)
    from snnexport.extension import graph_ext

    ext = graph_ext(graph)
    assert tuple(ext.input_shape) == (N_IN,) and ext.input_layout == "TB" and ext.default_steps == T
    assert {"fc1", "lif1", "fc2", "lif2"} <= set(graph.nodes)
    np.testing.assert_array_equal(graph.nodes["fc1"].weight, model.fc1.weight.detach().double().numpy())
    g2 = snnexport.convert(model, input_shape=[N_IN], dt=5e-4, steps=7)
    assert tuple(graph_ext(g2).input_shape) == (N_IN,) and graph_ext(g2).dt == 5e-4 and graph_ext(g2).default_steps == 7
    # the example input is read in the model's own layout
    from snnexport.api import _per_sample_shape

    assert _per_sample_shape(torch.zeros(3, 9, 2, 5), "BT") == ((2, 5), 9)
    assert _per_sample_shape(torch.zeros(3, 2, 5), "step") == ((2, 5), None)
    with pytest.raises(snnexport.errors.SnnexportError, match="no per-sample dimensions"):
        snnexport.convert(model, torch.zeros(3, 4))


def test_verify_module_and_graph(model):
    x = spikes_in(seed=1)
    before = model.fc1.weight.dtype
    res = snnexport.verify(model, x, sims=["source", "reference", "snntorch", "norse"])
    assert res.identical and res.first_divergence is None and res.exit_code == 0
    assert [p.name for p in res.participants] == ["source", "reference", "snntorch", "norse"]
    assert all(p.status == "identical" and p.total_spikes > 0 for p in res.participants)
    assert model.fc1.weight.dtype == before  # the user's module is not cast to float64
    js = res.to_json()
    assert js["identical"] and js["steps"] == T and js["batch"] == B and len(js["participants"]) == 4
    graph = snnexport.convert(model, x)
    res_g = snnexport.verify(graph, x, sims=["reference", "snntorch"], dtype=torch.float32)
    assert res_g.identical and res_g.dtype == "float32"
    with pytest.raises(snnexport.errors.SnnexportError, match="needs a model"):
        snnexport.verify(graph, x, sims=["source", "reference"])


@pytest.fixture
def flipping_participant():
    """A participant equal to the reference except one spike: step 4, node lif2, sample 2, neuron 1."""
    def run(graph, x, dtype, **_):
        res = runner.simulate(graph, x, dtype)
        s = res.spikes["lif2"].copy()
        s[4, 2, 1] = 1.0 - s[4, 2, 1]
        res.spikes["lif2"] = s
        return res

    base.register_simulator("flip-test")(run)
    yield "flip-test"
    base.SIMULATORS.pop("flip-test", None)
    base.ROLES.pop("flip-test", None)


def test_verify_first_divergence(model, flipping_participant):
    res = snnexport.verify(model, spikes_in(seed=2), sims=["reference", flipping_participant])
    d = res.first_divergence
    assert not res.identical and res.exit_code == 1
    assert (d["participant"], d["step"], d["node"], d["batch"], d["neuron"]) == ("flip-test", 4, "lif2", 2, [1])
    assert d["reference_spike"] != d["participant_spike"] and "reference_membrane" in d
    assert res.row("flip-test").mismatches == 1


def test_assert_spike_identical(model, flipping_participant):
    assert assert_spike_identical(model, spikes_in(seed=2), sims=["source", "reference"]).identical
    with pytest.raises(AssertionError) as e:
        assert_spike_identical(model, spikes_in(seed=2), sims=["reference", flipping_participant])
    msg = str(e.value)
    assert "flip-test: 1 spike mismatches" in msg and "step 4, node 'lif2', batch 2, neuron (1,)" in msg
    assert "reference spike" in msg and "participant spike" in msg and "reference membrane" in msg


def test_report(model):
    x = spikes_in(seed=4)
    rep = snnexport.report(model, x, targets=["loihi2"])
    assert list(rep.results) == ["loihi2"]
    js = rep.to_json()
    assert js["run"]["steps"] == T and js["run"]["batch"] == B
    n_spikes = sum(d["spikes"] for d in js["nodes"].values() if "spikes" in d)
    ref = snnexport.simulate(snnexport.convert(model, x), x.double())
    assert n_spikes == sum(int(s.sum()) for s in ref.spikes.values())


def test_simulate_compiles_once_per_graph_and_dtype(model, monkeypatch):
    x = spikes_in(seed=5).double()
    graph = snnexport.convert(model, x)
    calls = []
    real = program.compile_graph
    monkeypatch.setattr(program, "compile_graph", lambda g, dtype=torch.float64, rules=None: calls.append(dtype) or real(g, dtype, rules))
    program.forget_programs()
    a = snnexport.simulate(graph, x)
    b = snnexport.simulate(graph, x)
    assert calls == [torch.float64]
    assert a.membranes == {} and set(a.spikes) == {"lif1", "lif2"}
    for n in a.spikes:
        np.testing.assert_array_equal(a.spikes[n], b.spikes[n])
    snnexport.simulate(graph, x.float())
    assert calls == [torch.float64, torch.float32]
    withmem = snnexport.simulate(graph, x, record_membranes=True)
    assert set(withmem.membranes) == {"lif1", "lif2"} and len(calls) == 2
    fresh = real(graph, torch.float64)
    want = runner.simulate(fresh, x)
    for n in want.spikes:
        np.testing.assert_array_equal(a.spikes[n], want.spikes[n])
    # replacing a node's array is a new graph as far as the cache is concerned
    graph.nodes["lif2"].v_threshold = graph.nodes["lif2"].v_threshold * 2.0
    c = snnexport.simulate(graph, x)
    assert len(calls) == 3 and c.spikes["lif2"].sum() < a.spikes["lif2"].sum()
    # after an in-place edit, forget_programs makes the next call compile afresh
    graph.nodes["lif2"].v_threshold[...] = 1e9
    program.forget_programs(graph)
    assert snnexport.simulate(graph, x).spikes["lif2"].sum() == 0 and len(calls) == 4
