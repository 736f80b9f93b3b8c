"""Training of SpikingRx (and its ANN twin) on Sionna-generated slots.

Loss: binary cross-entropy with logits between the network's LLRs ``L`` [B, bps, F, S] and
the transmitted coded bits ``b``, averaged over data resource elements only (pilot REs carry
no bits and are masked out)::

    loss = - mean_{data REs, bits} [ b log sigmoid(L) + (1 - b) log sigmoid(-L) ]

so ``L`` is trained to be ``log P(b=1 | Y) / P(b=0 | Y)``, Sionna's LLR convention.

Run ``python -m models.spikingrx.train`` (see ``--help``); the zoo calls :func:`train`.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from snnexport import checkpoint
from snnexport.examples.spikingrx import LIF, SpikingRx, repeat_over_time

from .ann import ann_factory
from .data import MODULATIONS, NEIGHBOURS, LinkConfig, OFDMLink, bit_errors, features, in_channels

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "spikingrx.pt"
ANN_CHECKPOINT = ROOT / "checkpoints" / "spikingrx_ann.pt"
SAMPLE = ROOT / "checkpoints" / "spikingrx_sample.npy"
RESULTS = ROOT / "results"
SNN_ARCH = "snnexport.examples.spikingrx:spikingrx_factory"
ANN_ARCH = "models.spikingrx.ann:ann_factory"

# Data seeds are offset per split so that training, validation and evaluation slots never
# coincide for the same user seed.
VAL_SEED_OFFSET = 1_000_003
SAMPLE_SEED = 424242
SPOT_SEED = 31_337
SPOT_SNRS = (10.0, 20.0)
DEFAULT_EPOCHS = 4


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults train in about 10 minutes on 2 CPU cores."""

    hidden: int = 32
    blocks: int = 3
    steps: int = 4                 # T; T=2 is 0.1-0.4 dB further from the ANN twin (results/spikingrx_t2_ber.md)
    beta: float = 0.5              # LIF leak: U = beta U + (1 - beta) I
    theta: float = 0.5             # LIF threshold
    train_slots: int = 16384
    val_slots: int = 512
    batch_size: int = 32
    lr: float = 3e-3               # ANN pre-training
    finetune_lr: float = 1e-3      # SNN (and ANN twin) fine-tuning
    gen_batch: int = 256           # slots per Sionna call when building the data sets
    neighbours: int = NEIGHBOURS   # K of data.features
    rate_reg: float = 0.0          # firing-rate penalty of the SNN fine-tuning (fit's rate_reg)
    link: LinkConfig = field(default_factory=LinkConfig)

    def model_kwargs(self, spiking: bool = True) -> Dict[str, Any]:
        kw = dict(in_ch=self.in_channels, hidden=self.hidden, blocks=self.blocks,
                  bits_per_symbol=self.link.bits_per_symbol)
        if spiking:
            kw.update(beta=self.beta, theta=self.theta)
        return kw

    @property
    def in_channels(self) -> int:
        return in_channels(self.neighbours)


# ----- data sets ------------------------------------------------------------------------------

@dataclass
class Dataset:
    """Pre-generated slots: ``x`` [N, C_in, F, S] float32, ``bits`` [N, bps, F, S] uint8."""

    x: torch.Tensor
    bits: torch.Tensor
    data_mask: torch.Tensor
    snr_db: torch.Tensor

    def __len__(self) -> int:
        return self.x.shape[0]


def make_dataset(link: OFDMLink, num_slots: int, seed: int, gen_batch: int = 256,
                 snr_db: Optional[float] = None, neighbours: int = NEIGHBOURS) -> Dataset:
    """Simulate ``num_slots`` slots in chunks; chunk ``k`` uses Sionna seed ``seed * 7919 + k``.

    The multiplier keeps the chunk seeds of neighbouring user seeds apart. Memory: C_in x 1008
    float32 per slot (105 kB at C_in = 26; 1.7 GB for the default 16384 slots).
    """
    xs, bits, snrs = [], [], []
    for k, start in enumerate(range(0, num_slots, gen_batch)):
        n = min(gen_batch, num_slots - start)
        slots = link.simulate(n, snr_db, seed=seed * 7919 + k)
        xs.append(features(slots, neighbours))
        bits.append(slots.bits.to(torch.uint8))
        snrs.append(slots.snr_db)
    return Dataset(torch.cat(xs), torch.cat(bits), link.data_mask, torch.cat(snrs))


