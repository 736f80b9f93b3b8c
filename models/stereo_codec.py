"""Seed 001: a stereo image codec whose encoder is a SpikingJelly SNN.

As the seed's ``Enc_l_SNN``: ``layer.Conv2d`` + ``neuron.LIFNode(tau=2.0,
surrogate_function=surrogate.ATan())`` blocks, the image fed at every one of T = 4 steps,
the spikes of the last block averaged over time; ``functional.reset_net`` at the start of
every forward. Here the encoder runs multi-step (``step_mode='m'``, one ``[T, B, C, H, W]``
tensor instead of the seed's Python loop: the same computation) and sees the stereo pair
jointly (left and right RGB as 6 channels), so it can spend its spikes on what the two
views share once. The seed's hyperprior, quantisation and attention fusion are left out; the
decoder is a small plain-PyTorch conv-transpose network from the time-averaged latent
spikes back to both views, trained on the mean squared error (PSNR reported). The whole codec
converts too: the decoder runs once after the time mean, its ``ConvTranspose2d`` layers as
``Conv2d`` extension nodes (:mod:`snnexport.conv_transpose`), ReLU/Sigmoid as activation ops.

:class:`StereoEncoder` is the part that converts to NIR: input ``[T, B, 6, H, W]`` analog
(layout ``TB``), output the time mean of the latent spikes ``[B, 16, H/4, W/4]``
(``time_mean=False`` returns the spikes ``[T, B, 16, H/4, W/4]`` instead, same weights).
Two checkpoints: ``stereo_codec_encoder.pt`` (the encoder alone, the zoo's entry) and
``stereo_codec.pt`` (the whole codec, ``forward(left, right)``).

Data: 32x32 stereo crops cut from scikit-learn's two bundled photographs, the right view
warped by a smooth random disparity (:mod:`models.data.stereo`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from spikingjelly.activation_based import functional, layer, neuron, surrogate

from .data import stereo as stereo_data
from .data.training import (count_spikes, cpu_training, minibatches, plain, progress_bar, run_cli,
                                  save_sample, seed_all, spike_counts_by_module)
from .registry import ZooEntry

STEPS = 4
CROP = 32
N_TRAIN = 4000
N_TEST = 500
TRAIN_DATA_SEED = 1
TEST_DATA_SEED = 2
ENCODER_ARCH = "models.stereo_codec:stereo_encoder_factory"
CODEC_ARCH = "models.stereo_codec:stereo_codec_factory"


class StereoEncoder(nn.Module):
    """SpikingJelly encoder, ``[T, B, 6, H, W]`` -> time mean of latent spikes ``[B, latent, H/4, W/4]``."""

    def __init__(self, in_ch: int = 6, width: int = 32, latent: int = 16, tau: float = 2.0, time_mean: bool = True):
        super().__init__()
        self.time_mean = bool(time_mean)

        def lif():
            return neuron.LIFNode(tau=tau, surrogate_function=surrogate.ATan(), step_mode="m")

        self.conv1 = layer.Conv2d(in_ch, width, kernel_size=3, stride=2, padding=1, step_mode="m")
        self.lif1 = lif()
        self.conv2 = layer.Conv2d(width, latent, kernel_size=3, stride=2, padding=1, step_mode="m")
        self.lif2 = lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(self)
        x = self.lif1(self.conv1(x))
        x = self.lif2(self.conv2(x))
        return x.mean(dim=0) if self.time_mean else x


class StereoDecoder(nn.Module):
    """Plain-PyTorch decoder: latent ``[B, latent, h, w]`` -> both views ``[B, 6, 4h, 4w]`` in [0, 1]."""

    def __init__(self, latent: int = 16, width: int = 32, out_ch: int = 6):
        super().__init__()
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent, width, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, out_ch, kernel_size=3, padding=1),
        )
        self.out = nn.Sigmoid()  # a module (no parameters): the same torch.sigmoid, and a layer the converter sees

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.net(z))


class StereoCodec(nn.Module):
    """Encoder + decoder: ``forward(left, right)`` with ``[B, 3, H, W]`` views -> reconstruction ``[B, 6, H, W]``."""

    def __init__(self, steps: int = STEPS, width: int = 32, latent: int = 16, dec_width: int = 32, tau: float = 2.0):
        super().__init__()
        self.steps = int(steps)
        self.encoder = StereoEncoder(6, width, latent, tau)
        self.decoder = StereoDecoder(latent, dec_width, 6)

    def encoder_input(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return repeat_over_time(torch.cat([left, right], dim=1), self.steps)

    def forward(self, left: torch.Tensor, right: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``forward(left, right)`` on two views, or ``forward(x)`` on the time-major encoder
        input ``[T, B, 6, H, W]`` (what ``snnexport convert`` feeds: the whole codec converts, the
        decoder after the time mean, its ConvTranspose2d layers as snnexport extension nodes)."""
        x = left if right is None else self.encoder_input(left, right)
        return self.decoder(self.encoder(x))


