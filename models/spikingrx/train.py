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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from snnexport import checkpoint
from snnexport.examples.spikingrx import SpikingRx, repeat_over_time

from .ann import ann_factory
from .data import IN_CHANNELS, LinkConfig, OFDMLink, Slots, bit_errors, features

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "spikingrx.pt"
ANN_CHECKPOINT = ROOT / "checkpoints" / "spikingrx_ann.pt"
SAMPLE = ROOT / "checkpoints" / "spikingrx_sample.npy"
SNN_ARCH = "snnexport.examples.spikingrx:spikingrx_factory"
ANN_ARCH = "models.spikingrx.ann:ann_factory"

# Data seeds are offset per split so that training, validation and evaluation slots never
# coincide for the same user seed.
VAL_SEED_OFFSET = 1_000_003
SAMPLE_SEED = 424242


@dataclass
class TrainConfig:
    """Hyper-parameters; the defaults train in about 10 minutes on 2 CPU cores."""

    hidden: int = 32
    blocks: int = 3
    steps: int = 2                 # T: the paper's cheapest setting
    beta: float = 0.5
    theta: float = 0.5
    train_slots: int = 16384
    val_slots: int = 512
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.0
    gen_batch: int = 256           # slots per Sionna call when building the data sets
    link: LinkConfig = field(default_factory=LinkConfig)

    def model_kwargs(self, spiking: bool = True) -> Dict[str, Any]:
        kw = dict(in_ch=IN_CHANNELS, hidden=self.hidden, blocks=self.blocks,
                  bits_per_symbol=self.link.bits_per_symbol)
        if spiking:
            kw.update(beta=self.beta, theta=self.theta)
        return kw


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
                 snr_db: Optional[float] = None) -> Dataset:
    """Simulate ``num_slots`` slots in chunks; chunk ``k`` uses Sionna seed ``seed + k``."""
    xs, bits, snrs = [], [], []
    for k, start in enumerate(range(0, num_slots, gen_batch)):
        n = min(gen_batch, num_slots - start)
        slots = link.simulate(n, snr_db, seed=seed * 7919 + k)
        xs.append(features(slots))
        bits.append(slots.bits.to(torch.uint8))
        snrs.append(slots.snr_db)
    return Dataset(torch.cat(xs), torch.cat(bits), link.data_mask, torch.cat(snrs))


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