def make_datasets(link: OFDMLink, cfg: TrainConfig, seed: int) -> Tuple[Dataset, Dataset]:
    """(train, validation) slots for ``seed``; SNR uniform over ``cfg.link.snr_db_range``."""
    return (make_dataset(link, cfg.train_slots, seed, cfg.gen_batch, neighbours=cfg.neighbours),
            make_dataset(link, cfg.val_slots, seed + VAL_SEED_OFFSET, cfg.gen_batch, neighbours=cfg.neighbours))


# ----- models ------------------------------------------------------------------------------

def build_model(cfg: TrainConfig, spiking: bool = True) -> nn.Module:
    if spiking:
        return SpikingRx(**cfg.model_kwargs(spiking=True))
    return ann_factory(**cfg.model_kwargs(spiking=False))


def model_steps(cfg: TrainConfig, spiking: bool) -> int:
    """T for the SNN; 1 for the ANN twin (ReLU is stateless, T copies average to one)."""
    return cfg.steps if spiking else 1


def predict_llr(model: nn.Module, x: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, C_in, F, S] -> repeat over T -> [B, T, C_in, F, S] -> LLRs [B, bps, F, S]."""
    return model(repeat_over_time(x, steps))


def masked_bce(llr: torch.Tensor, bits: torch.Tensor, data_mask: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits averaged over data REs only (see module docstring)."""
    mask = data_mask.expand_as(llr).to(llr.dtype)
    loss = F.binary_cross_entropy_with_logits(llr, bits.to(llr.dtype), reduction="none")
    return (loss * mask).sum() / mask.sum()


@torch.no_grad()
def evaluate_dataset(model: nn.Module, ds: Dataset, steps: int, batch_size: int = 128) -> Dict[str, float]:
    """Mean masked BCE and BER of ``model`` on ``ds`` (eval mode)."""
    model.eval()
    errors = total = 0
    loss_sum = 0.0
    for i in range(0, len(ds), batch_size):
        x, b = ds.x[i:i + batch_size], ds.bits[i:i + batch_size].float()
        llr = predict_llr(model, x, steps)
        loss_sum += float(masked_bce(llr, b, ds.data_mask)) * x.shape[0]
        e, n = bit_errors(llr, b, ds.data_mask)
        errors, total = errors + e, total + n
    return {"loss": loss_sum / len(ds), "ber": errors / total}


# ----- training loop ---------------------------------------------------------------------------

