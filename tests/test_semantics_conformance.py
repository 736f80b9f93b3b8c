"""Every dynamics form of the semantics table, in every backend, on a one-neuron-layer graph.

The reference per-step run is the truth. A backend either reproduces its spikes bit for bit
(readout within 1e-12, float64), or the form declares the backend unsupported in
snnexport/semantics.py -- and then the backend must refuse it with a one-line error. A form
added to the table without an implementation in some backend fails here.
"""

import numpy as np
import nir
import pytest
import torch

from snnexport.errors import SnnexportError
from snnexport.extension import KEY, NeuronExt
from snnexport.semantics import BACKENDS, FORMS, SPIKING_TYPES, unsupported_reason
from snnexport.simulators import SIMULATORS, load_all
from snnexport.simulators.reference import simulate

DT = 1e-3
N = 3
# one value per parameter name of any form (decay = 1 - time_step*rc_inv, as snnTorch derives it)
PARAMS = {"beta": 0.9, "gain": 1.0, "tau": 2.0, "tau_mem_inv": 100.0, "r": 1.0, "k": 0.3, "rc_inv": 50.0,
          "time_step": DT, "decay": 1 - DT * 50.0, "alpha": 0.8, "syn_gain": 0.5, "tau_syn_inv": 200.0}


def one_layer_graph(form) -> nir.NIRGraph:
    one = np.ones(N)
    ext = NeuronExt(form.name, {k: np.full(N, PARAMS[k]) for k in form.params}, compare="gt", reset="subtract", dt=DT)
    if form.cuba:
        neuron = nir.CubaLIF(tau_syn=one * 0.005, tau_mem=one * 0.01, r=one, v_leak=0 * one, v_threshold=one, v_reset=0 * one)
    else:
        neuron = nir.LIF(tau=one * 0.01, r=one, v_leak=0 * one, v_threshold=one, v_reset=0 * one)
    neuron.metadata = {KEY: ext.to_meta()}
    nodes = {"input": nir.Input(input_type={"input": np.array([N])}),
             "fc": nir.Affine(weight=np.eye(N) + 0.1, bias=np.zeros(N)),
             "neuron": neuron,
             "output": nir.Output(output_type={"output": np.array([N])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "neuron"), ("neuron", "output")],
                        metadata={KEY: {"dt": DT, "input_shape": np.array([N]), "input_kind": "analog", "default_steps": 20}})


def _input() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(20, 4, N, generator=g, dtype=torch.float64) * 3.0  # drives every form past threshold


def _participant(name: str):
    load_all()
    if name not in SIMULATORS:
        pytest.skip(f"participant {name} is not installed here")  # reported as a skip, never as a pass
    return lambda g, x: SIMULATORS[name](g, x, torch.float64)


RUNNERS = {
    "reference": lambda: (lambda g, x: simulate(g, x, torch.float64, mode="step")),
    "batched": lambda: (lambda g, x: simulate(g, x, torch.float64, mode="batched")),
    "snntorch": lambda: _participant("snntorch"),
    "norse": lambda: _participant("norse"),
    "onnx": lambda: _participant("onnxruntime"),
}


def test_every_backend_has_a_runner_and_the_table_is_well_formed():
    assert set(RUNNERS) == set(BACKENDS)
    names = [(f.name, f.cuba) for f in FORMS]
    assert len(names) == len(set(names))
    for f in FORMS:
        assert set(f.unsupported) <= set(BACKENDS), f.name
        assert "reference" not in f.unsupported, f"{f.name}: the reference defines the semantics, it runs every form"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("form", FORMS, ids=[f"{'cuba-' if f.cuba else ''}{f.name}" for f in FORMS])
def test_form_runs_identically_or_is_declared_unsupported(form, backend):
    graph = one_layer_graph(form)
    x = _input()
    truth = simulate(graph, x, torch.float64, mode="step")
    node_type = type(graph.nodes["neuron"]).__name__
    assert node_type in SPIKING_TYPES and truth.spikes["neuron"].sum() > 0, "the test input must make the neuron fire"
    run = RUNNERS[backend]()
    reason = unsupported_reason(backend, form.name, node_type)
    if reason is not None:
        with pytest.raises(SnnexportError):
            run(graph, x)
        return
    got = run(graph, x)
    assert set(got.spikes) == set(truth.spikes)
    np.testing.assert_array_equal(got.spikes["neuron"], truth.spikes["neuron"])
    assert np.max(np.abs(np.asarray(got.readout["output"], dtype=np.float64) - truth.readout["output"])) <= 1e-12
