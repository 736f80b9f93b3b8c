"""SpikingRx zoo model: Sionna data pipeline, training, shipped checkpoint vs the LS baseline."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

pytest.importorskip("sionna.phy", reason="sionna-no-rt (requirements-extra.txt) is not installed")

from models.spikingrx import ZOO_ENTRY  # noqa: E402
from models.spikingrx.ann import ann_factory  # noqa: E402
from models.spikingrx.data import (  # noqa: E402
    LinkConfig,
    OFDMLink,
    bit_errors,
    features,
    in_channels,
    shift_subcarriers,
)
from models.spikingrx.train import (  # noqa: E402
    ANN_CHECKPOINT,
    CHECKPOINT,
    SAMPLE,
    TrainConfig,
    build_model,
    evaluate_dataset,
    fit,
    make_datasets,
    predict_llr,
)
from snnexport import checkpoint  # noqa: E402
from snnexport.examples.spikingrx import LIF, SpikingRx  # noqa: E402


@pytest.fixture(scope="module")
def link16():
    return OFDMLink(LinkConfig(modulation="16qam"))


@pytest.mark.parametrize("modulation,bps,channel", [("qpsk", 2, "tdl-c"), ("16qam", 4, "tdl-c"),
                                                     ("qpsk", 2, "cdl-a")])
def test_pipeline_shapes_and_bits_follow_the_grid(modulation, bps, channel):
    link = OFDMLink(LinkConfig(modulation=modulation, channel_model=channel))
    s = link.simulate(3, 10.0, seed=5)
    F, S = 72, 14
    assert s.bits.shape == (3, bps, F, S) and s.y.shape == s.h.shape == s.h_ls.shape == (3, F, S)
    # pilots on OFDM symbols 2 and 11 over all 72 subcarriers; data everywhere else
    assert s.data_mask.shape == (F, S) and int(s.data_mask.sum()) == F * (S - 2)
    assert not s.data_mask[:, [2, 11]].any() and s.data_mask[:, [0, 1, 3, 10, 12, 13]].all()
    assert set(torch.unique(s.bits).tolist()) <= {0.0, 1.0}
    assert (s.bits[:, :, ~s.data_mask] == 0).all()
    # the bit grid is the transmitted data: mapping it again gives the symbols Sionna sent
    tx_grid = link.rg_mapper(link.mapper(s.sionna["bits"]))[:, 0, 0].transpose(-1, -2)
    remapped = link.mapper(s.bits.permute(0, 2, 3, 1)[:, s.data_mask].reshape(3, -1))
    assert torch.allclose(remapped, tx_grid[:, s.data_mask])
    x = features(s)
    assert x.shape == (3, in_channels(), F, S) and torch.isfinite(x).all()


def test_channel_and_ls_estimates_are_consistent_at_high_snr(link16):
    s = link16.simulate(2, 60.0, seed=11)
    pilots = ~s.data_mask
    # Y = H X + W: at the pilot REs the LS estimate equals the true channel up to the noise
    assert torch.allclose(s.h_ls[:, pilots], s.h[:, pilots], atol=5e-3)
    for method in ("ls", "lmmse", "perfect"):
        e, n = bit_errors(link16.baseline_llr(s, method), s.bits, s.data_mask)
        assert n == 2 * 4 * 72 * 12 and e / n < 2e-3, method


def test_simulation_is_reproducible_for_a_seed(link16):
    a, b = link16.simulate(2, None, seed=3), link16.simulate(2, None, seed=3)
    c = link16.simulate(2, None, seed=4)
    assert torch.equal(a.y, b.y) and torch.equal(a.bits, b.bits) and torch.equal(a.snr_db, b.snr_db)
    assert not torch.equal(a.y, c.y)


def test_shift_subcarriers_replicates_the_edges():
    g = torch.arange(5.0).reshape(1, 5, 1)
    assert shift_subcarriers(g, 2).flatten().tolist() == [2, 3, 4, 4, 4]
    assert shift_subcarriers(g, -1).flatten().tolist() == [0, 0, 1, 2, 3]


def _tiny_cfg() -> TrainConfig:
    return TrainConfig(hidden=8, blocks=1, steps=2, train_slots=128, val_slots=32, batch_size=16,
                       gen_batch=128, link=replace(LinkConfig(), snr_db_range=(10.0, 20.0)))


def test_tiny_training_lowers_the_loss_and_is_reproducible(link16):
    """One short epoch of SNN training from scratch (tiny data), twice with the same seed."""
    torch.set_num_threads(2)
    cfg = _tiny_cfg()
    train_ds, val_ds = make_datasets(link16, cfg, seed=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(cfg, spiking=True)
        before = evaluate_dataset(model, val_ds, cfg.steps)["loss"]
        metrics = fit(model, train_ds, val_ds, lr=1e-2, epochs=1, batch_size=cfg.batch_size, seed=0,
                      steps=cfg.steps, progress=False)
        runs.append((before, metrics["val_loss"], [p.detach().clone() for p in model.parameters()]))
    (before, after, w0), (_, _, w1) = runs
    assert after < before - 0.02, (before, after)
    assert all(torch.equal(a, b) for a, b in zip(w0, w1))


def test_ann_twin_is_the_same_topology_with_relu():
    snn = SpikingRx(in_ch=26, hidden=8, blocks=2, bits_per_symbol=4)
    ann = ann_factory(in_ch=26, hidden=8, blocks=2, bits_per_symbol=4)
    assert not any(isinstance(m, LIF) for m in ann.modules())
    assert sum(isinstance(m, torch.nn.ReLU) for m in ann.modules()) == sum(isinstance(m, LIF) for m in snn.modules())
    assert snn.state_dict().keys() == ann.state_dict().keys()


def test_zoo_entry():
    assert ZOO_ENTRY.name == "spikingrx" and ZOO_ENTRY.seed == "000" and ZOO_ENTRY.framework == "torch"
    assert ZOO_ENTRY.checkpoint_path == CHECKPOINT and callable(ZOO_ENTRY.train)


@pytest.fixture(scope="module")
def shipped():
    if not CHECKPOINT.exists():
        pytest.skip("models/checkpoints/spikingrx.pt not trained yet")
    return checkpoint.load(CHECKPOINT)


def test_shipped_checkpoint_and_sample(shipped):
    info = shipped.info
    assert isinstance(shipped.model, SpikingRx)
    assert info["input_layout"] == "BT" and info["input_kind"] == "analog"
    assert info["input_shape"] == [in_channels(), 72, 14] and info["modulation"] == "16qam"
    assert CHECKPOINT.stat().st_size < 4 * 2**20
    sample = np.load(SAMPLE)
    assert sample.dtype == np.float32 and sample.shape == (info["steps"], 4, *info["input_shape"])
    with torch.no_grad():
        out = shipped.model(torch.from_numpy(sample).transpose(0, 1))
    assert out.shape == (4, 4, 72, 14) and torch.isfinite(out).all()


def test_shipped_checkpoint_beats_ls_at_high_snr(shipped):
    torch.set_num_threads(2)
    link = OFDMLink(LinkConfig.from_dict(shipped.info["link"]))
    s = link.simulate(96, 17.5, seed=777)  # fresh slots: not a training, validation or report seed
    with torch.no_grad():
        x = features(s, shipped.info["features"]["neighbours"])
        llr = predict_llr(shipped.model, x, shipped.info["steps"])
    snn_err, n = bit_errors(llr, s.bits, s.data_mask)
    ls_err, _ = bit_errors(link.baseline_llr(s, "ls"), s.bits, s.data_mask)
    assert snn_err < ls_err, (snn_err / n, ls_err / n)


def test_shipped_ann_twin_loads():
    if not ANN_CHECKPOINT.exists():
        pytest.skip("ANN twin not trained yet")
    loaded = checkpoint.load(ANN_CHECKPOINT)
    assert not any(isinstance(m, LIF) for m in loaded.model.modules()) and loaded.info["steps"] == 1


# ----- coded BLER, rate penalty, resumable fine-tuning, variants, paper-scale config -------------

def test_coded_bler_is_one_at_very_low_and_zero_at_very_high_snr():
    from models.spikingrx.evaluate import Code, bler_curve

    link = OFDMLink(LinkConfig(modulation="qpsk"))
    code = Code(link.num_data_res, 2, iterations=5)
    assert (code.n, code.k) == (72 * 12 * 2, 72 * 12)
    c = bler_curve(link, {}, [-10.0, 40.0], 6, code, chunk=6, baselines=("perfect",), progress=False)["perfect"]
    assert c["blocks"] == [6, 6] and c["bler"] == [1.0, 0.0]
    assert c["ber"][0] > 0.2 and c["ber"][1] < 1e-3  # the uncoded BER of the same LLRs


def test_grid_to_stream_inverts_the_bit_grid(link16):
    s = link16.simulate(2, 10.0, seed=9)
    assert torch.equal(link16.grid_to_stream(s.bits), s.sionna["bits"][:, 0, 0])


def test_spike_rate_probe_is_the_counted_firing_rate():
    from models.spikingrx.train import SpikeRateProbe

    torch.manual_seed(0)
    model = SpikingRx(in_ch=3, hidden=4, blocks=1, bits_per_symbol=2, beta=0.5, theta=0.5).eval()
    probe = SpikeRateProbe(model)
    spikes = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: spikes.append(o.detach())) for m in model.modules() if isinstance(m, LIF)]
    model(torch.randn(2, 3, 3, 8, 6))
    expected = sum(float(s.sum()) for s in spikes) / sum(s.numel() for s in spikes)
    assert len(spikes) == 2 and 0 < expected < 1
    assert probe.rate().item() == pytest.approx(expected)
    assert probe.rate().requires_grad  # differentiable through the surrogate
    for h in hooks:
        h.remove()


def test_interrupted_fit_resumes_to_the_same_weights(link16, tmp_path, monkeypatch):
    """A run killed mid-epoch and restarted ends bit-identical to an uninterrupted one (rate penalty on)."""
    import models.spikingrx.train as tr

    torch.set_num_threads(2)
    cfg = replace(_tiny_cfg(), train_slots=32, val_slots=16)
    train_ds, val_ds = make_datasets(link16, cfg, seed=2)
    kw = dict(lr=1e-2, epochs=2, batch_size=16, seed=0, steps=2, progress=False, rate_reg=1.0)

    def fresh():
        torch.manual_seed(0)
        return build_model(cfg, spiking=True)

    ref = fresh()
    ref_metrics = fit(ref, train_ds, val_ds, **kw)
    calls = {"n": 0}
    real_bce = tr.masked_bce

    def dying_bce(*a):
        calls["n"] += 1
        if calls["n"] == 5:  # epoch 2, batch 2: calls 1-2 train epoch 1, 3 validates, 4-5 epoch 2
            raise KeyboardInterrupt
        return real_bce(*a)

    model = fresh()
    resume = tmp_path / "run.resume.pt"
    monkeypatch.setattr(tr, "masked_bce", dying_bce)
    with pytest.raises(KeyboardInterrupt):
        fit(model, train_ds, val_ds, resume_path=resume, save_every=1, **kw)
    monkeypatch.setattr(tr, "masked_bce", real_bce)
    assert resume.exists()
    model = fresh()  # a new process starts from scratch and picks up the saved state
    metrics = fit(model, train_ds, val_ds, resume_path=resume, save_every=1, **kw)
    assert all(torch.equal(a, b) for a, b in zip(ref.state_dict().values(), model.state_dict().values()))
    assert metrics["history"] == ref_metrics["history"] and "train_rate" in metrics["history"][0]


def test_paper_scale_config_is_the_papers_architecture():
    from models.spikingrx.train import paper_config

    cfg = paper_config()
    model = build_model(cfg, spiking=True)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert cfg.hidden == 128 and cfg.blocks == 7 and cfg.steps == 2 and len(model.blocks) == 7
    assert all(c.kernel_size == (3, 3) for c in convs[:-1]) and convs[-1].kernel_size == (1, 1)
    assert cfg.link.min_speed == 1.0 and cfg.link.max_speed == 30.0  # 3.6-108 km/h
    n = sum(p.numel() for p in model.parameters())
    assert 4 * n < 20 * 2**20  # a float32 checkpoint stays under 20 MB


# One per family (T=1, T=2 with a rate penalty, K=1 features, 8-bit QAT) keeps the suite short; all
# of them were verified with the CLI (models/results/spikingrx_variants_verify.txt).
@pytest.mark.slow
@pytest.mark.parametrize("name", ["spikingrx_t1", "spikingrx_t2_r2_lr2", "spikingrx_k1_t2", "spikingrx_t2_qat8",
                                  "spikingrx_qat8"])
def test_shipped_variant_verifies_identical(name):
    from models.spikingrx.train import sample_for
    from snnexport.inputs import make_input
    from snnexport.sources import convert_model
    from snnexport.verification import run_verify

    path = CHECKPOINT.with_name(f"{name}.pt")
    if not path.exists():
        pytest.skip(f"{path.name} not shipped")
    loaded = checkpoint.load(path)
    assert path.stat().st_size < 2 * 2**20
    graph = convert_model(loaded)
    x = make_input(graph, path=str(sample_for(path)))[:, :2]
    assert x.shape[0] == loaded.info["steps"]
    rep = run_verify(graph, x, torch.float64, ["source", "reference", "snntorch", "norse", "onnxruntime"], source=loaded)
    for r in rep.participants:
        assert r.identical and r.mismatches == 0 and r.error is None, (name, r)


# The paper-scale model (train.paper_config), its ANN twin and the fine-tuned frontier points shipped
# (models/spikingrx/README.md, "Paper-scale SpikingRx"); one sample keeps the slow run short.
PAPER_SHIPPED = ["spikingrx_paper", "spikingrx_paper_r1c", "spikingrx_paper_r2b"]


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_SHIPPED)
def test_shipped_paper_scale_checkpoint_verifies_identical(name):
    from models.spikingrx.train import sample_for
    from snnexport.inputs import make_input
    from snnexport.sources import convert_model
    from snnexport.verification import run_verify

    path = CHECKPOINT.with_name(f"{name}.pt")
    loaded = checkpoint.load(path)
    assert path.stat().st_size < 20 * 2**20 and CHECKPOINT.with_name("spikingrx_paper_ann.pt").exists()
    assert loaded.kwargs["hidden"] == 128 and loaded.kwargs["blocks"] == 7
    graph = convert_model(loaded)
    x = make_input(graph, path=str(sample_for(path)))[:, :1]
    rep = run_verify(graph, x, torch.float64, ["source", "reference", "snntorch", "norse", "onnxruntime"], source=loaded)
    for r in rep.participants:
        assert r.identical and r.mismatches == 0 and r.error is None, (name, r)


# ----- 8-bit quantization-aware fine-tuning (models/spikingrx/qat.py) -------------------------------

def _tiny_bn_model():
    torch.manual_seed(3)
    model = SpikingRx(in_ch=3, hidden=6, blocks=2, bits_per_symbol=2, beta=0.5, theta=0.5)
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # non-trivial statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def test_fold_batchnorm_gives_the_same_currents():
    from models.spikingrx.qat import fold_batchnorm

    model = _tiny_bn_model()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(2, 3, 3, 8, 6)
    with torch.no_grad():
        assert torch.allclose(model.stem_norm(model.stem(x)), folded.stem(x), atol=1e-5)
        h = model.stem_lif(model.stem_norm(model.stem(x)))
        b, fb = model.blocks[0], folded.blocks[0]
        assert torch.allclose(b.norm(b.conv_block(h)), fb.conv_block(h), atol=1e-5)


def test_qat_trains_through_the_fake_quantizer_and_snaps_onto_the_grid():
    from models.spikingrx.qat import attach_fake_quant, fold_batchnorm, grid_integers, snap, weight_layers

    model = attach_fake_quant(fold_batchnorm(_tiny_bn_model()), 8)
    x = torch.randn(2, 3, 3, 8, 6)
    before = {n: m.parametrizations.weight.original.detach().clone() for n, m in weight_layers(model).items()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(x).square().mean().backward()  # the straight-through gradient reaches the float weights
    opt.step()
    assert all(not torch.equal(before[n], m.parametrizations.weight.original) for n, m in weight_layers(model).items())
    with torch.no_grad():
        fake = model(x)
    scales = snap(model, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), fake, atol=1e-5)  # the snapped model is the one trained
    assert set(scales) == {"stem.conv", "blocks.0.conv_block.conv", "blocks.1.conv_block.conv", "head.conv"}
    for n, m in weight_layers(model).items():
        k = grid_integers(m.weight, scales[n])
        assert torch.equal(k * torch.tensor(scales[n]), m.weight), n  # exactly k * scale in float32
        assert k.abs().max() == 127 and len(torch.unique(k)) > min(20, k.numel() // 2), n  # not a few levels


def test_qat_grid_is_the_loihi_quantizers_grid():
    """On a snapped layer, snnexport's Loihi 2 weight quantizer (W_eff = W * (1 - beta)) returns exactly 2k."""
    from models.spikingrx.qat import fold_batchnorm, grid_integers, snap, weight_layers
    from snnexport.hardware.loihi_quant import _lava_dense_weights

    model = fold_batchnorm(_tiny_bn_model())
    scales = snap(model, 8)
    for n, m in weight_layers(model).items():
        w_eff = m.weight.detach().double().numpy() * (1 - 0.5)
        wq = _lava_dense_weights(w_eff, float(np.abs(w_eff).max()))
        assert np.array_equal(wq, 2 * grid_integers(m.weight, scales[n]).double().numpy()), n