class SpikeRateProbe:
    """Forward hooks on every LIF of a model: the mean firing rate of the last forward pass.

    ``rate()`` is ``sum_l spikes_l / sum_l neuron_steps_l`` over all LIF layers ``l``, the
    same firing rate ``snnexport report`` counts, kept differentiable through the surrogate.
    """

    def __init__(self, model: nn.Module):
        self.outputs = []
        self.handles = [m.register_forward_hook(lambda _m, _i, out: self.outputs.append(out))
                        for m in model.modules() if isinstance(m, LIF)]

    def rate(self) -> torch.Tensor:
        total = sum(o.sum() for o in self.outputs)
        return total / sum(o.numel() for o in self.outputs)

    def clear(self) -> None:
        self.outputs = []

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def fit(model: nn.Module, train_ds: Dataset, val_ds: Dataset, *, lr: float, epochs: int, batch_size: int,
        seed: int, steps: int, progress: bool = True, label: str = "spikingrx", rate_reg: float = 0.0,
        resume_path: Optional[Path] = None, save_every: int = 25) -> Dict[str, Any]:
    """Adam, cosine learning-rate decay to 0 over all batches; prints and returns per-epoch metrics.

    ``rate_reg`` > 0 adds ``rate_reg * firing_rate`` to the loss (:class:`SpikeRateProbe`):
    fewer spikes, fewer synaptic events. ``resume_path``: every ``save_every`` batches the
    whole training state (weights, optimiser, schedule, batch-order generator, position,
    history, elapsed wall and CPU time) is written there atomically; a later call with the
    same arguments continues from it, bit for bit as if never interrupted.
    """
    gen = torch.Generator().manual_seed(seed)  # batch order: independent of everything else
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batches_per_epoch = math.ceil(len(train_ds) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * batches_per_epoch))
    probe = SpikeRateProbe(model) if rate_reg else None
    history = []
    start_epoch, start_batch, running, rate_run = 1, 0, 0.0, 0.0
    wall0, cpu0 = 0.0, 0.0
    if resume_path is not None and Path(resume_path).exists():
        st = torch.load(resume_path, weights_only=False)  # our own file, written below
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        gen.set_state(st["gen"])
        start_epoch, start_batch, history = st["epoch"], st["batch"], st["history"]
        running, rate_run, wall0, cpu0 = st["running"], st["rate_run"], st["wall"], st["cpu"]
        print(f"[{label}] resumed at epoch {start_epoch}, batch {start_batch}", flush=True)
    t0, c0 = time.time(), time.process_time()

    def save_state(epoch: int, batch: int, gen_state: torch.Tensor) -> None:
        from snnexport.atomic import atomic_path

        st = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "gen": gen_state,
              "epoch": epoch, "batch": batch, "history": history, "running": running, "rate_run": rate_run,
              "wall": wall0 + time.time() - t0, "cpu": cpu0 + time.process_time() - c0}
        with atomic_path(Path(resume_path), suffix=".pt") as tmp:
            torch.save(st, tmp)

    for epoch in range(start_epoch, epochs + 1):
        model.train()
        gen_state = gen.get_state()  # the state this epoch's permutation is drawn from (resume)
        order = torch.randperm(len(train_ds), generator=gen)
        first = start_batch if epoch == start_epoch else 0
        bar = tqdm(range(first, batches_per_epoch), desc=f"{label} epoch {epoch}/{epochs}", disable=not progress,
                   leave=False, dynamic_ncols=True)
        for i in bar:
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss = masked_bce(predict_llr(model, train_ds.x[idx], steps), train_ds.bits[idx], train_ds.data_mask)
            if probe is not None:
                rate = probe.rate()
                probe.clear()
                rate_run = 0.98 * rate_run + 0.02 * rate.item() if i else rate.item()
                loss = loss + rate_reg * rate
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = 0.98 * running + 0.02 * loss.item() if i else loss.item()  # smoothed for display
            bar.set_postfix(loss=f"{running:.4f}", **({"rate": f"{rate_run:.3f}"} if probe else {}))
            if resume_path is not None and (i + 1) % save_every == 0 and i + 1 < batches_per_epoch:
                save_state(epoch, i + 1, gen_state)
        if probe is not None:
            probe.clear()
        val = evaluate_dataset(model, val_ds, steps)
        if probe is not None:
            probe.clear()
        history.append({"epoch": epoch, "train_loss": round(running, 5), "val_loss": round(val["loss"], 5),
                        "val_ber": val["ber"], **({"train_rate": round(rate_run, 5)} if probe else {})})
        print(f"[{label}] epoch {epoch}/{epochs}: train_loss={running:.4f} val_loss={val['loss']:.4f} "
              f"val_ber={val['ber']:.5f}" + (f" rate={rate_run:.4f}" if probe else ""), flush=True)
        if resume_path is not None:
            save_state(epoch + 1, 0, gen.get_state())
    if probe is not None:
        probe.remove()
    model.eval()
    return {"val_ber": history[-1]["val_ber"] if history else None,
            "val_loss": history[-1]["val_loss"] if history else None,
            "train_seconds": round(wall0 + time.time() - t0, 1),
            "train_cpu_seconds": round(cpu0 + time.process_time() - c0, 1), "history": history}


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def train_receivers(cfg: TrainConfig, epochs: int, seed: int, progress: bool = True,
                    link: Optional[OFDMLink] = None, data: Optional[Tuple[Dataset, Dataset]] = None
                    ) -> Tuple[nn.Module, Dict[str, Any], nn.Module, Dict[str, Any]]:
    """Train SpikingRx and its ANN twin on the same slots. -> (snn, snn_metrics, ann, ann_metrics).

    1. pre-train the ANN twin (ReLU) for ``epochs`` at ``cfg.lr`` (ten times cheaper per
       epoch than the SNN, which has to loop over T steps of LIF state);
    2. SpikingRx starts from those weights (same parameter names: only the neuron differs)
       and is fine-tuned for ``epochs`` at ``cfg.finetune_lr`` with the surrogate gradient;
    3. the ANN twin is fine-tuned with the same recipe, so both saw the same data for the
       same number of epochs.

    Starting the SNN from the ANN (hybrid conversion + surrogate fine-tuning) reached a lower
    BER in the same CPU time than training it from scratch.
    """
    link = link or OFDMLink(cfg.link)
    train_ds, val_ds = data or make_datasets(link, cfg, seed)
    seed_everything(seed)  # after Sionna, which re-seeds torch's default generator
    pre = build_model(cfg, spiking=False)
    pre_metrics = fit(pre, train_ds, val_ds, lr=cfg.lr, epochs=epochs, batch_size=cfg.batch_size, seed=seed,
                      steps=1, progress=progress, label="ann pre-train")

    snn = build_model(cfg, spiking=True)
    snn.load_state_dict(pre.state_dict())
    snn_metrics = fit(snn, train_ds, val_ds, lr=cfg.finetune_lr, epochs=epochs, batch_size=cfg.batch_size,
                      seed=seed + 1, steps=cfg.steps, progress=progress, label="spikingrx", rate_reg=cfg.rate_reg)
    ann_metrics = fit(pre, train_ds, val_ds, lr=cfg.finetune_lr, epochs=epochs, batch_size=cfg.batch_size,
                      seed=seed + 1, steps=1, progress=progress, label="ann twin")
    for m in (snn_metrics, ann_metrics):
        m["pretrain_seconds"] = pre_metrics["train_seconds"]
        m["pretrain_history"] = pre_metrics["history"]
    return snn, snn_metrics, pre, ann_metrics


