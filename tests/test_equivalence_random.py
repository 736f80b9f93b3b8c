"""Hypothesis: random feed-forward SNNs convert and run identically in every participant.

The source is plain PyTorch with a user neuron (every reset mode, timing, comparison) or
snnTorch's Leaky; participants are source, reference, and the snnTorch and Norse importers.
Layer sizes, weights, biases, decays and thresholds (near the input scale) are drawn.
"""

import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import snnexport
from snnexport.simulators import SIMULATORS, load_all
from snnexport.sources.registry import NeuronSpec, register_neuron


class GenericLIF(nn.Module):
    """A user's multi-step LIF over [T, B, N] with every switch of the extension."""

    def __init__(self, beta, gain, threshold, reset, compare, timing):
        super().__init__()
        self.register_buffer("beta", torch.as_tensor(beta, dtype=torch.float32))
        self.gain, self.threshold = float(gain), float(threshold)
        self.reset, self.compare, self.timing = reset, compare, timing

    def forward(self, x):
        U = torch.zeros_like(x[0])
        S = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            if self.timing == "delayed" and self.reset == "value":
                U = torch.where(S.bool(), torch.zeros_like(U), U)
            U = self.beta * U + self.gain * x[t]
            if self.timing == "delayed" and self.reset == "subtract":
                U = U - S * self.threshold
            S = ((U >= self.threshold) if self.compare == "ge" else (U > self.threshold)).to(x.dtype)
            if self.timing == "immediate":
                if self.reset == "subtract":
                    U = U - S * self.threshold
                elif self.reset == "value":
                    U = torch.where(S.bool(), torch.zeros_like(U), U)
            out.append(S)
        return torch.stack(out)


register_neuron(GenericLIF, lambda m: NeuronSpec("beta", beta=m.beta, gain=m.gain, threshold=m.threshold, reset=m.reset,
                                                 compare=m.compare, reset_timing=m.timing))

PARTICIPANTS = ["source", "reference", "snntorch", "norse"]


@st.composite
def networks(draw):
    sizes = draw(st.lists(st.integers(1, 12), min_size=2, max_size=4))
    layers = []
    g = torch.Generator().manual_seed(draw(st.integers(0, 2 ** 31 - 1)))
    for i in range(len(sizes) - 1):
        lin = nn.Linear(sizes[i], sizes[i + 1], bias=draw(st.booleans()))
        with torch.no_grad():
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=g))
            if lin.bias is not None:
                lin.bias.copy_(torch.randn(lin.bias.shape, generator=g) * 0.3)
        n_out = sizes[i + 1]
        per_neuron = draw(st.booleans())
        beta = torch.rand(n_out, generator=g) if per_neuron else draw(st.floats(0.0, 1.0))
        neuron = GenericLIF(beta, draw(st.sampled_from([1.0, 0.5, 0.1])), draw(st.floats(0.05, 2.0)),
                            draw(st.sampled_from(["subtract", "value", "none"])), draw(st.sampled_from(["gt", "ge"])),
                            draw(st.sampled_from(["immediate", "delayed"])))
        layers += [lin, neuron]
    return nn.Sequential(*layers).eval(), sizes[0]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(net=networks(), seed=st.integers(0, 1000), rate=st.floats(0.1, 0.9))
def test_random_feedforward_graphs_identical_everywhere(net, seed, rate):
    load_all()
    model, n_in = net
    graph = snnexport.convert(model, input_layout="TB", input_shape=[n_in])
    x = (torch.rand(12, 3, n_in, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) < rate).double()
    sims = [s for s in PARTICIPANTS if s in SIMULATORS]
    report = snnexport.verify(graph, x, sims=sims, source=model)
    bad = [(r.name, r.mismatches, r.first_divergence, r.error) for r in report.participants if not r.identical]
    assert report.identical, bad
    assert {r.name for r in report.participants} == set(sims)


def test_all_importers_take_part():
    load_all()
    missing = [s for s in PARTICIPANTS if s not in SIMULATORS]
    assert not missing, f"participants not registered: {missing}"
