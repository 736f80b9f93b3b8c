"""Our Loihi 2 integer model (snnexport/hardware/loihi_sim.py) against Lava 0.10's bit-accurate
CPU process models (PyDenseModelBitAcc, PyLifModelBitAcc), through scripts/lava_crosscheck.py.

Lava needs Python < 3.11, so it runs in its own interpreter: ``$SNNEXPORT_LAVA_PYTHON``, else
``/tmp/lava310/bin/python`` (a Python 3.10 venv with ``pip install lava-nc==0.10.0``). The
tests skip, naming what is missing, when neither has lava-nc; they never install it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "lava_crosscheck.py"
CKPT = ROOT / "models" / "checkpoints"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lava_python() -> str:
    py = os.environ.get("SNNEXPORT_LAVA_PYTHON") or "/tmp/lava310/bin/python"
    if not os.access(py, os.X_OK):
        pytest.skip(f"no Lava interpreter: {py} does not exist (set SNNEXPORT_LAVA_PYTHON to a Python 3.10 "
                    "with `pip install lava-nc==0.10.0`)")
    probe = subprocess.run([py, "-c", "import sys, importlib.metadata as m; import lava.proc.lif.models; "
                            "print(sys.version_info[:2] < (3, 11), m.version('lava-nc'))"],
                           capture_output=True, text=True, timeout=300)
    if probe.returncode != 0:
        pytest.skip(f"no Lava interpreter: {py} cannot import lava-nc ({probe.stderr.strip().splitlines()[-1:]})")
    return py


def _run(cmd, cwd) -> str:
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), f"{cmd[1:3]} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _totals(out: str):
    """{population: (Lava spikes, our spikes, differing positions)} from `compare`."""
    rows = re.findall(r"^total: (\S+): (\d+) Lava spikes, (\d+) ours, (\d+) positions differ$", out, re.M)
    return {n: tuple(map(int, v)) for n, *v in rows}


@pytest.mark.parametrize("model", ["mnist_snntorch", "shd"])
def test_quantized_zoo_model_is_bit_identical_to_lava(model, lava_python, tmp_path):
    """`snnexport quantize --target loihi2`, every sample of the model's zoo input, every population."""
    graph, npz = tmp_path / "q.nir", tmp_path / "q.npz"
    _run([sys.executable, "-m", "snnexport", "quantize", str(CKPT / f"{model}.pt"), "--target", "loihi2",
          "-o", str(graph)], ROOT)
    _run([sys.executable, str(SCRIPT), "export", str(graph), str(CKPT / f"{model}_sample.npy"), str(npz)], ROOT)
    out = _run([lava_python, str(SCRIPT), "compare", str(npz)], tmp_path)
    totals = _totals(out)
    assert totals and len(re.findall(r"^sample \d+: ", out, re.M)) == 4 * len(totals), out
    for name, (lava, ours, differ) in totals.items():
        assert lava > 0 and (lava, differ) == (ours, 0), f"{model} {name}: {out}"
    assert "DIFFERING POSITIONS: 0" in out


def test_random_networks_at_the_integer_edges_are_bit_identical_to_lava(lava_python, tmp_path):
    """Odd and out-of-range weights in all sign modes, skip and recurrent Dense, 24-bit wrap and
    saturation, int32 overflow: each edge changes our spikes when left out, and Lava agrees."""
    effects = {}
    for seed in (0, 1, 2):
        npz = tmp_path / f"r{seed}.npz"
        made = _run([sys.executable, str(SCRIPT), "random", str(seed), str(npz)], ROOT)
        for k, n in re.findall(r"^without (\S+): (\d+) positions would differ$", made, re.M):
            effects[k] = effects.get(k, 0) + int(n)
        out = _run([lava_python, str(SCRIPT), "compare", str(npz)], tmp_path)
        totals = _totals(out)
        assert len(totals) == 3 and sum(v[0] for v in totals.values()) > 0, out
        for name, (lava, ours, differ) in totals.items():
            assert (lava, differ) == (ours, 0), f"seed {seed} {name}: {out}"
    assert set(effects) == {"lsb_truncation", "wrap24", "saturate24", "wrap32"} and min(effects.values()) > 0, effects