def save_receiver(model: nn.Module, cfg: TrainConfig, out_path: Path, spiking: bool, metrics: Dict[str, Any],
                  seed: int, epochs: int) -> Path:
    """Write the checkpoint with everything needed to rebuild, re-verify and re-evaluate it."""
    return checkpoint.save(
        model, out_path,
        arch=SNN_ARCH if spiking else ANN_ARCH,
        kwargs=cfg.model_kwargs(spiking),
        input_layout="BT",
        input_kind="analog",
        input_shape=[cfg.in_channels, *cfg.link.grid_hw],
        steps=model_steps(cfg, spiking),
        modulation=cfg.link.modulation,
        link=cfg.link.to_dict(),
        features={"function": "models.spikingrx.data:features", "neighbours": cfg.neighbours},
        train={"seed": seed, "epochs_pretrain_ann": epochs, "epochs_finetune": epochs,
               "train_slots": cfg.train_slots, "val_slots": cfg.val_slots, "batch_size": cfg.batch_size,
               "lr": cfg.lr, "finetune_lr": cfg.finetune_lr, "rate_reg": cfg.rate_reg},
        metrics={k: v for k, v in metrics.items() if not k.endswith("history")},
        history={"pretrain_ann": metrics.get("pretrain_history", []), "finetune": metrics.get("history", [])},
    )


def write_sample(link: OFDMLink, cfg: TrainConfig, path: Path = SAMPLE, batch: int = 4,
                 snr_db: float = 15.0) -> Path:
    """Time-major float32 [T, B, C_in, F, S] input of real received grids (``verify --input``)."""
    slots = link.simulate(batch, snr_db, seed=SAMPLE_SEED)
    x = repeat_over_time(features(slots, cfg.neighbours), cfg.steps)  # [B, T, C, F, S]
    arr = x.transpose(0, 1).contiguous().numpy().astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return path


@torch.no_grad()
def spot_check(link: OFDMLink, snn: nn.Module, ann: nn.Module, cfg: TrainConfig, slots: int = 64
               ) -> Dict[str, float]:
    """BER of SpikingRx, the ANN twin and LS at a few SNRs on fresh slots (recorded in the checkpoint)."""
    out = {}
    for snr in SPOT_SNRS:
        s = link.simulate(slots, snr, seed=SPOT_SEED + int(snr))
        x = features(s, cfg.neighbours)
        for name, llr in (("spikingrx", predict_llr(snn, x, cfg.steps)), ("ann", predict_llr(ann, x, 1)),
                          ("ls", link.baseline_llr(s, "ls"))):
            errors, total = bit_errors(llr, s.bits, s.data_mask)
            out[f"ber_{name}_{snr:g}db"] = errors / total
    return out


