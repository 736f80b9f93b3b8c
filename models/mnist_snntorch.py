"""Seed 004: snnTorch 784-512-256-10 with ``snn.Leaky(beta=0.95)`` on Poisson rate-coded digits.

As the seed's ``SNNModel``: three ``nn.Linear`` + ``snn.Leaky`` layers, the forward loops over
the time steps of a time-major input, calling each neuron with its explicit membrane state
(``spk, mem = lif(cur, mem)``), and returns the stacked output spikes. The seed's neuron is
written by hand in its report but described as snnTorch's ``snn.Leaky``; here it *is*
``snn.Leaky(beta=0.95)`` with its defaults (threshold 1.0, subtract reset, ``reset_delay``)
and the fast-sigmoid surrogate. Poisson rate coding with T = 10 steps (the seed's choice),
spike-count cross-entropy, Adam at 1e-3 (halved every 8 epochs).

``forward`` takes ``[T, B, 784]`` spikes and returns ``[T, B, 10]`` spikes (layout ``TB``).
Data: scikit-learn's bundled digits upsampled to 28x28 (or real MNIST with ``--mnist-dir``).
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

import snntorch as snn
import torch
import torch.nn as nn
from snntorch import surrogate

from .data import digits as digit_data
from .data.encoding import poisson_encode
from .data.training import (EVAL_SEED, cpu_training, evaluate_classifier, finish_classifier, run_cli,
                                  seed_all, tensor_f32, tensor_i64, train_classifier)
from .registry import ZooEntry

STEPS = 10
ARCH = "models.mnist_snntorch:mnist_snntorch_factory"


class SNNModel(nn.Module):
    """fc1 784->512, fc2 512->256, fc3 256->10, each followed by ``snn.Leaky(beta)``."""

    def __init__(self, n_in: int = 784, h1: int = 512, h2: int = 256, n_out: int = 10, beta: float = 0.95):
        super().__init__()
        grad = surrogate.fast_sigmoid()
        self.fc1 = nn.Linear(n_in, h1)
        self.lif1 = snn.Leaky(beta=beta, spike_grad=grad)
        self.fc2 = nn.Linear(h1, h2)
        self.lif2 = snn.Leaky(beta=beta, spike_grad=grad)
        self.fc3 = nn.Linear(h2, n_out)
        self.lif3 = snn.Leaky(beta=beta, spike_grad=grad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        mem3 = self.lif3.init_leaky()
        spk3_rec = []
        for step in range(x.shape[0]):
            cur1 = self.fc1(x[step].flatten(1))
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            cur3 = self.fc3(spk2)
            spk3, mem3 = self.lif3(cur3, mem3)
            spk3_rec.append(spk3)
        return torch.stack(spk3_rec)


NEURON_TYPES = (snn.Leaky,)


def mnist_snntorch_factory(**kwargs) -> SNNModel:
    return SNNModel(**kwargs)


def encoder(steps: int = STEPS):
    return lambda xb, gen: poisson_encode(xb, steps, gen)


def load_data(mnist_dir: Optional[str] = None):
    xtr, ytr, xte, yte, source = digit_data.load_digits_data(mnist_dir)
    return tensor_f32(xtr), tensor_i64(ytr), tensor_f32(xte), tensor_i64(yte), source


@cpu_training
def train(epochs: int, seed: int, out_path, progress: bool = True, mnist_dir: Optional[str] = None,
          limit: Optional[int] = None, lr: float = 1e-3, batch_size: int = 32,
          lr_step: Optional[int] = 8) -> Dict[str, Any]:
    """Train on rate-coded digits and write the checkpoint (and ``<stem>_sample.npy``) at ``out_path``."""
    t_start = time.time()
    gen, _rng = seed_all(seed)
    xtr, ytr, xte, yte, source = load_data(mnist_dir)
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]
    kwargs = {"n_in": 784, "h1": 512, "h2": 256, "n_out": 10, "beta": 0.95}
    model = mnist_snntorch_factory(**kwargs)
    history = train_classifier(model, xtr, ytr, xte, yte, encoder(), epochs, gen, lr=lr, batch_size=batch_size,
                               neuron_types=NEURON_TYPES, progress=progress, desc="mnist-snntorch",
                               lr_step=lr_step)
    ev = evaluate_classifier(model, xte, yte, encoder(), NEURON_TYPES)
    return finish_classifier(model, out_path=out_path, arch=ARCH, kwargs=kwargs, ev=ev, history=history, t_start=t_start,
                             epochs=epochs, seed=seed, source=source, n_train=len(ytr), n_test=len(yte),
                             eval_seed=EVAL_SEED, sample=encoder()(xte[:4], torch.Generator().manual_seed(EVAL_SEED)), neuron_types=NEURON_TYPES,
                             input_shape=[784], steps=STEPS, dt=1e-3, num_classes=10, readout="spike_count", encoding="poisson")


ZOO_ENTRY = ZooEntry(
    name="mnist-snntorch",
    seed="004",
    framework="snntorch",
    description="snnTorch 784-512-256-10, snn.Leaky(beta=0.95) with fast-sigmoid surrogate, Poisson-coded digits, T=10",
    checkpoint="mnist_snntorch.pt",
    train=train,
    default_epochs=20,
    metric_name="accuracy",
    extra={"sample": "mnist_snntorch_sample.npy", "input_layout": "TB", "steps": STEPS},
)


if __name__ == "__main__":
    run_cli(ZOO_ENTRY, "mnist_snntorch", options=[("--mnist-dir", {"default": None, "help": "real MNIST IDX files"})])
