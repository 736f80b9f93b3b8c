"""Consumer notes are computed from the graph: present where the importer differs, absent where it does not,
and (snnTorch, installed here) the importer's real spikes agree with the note."""

import json
from pathlib import Path

import nir
import numpy as np
import pytest

from snnexport.consumers import consumer_notes
from snnexport.consumers import consumer_warnings
from snnexport.extension import KEY
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
PAPER_LIF = ROOT / "tests" / "data" / "nir_paper" / "lif_norse.nir"


def _lif_graph(dt=None, r=1.0, v_leak=0.0, v_reset=0.0, fan_out=False, tau=2.5e-3):
    n = 3
    lif = nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.full(n, v_leak), v_threshold=np.full(n, 0.1),
                  v_reset=np.full(n, v_reset))
    nodes = {"input": nir.Input(np.array([n])), "lif": lif, "output": nir.Output(np.array([n]))}
    edges = [("input", "lif"), ("lif", "output")]
    if fan_out:
        nodes["out2"] = nir.Output(np.array([n]))
        edges.append(("lif", "out2"))
    meta = {KEY: {"dt": dt}} if dt is not None else {}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _lines(graph, consumer):
    return [l for l in consumer_notes(graph) if l.startswith(f"{consumer} import:")]


def test_snntorch_dt_note_only_when_dt_differs():
    assert not [l for l in _lines(_lif_graph(dt=1e-4), "snnTorch") if "assumes dt" in l]
    (line,) = [l for l in _lines(_lif_graph(dt=1e-3), "snnTorch") if "assumes dt" in l]
    assert "beta = 0.96 instead of 0.6" in line  # 1 - 1e-4/2.5e-3 vs 1 - 1e-3/2.5e-3


def test_norse_notes_follow_r_v_reset_and_dt():
    assert _lines(_lif_graph(dt=1e-3), "Norse") == []
    text = "\n".join(_lines(_lif_graph(dt=1e-4, r=2.0, v_reset=0.05), "Norse"))
    assert "runs at dt = 1e-3 s" in text and "ignores r = 2" in text and "ignores v_reset 0.05" in text


def test_sinabs_refuses_v_leak_and_reads_tau_in_steps():
    assert any("refused (v_leak must be 0)" in l for l in _lines(_lif_graph(dt=1e-4, v_leak=0.1), "sinabs"))
    text = "\n".join(_lines(_lif_graph(dt=1e-4), "sinabs"))
    assert "reads tau = 0.0025 as time steps" in text and "instead of 1 - dt/tau = 0.96" in text
    assert "NIR scales it by r*dt/tau = 0.04" in text


def test_spyx_fan_out_note_names_the_dropped_edge():
    assert not [l for l in _lines(_lif_graph(dt=1e-4), "spyx") if "out-edge" in l]
    (line,) = [l for l in _lines(_lif_graph(dt=1e-4, fan_out=True), "spyx") if "out-edge" in l]
    assert "(lif -> output)" in line and "lif -> out2 dropped" in line


def test_rockpool_names_what_it_cannot_import():
    g = _lif_graph(dt=1e-4)
    g.nodes["scale"] = nir.Scale(np.ones(3))
    g.edges = [("input", "scale"), ("scale", "lif"), ("lif", "output")]
    assert _lines(g, "rockpool") == ["rockpool import: no import for Scale: the graph does not load"]


def test_rockpool_fails_on_lif_and_notes_cubalif():
    assert _lines(_lif_graph(dt=1e-4), "rockpool") == [
        "rockpool import: lif: fails (its LIF import reads tau_mem, which NIR's LIF does not have)"]
    n = 2
    cuba = nir.CubaLIF(tau_syn=np.full(n, 1e-3), tau_mem=np.full(n, 2e-3), r=np.full(n, 1.0), v_leak=np.zeros(n),
                       v_threshold=np.ones(n))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([n])), "c": cuba, "output": nir.Output(np.array([n]))},
                     edges=[("input", "c"), ("c", "output")], metadata={KEY: {"dt": 1e-4}})
    text = "\n".join(_lines(g, "rockpool"))
    assert "infers dt = min(tau_mem/(1+r)) = 0.001 s (dt = 0.0001 s)" in text and "c: emits k spikes" in text


@pytest.mark.slow
def test_rockpool_really_fails_on_lif():
    from rockpool.nn.modules.torch.nir import from_nir

    with pytest.raises(AttributeError, match="tau_mem"):
        from_nir(_lif_graph(dt=1e-4))


def test_graph_without_dt_says_so():
    warnings = consumer_warnings(_lif_graph())
    assert any("states no dt" in w for w in warnings)
    assert any(l.startswith("snnTorch import: lif: assumes dt = 1e-4 s (no dt stated)") for l in warnings)


@pytest.mark.slow
def test_mnist_custom_gets_a_note_and_snntorch_import_really_differs(tmp_path, capsys):
    """The note predicts a difference on mnist-custom (dt = 1e-3) and none on the paper's LIF (dt = 1e-4):
    snnTorch's own importer (the snntorch-upstream row) agrees on both."""
    ckpt = ROOT / "models" / "checkpoints" / "mnist_custom.pt"
    out = tmp_path / "mnist_custom.nir"
    code, _, err = run_cli(["convert", ckpt, "-o", out], capsys)
    assert code == 0 and "snnTorch import: hidden.lif, output.lif: assumes dt = 1e-4 s" in err, err
    code, res, _ = run_cli(["verify", out, "--sims", "reference,snntorch-upstream", "--json", "--steps", "10"], capsys)
    rows = {p["name"]: p for p in json.loads(res)["participants"]}
    assert rows["snntorch-upstream"]["mismatches"] > 0
    code, res, _ = run_cli(["verify", PAPER_LIF, "--dt", "1e-4", "--sims", "reference,snntorch-upstream", "--json",
                            "--steps", "400", "--rate", "0.1"], capsys)
    rows = {p["name"]: p for p in json.loads(res)["participants"]}
    assert rows["snntorch-upstream"]["mismatches"] == 0 and rows["reference"]["total_spikes"] > 0