def train(epochs: int = DEFAULT_EPOCHS, seed: int = 0, out_path: str | Path = CHECKPOINT, progress: bool = True,
          cfg: Optional[TrainConfig] = None) -> Dict[str, Any]:
    """Zoo entry point: train SpikingRx and its ANN twin on the same slots, write both checkpoints.

    Writes ``out_path`` (SNN), ``<stem>_ann.pt`` (ANN twin) and ``<stem>_sample.npy`` (sample
    input) side by side. Returns the SNN's metrics (``val_ber`` is the zoo metric).
    """
    torch.set_num_threads(2)
    cfg = cfg or TrainConfig()
    out_path = Path(out_path)
    t0 = time.time()
    link = OFDMLink(cfg.link)
    data = make_datasets(link, cfg, seed)
    data_seconds = round(time.time() - t0, 1)
    snn, metrics, ann, ann_metrics = train_receivers(cfg, epochs, seed, progress, link, data)
    metrics["data_seconds"] = ann_metrics["data_seconds"] = data_seconds
    spot = spot_check(link, snn, ann, cfg)
    metrics.update(spot)
    ann_metrics.update(spot)
    print("spot check (fresh slots): " + ", ".join(f"{k}={v:.2e}" for k, v in spot.items()), flush=True)
    save_receiver(snn, cfg, out_path, True, metrics, seed, epochs)
    save_receiver(ann, cfg, out_path.with_name(out_path.stem + "_ann.pt"), False, ann_metrics, seed, epochs)
    write_sample(link, cfg, out_path.with_name(out_path.stem + "_sample.npy"))
    metrics["ann_val_ber"] = ann_metrics["val_ber"]
    metrics["ann_finetune_seconds"] = ann_metrics["train_seconds"]
    metrics["checkpoint_bytes"] = out_path.stat().st_size
    metrics["total_seconds"] = round(time.time() - t0, 1)
    if out_path.resolve().parent == CHECKPOINT.parent:  # the zoo's own checkpoints: keep the record
        write_record(out_path, epochs, seed, metrics)
    return metrics


# ----- variants: fine-tuned from a shipped checkpoint (fewer steps, fewer spikes) -------------

RUNS = ROOT.parent / "out" / "spikingrx_runs"  # resume states and logs (git-ignored)
FINETUNE_SEED_OFFSET = 2_000_029               # fine-tuning slots differ from the original training slots


def config_from_checkpoint(path: Path, steps: Optional[int] = None) -> TrainConfig:
    """The TrainConfig a checkpoint was trained with (architecture, link, features), T overridable."""
    info = checkpoint.load(path).info
    kw = checkpoint.load(path).kwargs
    return TrainConfig(hidden=kw["hidden"], blocks=kw["blocks"], steps=int(steps or info["steps"]),
                       beta=kw.get("beta", TrainConfig.beta), theta=kw.get("theta", TrainConfig.theta),
                       neighbours=int(info["features"]["neighbours"]), link=LinkConfig.from_dict(info["link"]))


