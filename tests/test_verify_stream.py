"""Streaming verify: chunked runs give the whole-batch answer, memory stays within --max-memory,
and a participant that cannot run becomes a row instead of ending the run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from snnexport.extension import KEY, GraphExt
from snnexport.simulators import base
from snnexport.simulators.reference import simulate
from snnexport.verification import CANNOT_RUN, run_verify
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]


def feedforward_graph(n_in=6, n=5, tau=2e-3, seed=0, dt=1e-3):
    """input -> Affine -> plain-NIR LIF (Euler dynamics) -> output. ``tau < dt`` makes the
    Euler factor ``1 - dt/tau`` negative: snnTorch's beta would leave [0, 1]."""
    rng = np.random.default_rng(seed)
    lif = nir.LIF(tau=np.full(n, tau), r=np.full(n, 1.0), v_leak=np.zeros(n), v_threshold=np.full(n, 1.0),
                  v_reset=np.zeros(n))
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc": nir.Affine(weight=rng.normal(size=(n, n_in)) * 2, bias=np.zeros(n)),
             "lif": lif, "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
                        metadata={KEY: GraphExt(input_shape=(n_in,), dt=dt).to_meta()})


def spikes(T, B, n, seed=0, rate=0.5):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n, generator=g, dtype=torch.float64) < rate).double()


@pytest.fixture
def registered():
    """Register test participants; unregister them afterwards."""
    names = []

    def add(name, fn, role="simulator"):
        base.register_simulator(name, role=role)(fn)
        names.append(name)

    yield add
    for n in names:
        base.SIMULATORS.pop(n, None)
        base.ROLES.pop(n, None)


def _flip_one(sample):
    """A participant equal to the reference except one spike of batch sample ``sample``."""
    def run(graph, x, dtype, **_):
        res = simulate(graph, x, dtype)
        start = getattr(run, "seen", 0)
        run.seen = start + x.shape[1]
        if start <= sample < start + x.shape[1]:
            s = res.spikes["lif"].copy()
            s[3, sample - start, 2] = 1.0 - s[3, sample - start, 2]
            res.spikes["lif"] = s
        return res
    return run


def test_chunked_verify_gives_the_whole_batch_answer(registered):
    graph = feedforward_graph()
    x = spikes(12, 9, 6)
    registered("flip-a", _flip_one(7))
    registered("flip-b", _flip_one(7))
    whole = run_verify(graph, x, sims=["reference", "flip-a"])
    chunked = run_verify(graph, x, sims=["reference", "flip-b"], max_memory=1 << 16)  # below the process size: one sample per chunk
    assert whole.chunks == 1 and chunked.chunks == 9
    a, b = whole.row("flip-a"), chunked.row("flip-b")
    assert a.mismatches == b.mismatches == 1 and not a.identical and not b.identical
    assert a.first_divergence == b.first_divergence
    assert b.first_divergence["batch"] == 7 and b.first_divergence["step"] == 3 and b.first_divergence["neuron"] == [2]
    assert a.spikes_per_node == b.spikes_per_node and a.max_abs_readout_diff == b.max_abs_readout_diff
    assert whole.row("reference").total_spikes == chunked.row("reference").total_spikes > 0
    assert chunked.first_divergence["participant"] == "flip-b"
    assert not chunked.identical and chunked.exit_code == 1


def test_a_participant_that_cannot_run_becomes_a_row():
    """snnTorch refuses Euler dynamics with dt > tau (beta < 0); the others still run and decide."""
    graph = feedforward_graph(tau=4e-4)
    rep = run_verify(graph, spikes(10, 3, 6), sims=["reference", "snntorch", "norse"])
    snt = rep.row("snntorch")
    assert snt.status == CANNOT_RUN and "beta outside [0, 1]" in snt.error and not snt.ran
    assert rep.row("norse").status == "identical" and rep.row("norse").total_spikes > 0
    assert rep.identical and "snntorch could not run" in rep.verdict
    # the JSON carries the status and the reason
    js = rep.to_json()
    assert [p["status"] for p in js["participants"]] == ["identical", "cannot run", "identical"]


