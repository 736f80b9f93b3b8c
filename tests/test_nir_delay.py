"""NIR's Delay node, ``y(t) = x(t - delay)``, run on the grid of dt: ``y[t] = x[t - d]`` with
``d = delay/dt`` whole steps per element, 0 before the first delayed value arrives.

Expected values are written out by hand (spike times) or computed here with plain loops from
that equation; every participant (reference per step and time-batched, snnTorch, Norse,
ONNX Runtime unrolled and Loop) must produce them exactly.
"""

import json

import nir
import numpy as np
import pytest
import torch

import snnexport
from snnexport.errors import SnnexportError
from snnexport.extension import KEY
from snnexport.semantics import delay_steps
from snnexport.simulators.reference.batched import batch_reason
from snnexport.simulators.reference.program import compile_graph
from snnexport.simulators.reference.runner import simulate
from tests.helpers import run_cli

F64 = torch.float64


def graph(nodes, edges, dt=1e-3):
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: {"dt": float(dt)}}, type_check=False)


def chain(delay, n, dt=1e-3, after=None):
    """Input(n) -> Delay -> [after] -> Output(n)."""
    nodes = {"input": nir.Input(np.array([n])), "d": nir.Delay(np.asarray(delay, dtype=np.float64)),
             "output": nir.Output(np.array([n]))}
    edges = [("input", "d"), ("d", "output")]
    if after is not None:
        nodes["after"] = after
        edges = [("input", "d"), ("d", "after"), ("after", "output")]
    return graph(nodes, edges, dt)


def every_participant(g, x, dtype=F64):
    """{participant: SimResult} from real runs of every participant on ``g``."""
    from snnexport.onnx import export_graph
    from snnexport.simulators.norse_sim import to_norse
    from snnexport.simulators.onnxruntime_sim import run_model
    from snnexport.simulators.snntorch_sim import to_snntorch

    x = x.to(dtype)
    out = {"reference": simulate(g, x, dtype, mode="step")}
    if batch_reason(compile_graph(g, dtype)) is None:
        out["batched"] = simulate(g, x, dtype, mode="batched")
    out["snntorch"] = to_snntorch(g, dtype).run(x)
    out["norse"] = to_norse(g, dtype).run(x)
    name = "float64" if dtype == F64 else "float32"
    out["onnx-unrolled"] = run_model(export_graph(g, steps=int(x.shape[0]), dtype=name).model, x)
    out["onnx-loop"] = run_model(export_graph(g, loop=True, dtype=name).model, x)
    return out


def readouts(g, x, dtype=F64):
    return {k: r.readout["output"] for k, r in every_participant(g, x, dtype).items()}


def spike_times(train):
    return np.flatnonzero(np.asarray(train).reshape(-1)).tolist()


# ------------------------------------------------------------------ steps

def test_delay_in_whole_steps():
    assert delay_steps(np.array([0.003, 0.0, 0.001]), 1e-3, "d").tolist() == [3, 0, 1]  # 0.003/0.001 = 2.9999999999999996
    assert delay_steps(np.array(2.0), 1.0, "d").tolist() == 2
    # stored in float32 by another exporter: float32(0.003)/0.001 = 3.0000000261, and a float32 dt
    assert delay_steps(np.array([0.003, 0.005], dtype=np.float32), 1e-3, "d").tolist() == [3, 5]
    assert delay_steps(np.array([0.003]), float(np.float32(1e-3)), "d").tolist() == [3]
    for delay, dt, what in ((np.array([0.002, 0.0015]), 1e-3, "1.5 steps"), (np.array(0.5), 1.0, "0.5 steps"),
                            (np.array([-0.001]), 1e-3, "negative")):
        with pytest.raises(SnnexportError) as e:
            delay_steps(delay, dt, "dly")
        msg = str(e.value)
        assert "'dly'" in msg and "\n" not in msg and what in msg, msg
        if what != "negative":
            assert repr(float(dt)) in msg and "Delay" in msg


def test_non_integer_delay_refused_by_every_participant():
    from snnexport.onnx import export_graph
    from snnexport.simulators.norse_sim import to_norse
    from snnexport.simulators.snntorch_sim import to_snntorch

    g = chain([0.002, 0.0015], 2)
    for build in (lambda: simulate(g, torch.zeros(3, 1, 2)), lambda: to_snntorch(g), lambda: to_norse(g),
                  lambda: export_graph(g, steps=3), lambda: export_graph(g, loop=True)):
        with pytest.raises(SnnexportError) as e:
            build()
        assert "'d'" in str(e.value) and "0.0015" in str(e.value) and "0.001" in str(e.value) and "\n" not in str(e.value)