def finetune(init: Path, out_path: Path, steps: Optional[int] = None, rate_reg: float = 0.0, epochs: int = 1,
             train_slots: int = 4096, lr: float = 3e-4, seed: int = 0, progress: bool = True,
             resume: bool = True, qat_bits: Optional[int] = None, threads: int = 2, spiking: bool = True
             ) -> Dict[str, Any]:
    """Fine-tune the SNN checkpoint ``init`` with T = ``steps`` and a firing-rate penalty ``rate_reg``.

    Writes ``out_path`` (same architecture, the new T in its info). Resumable: the training
    state is kept in ``out/spikingrx_runs/<stem>.resume.pt`` (see :func:`fit`); the data set is
    regenerated from its seed, so a restarted run continues on the same slots.

    ``qat_bits``: quantization-aware fine-tuning (:mod:`.qat`): BatchNorm folded into the convs,
    weights fake-quantized on the chip's per-layer grid, snapped onto it at the end and saved
    with arch ``qat.FOLDED_ARCH``; ``epochs=0`` with ``qat_bits`` is post-training quantization.

    ``spiking=False``: ``init`` is an ANN twin, fine-tuned the same way (T = 1, no rate penalty),
    so that a twin can get the same extra training as the SNN it is compared with.
    """
    from . import qat

    torch.set_num_threads(threads)
    init, out_path = Path(init), Path(out_path)
    cfg = config_from_checkpoint(init, steps if spiking else TrainConfig.steps)
    cfg = replace(cfg, train_slots=train_slots, finetune_lr=lr)
    t0, c0 = time.time(), time.process_time()
    link = OFDMLink(cfg.link)
    data_seed = seed + FINETUNE_SEED_OFFSET
    train_ds, val_ds = make_datasets(link, cfg, data_seed)
    data_seconds = round(time.time() - t0, 1)
    seed_everything(seed)
    model = build_model(cfg, spiking=spiking)
    model.load_state_dict(checkpoint.load(init).model.state_dict())
    if qat_bits:
        model = qat.attach_fake_quant(qat.fold_batchnorm(model.eval()), qat_bits)
    RUNS.mkdir(parents=True, exist_ok=True)
    resume_path = RUNS / f"{out_path.stem}.resume.pt" if resume else None
    metrics = fit(model, train_ds, val_ds, lr=lr, epochs=epochs, batch_size=cfg.batch_size, seed=seed + 1,
                  steps=model_steps(cfg, spiking), progress=progress, label=out_path.stem, rate_reg=rate_reg,
                  resume_path=resume_path)
    metrics["data_seconds"] = data_seconds
    extra: Dict[str, Any] = {}
    if qat_bits:
        scales = qat.snap(model, qat_bits)
        metrics.update({f"snapped_{k}": v for k, v in evaluate_dataset(model, val_ds, cfg.steps).items()})
        extra["qat"] = {"bits": qat_bits, "qmax": qat.qmax(qat_bits), "scheme": qat.SCHEME, "chip": "loihi2",
                        "scales": scales, "batchnorm": "folded into the convs (eval statistics)",
                        "method": "straight-through fake quantization" if epochs else "post-training (no fine-tuning)"}
    checkpoint.save(
        model, out_path, arch=qat.FOLDED_ARCH if qat_bits else SNN_ARCH if spiking else ANN_ARCH,
        kwargs=cfg.model_kwargs(spiking), input_layout="BT", input_kind="analog",
        input_shape=[cfg.in_channels, *cfg.link.grid_hw], steps=model_steps(cfg, spiking), modulation=cfg.link.modulation,
        link=cfg.link.to_dict(), features={"function": "models.spikingrx.data:features", "neighbours": cfg.neighbours},
        train={"init": _rel(init), "seed": seed, "data_seed": data_seed, "epochs_finetune": epochs,
               "train_slots": train_slots, "val_slots": cfg.val_slots, "batch_size": cfg.batch_size,
               "finetune_lr": lr, "rate_reg": rate_reg, "qat_bits": qat_bits},
        metrics={k: v for k, v in metrics.items() if not k.endswith("history")},
        history={"finetune": metrics.get("history", [])},
        **extra,
    )
    if resume_path is not None:
        resume_path.unlink(missing_ok=True)  # finished: a later run of the same name starts afresh
    metrics["total_seconds"] = round(time.time() - t0, 1)
    metrics["total_cpu_seconds"] = round(time.process_time() - c0, 1)
    metrics["checkpoint_bytes"] = out_path.stat().st_size
    return metrics


# ----- the paper-scale model (arXiv 2409.05610): same code path, resumable -------------------

def paper_config(modulation: str = "16qam", steps: int = 2) -> TrainConfig:
    """SpikingRx at the paper's scale: 128 filters, 3x3 convs, 7 SEW blocks, 1x1 LLR readout on the time mean.

    T = 2 (the paper's energy point), UE speeds 1-30 m/s (3.6-108 km/h) on TDL-C; our 26 input
    features (data.features) instead of the paper's raw grid, so that the receiver is the
    same code path as the small model.
    """
    link = replace(LinkConfig(), modulation=modulation, min_speed=1.0, max_speed=30.0)
    return TrainConfig(hidden=128, blocks=7, steps=steps, link=link)