def fit(model: nn.Module, train_ds: Dataset, val_ds: Dataset, cfg: TrainConfig, epochs: int, seed: int,
        steps: int, progress: bool = True, label: str = "spikingrx") -> Dict[str, Any]:
    """Adam with a cosine learning-rate decay to 0 over all steps; returns per-epoch history."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * batches_per_epoch))
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train_ds), generator=gen)
        bar = tqdm(range(batches_per_epoch), desc=f"{label} epoch {epoch}/{epochs}", disable=not progress,
                   leave=False, dynamic_ncols=True)
        running = 0.0
        for i in bar:
            idx = order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            llr = predict_llr(model, train_ds.x[idx], steps)
            loss = masked_bce(llr, train_ds.bits[idx], train_ds.data_mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = 0.98 * running + 0.02 * float(loss) if i else float(loss)
            bar.set_postfix(loss=f"{running:.4f}")
        val = evaluate_dataset(model, val_ds, steps)
        history.append({"epoch": epoch, "train_loss": running, "val_loss": val["loss"], "val_ber": val["ber"]})
        print(f"[{label}] epoch {epoch}/{epochs}: train_loss={running:.4f} val_loss={val['loss']:.4f} "
              f"val_ber={val['ber']:.5f}", flush=True)
    return {"history": history, "val_ber": history[-1]["val_ber"] if history else None,
            "val_loss": history[-1]["val_loss"] if history else None}


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def train_receiver(cfg: TrainConfig, epochs: int, seed: int, spiking: bool, progress: bool = True,
                   link: Optional[OFDMLink] = None, data: Optional[tuple] = None) -> tuple:
    """Build data (unless given), init the model from ``seed`` and fit it. -> (model, metrics)."""
    link = link or OFDMLink(cfg.link)
    train_ds, val_ds = data or (make_dataset(link, cfg.train_slots, seed, cfg.gen_batch),
                                make_dataset(link, cfg.val_slots, seed + VAL_SEED_OFFSET, cfg.gen_batch))
    seed_everything(seed)  # after Sionna, which re-seeds torch's default generator
    model = build_model(cfg, spiking)
    t0 = time.time()
    metrics = fit(model, train_ds, val_ds, cfg, epochs, seed, model_steps(cfg, spiking), progress,
                  label="spikingrx" if spiking else "ann-twin")
    metrics["train_seconds"] = round(time.time() - t0, 1)
    model.eval()
    return model, metrics


def save_receiver(model: nn.Module, cfg: TrainConfig, out_path: Path, spiking: bool, metrics: Dict[str, Any],
                  seed: int, epochs: int) -> Path:
    """Write the checkpoint with everything needed to rebuild and re-verify it."""
    steps = model_steps(cfg, spiking)
    return checkpoint.save(
        model, out_path,
        arch=SNN_ARCH if spiking else ANN_ARCH,
        kwargs=cfg.model_kwargs(spiking),
        input_layout="BT",
        input_kind="analog",
        input_shape=[IN_CHANNELS, *cfg.link.grid_hw],
        steps=steps,
        modulation=cfg.link.modulation,
        link=cfg.link.to_dict(),
        features=["re_y", "im_y", "re_h_ls", "im_h_ls"],
        train={"seed": seed, "epochs": epochs, "train_slots": cfg.train_slots, "batch_size": cfg.batch_size,
               "lr": cfg.lr},
        metrics={k: v for k, v in metrics.items() if k != "history"},
        history=metrics.get("history", []),
    )


def write_sample(link: OFDMLink, steps: int, path: Path = SAMPLE, batch: int = 4, snr_db: float = 15.0) -> Path:
    """Time-major float32 [T, B, C_in, F, S] input of real received grids (``verify --input``)."""
    slots = link.simulate(batch, snr_db, seed=SAMPLE_SEED)
    x = repeat_over_time(features(slots), steps)          # [B, T, C, F, S]
    arr = x.transpose(0, 1).contiguous().numpy().astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return path


def train(epochs: int = 8, seed: int = 0, out_path: str | Path = CHECKPOINT, progress: bool = True,
          cfg: Optional[TrainConfig] = None, with_ann: bool = True) -> Dict[str, Any]:
    """Zoo entry point: train SpikingRx (and its ANN twin on the same slots), write checkpoints.

    The ANN twin goes next to ``out_path`` as ``<stem>_ann.pt`` and the sample input as
    ``<stem>_sample.npy``. Returns the SNN's metrics (``val_ber`` is the zoo metric).
    """
    torch.set_num_threads(2)
    cfg = cfg or TrainConfig()
    out_path = Path(out_path)
    link = OFDMLink(cfg.link)
    data = (make_dataset(link, cfg.train_slots, seed, cfg.gen_batch),
            make_dataset(link, cfg.val_slots, seed + VAL_SEED_OFFSET, cfg.gen_batch))
    snn, metrics = train_receiver(cfg, epochs, seed, spiking=True, progress=progress, link=link, data=data)
    save_receiver(snn, cfg, out_path, True, metrics, seed, epochs)
    write_sample(link, cfg.steps, out_path.with_name(out_path.stem + "_sample.npy"))
    if with_ann:
        ann, ann_metrics = train_receiver(cfg, epochs, seed, spiking=False, progress=progress, link=link, data=data)
        save_receiver(ann, cfg, out_path.with_name(out_path.stem + "_ann.pt"), False, ann_metrics, seed, epochs)
        metrics["ann_val_ber"] = ann_metrics["val_ber"]
    metrics["checkpoint_bytes"] = out_path.stat().st_size
    return metrics


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(CHECKPOINT))
    p.add_argument("--modulation", choices=["qpsk", "16qam"], default="16qam")
    p.add_argument("--channel", default="tdl-c", help="tdl-a..tdl-e or cdl-a..cdl-e")
    p.add_argument("--train-slots", type=int, default=TrainConfig.train_slots)
    p.add_argument("--hidden", type=int, default=TrainConfig.hidden)
    p.add_argument("--blocks", type=int, default=TrainConfig.blocks)
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--beta", type=float, default=TrainConfig.beta)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--no-ann", action="store_true", help="skip the ANN twin")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    cfg = TrainConfig(hidden=a.hidden, blocks=a.blocks, steps=a.steps, beta=a.beta, lr=a.lr,
                      train_slots=a.train_slots,
                      link=replace(LinkConfig(), modulation=a.modulation, channel_model=a.channel))
    t0 = time.time()
    metrics = train(a.epochs, a.seed, a.out, progress=not a.no_progress, cfg=cfg, with_ann=not a.no_ann)
    metrics["total_seconds"] = round(time.time() - t0, 1)
    print(json.dumps({k: v for k, v in metrics.items() if k != "history"}, indent=2))


if __name__ == "__main__":
    main()