def test_delays_that_do_not_fit_the_data_refused_in_one_line():
    """A graph built without NIR's type check: 3 delays on 4 features."""
    from snnexport.onnx import export_graph
    from snnexport.simulators.snntorch_sim import to_snntorch

    nodes = {"input": nir.Input(np.array([4])), "d": nir.Delay(np.array([0.002, 0.0, 0.001])),
             "output": nir.Output(np.array([3]))}
    g = graph(nodes, [("input", "d"), ("d", "output")])
    x = torch.ones(5, 2, 4, dtype=F64)
    for run in (lambda: simulate(g, x, mode="step"), lambda: simulate(g, x, mode="batched"),
                lambda: to_snntorch(g).run(x), lambda: export_graph(g, steps=5)):
        with pytest.raises(SnnexportError, match=r"^node 'd': Delay has \[3\] delays, its input has per-sample shape \[4\]$"):
            run()


# ------------------------------------------------------------------ closed form

def test_spike_train_through_delay_then_threshold():
    """Spikes at steps 0, 2, 7 through a delay of 3 steps (0.003 s at dt = 1 ms): out at 3, 5, 10."""
    x = torch.zeros(12, 1, 1, dtype=F64)
    x[[0, 2, 7], 0, 0] = 1.0
    g = chain([0.003], 1, after=nir.Threshold(np.array([0.5])))
    for who, y in readouts(g, x).items():
        assert spike_times(y) == [3, 5, 10], who


def test_spike_train_through_delay_then_if_neuron():
    """Plain NIR IF (dv/dt = r*I, dt = 1, threshold 1.5, reset to 0) behind a delay of 2 steps.
    Input pulses at 0, 1, 4, 5, 6 arrive at 2, 3, 6, 7, 8: v = 1, 2 -> fires at 3; v = 1, 2 ->
    fires at 7; v = 1 at 8."""
    x = torch.zeros(10, 1, 1, dtype=F64)
    x[[0, 1, 4, 5, 6], 0, 0] = 1.0
    neuron = nir.IF(r=np.ones(1), v_threshold=np.array([1.5]), v_reset=np.zeros(1))
    g = chain([2.0], 1, dt=1.0, after=neuron)
    for who, res in every_participant(g, x).items():
        assert spike_times(res.spikes["after"]) == [3, 7], who
    undelayed = chain([0.0], 1, dt=1.0, after=neuron)
    assert spike_times(simulate(undelayed, x).spikes["after"]) == [1, 5]  # the delay is what moved them


def test_per_element_delays():
    """delay = (2, 0, 1) steps: y[t, i] = x[t - d_i, i], 0 before."""
    d = [2, 0, 1]
    x = torch.arange(1.0, 1.0 + 6 * 2 * 3, dtype=F64).reshape(6, 2, 3)
    want = np.zeros((6, 2, 3))
    for t in range(6):
        for i in range(3):
            if t >= d[i]:
                want[t, :, i] = x[t - d[i], :, i].numpy()
    assert want[0].tolist() == [[0.0, 2.0, 0.0], [0.0, 5.0, 0.0]]  # the hand-read first step
    g = chain(np.array(d) * 1e-3, 3)
    for who, y in readouts(g, x).items():
        np.testing.assert_array_equal(y, want, err_msg=who)


def test_many_delays_over_a_multi_dimensional_shape():
    """delays 0..12 steps over a [2, 3, 2] (channel x space) node, T = 10: some never arrive."""
    d = np.random.default_rng(3).integers(0, 13, size=(2, 3, 2))
    x = torch.randn(10, 2, 2, 3, 2, generator=torch.Generator().manual_seed(4), dtype=F64)
    want = np.zeros(tuple(x.shape))
    for t in range(10):
        for idx in np.ndindex(*d.shape):
            if t >= d[idx]:
                want[(t, slice(None)) + idx] = x[(t - d[idx], slice(None)) + idx].numpy()
    nodes = {"input": nir.Input(np.array([2, 3, 2])), "d": nir.Delay(d * 1e-3), "output": nir.Output(np.array([2, 3, 2]))}
    g = graph(nodes, [("input", "d"), ("d", "output")])
    for who, y in readouts(g, x).items():
        np.testing.assert_array_equal(y, want, err_msg=who)