def test_nothing_verified_when_only_the_reference_ran(registered):
    def crash(graph, x, dtype, **_):
        raise RuntimeError("simulated crash")

    registered("crashing-test", crash)
    rep = run_verify(feedforward_graph(), spikes(5, 2, 6), sims=["reference", "crashing-test"])
    row = rep.row("crashing-test")
    assert row.status == CANNOT_RUN and row.error == "RuntimeError: simulated crash"
    assert not rep.identical and rep.exit_code == 1 and rep.verdict.startswith("NOT VERIFIED")


def test_upstream_row_with_a_wrong_readout_shape_in_chunks(registered):
    """The shape error (e.g. an importer that does not reduce over time) is the row's, in any chunk."""
    def wrong_shape(graph, x, dtype, **_):
        res = simulate(graph, x, dtype)
        res.readout["output"] = res.readout["output"][None]
        return res

    registered("wrong-upstream-test", wrong_shape, role="upstream")
    rep = run_verify(feedforward_graph(), spikes(6, 5, 6), sims=["reference", "norse", "wrong-upstream-test"], max_memory=1 << 16)
    assert rep.chunks == 5 and rep.identical
    assert rep.row("wrong-upstream-test").status == "differs" and "readout 'output' has shape" in rep.row("wrong-upstream-test").error


def test_cli_exit_code_is_decided_by_those_that_ran(tmp_path, capsys):
    path = tmp_path / "euler.nir"
    nir.write(str(path), feedforward_graph(tau=4e-4))
    code, out, _ = run_cli(["verify", path, "--sims", "reference,snntorch,norse", "--json", "--steps", "6"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["identical"]
    assert {p["name"]: p["status"] for p in rep["participants"]} == {"reference": "identical", "snntorch": "cannot run",
                                                                      "norse": "identical"}


def test_save_spikes_written_chunk_by_chunk(tmp_path, capsys):
    path = tmp_path / "g.nir"
    graph = feedforward_graph()
    nir.write(str(path), graph)
    x = spikes(7, 5, 6, seed=3)
    np.save(tmp_path / "x.npy", x.numpy())
    code, _, _ = run_cli(["verify", path, "--sims", "reference,norse", "--input", tmp_path / "x.npy", "--max-memory", "64K",
                          "--save-spikes", tmp_path / "spk", "--json"], capsys)
    assert code == 0
    want = simulate(graph, x)
    for name in ("reference", "norse"):
        z = np.load(tmp_path / "spk" / f"{name}.npz")
        assert z["spikes/lif"].dtype == np.uint8
        np.testing.assert_array_equal(z["spikes/lif"], want.spikes["lif"])
        np.testing.assert_array_equal(z["readout/output"], want.readout["output"])
    assert sorted(p.name for p in (tmp_path / "spk").iterdir()) == ["norse.npz", "reference.npz"]  # no temporaries left


def _peak_rss_mib(args):
    """Peak RSS (MiB) of a child process running ``python -m snnexport ARGS``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "snnexport", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, out, err


@pytest.mark.slow
def test_peak_memory_stays_within_the_budget(tmp_path):
    """4096 neurons x T=64: ~4 MiB of float64 spikes per sample and participant, ~10x that
    held in a whole-batch comparison. B=4 measures the process's own size; B=96 under a budget
    200 MiB above it must stay within the budget (unbounded it would need ~1.5 GiB more)."""
    path = tmp_path / "wide.nir"
    nir.write(str(path), feedforward_graph(n_in=64, n=4096, tau=5e-3))
    common = ["verify", path, "--sims", "reference,norse", "--steps", "64", "--json"]
    code, small, _, err = _peak_rss_mib(common + ["--batch", "4"])
    assert code == 0, err.decode()
    budget = small + 200
    code, big, out, err = _peak_rss_mib(common + ["--batch", "96", "--max-memory", f"{int(budget)}M"])
    assert code == 0, err.decode()
    rep = json.loads(out)
    assert rep["identical"] and rep["batch"] == 96
    assert big <= budget * 1.05, (small, big, budget)
