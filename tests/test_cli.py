"""CLI behaviour: convert/inspect/verify work end to end; bad inputs give one line, exit 2, no output."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn

import snnexport
from snnexport.simulators import base
from tests.helpers import run_cli, save_sew_checkpoint  # noqa: E402




@pytest.fixture
def sew_ckpt(tmp_path):
    return save_sew_checkpoint(tmp_path / "sew.pt")


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def test_convert_inspect_verify_roundtrip(sew_ckpt, tmp_path, capsys):
    code, out, _ = run_cli(["convert", str(sew_ckpt)], capsys)
    assert code == 0 and (tmp_path / "sew.nir").exists() and "wrote" in out
    code, out, _ = run_cli(["inspect", str(tmp_path / "sew.nir"), "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and {n["type"] for n in info["nodes"]} >= {"Conv2d", "LIF", "Input", "Output"}
    assert info["metadata"]["input_layout"] == "BT"
    code, out, _ = run_cli(["verify", str(sew_ckpt), "--sims", "source,reference", "--json", "--steps", "7", "--batch", "3"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["identical"] and rep["steps"] == 7 and rep["batch"] == 3
    src = [p for p in rep["participants"] if p["name"] == "source"][0]
    assert src["mismatches"] == 0 and src["total_spikes"] > 0 and src["max_abs_readout_diff"] <= 1e-12


def test_verify_input_file_and_save_spikes(sew_ckpt, tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(5, 2, 2, 6, 5))
    np.savez(tmp_path / "x.npz", x=x)
    code, out, _ = run_cli(["verify", str(sew_ckpt), "--sims", "source,reference", "--input", str(tmp_path / "x.npz"),
                            "--save-spikes", str(tmp_path / "spk"), "--json"], capsys)
    assert code == 0 and json.loads(out)["steps"] == 5
    z = np.load(tmp_path / "spk" / "source.npz")
    assert z["spikes/stem_lif"].shape == (5, 2, 4, 6, 5)


def _perturbed(graph, x, dtype, **_):
    import copy

    from snnexport.simulators.reference import simulate

    g = copy.deepcopy(graph)
    g.nodes["blocks.0.lif"].v_threshold = g.nodes["blocks.0.lif"].v_threshold * 0.5
    return simulate(g, x, dtype)


def test_verify_detects_a_perturbed_threshold(sew_ckpt, capsys):
    base.register_simulator("perturbed-test")(_perturbed)
    try:
        code, out, _ = run_cli(["verify", str(sew_ckpt), "--sims", "source,reference,perturbed-test", "--json"], capsys)
    finally:
        base.SIMULATORS.pop("perturbed-test", None)
    rep = json.loads(out)
    bad = [p for p in rep["participants"] if p["name"] == "perturbed-test"][0]
    assert code == 1 and not rep["identical"]
    assert bad["mismatches"] > 0 and bad["first_divergence"]["node"] == "blocks.0.lif"
    d = bad["first_divergence"]
    # the halved threshold fired where the graph's threshold was not reached
    assert d["reference_spike"] == 0 and d["participant_spike"] == 1 and d["reference_margin"] < 0
    assert d["participant_membrane"] >= d["threshold"] * 0.5


def test_missing_file(tmp_path, capsys):
    code, _, err = run_cli(["convert", str(tmp_path / "nope.pt")], capsys)
    assert_one_line_error(code, err, "nope.pt", "no such file")


def test_not_a_checkpoint(tmp_path, capsys):
    p = tmp_path / "junk.pt"
    p.write_bytes(b"hello, this is not a checkpoint")
    code, _, err = run_cli(["convert", str(p)], capsys)
    assert_one_line_error(code, err, "junk.pt", "not a PyTorch checkpoint")
    assert not (tmp_path / "junk.nir").exists()


class Evil:
    def __reduce__(self):
        return (print, ("PWNED",))


def test_pickle_needs_unsafe_flag(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, p)
    code, out, err = run_cli(["convert", str(p)], capsys)
    assert_one_line_error(code, err, "evil.pt", "refused to unpickle", "--unsafe-pickle")
    assert "PWNED" not in out


def test_whole_module_with_unsafe_pickle(tmp_path, capsys, sew_ckpt):
    model = snnexport.load(sew_ckpt).model
    p = tmp_path / "whole.pt"
    torch.save(model, p)
    code, _, err = run_cli(["convert", str(p), "--input-shape", "2,6,5", "--input-layout", "BT"], capsys)
    assert_one_line_error(code, err, "whole.pt", "--unsafe-pickle")
    code, _, _ = run_cli(["convert", str(p), "--unsafe-pickle", "--input-shape", "2,6,5", "--input-layout", "BT"], capsys)
    assert code == 0 and (tmp_path / "whole.nir").exists()


def test_state_dict_needs_arch_and_checks_it(tmp_path, capsys, sew_ckpt):
    model = snnexport.load(sew_ckpt).model
    p = tmp_path / "sd.pt"
    torch.save(model.state_dict(), p)
    code, _, err = run_cli(["convert", str(p)], capsys)
    assert_one_line_error(code, err, "sd.pt", "--arch")
    code, _, err = run_cli(["convert", str(p), "--arch", "no_such_pkg.mod:f"], capsys)
    assert_one_line_error(code, err, "no_such_pkg.mod")
    code, _, err = run_cli(["convert", str(p), "--arch", "snnexport.examples.spikingrx:nope"], capsys)
    assert_one_line_error(code, err, "has no attribute 'nope'")
    code, _, err = run_cli(["convert", str(p), "--arch", "snnexport.examples.spikingrx:sew_block_model", "--arch-kwargs", "{bad"], capsys)
    assert_one_line_error(code, err, "--arch-kwargs", "not valid JSON")
    code, _, err = run_cli(["convert", str(p), "--arch", "snnexport.examples.spikingrx:sew_block_model", "--arch-kwargs", '{"hidden": 9}'], capsys)
    assert_one_line_error(code, err, "state_dict does not fit")
    code, _, _ = run_cli(["convert", str(p), "--arch", "snnexport.examples.spikingrx:sew_block_model", "--input-shape", "2,6,5",
                          "--input-layout", "BT"], capsys)
    assert code == 0


@snnexport.register_arch("tests.test_cli:maxpool_model")  # trusted, so the checkpoint below loads without --trust-arch
def maxpool_model():
    return nn.Sequential(nn.Conv1d(1, 2, 3), nn.MaxPool1d(2))


def test_unsupported_layer_exit_2_no_output(tmp_path, capsys):
    p = tmp_path / "mp.pt"
    snnexport.save(maxpool_model(), p, arch="tests.test_cli:maxpool_model", input_shape=[1, 8], input_layout="step")
    code, _, err = run_cli(["convert", str(p)], capsys)
    assert_one_line_error(code, err, "'1'", "MaxPool1d", "only MaxPool2d")
    assert not (tmp_path / "mp.nir").exists()
    assert not list(tmp_path.glob(".mp.nir*"))


def test_bad_input_array(tmp_path, capsys, sew_ckpt):
    np.save(tmp_path / "bad.npy", np.zeros((3, 2, 6, 5)))
    code, _, err = run_cli(["verify", str(sew_ckpt), "--input", str(tmp_path / "bad.npy")], capsys)
    assert_one_line_error(code, err, "bad.npy", "rank")
    x = np.zeros((3, 1, 2, 6, 5))
    x[0, 0, 0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", x)
    code, _, err = run_cli(["verify", str(sew_ckpt), "--input", str(tmp_path / "nan.npy")], capsys)
    assert_one_line_error(code, err, "nan.npy", "NaN")


def test_corrupt_nir(tmp_path, capsys):
    p = tmp_path / "bad.nir"
    p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    code, _, err = run_cli(["inspect", str(p)], capsys)
    assert_one_line_error(code, err, "bad.nir")


def test_console_script_exit_code():
    r = subprocess.run([sys.executable, "-m", "snnexport.cli", "inspect", "/nonexistent.nir"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: /nonexistent.nir: no such file")
