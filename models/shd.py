"""Seed 002: snnTorch two-layer SNN for spoken-digit spikes (Spiking Heidelberg Digits style).

As the seed: ``fc1`` (input channels -> 256, Xavier-uniform weights, zero bias) -> ``snn.Leaky``
(beta 0.95, fast-sigmoid surrogate) -> ``fc2`` (256 -> classes) -> ``snn.Leaky``; the forward
loops over the time steps with explicit membrane states and returns the stacked output
spikes; the loss is cross-entropy on the output spike counts, Adam with a StepLR halving.

The seed downsized SHD to 183 channels x 333 steps; the shipped model uses 128 channels x
80 steps and trains on :func:`models.data.shd.synthetic_shd` (10 classes) because the real
SHD files are a download. :func:`models.data.shd.load_shd_hdf5` reads the real files
(20 classes: build with ``num_classes=20``; ``--shd-dir`` trains on them).

``forward`` takes ``[T, B, channels]`` spikes and returns ``[T, B, classes]`` spikes (``TB``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional

import snntorch as snn
import torch
import torch.nn as nn
from snntorch import surrogate

from .data import shd as shd_data
from .data.training import (EVAL_SEED, cpu_training, evaluate_classifier, finish_classifier, run_cli,
                                  seed_all, tensor_i64, train_classifier)
from .registry import ZooEntry

CHANNELS = 128
STEPS = 80
CLASSES = 10
N_TRAIN = 3000
N_TEST = 600
TRAIN_DATA_SEED = 1   # the synthetic sets never depend on the training seed,
TEST_DATA_SEED = 2    # so every checkpoint is scored on the same held-out samples
ARCH = "models.shd:shd_factory"


class SHDNet(nn.Module):
    """channels -> hidden LIF -> classes LIF, snnTorch ``Leaky`` neurons, time-major."""

    def __init__(self, n_in: int = CHANNELS, hidden: int = 256, n_out: int = CLASSES, beta: float = 0.95):
        super().__init__()
        grad = surrogate.fast_sigmoid()
        self.fc1 = nn.Linear(n_in, hidden)
        self.lif1 = snn.Leaky(beta=beta, spike_grad=grad)
        self.fc2 = nn.Linear(hidden, n_out)
        self.lif2 = snn.Leaky(beta=beta, spike_grad=grad)
        for fc in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec = []
        for step in range(x.shape[0]):
            spk1, mem1 = self.lif1(self.fc1(x[step]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec)


NEURON_TYPES = (snn.Leaky,)


def shd_factory(**kwargs) -> SHDNet:
    return SHDNet(**kwargs)


def encode(xb: torch.Tensor, _gen: Optional[torch.Generator] = None) -> torch.Tensor:
    """Stored samples are ``[B, T, C]`` 0/1; the network takes time-major ``[T, B, C]``."""
    return xb.float().transpose(0, 1).contiguous()


def load_data(shd_dir: Optional[str] = None, n_train: int = N_TRAIN, n_test: int = N_TEST):
    """Synthetic data by default; with ``shd_dir``, the real ``shd_train.h5``/``shd_test.h5`` there."""
    if shd_dir:
        d = Path(shd_dir)
        xtr, ytr = shd_data.load_shd_hdf5(d / "shd_train.h5", steps=STEPS, channels=CHANNELS)
        xte, yte = shd_data.load_shd_hdf5(d / "shd_test.h5", steps=STEPS, channels=CHANNELS)
        return torch.from_numpy(xtr), tensor_i64(ytr), torch.from_numpy(xte), tensor_i64(yte), "shd-hdf5", 20
    xtr, ytr = shd_data.synthetic_shd(n_train, CLASSES, CHANNELS, STEPS, seed=TRAIN_DATA_SEED)
    xte, yte = shd_data.synthetic_shd(n_test, CLASSES, CHANNELS, STEPS, seed=TEST_DATA_SEED)
    return torch.from_numpy(xtr), tensor_i64(ytr), torch.from_numpy(xte), tensor_i64(yte), "synthetic-shd", CLASSES


@cpu_training
def train(epochs: int, seed: int, out_path, progress: bool = True, shd_dir: Optional[str] = None,
          limit: Optional[int] = None, lr: float = 2e-3, batch_size: int = 64) -> Dict[str, Any]:
    """Train and write the checkpoint (and ``<stem>_sample.npy``) at ``out_path``."""
    t_start = time.time()
    gen, _rng = seed_all(seed)
    xtr, ytr, xte, yte, source, classes = load_data(shd_dir)
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]
    kwargs = {"n_in": CHANNELS, "hidden": 256, "n_out": classes, "beta": 0.95}
    model = shd_factory(**kwargs)
    history = train_classifier(model, xtr, ytr, xte, yte, encode, epochs, gen, lr=lr, batch_size=batch_size,
                               neuron_types=NEURON_TYPES, progress=progress, desc="shd", lr_step=5)
    ev = evaluate_classifier(model, xte, yte, encode, NEURON_TYPES)
    return finish_classifier(model, out_path=out_path, arch=ARCH, kwargs=kwargs, ev=ev, history=history, t_start=t_start,
                             epochs=epochs, seed=seed, source=source, n_train=len(ytr), n_test=len(yte),
                             eval_seed=EVAL_SEED, sample=encode(xte[:4]), neuron_types=NEURON_TYPES,
                             input_shape=[CHANNELS], steps=STEPS, dt=shd_data.SHD_MAX_TIME / STEPS, num_classes=classes,
                             readout="spike_count")


ZOO_ENTRY = ZooEntry(
    name="shd",
    seed="002",
    framework="snntorch",
    description="snnTorch 128-256-10 LIF (beta 0.95, fast sigmoid) on synthetic spoken-digit spikes "
                "(128 channels x 80 steps); reads real SHD HDF5 too",
    checkpoint="shd.pt",
    train=train,
    default_epochs=10,
    metric_name="accuracy",
    extra={"sample": "shd_sample.npy", "input_layout": "TB", "steps": STEPS},
)


if __name__ == "__main__":
    run_cli(ZOO_ENTRY, "shd", options=[("--shd-dir", {"default": None, "help": "dir with shd_train.h5, shd_test.h5"})])
