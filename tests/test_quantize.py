"""`snnexport quantize` and the chip-exact Xylo Audio 2 participant.

Our integer Xylo model (snnexport/hardware/xylo_sim.py) is compared bit for bit with
SynSense's XyloSim C++ simulator (``xylosim.v2.XyloLayer``, pip package ``xylosim``, built
from source) on random networks that saturate the 16-bit states and on the quantized shd
zoo model. Those tests skip, with the reason, only if xylosim cannot be imported.
"""

from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from snnexport.graph import read_graph
from snnexport.hardware.quantize import chip_target, quantize
from snnexport.hardware.xylo_quant import layer_delays, to_xylo_net
from snnexport.hardware.xylo_sim import XyloNet, simulate
from snnexport.verification import run_verify
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
SHD = ROOT / "models" / "checkpoints" / "shd.pt"
SHD_SAMPLE = ROOT / "models" / "checkpoints" / "shd_sample.npy"


def _xylosim():
    try:
        from xylosim.v2 import XyloLayer, XyloSynapse
    except ImportError as e:  # pragma: no cover - depends on the environment
        pytest.skip(f"xylosim not importable ({e}); pip install --no-deps xylosim==0.1.3 builds it from source")
    return XyloLayer, XyloSynapse


def xylosim_run(net: XyloNet, x: np.ndarray):
    """(output spikes [T, No], hidden counts [T, Nh], output membranes [T, No]) from XyloSim, one sample."""
    XyloLayer, XyloSynapse = _xylosim()

    def synapses(w):
        return [[XyloSynapse(int(post), 0, int(w[pre, post])) for post in np.nonzero(w[pre])[0]] for pre in range(w.shape[0])]

    nh, no = net.w_rec.shape[0], net.w_out.shape[1]
    keep = (synapses(net.w_in), synapses(net.w_rec), synapses(net.w_out))  # XyloLayer holds raw pointers to these
    layer = XyloLayer(*keep, [[] for _ in range(nh)], net.threshold.tolist(), net.threshold_out.tolist(), False, [0] * nh,
                      [0] * no, 0, 0, 0, net.dash_mem.tolist(), net.dash_mem_out.tolist(), [[int(d)] for d in net.dash_syn],
                      [[int(d)] for d in net.dash_syn_out], "snnexport-check")
    out = np.array(layer.evolve(np.asarray(x, np.uint8).tolist()))
    return out, np.array(layer.rec_recurrent_spikes), np.array(layer.rec_v_mem_out).T


@pytest.mark.parametrize("seed", range(4))
def test_integer_model_equals_xylosim_bit_for_bit_on_saturating_random_networks(seed):
    rng = np.random.default_rng(seed)
    nin, nh, no, T = 16, 40, 8, 30
    net = XyloNet(rng.integers(-128, 128, (nin, nh)), rng.integers(-128, 128, (nh, nh)) * (rng.random((nh, nh)) < 0.3),
                  rng.integers(-128, 128, (nh, no)), rng.integers(0, 16, nh), rng.integers(0, 16, nh),
                  rng.integers(1, 1500, nh), rng.integers(0, 16, no), rng.integers(0, 16, no), rng.integers(1, 500, no))
    x = rng.integers(0, 20, (T, 1, nin))  # counts above 15 are clipped by the chip
    hid, out, vout = simulate(net, x)
    assert hid.max() == 31 and np.abs(vout).max() > 1000  # multi-spike saturation and large states are exercised
    want_out, want_hid, want_v = xylosim_run(net, x[:, 0])
    np.testing.assert_array_equal(hid[:, 0], want_hid)
    np.testing.assert_array_equal(out[:, 0], want_out)
    np.testing.assert_array_equal(vout[:, 0], want_v)


@pytest.fixture(scope="module")
def shd_quantized(tmp_path_factory):
    out = tmp_path_factory.mktemp("q") / "shd_xylo.nir"
    from snnexport.api import load

    graph, _, _ = load(SHD)
    q, changes = quantize(graph, "xylo-audio2", ignore_fit=True)
    from snnexport.graph import write_graph

    write_graph(q, out)
    return graph, read_graph(out), changes


def test_quantized_shd_is_bit_identical_to_xylosim(shd_quantized):
    _, q, _ = shd_quantized
    net = to_xylo_net(q)
    x = np.load(SHD_SAMPLE).astype(np.int64).reshape(np.load(SHD_SAMPLE).shape[0], -1, net.w_in.shape[0])
    hid, out, vout = simulate(net, x)
    assert hid.sum() > 100 and out.sum() > 0
    for b in range(x.shape[1]):
        want_out, want_hid, want_v = xylosim_run(net, x[:, b])
        np.testing.assert_array_equal(hid[:, b], want_hid)
        np.testing.assert_array_equal(out[:, b], want_out)
        np.testing.assert_array_equal(vout[:, b], want_v)