def repeat_over_time(x: torch.Tensor, steps: int) -> torch.Tensor:
    """``[B, ...]`` -> ``[steps, B, ...]``: the seed feeds the same image at every step."""
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous()


NEURON_TYPES = (neuron.LIFNode,)


def stereo_encoder_factory(**kwargs) -> StereoEncoder:
    return StereoEncoder(**kwargs)


def stereo_codec_factory(**kwargs) -> StereoCodec:
    return StereoCodec(**kwargs)


def load_data(n_train: int = N_TRAIN, n_test: int = N_TEST):
    ltr, rtr, _ = stereo_data.make_stereo_pairs(n_train, CROP, "train", seed=TRAIN_DATA_SEED)
    lte, rte, _ = stereo_data.make_stereo_pairs(n_test, CROP, "test", seed=TEST_DATA_SEED)
    return torch.from_numpy(ltr), torch.from_numpy(rtr), torch.from_numpy(lte), torch.from_numpy(rte)


@torch.no_grad()
def evaluate_codec(codec: StereoCodec, left: torch.Tensor, right: torch.Tensor, batch_size: int = 250) -> Dict[str, float]:
    """PSNR (dB, both views, whole set) and encoder spikes per stereo pair."""
    was = codec.training
    codec.eval()
    recs = []
    with count_spikes(codec.encoder, NEURON_TYPES) as counts:
        for idx in torch.arange(len(left)).split(batch_size):
            recs.append(codec(left[idx], right[idx]))
    codec.train(was)
    rec = torch.cat(recs).numpy()
    target = torch.cat([left, right], dim=1).numpy()
    return {
        "psnr": stereo_data.psnr(rec, target),
        "psnr_left": stereo_data.psnr(rec[:, :3], target[:, :3]),
        "psnr_right": stereo_data.psnr(rec[:, 3:], target[:, 3:]),
        "mse": float(np.mean((rec - target) ** 2)),
        "spikes_per_inference": counts["total"] / len(left),
    }


def pooled_baseline_psnr(left: torch.Tensor, right: torch.Tensor, factor: int = 4) -> float:
    """PSNR of average-pooling both views by ``factor`` and upsampling back bilinearly (a reference)."""
    x = torch.cat([left, right], dim=1)
    y = F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="bilinear", align_corners=False)
    return stereo_data.psnr(y.numpy(), x.numpy())


def codec_path_for(out_path: Path) -> Path:
    """The full codec's checkpoint beside the encoder's: ``x_encoder.pt`` -> ``x.pt``, else ``x_codec.pt``."""
    stem = out_path.stem
    if stem.endswith("_encoder"):
        return out_path.with_name(stem[: -len("_encoder")] + out_path.suffix)
    return out_path.with_name(stem + "_codec" + out_path.suffix)