QAT_SHIPPED = ["spikingrx_t2_qat8", "spikingrx_qat8"]


@pytest.mark.parametrize("name", QAT_SHIPPED)
def test_shipped_qat_checkpoint_weights_are_8bit(name):
    from models.spikingrx.qat import FOLDED_ARCH, grid_integers, weight_layers

    path = CHECKPOINT.with_name(f"{name}.pt")
    if not path.exists():
        pytest.skip(f"{path.name} not shipped")
    assert path.stat().st_size < 2**20
    loaded = checkpoint.load(path)
    q = loaded.info["qat"]
    assert q["bits"] == 8 and q["qmax"] == 127 and loaded.info["train"]["qat_bits"] == 8
    layers = weight_layers(loaded.model)
    assert set(q["scales"]) == set(layers) and len(layers) == 5
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.model.modules())
    assert torch.load(path, weights_only=True)["arch"] == FOLDED_ARCH
    for n, m in layers.items():
        w = m.weight.detach()
        k = grid_integers(w, q["scales"][n])
        assert torch.equal(k * torch.tensor(q["scales"][n], dtype=w.dtype), w), n
        assert k.abs().max() <= 127, n


def test_loihi2_quantizer_refuses_spikingrx_at_its_analog_input():
    """Why no chip-exact run: the graph's analog input (then its Conv2d stem) is outside the Loihi 2 quantizer."""
    from snnexport.errors import SnnexportError
    from snnexport.hardware.quantize import quantize
    from snnexport.sources import convert_model

    path = CHECKPOINT.with_name("spikingrx_t2_qat8.pt")
    if not path.exists():
        pytest.skip(f"{path.name} not shipped")
    graph = convert_model(checkpoint.load(path))
    with pytest.raises(SnnexportError, match="1-bit spike input; this graph's input is analog"):
        quantize(graph, "loihi2")


def test_frontier_carries_the_8bit_rows_and_names_only_a_shipped_best():
    from models.spikingrx.frontier import best, points

    rows = points()
    by = {r["name"]: r for r in rows}
    if "spikingrx_t2_qat8" not in by:
        pytest.skip("no 8-bit BLER/energy results")
    assert by["spikingrx_t2_qat8"]["weights"] == "int8 QAT" and by["spikingrx_t2"]["weights"] == "fp32"
    assert by["spikingrx_t2_qat8"]["ratio_papers_int8"] > by["spikingrx_t2_qat8"]["ratio_papers"]  # ACs cheaper at int8
    ptq = {**by["spikingrx_t2_qat8"], "name": "x_ptq8", "weights": "int8 PTQ", "gap_db": 0.0, "ratio_papers": 99.0}
    assert best(rows + [ptq])["name"] != "x_ptq8" and CHECKPOINT.with_name(best(rows)["name"] + ".pt").exists()
