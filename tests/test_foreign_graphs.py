"""Graphs written by other exporters: read, interpreted (shapes, dt) and run by verify/report."""

import json

import nir
import numpy as np
import pytest
import torch

from snnexport.graph import read_graph
from snnexport.simulators.reference.runner import simulate
from tests.helpers import run_cli


def _lif_graph(in_type, out_type, tau=0.02, n_in=6, n=4, seed=0):
    """A plain NIR Affine -> LIF graph, no snnexport metadata, Input/Output types as given."""
    rng = np.random.default_rng(seed)
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array(in_type)),
            "fc": nir.Affine(rng.normal(0, 1, (n, n_in)) * 40.0, rng.normal(0, 1, n)),
            "lif": nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)),
            "output": nir.Output(np.array(out_type)),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)


@pytest.fixture
def batched_file(tmp_path):
    """Norse/rockpool style: batch and time dimensions inside the Input/Output types."""
    path = tmp_path / "foreign.nir"
    nir.write(str(path), _lif_graph([1, 10, 6], [1, 10, 4]))
    return path


def test_leading_dims_are_stripped_with_a_note(batched_file):
    with pytest.raises(ValueError):
        nir.read(str(batched_file))  # nir itself refuses the file with its type check on
    g = read_graph(batched_file)
    assert g.nodes["input"].input_type["input"].tolist() == [6]
    assert g.nodes["output"].output_type["output"].tolist() == [4]
    info_notes = getattr(g, "_snnexport_reading_notes")
    assert any("[1, 10, 6]" in n and "[6]" in n for n in info_notes)


def test_inspect_says_unknown_for_what_the_graph_does_not_state(batched_file, capsys):
    code, out, _ = run_cli(["inspect", batched_file, "--json"], capsys)
    info = json.loads(out)
    assert code == 0
    assert info["metadata"]["dt"] == "unknown" and info["metadata"]["source_framework"] == "unknown"
    assert info["metadata"]["input_shape"] == [6]
    assert len(info["reading_notes"]) == 3


def test_verify_runs_foreign_graph_with_dt_and_input(batched_file, tmp_path, capsys):
    x = (np.random.default_rng(1).random((9, 3, 6)) < 0.5).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    code, out, err = run_cli(["verify", batched_file, "--dt", "1e-3", "--input", tmp_path / "x.npy",
                              "--sims", "reference,norse", "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["identical"] and rep["steps"] == 9 and rep["batch"] == 3, err
    assert "assuming dt" not in err and "Euler" not in err  # dt given, dt/tau = 0.05
    # --dt really reaches the simulation: the same graph at dt=1e-3 vs dt=2e-3 spikes differently
    g = read_graph(batched_file)
    from snnexport.graph import apply_run_options

    runs = []
    for dt in (1e-3, 2e-3):
        g = read_graph(batched_file)
        apply_run_options(g, "f", dt=dt)
        runs.append(simulate(g, torch.from_numpy(x)).spikes["lif"])
    assert not np.array_equal(runs[0], runs[1])


def test_missing_dt_is_assumed_loudly_and_refused_in_strict_mode(batched_file, capsys):
    code, out, err = run_cli(["report", batched_file, "--json", "--steps", "4", "--batch", "2"], capsys)
    assert code == 0, err
    assert "records no time step; assuming dt=1" in err
    assert "dt/tau = 50 > 1" in err  # tau=0.02 with the assumed dt=1
    code, _, err = run_cli(["report", batched_file, "--strict", "--json"], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error:") and "--strict" in err


def test_euler_instability_warned_with_given_dt(batched_file, capsys):
    code, _, err = run_cli(["verify", batched_file, "--dt", "0.03", "--sims", "reference", "--json"], capsys)
    assert code == 0 and "dt/tau = 1.5 > 1" in err and "diverges" not in err
    code, _, err = run_cli(["verify", batched_file, "--dt", "0.03", "--sims", "reference", "--strict"], capsys)
    assert code == 2 and "dt/tau = 1.5" in err


def test_input_shape_option_for_nir_is_honoured(tmp_path, capsys):
    """A Conv after an Input typed [1, 1, 5, 5]: --input-shape names the per-sample part; a wrong one is refused."""
    conv = nir.Conv2d(input_shape=(5, 5), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(2))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([1, 1, 5, 5])), "conv": conv,
                            "lif": nir.IF(r=np.ones((2, 5, 5)), v_threshold=np.ones((2, 5, 5))),
                            "output": nir.Output(np.array([2, 5, 5]))},
                     edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    path = tmp_path / "conv.nir"
    nir.write(str(path), g)
    assert read_graph(path).nodes["input"].input_type["input"].tolist() == [1, 5, 5]
    code, out, err = run_cli(["verify", path, "--dt", "1", "--input-shape", "1,5,5", "--sims", "reference", "--json",
                              "--steps", "3"], capsys)
    assert code == 0 and json.loads(out)["identical"], err
    code, _, err = run_cli(["verify", path, "--dt", "1", "--input-shape", "2,5,5", "--sims", "reference"], capsys)
    assert code == 2 and "--input-shape [2, 5, 5] differs" in err


def test_contradicting_dt_is_refused(tmp_path, capsys):
    g = _lif_graph([6], [4])
    g.metadata = {"snnexport": {"dt": 1e-3}}
    path = tmp_path / "with_dt.nir"
    nir.write(str(path), g)
    code, _, err = run_cli(["verify", path, "--dt", "1e-4", "--sims", "reference"], capsys)
    assert code == 2 and "records dt=0.001" in err