def train_resumable(cfg: TrainConfig, epochs: int, seed: int, out_path: Path, progress: bool = True,
                    run_dir: Optional[Path] = None) -> Dict[str, Any]:
    """The three phases of :func:`train_receivers`, each resumable, for long runs (the paper-scale model).

    Phase states live in ``run_dir`` (``out/spikingrx_runs/<stem>/``): ``<phase>.resume.pt``
    while a phase runs (every 25 batches), ``<phase>.done.pt`` (weights + metrics) once it
    finished. Starting the same command again skips finished phases and continues the
    running one; the data set is regenerated from its seed, bit-identical.
    """
    torch.set_num_threads(2)
    out_path = Path(out_path)
    run_dir = Path(run_dir or RUNS / out_path.stem)
    run_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    link = OFDMLink(cfg.link)
    train_ds, val_ds = make_datasets(link, cfg, seed)
    seed_everything(seed)
    ann, snn = build_model(cfg, spiking=False), build_model(cfg, spiking=True)

    def phase(name: str, model: nn.Module, init: Optional[nn.Module], **kw) -> Dict[str, Any]:
        done = run_dir / f"{name}.done.pt"
        if done.exists():
            st = torch.load(done, weights_only=False)  # our own file
            model.load_state_dict(st["model"])
            print(f"[{name}] done earlier", flush=True)
            return st["metrics"]
        if init is not None:
            model.load_state_dict(init.state_dict())
        m = fit(model, train_ds, val_ds, epochs=epochs, batch_size=cfg.batch_size, progress=progress, label=name,
                resume_path=run_dir / f"{name}.resume.pt", **kw)
        from snnexport.atomic import atomic_path

        with atomic_path(done, suffix=".pt") as tmp:
            torch.save({"model": model.state_dict(), "metrics": m}, tmp)
        (run_dir / f"{name}.resume.pt").unlink(missing_ok=True)
        return m

    pre = phase("ann_pretrain", ann, None, lr=cfg.lr, seed=seed, steps=1)
    snn_m = phase("snn_finetune", snn, ann, lr=cfg.finetune_lr, seed=seed + 1, steps=cfg.steps)
    ann_m = phase("ann_finetune", ann, None, lr=cfg.finetune_lr, seed=seed + 1, steps=1)
    for m in (snn_m, ann_m):
        m["pretrain_seconds"] = pre["train_seconds"]
        m["pretrain_history"] = pre["history"]
    save_receiver(snn, cfg, out_path, True, snn_m, seed, epochs)
    save_receiver(ann, cfg, out_path.with_name(out_path.stem + "_ann.pt"), False, ann_m, seed, epochs)
    snn_m["total_seconds"] = round(time.time() - t0, 1)
    return snn_m


