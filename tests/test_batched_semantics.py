"""The batched engine reads the neuron-semantics table (snnexport/semantics.py): its fused
kernel's parameter slots are the table's step parameters, a form without a kernel branch runs
the exact torch loop, and a form the table declares unsupported by "batched" is refused
(mode="batched") or run per step (mode="auto")."""

import dataclasses

import numpy as np
import pytest
import torch

from snnexport import semantics
from snnexport.errors import SnnexportError
from snnexport.simulators.reference import batched, compile_graph, simulate
from tests.test_semantics_conformance import _input, one_layer_graph


def test_every_kernel_branch_is_a_form_of_the_table_and_reads_its_step_params():
    assert len(set(batched.KERNEL_BRANCHES.values())) == len(batched.KERNEL_BRANCHES)
    for (name, cuba), branch in batched.KERNEL_BRANCHES.items():
        form = semantics.form(name, "CubaLIF" if cuba else "LIF")
        assert form is not None, f"kernel branch {branch} names {name!r} (cuba={cuba}), which the table lacks"
        slots = semantics.step_params(form)
        assert len(slots) <= 4 and batched._KERNEL_FORMS[(name, cuba)] == (branch, slots)
        params = compile_graph(one_layer_graph(form), torch.float64).params["neuron"]
        assert all(isinstance(params.get(k), torch.Tensor) for k in slots), (name, slots)  # prepared by nodes.py
        if batched.HAVE_NUMBA:
            assert batched._neuron_plan(params)[0] == branch


def test_a_form_without_a_kernel_branch_runs_the_torch_loop_bit_identically(monkeypatch):
    form = semantics.form("tau", "LIF")
    graph, x = one_layer_graph(form), _input()
    monkeypatch.setattr(batched, "_KERNEL_FORMS", {k: v for k, v in batched._KERNEL_FORMS.items() if k != ("tau", False)})
    assert batched._plans(compile_graph(graph, torch.float64))["neuron"] is None
    got = simulate(graph, x, torch.float64, mode="batched")
    truth = simulate(graph, x, torch.float64, mode="step")
    assert truth.spikes["neuron"].sum() > 0
    np.testing.assert_array_equal(got.spikes["neuron"], truth.spikes["neuron"])
    np.testing.assert_array_equal(got.membranes["neuron"], truth.membranes["neuron"])


def test_a_form_the_table_declares_unsupported_is_refused_or_run_per_step(monkeypatch):
    beta = semantics.form("beta", "LIF")
    declared = dataclasses.replace(beta, unsupported={"batched": "declared for this test"})
    monkeypatch.setattr(semantics, "FORMS", tuple(declared if f is beta else f for f in semantics.FORMS))
    graph, x = one_layer_graph(beta), _input()
    reason = batched.batch_reason(compile_graph(graph, torch.float64))
    assert reason is not None and "declared for this test" in reason and "'neuron'" in reason
    with pytest.raises(SnnexportError, match="cannot run time-batched.*declared for this test"):
        simulate(graph, x, torch.float64, mode="batched")
    auto = simulate(graph, x, torch.float64)  # auto: falls back to the per-step runner
    truth = simulate(graph, x, torch.float64, mode="step")
    assert truth.spikes["neuron"].sum() > 0
    np.testing.assert_array_equal(auto.spikes["neuron"], truth.spikes["neuron"])
