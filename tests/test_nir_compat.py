"""``convert --nir-compat 1.0.4``: files that nir 1.0.4 (what sinabs and rockpool install) reads."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nir
import numpy as np
import pytest

from snnexport.errors import SnnexportError
from snnexport.extension import KEY, NeuronExt, set_node_ext
from snnexport.nir_compat import compat_notes, write_compat
from tests.helpers import run_cli, save_sew_checkpoint

READ_WITH_104 = """
import json, sys, nir
g = nir.read(sys.argv[1])
print(json.dumps({"version": nir.version, "nodes": {k: type(n).__name__ for k, n in g.nodes.items()},
                  "edges": sorted(map(list, g.edges))}))
"""


@pytest.fixture(scope="module")
def nir104_python():
    """A throwaway venv with nir 1.0.4 (kept between runs); skipped only when it cannot be built offline."""
    root = Path(os.environ.get("SNNEXPORT_NIR104_VENV", Path(tempfile.gettempdir()) / "snnexport-nir104"))
    py = root / "bin" / "python"
    probe = [str(py), "-c", "import nir, h5py; assert nir.version == '1.0.4'"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(root)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "nir==1.0.4", "numpy", "h5py"], check=True,
                       capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as e:
        pytest.skip(f"cannot build a nir 1.0.4 venv here (offline package index?): {type(e).__name__}")
    if subprocess.run(probe, capture_output=True).returncode != 0:
        pytest.skip("the venv built does not hold nir 1.0.4")
    return py


def read_104(py, path):
    res = subprocess.run([str(py), "-c", READ_WITH_104, str(path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res
    return json.loads(res.stdout)


def _mixed_graph():
    """Every node type nir 1.0.4 knows that our writers emit, with metadata where 1.0.8 allows it."""
    s = np.ones(4)
    lif = nir.LIF(tau=s * 0.01, r=s, v_leak=s * 0, v_threshold=s, v_reset=s * 0.25)
    set_node_ext(lif, **NeuronExt("beta", {"beta": s * 0.5, "gain": s}, reset="subtract").to_meta())
    lin = nir.Linear(np.eye(4))
    lin.metadata = {KEY: {"time_reduction": "mean", "source_path": "head"}}
    nodes = {
        "input": nir.Input(np.array([1, 4, 4])),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1, dilation=1, groups=1,
                           bias=np.zeros(2), metadata={KEY: {"source_path": "conv"}}),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(np.ones((4, 8)), np.zeros(4)),
        "if": nir.IF(r=s, v_threshold=s, v_reset=s * 0),
        "cuba": nir.CubaLIF(tau_syn=s * 0.01, tau_mem=s * 0.02, r=s * 2, v_leak=s * 0, v_threshold=s, w_in=s),
        "scale": nir.Scale(s * 2),
        "delay": nir.Delay(delay=s * 0.002),
        "lif": lif,
        "head": lin,
        "output": nir.Output(np.array([4])),
    }
    edges = [("input", "conv"), ("conv", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "if"), ("if", "cuba"),
             ("cuba", "scale"), ("scale", "delay"), ("delay", "lif"), ("lif", "head"), ("head", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: {"dt": 1e-3}}, type_check=False)


@pytest.mark.slow
def test_plain_nir_108_file_fails_in_104_and_compat_file_loads(tmp_path, nir104_python):
    g = _mixed_graph()
    plain = tmp_path / "plain.nir"
    nir.write(str(plain), g)
    with pytest.raises(AssertionError):
        read_104(nir104_python, plain)  # the problem being solved: 1.0.4 refuses 1.0.8's fields
    path, notes = write_compat(g, tmp_path / "compat.nir")
    got = read_104(nir104_python, path)
    assert got["version"] == "1.0.4"
    assert got["nodes"] == {k: type(n).__name__ for k, n in g.nodes.items()}
    assert got["edges"] == sorted(map(list, g.edges))
    # and our own reader still takes it (nir 1.0.8 fills v_reset = 0)
    back = nir.read(str(path))
    assert set(back.nodes) == set(g.nodes)


def test_compat_notes_are_computed_from_the_graph():
    notes = compat_notes(_mixed_graph())
    text = "\n".join(notes)
    # IF and CubaLIF reset to 0 (value reset): 1.0.4 documents subtraction
    assert "if: resets to v_reset" in text and "cuba: resets to v_reset" in text
    assert not any(n.startswith("lif:") for n in notes)  # its snnexport reset is subtract: nothing lost
    assert "head: nir 1.0.4 Linear holds no metadata; snnexport time_reduction is dropped" in text
    assert not any(n.startswith("conv:") for n in notes)  # only source_path: harmless


def test_cubali_cannot_be_written_for_104(tmp_path):
    s = np.ones(2)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "li": nir.CubaLI(tau_syn=s, tau_mem=s, r=s, v_leak=s * 0),
                            "output": nir.Output(np.array([2]))}, edges=[("input", "li"), ("li", "output")])
    with pytest.raises(SnnexportError, match="nir 1.0.4 has no CubaLI"):
        write_compat(g, tmp_path / "x.nir")
    assert not (tmp_path / "x.nir").exists()


@pytest.mark.slow
def test_convert_option_on_a_checkpoint(tmp_path, capsys, nir104_python):
    ckpt = save_sew_checkpoint(tmp_path / "sew.pt")
    out = tmp_path / "sew104.nir"
    code, _, err = run_cli(["convert", ckpt, "-o", out, "--nir-compat", "1.0.4"], capsys)
    assert code == 0, err
    got = read_104(nir104_python, out)
    assert "Conv2d" in got["nodes"].values() and "LIF" in got["nodes"].values()
    code, out_json, err = run_cli(["verify", out, "--sims", "reference", "--json", "--steps", "3", "--batch", "2"], capsys)
    assert code == 0 and json.loads(out_json)["identical"], err