def seconds_per_iteration(cfg: TrainConfig, iterations: int = 3, batch_size: Optional[int] = None) -> Dict[str, float]:
    """Measured wall and CPU seconds of one training batch (forward + backward + Adam) of the ANN and the SNN."""
    torch.set_num_threads(2)
    b = batch_size or cfg.batch_size
    x = torch.randn(b, cfg.in_channels, *cfg.link.grid_hw)
    bits = torch.randint(0, 2, (b, cfg.link.bits_per_symbol, *cfg.link.grid_hw)).float()
    mask = torch.ones(cfg.link.grid_hw, dtype=torch.bool)
    out = {"batch_size": b, "parameters": sum(p.numel() for p in build_model(cfg, True).parameters())}
    for spiking in (False, True):
        model = build_model(cfg, spiking)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        steps = model_steps(cfg, spiking)
        walls, cpus = [], []
        for i in range(iterations + 1):  # the first is warm-up
            t, c = time.time(), time.process_time()
            loss = masked_bce(predict_llr(model, x, steps), bits, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if i:
                walls.append(time.time() - t)
                cpus.append(time.process_time() - c)
        key = "snn" if spiking else "ann"
        out[f"{key}_wall_s"] = round(min(walls), 3)
        out[f"{key}_cpu_s"] = round(min(cpus), 3)
    return out


def sample_for_steps(steps: int) -> Path:
    """The shipped sample input with T = ``steps`` (the same 4 grids; ``verify --input``)."""
    if steps == TrainConfig.steps:
        return SAMPLE
    path = SAMPLE.with_name(f"spikingrx_t{steps}_sample.npy")
    if not path.exists():
        x = np.load(SAMPLE)  # [4, B, C, F, S], the same grid at every step
        np.save(path, np.ascontiguousarray(np.broadcast_to(x[:1], (steps, *x.shape[1:]))))
    return path


def sample_for(checkpoint_path: Path) -> Path:
    """The sample input of any SpikingRx checkpoint: the same 4 grids at 15 dB (``write_sample``),
    with the checkpoint's features (K neighbours) and T steps; generated once if missing."""
    info = checkpoint.load(checkpoint_path, trust_arch=True).info
    steps, k = int(info["steps"]), int(info["features"]["neighbours"])
    if k == NEIGHBOURS:
        return sample_for_steps(steps)
    path = SAMPLE.with_name(f"spikingrx_k{k}_t{steps}_sample.npy")
    if not path.exists():
        cfg = TrainConfig(steps=steps, neighbours=k, link=LinkConfig.from_dict(info["link"]))
        write_sample(OFDMLink(cfg.link), cfg, path)
    return path


def _rel(path: Path) -> str:
    path, root = Path(path).resolve(), ROOT.parent
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def write_record(out_path: Path, epochs: int, seed: int, metrics: Dict[str, Any]) -> Path:
    """models/results/<stem>.json: how the shipped checkpoints were trained, like the other zoo models."""
    loaded = checkpoint.load(out_path)
    info = loaded.info
    record = {
        "model": out_path.stem,
        "seed_document": "000",
        "command": f"python -m models.spikingrx.train --epochs {epochs} --seed {seed}",
        "torch_threads": torch.get_num_threads(),
        "metrics": {k: v for k, v in metrics.items() if not k.endswith("history")},
        "train": info["train"],
        "link": info["link"],
        "model_kwargs": loaded.kwargs,
        "steps": info["steps"],
        "history": info["history"],
    }
    path = RESULTS / f"{out_path.stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Train SpikingRx and its ANN twin on Sionna slots")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="ANN pre-training and fine-tuning epochs each")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(CHECKPOINT))
    p.add_argument("--modulation", choices=sorted(MODULATIONS), default=LinkConfig.modulation)
    p.add_argument("--channel", default=LinkConfig.channel_model, help="tdl-a..tdl-e or cdl-a..cdl-e")
    p.add_argument("--train-slots", type=int, default=TrainConfig.train_slots)
    p.add_argument("--hidden", type=int, default=TrainConfig.hidden)
    p.add_argument("--blocks", type=int, default=TrainConfig.blocks)
    p.add_argument("--steps", type=int, default=TrainConfig.steps, help="T of the SNN")
    p.add_argument("--neighbours", type=int, default=NEIGHBOURS,
                   help="K of data.features (C_in = 8 + 6K): fewer input channels, a cheaper first layer")
    p.add_argument("--init", help="fine-tune this SNN checkpoint instead of training from scratch (see finetune)")
    p.add_argument("--rate-reg", type=float, default=0.0, help="firing-rate penalty weight of the SNN (fine-)tuning")
    p.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate (with --init)")
    p.add_argument("--qat", type=int, metavar="BITS",
                   help="with --init: quantization-aware fine-tuning to BITS-bit weights on the Loihi 2 grid "
                        "(models/spikingrx/qat.py); --epochs 0 = post-training quantization")
    p.add_argument("--threads", type=int, default=2, help="torch threads of --init fine-tuning")
    p.add_argument("--paper", action="store_true",
                   help="the paper-scale model (128 filters, 7 SEW blocks, T=--steps or 2), resumable (train_resumable)")
    p.add_argument("--time-iterations", action="store_true", help="only measure seconds per training batch and exit")
    p.add_argument("--ann-twin", action="store_true", help="with --init: the checkpoint is an ANN twin, fine-tune it")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if a.paper:
        steps = a.steps if a.steps != TrainConfig.steps else 2
        cfg = replace(paper_config(a.modulation, steps), train_slots=a.train_slots)
        if a.time_iterations:
            print(json.dumps(seconds_per_iteration(cfg)))
            return
        out = Path(a.out) if a.out != str(CHECKPOINT) else CHECKPOINT.with_name("spikingrx_paper.pt")
        metrics = train_resumable(cfg, a.epochs, a.seed, out, progress=not a.no_progress)
        print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("history")}, indent=2))
        return
    if a.init:
        metrics = finetune(Path(a.init), Path(a.out), a.steps, a.rate_reg, a.epochs, a.train_slots, a.lr, a.seed,
                           progress=not a.no_progress, qat_bits=a.qat, threads=a.threads, spiking=not a.ann_twin)
        print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("history")}, indent=2))
        return
    cfg = TrainConfig(hidden=a.hidden, blocks=a.blocks, steps=a.steps, train_slots=a.train_slots,
                      neighbours=a.neighbours, rate_reg=a.rate_reg,
                      link=replace(LinkConfig(), modulation=a.modulation, channel_model=a.channel))
    metrics = train(a.epochs, a.seed, a.out, progress=not a.no_progress, cfg=cfg)
    print(json.dumps({k: v for k, v in metrics.items() if not k.endswith("history")}, indent=2))


if __name__ == "__main__":
    main()