def test_delay_zero_is_identity_in_both_dtypes():
    x = torch.randn(7, 3, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    g = chain(np.zeros(4), 4)
    for dtype in (F64, torch.float32):
        for who, y in readouts(g, x, dtype).items():
            np.testing.assert_array_equal(y, x.to(dtype).numpy(), err_msg=f"{who} {dtype}")


def test_scalar_delay_applies_to_every_element():
    """A scalar delay (NIR's own type check refuses it; type_check=False graphs carry one):
    every element waits d steps; the shape comes from the data."""
    x = torch.randn(6, 2, 3, generator=torch.Generator().manual_seed(2), dtype=F64)
    g = chain(np.array(0.002), 3)
    want = np.concatenate([np.zeros((2, 2, 3)), x[:4].numpy()])
    for who, y in readouts(g, x).items():
        np.testing.assert_array_equal(y, want, err_msg=who)


def test_delay_longer_than_the_run_outputs_zeros():
    x = torch.ones(4, 1, 2, dtype=F64)
    for who, y in readouts(chain([0.009, 0.004], 2), x).items():
        assert not y.any(), who


def test_delay_after_time_reduction_refused():
    from snnexport.extension import set_node_ext

    d = nir.Delay(np.array([0.001]))
    fc = nir.Linear(np.eye(1))
    set_node_ext(fc, time_reduction="mean")
    g = graph({"input": nir.Input(np.array([1])), "fc": fc, "d": d, "output": nir.Output(np.array([1]))},
              [("input", "fc"), ("fc", "d"), ("d", "output")])
    with pytest.raises(SnnexportError, match="'d': a Delay .* cannot follow a time reduction"):
        simulate(g, torch.zeros(3, 1, 1))


# ------------------------------------------------------------------ a network, every participant

def affine_delay_lif(seed=0, delay=(0.003, 0.0, 0.001, 0.005)):
    rng = np.random.default_rng(seed)
    n_in, n = 5, 4
    nodes = {"input": nir.Input(np.array([n_in])),
             "fc": nir.Affine(rng.normal(size=(n, n_in)), rng.normal(size=n) * 0.1),
             "d": nir.Delay(np.array(delay)),
             "lif": nir.LIF(tau=np.full(n, 0.01), r=np.full(n, 5.0), v_leak=np.zeros(n), v_threshold=np.ones(n),
                            v_reset=np.zeros(n)),
             "output": nir.Output(np.array([n]))}
    edges = [("input", "fc"), ("fc", "d"), ("d", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={KEY: {"dt": 1e-3}}, type_check=True), n_in


def _input(n_in, T=40, B=3, seed=0):
    rng = np.random.default_rng(seed + 100)
    return torch.from_numpy((rng.random((T, B, n_in)) < 0.4).astype(np.float64))


def test_affine_delay_lif_identical_across_participants():
    g, n_in = affine_delay_lif()
    x = _input(n_in)
    runs = every_participant(g, x)
    ref = runs["reference"].spikes["lif"]
    assert 0 < ref.sum() < ref.size
    for who, res in runs.items():
        np.testing.assert_array_equal(res.spikes["lif"], ref, err_msg=who)
    undelayed, _ = affine_delay_lif(delay=(0.0, 0.0, 0.0, 0.0))
    assert not np.array_equal(simulate(undelayed, x).spikes["lif"], ref)  # the delay changes the spikes
    # the delay itself: the LIF of element 0 sees the Affine output 3 steps late, zeros before
    acts = simulate(g, x, record_activations=True).activations
    np.testing.assert_array_equal(acts["d"][3:, :, 0], acts["fc"][:-3, :, 0])
    assert not acts["d"][:3, :, 0].any()


def test_verify_api_and_cli_on_a_written_nir_file(tmp_path, capsys):
    g, n_in = affine_delay_lif(seed=1)
    x = _input(n_in, seed=1)
    kept = {}
    res = snnexport.verify(g, x, upstream=False, keep_results=kept)
    assert res.identical, res
    names = {r.name for r in res.participants}
    assert {"reference", "snntorch", "norse", "onnxruntime"} <= names
    assert all(r.status == "identical" for r in res.participants), res.participants
    ref = kept["reference"].spikes["lif"]
    assert ref.sum() > 0
    for name in ("snntorch", "norse", "onnxruntime"):
        np.testing.assert_array_equal(kept[name].spikes["lif"], ref, err_msg=name)

    # with the upstream witnesses: snnTorch's importer refuses a Delay (a row, not an abort)
    rows = {r.name: r for r in snnexport.verify(g, x).participants}
    assert rows["snntorch-upstream"].status == "cannot run" and "Delay" in rows["snntorch-upstream"].error
    assert rows["onnxruntime"].status == "identical"

    path = tmp_path / "delay.nir"
    nir.write(str(path), g)
    np.save(tmp_path / "x.npy", x.numpy())
    code, out, err = run_cli(["verify", str(path), "--input", str(tmp_path / "x.npy"), "--no-upstream", "--json"], capsys)
    info = json.loads(out)
    assert code == 0, err
    rows = {r["name"]: r for r in info["participants"]}
    assert {"reference", "snntorch", "norse", "onnxruntime"} <= set(rows)
    assert all(r["mismatches"] == 0 and r["total_spikes"] == int(ref.sum()) for r in rows.values()), rows
    code, out, err = run_cli(["report", str(path), "--input", str(tmp_path / "x.npy"), "--targets", "loihi2", "--json"],
                             capsys)
    assert code == 0, err
    nodes = json.loads(out)["nodes"]
    assert nodes["d"]["type"] == "Delay" and nodes["lif"]["spikes"] == int(ref.sum())


def test_report_on_a_delay_graph():
    """A Delay does no synaptic operation and updates no membrane (role "other"); the fan-in
    of the LIF behind it is the Affine's; no target maps it (a violation naming the node)."""
    g, n_in = affine_delay_lif()
    x = _input(n_in)
    rep = snnexport.report(g, x, targets="xylo-audio2,loihi2")
    nodes = rep.to_json()["nodes"]
    d = nodes["d"]
    assert d["type"] == "Delay" and d["role"] == "other"
    assert d["effective_acs"] == d["effective_macs"] == d["dense_ops"] == d["membrane_updates"] == d["synapses"] == 0
    assert nodes["fc"]["effective_acs"] > 0 and nodes["lif"]["neuron_fan_in"] == n_in
    assert nodes["lif"]["spikes"] == int(simulate(g, x).spikes["lif"].sum())  # counts from the delayed run
    for target, r in rep.results.items():
        assert any("'d'" in v and "Delay" in v for v in r.violations), (target, r.violations)


# ------------------------------------------------------------------ recurrence through a delay

def test_recurrent_loop_through_a_delay():
    """IF neuron (threshold 0.5, reset to 0, dt = 1) with a loop n -> Delay(2) -> rec(1.0) -> n.
    A back edge carries the previous step, so a spike returns d + 1 = 3 steps later: one input
    pulse at 0 makes the neuron fire at 0, 3, 6, 9."""
    nodes = {"input": nir.Input(np.array([1])), "w": nir.Linear(np.eye(1)),
             "n": nir.IF(r=np.ones(1), v_threshold=np.array([0.5]), v_reset=np.zeros(1)),
             "d": nir.Delay(np.array([2.0])), "rec": nir.Linear(np.eye(1)), "output": nir.Output(np.array([1]))}
    edges = [("input", "w"), ("w", "n"), ("n", "d"), ("d", "rec"), ("rec", "n"), ("n", "output")]
    g = graph(nodes, edges, dt=1.0)
    x = torch.zeros(11, 2, 1, dtype=F64)
    x[0, :, 0] = 1.0
    runs = every_participant(g, x)
    assert "batched" not in runs  # back edges run per step
    for who, res in runs.items():
        for b in range(2):
            assert spike_times(res.spikes["n"][:, b]) == [0, 3, 6, 9], who


# ------------------------------------------------------------------ consumers

def test_consumer_notes_match_the_installed_importers():
    """The notes say snnTorch refuses a Delay and Norse drops it; measured on the importers here."""
    from snnexport.consumers import consumer_notes

    g, n_in = affine_delay_lif()
    notes = consumer_notes(g)
    assert any(n.startswith("snnTorch import: d: refused") for n in notes), notes
    assert any(n.startswith("Norse import: d: dropped") for n in notes), notes
    snntorch_import = pytest.importorskip("snntorch.import_nir")
    with pytest.raises(ValueError, match="Unknown node type"):
        snntorch_import.import_from_nir(g)
    norse = pytest.importorskip("norse.torch")
    net = norse.from_nir(g)
    names = {n for n, _ in net.named_modules()}
    assert {"fc", "lif"} <= names and "d" not in names