def test_quantize_changes_and_integer_semantics(shd_quantized):
    graph, q, changes = shd_quantized
    lines = [c.line() for c in changes]
    assert "lif1: beta 0.95 -> 0.9375 (bitshift decay, dash_mem 4)" in lines
    assert any(l.startswith("fc1: bias") and "dropped" in l for l in lines)
    assert chip_target(q) == "xylo-audio2" and chip_target(graph) == ""
    for p in ("fc1", "fc2"):
        w = np.asarray(q.nodes[p].weight)
        assert type(q.nodes[p]).__name__ == "Linear" and np.all(w == np.round(w)) and np.abs(w).max() == 127  # max |w| -> 127
    chip = q.nodes["lif1"].metadata["snnexport"]["chip"]
    assert chip["role"] == "hidden" and int(chip["max_spikes"]) == 31 and np.all(np.asarray(chip["dash_mem"]) == 4)
    assert int(q.nodes["lif2"].metadata["snnexport"]["chip"]["max_spikes"]) == 1
    assert layer_delays(q) == {"lif1": 0, "lif2": 1}


def test_quantize_refuses_a_network_beyond_the_pools_without_ignore_fit():
    from snnexport.api import load
    from snnexport.errors import SnnexportError

    graph, _, _ = load(SHD)
    with pytest.raises(SnnexportError, match="does not fit xylo-audio2: max_inputs: the network has 128 input channels"):
        quantize(graph, "xylo-audio2")


def test_cli_quantize_prints_changes_and_writes_graph(tmp_path, capsys):
    out = tmp_path / "q.nir"
    code, text, _ = run_cli(["quantize", str(SHD), "--target", "xylo-audio2", "-o", str(out), "--ignore-fit", "--json"], capsys)
    assert code == 0
    d = json.loads(text)
    assert {"node": "lif2", "what": "beta", "before": "0.95", "after": "0.9375", "why": "bitshift decay, dash_mem 4"} in d["changes"]
    assert chip_target(read_graph(out)) == "xylo-audio2"