@cpu_training
def train(epochs: int, seed: int, out_path, progress: bool = True, limit: Optional[int] = None,
          lr: float = 5e-3, batch_size: int = 32, log=print) -> Dict[str, Any]:
    """Train the codec; write the encoder checkpoint at ``out_path`` and the codec beside it."""
    t_start = time.time()
    gen, _rng = seed_all(seed)
    ltr, rtr, lte, rte = load_data()
    if limit:
        ltr, rtr = ltr[:limit], rtr[:limit]
    kwargs = {"steps": STEPS, "width": 32, "latent": 16, "dec_width": 32, "tau": 2.0}
    codec = stereo_codec_factory(**kwargs)
    opt = torch.optim.Adam(codec.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    history = []
    for epoch in range(1, epochs + 1):
        codec.train()
        t0 = time.time()
        loss_sum = 0.0
        batches = minibatches(len(ltr), batch_size, gen)
        bar = progress_bar(batches, f"stereo-codec epoch {epoch}/{epochs}", progress)
        for idx in bar:
            rec = codec(ltr[idx], rtr[idx])
            loss = F.mse_loss(rec, torch.cat([ltr[idx], rtr[idx]], dim=1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach()) * len(idx)
            if progress:
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
        sched.step()
        ev = evaluate_codec(codec, lte, rte)
        row = {"epoch": epoch, "train_loss": loss_sum / len(ltr), "test_psnr": ev["psnr"],
               "spikes_per_inference": ev["spikes_per_inference"], "seconds": time.time() - t0}
        history.append(row)
        log(f"[stereo-codec] epoch {epoch}/{epochs}: train mse {row['train_loss']:.5f} "
            f"(PSNR {10 * np.log10(1 / max(row['train_loss'], 1e-12)):.2f} dB) | test PSNR {ev['psnr']:.2f} dB "
            f"| spikes/inference {ev['spikes_per_inference']:.0f} | {row['seconds']:.1f}s")
    ev = evaluate_codec(codec, lte, rte)
    latent_bits = STEPS * kwargs["latent"] * (CROP // 4) ** 2
    metrics = {
        "psnr": ev["psnr"],
        "psnr_left": ev["psnr_left"],
        "psnr_right": ev["psnr_right"],
        "test_mse": ev["mse"],
        "spikes_per_inference": ev["spikes_per_inference"],
        "latent_spike_bits": latent_bits,
        "latent_bits_per_view_pixel": latent_bits / (2 * CROP * CROP),
        "baseline_pool4_psnr": pooled_baseline_psnr(lte, rte),
        "train_seconds": time.time() - t_start,
        "epochs": epochs,
        "seed": seed,
        "torch_threads": torch.get_num_threads(),
        "dataset": "sklearn-sample-images-stereo-32",
        "n_train": len(ltr),
        "n_test": len(lte),
        "history": history,
    }
    out_path = Path(out_path)
    sample = codec.encoder_input(lte[:4], rte[:4])
    sample_spikes = spike_counts_by_module(codec.encoder, sample, NEURON_TYPES)
    from snnexport.checkpoint import save

    metrics = plain(metrics)
    recorded = {k: v for k, v in metrics.items() if k != "history"}
    enc_kwargs = {"in_ch": 6, "width": kwargs["width"], "latent": kwargs["latent"], "tau": kwargs["tau"],
                  "time_mean": True}
    save(codec.encoder, out_path, arch=ENCODER_ARCH, kwargs=enc_kwargs, input_layout="TB", input_kind="analog",
         input_shape=[6, CROP, CROP], steps=STEPS, dt=1e-3, output="time mean of latent spikes [B, 16, H/4, W/4]",
         metrics=recorded, sample_spikes=sample_spikes)
    save(codec, codec_path_for(out_path), arch=CODEC_ARCH, kwargs=kwargs, input_layout="TB", input_kind="analog",
         input_shape=[6, CROP, CROP], steps=STEPS,
         inputs="forward(left [B,3,H,W], right [B,3,H,W]) or forward(x [T,B,6,H,W]) -> [B,6,H,W]", metrics=recorded)
    save_sample(out_path, sample)
    return metrics


ZOO_ENTRY = ZooEntry(
    name="stereo-codec",
    seed="001",
    framework="spikingjelly",
    description="SpikingJelly stereo encoder (Conv2d + LIFNode tau=2 ATan, T=4, 6-channel stereo pair, time mean) "
                "with a conv-transpose ANN decoder; 32x32 crops of sklearn's sample images",
    checkpoint="stereo_codec_encoder.pt",
    train=train,
    default_epochs=40,
    metric_name="psnr",
    extra={"sample": "stereo_codec_sample.npy", "codec_checkpoint": "stereo_codec.pt", "input_layout": "TB",
           "steps": STEPS},
)


if __name__ == "__main__":
    run_cli(ZOO_ENTRY, "stereo_codec")