@pytest.mark.parametrize("args, needle", [
    (["--target", "loihi7"], "--target: no quantizer for 'loihi7'"),
    ([], "graph does not fit xylo-audio2"),
])
def test_cli_quantize_errors_are_one_line_without_output(tmp_path, capsys, args, needle):
    out = tmp_path / "q.nir"
    base = ["--target", "xylo-audio2"] if "--target" not in args else []
    code, _, err = run_cli(["quantize", str(SHD), "-o", str(out)] + base + args, capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_verify_runs_the_chip_participant_beside_the_float_model(shd_quantized):
    graph, _, _ = shd_quantized
    x = torch.from_numpy(np.load(SHD_SAMPLE)).to(torch.float64)
    rep = run_verify(graph, x, torch.float64, sims=["reference", "xylo-audio2"])
    chip = next(r for r in rep.participants if r.name == "xylo-audio2")
    assert rep.identical  # the chip role does not enter the identity verdict
    assert chip.role == "chip" and chip.total_spikes > 0 and 0 < chip.mismatches < x.shape[0] * x.shape[1] * 266
    assert any("pipeline delay (lif2: 1)" in a for a in chip.adapters)


# ----------------------------------------------------------------------------- Loihi 2

def test_loihi_lif_arithmetic_by_hand():
    """Lava PyLifModelBitAcc arithmetic on numbers worked by hand (du=4095 clears u; dv=2048 halves v)."""
    from snnexport.hardware.loihi_sim import LoihiLayer, dense, lif_step

    L = LoihiLayer("n", ["input"], [np.array([[3, -2]])], [1], du=np.array([4095]), dv=np.array([2048]),
                   vth=np.array([10]), bias_mant=np.array([5]), bias_exp=np.array([0]))
    a = dense(L.weights[0], 1, np.array([[1, 1]]))          # (3 - 2) << 1 = 2
    assert a.tolist() == [[2]]
    u, v, s = lif_step(np.array([[7]]), np.array([[301]]), a, L)
    # u = D(7, 4096) + (2 << 6) = 0 + 128; v = D(301, 2048) + 128 + 5 = 150 + 133 = 283 (<= 640: no spike)
    assert (u.tolist(), v.tolist(), s.tolist()) == ([[128]], [[283]], [[False]])
    u, v, s = lif_step(u, np.array([[1100]]), np.array([[2]]), L)
    # v = 550 + 128 + 5 = 683 > 10 << 6 = 640: spike, reset to 0
    assert (v.tolist(), s.tolist()) == ([[0]], [[True]])
    assert dense(np.array([[-3]]), -1, np.array([[1]])).tolist() == [[-2]]  # arithmetic right shift floors


def test_loihi_integer_edges_by_hand():
    """Lava's weight sign modes, 24-bit wrap, v saturation and int32 overflow, worked by hand."""
    from snnexport.hardware.loihi_sim import LoihiLayer, dense, lava_weights, lif_step

    # mixed sign: clip to [-256, 255], then the LSB is dropped (floor); single sign keeps 8 bits
    assert lava_weights(np.array([[127, -127, 300, -301, 3]])).tolist() == [[126, -128, 254, -256, 2]]
    assert lava_weights(np.array([[127, 300, 0]])).tolist() == [[127, 255, 0]]
    assert lava_weights(np.array([[-127, -300]])).tolist() == [[-127, -255]]
    L = LoihiLayer("n", ["input"], [np.zeros((1, 1))], [0], du=np.array([0]), dv=np.array([0]),
                   vth=np.array([2 ** 17 - 1]), bias_mant=np.array([-3]), bias_exp=np.array([2]))
    # u = D(8,388,598, 1) + (200 << 6) = floor(8,388,598 * 4095 / 4096) + 12,800 = 8,386,550 + 12,800
    # = 8,399,350 > 2^23: wraps to 8,399,350 - 2^24 = -8,377,866; v = D(0, 0) + u - 12 = -8,377,878
    u, v, s = lif_step(np.array([[2 ** 23 - 10]]), np.array([[0]]), np.array([[200]]), L)
    assert (u.tolist(), v.tolist(), s.tolist()) == ([[-8377866]], [[-8377878]], [[False]])
    u, v, s = lif_step(np.array([[0]]), np.array([[-2 ** 23 + 5]]), np.array([[-100]]), L)
    assert v.tolist() == [[-2 ** 23 + 1]]  # saturates at -M + 1
    # the int32 port and states: (2^25 << 6) = 2^31 wraps to -2^31; -2^31 + 0 <= -M, so + 2^24
    u, _, _ = lif_step(np.array([[0]]), np.array([[0]]), np.array([[2 ** 25]]), L)
    assert u.tolist() == [[-2 ** 31 + 2 ** 24]]
    assert dense(np.array([[255, 255]]), 23, np.ones((1, 2))).tolist() == [[-2 ** 24]]  # 510 << 23 = 2^32 - 2^24 in int32


def test_loihi2_quantize_and_participant_on_mnist_snntorch(tmp_path, capsys):
    ckpt = ROOT / "models" / "checkpoints" / "mnist_snntorch.pt"
    out = tmp_path / "l2.nir"
    code, text, err = run_cli(["quantize", str(ckpt), "--target", "loihi2", "-o", str(out)], capsys)
    assert code == 0, err
    assert "lif1: beta 0.95 -> 0.949951 (12-bit decay, dv 205)" in text and "lif3: delay 0 -> 3 step(s)" in text
    q = read_graph(out)
    chip = q.nodes["lif1"].metadata["snnexport"]["chip"]
    assert np.all(np.asarray(chip["du"]) == 4095) and 0 < int(np.asarray(chip["vth"]).max()) <= 4096
    from snnexport.hardware.loihi_sim import lava_weights

    w = np.asarray(q.nodes["fc1"].weight).astype(np.int64)  # as Lava's Dense takes them: its clip and LSB drop change nothing
    fc1 = q.nodes["fc1"].metadata["snnexport"]["chip"]
    assert fc1["sign_mode"] == "mixed" and np.all(w % 2 == 0) and np.array_equal(lava_weights(w), w) and np.abs(w).max() == 254
    x = torch.from_numpy(np.load(ROOT / "models" / "checkpoints" / "mnist_snntorch_sample.npy")).to(torch.float64)
    from snnexport.api import load

    graph, _, _ = load(ckpt)
    rep = run_verify(graph, x, torch.float64, sims=["reference", "loihi2"])
    row = next(r for r in rep.participants if r.name == "loihi2")
    assert rep.identical and row.role == "chip" and row.total_spikes > 0 and row.mismatches > 0
