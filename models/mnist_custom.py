"""Seed 003: a 784-128-10 SNN with a hand-written LIF neuron in plain PyTorch, on rate-coded digits.

The seed's neuron (its "Step 3"): ``V(t+1) = V(t) + (I - V(t)) / tau``; it fires when V
*exceeds* the threshold (1.0) and then resets to zero; a fast-sigmoid surrogate gradient
("Step 4") makes it trainable. Layers are ``SNNLayer`` = ``nn.Linear`` + that neuron
("Step 2"); the output spike counts over time are the logits of a cross-entropy loss
("Step 6"); inputs are Poisson/Bernoulli rate coded ("Step 1", here T = 20 instead of 100).

The neuron is registered with :func:`snnexport.register_neuron` as ``tau_decay_input``
dynamics (``U = U + (gain*I - (U - v_leak)) / tau`` with gain 1, v_leak 0), value reset to
``v_reset`` at once, firing on ``U > threshold``: the same floats the forward computes.

Tensors are time-major: ``forward`` takes spikes ``[T, B, 784]`` and returns output spikes
``[T, B, 10]`` (input layout ``TB``). Data: scikit-learn's bundled digits upsampled to 28x28
(or real MNIST IDX files with ``--mnist-dir``).
"""

from __future__ import annotations

import time
from typing import Any, Dict, Optional

import torch
import torch.nn as nn

from .data import digits as digit_data
from .data.encoding import poisson_encode
from .data.training import (EVAL_SEED, cpu_training, evaluate_classifier, finish_classifier, run_cli,
                                  seed_all, tensor_f32, tensor_i64, train_classifier)
from .registry import ZooEntry
from snnexport.sources.registry import NeuronSpec, register_neuron

STEPS = 20
ARCH = "models.mnist_custom:mnist_custom_factory"


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward (1 where ``x > 0``); fast-sigmoid surrogate ``1 / (1 + k|x|)^2`` backward."""

    @staticmethod
    def forward(ctx, x, slope=10.0):
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output / (1.0 + ctx.slope * x.abs()) ** 2, None


class CustomLIF(nn.Module):
    """Seed 003's LIF over a time-major ``[T, B, N]`` current: ``V += (I - V) / tau``; spike on V > threshold; V = v_reset.

    The state starts at zero on every call (the seed resets the neurons before each forward).
    """

    def __init__(self, tau: float = 2.0, threshold: float = 1.0, v_reset: float = 0.0, slope: float = 10.0):
        super().__init__()
        self.tau = float(tau)
        self.threshold = float(threshold)
        self.v_reset = float(v_reset)
        self.slope = float(slope)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        v = torch.zeros_like(current[0])
        reset = torch.full_like(v, self.v_reset)
        out = []
        for t in range(current.shape[0]):
            v = v + (current[t] - v) / self.tau
            s = FastSigmoidSpike.apply(v - self.threshold, self.slope)
            v = torch.where(s > 0, reset, v)
            out.append(s)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, threshold={self.threshold}, v_reset={self.v_reset}"


register_neuron(
    CustomLIF,
    lambda m: NeuronSpec(
        dynamics="tau_decay_input",
        tau=m.tau,
        gain=1.0,
        v_leak=0.0,
        threshold=m.threshold,
        v_reset=m.v_reset,
        reset="value",
        reset_timing="immediate",
        compare="gt",
    ),
)


class SNNLayer(nn.Module):
    """``nn.Linear`` (the synaptic current of every step) followed by :class:`CustomLIF`."""

    def __init__(self, n_in: int, n_out: int, tau: float, threshold: float):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.lif = CustomLIF(tau=tau, threshold=threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.fc(x))


class CustomSNN(nn.Module):
    """784 -> 128 -> 10 with :class:`CustomLIF` neurons; ``[T, B, 784]`` spikes -> ``[T, B, 10]`` spikes."""

    def __init__(self, n_in: int = 784, hidden: int = 128, n_out: int = 10, tau: float = 2.0, threshold: float = 1.0):
        super().__init__()
        self.hidden = SNNLayer(n_in, hidden, tau, threshold)
        self.output = SNNLayer(hidden, n_out, tau, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(x))


NEURON_TYPES = (CustomLIF,)


def mnist_custom_factory(**kwargs) -> CustomSNN:
    return CustomSNN(**kwargs)


def encoder(steps: int = STEPS):
    return lambda xb, gen: poisson_encode(xb, steps, gen)


def load_data(mnist_dir: Optional[str] = None):
    xtr, ytr, xte, yte, source = digit_data.load_digits_data(mnist_dir)
    return tensor_f32(xtr), tensor_i64(ytr), tensor_f32(xte), tensor_i64(yte), source


@cpu_training
def train(epochs: int, seed: int, out_path, progress: bool = True, mnist_dir: Optional[str] = None,
          limit: Optional[int] = None, lr: float = 2e-3, batch_size: int = 32) -> Dict[str, Any]:
    """Train on rate-coded digits and write the checkpoint (and ``<stem>_sample.npy``) at ``out_path``.

    ``limit`` trains on the first ``limit`` training samples only (quick tests).
    """
    t_start = time.time()
    gen, _rng = seed_all(seed)
    xtr, ytr, xte, yte, source = load_data(mnist_dir)
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]
    kwargs = {"n_in": 784, "hidden": 128, "n_out": 10, "tau": 2.0, "threshold": 1.0}
    model = mnist_custom_factory(**kwargs)
    history = train_classifier(model, xtr, ytr, xte, yte, encoder(), epochs, gen, lr=lr, batch_size=batch_size,
                               neuron_types=NEURON_TYPES, progress=progress, desc="mnist-custom")
    ev = evaluate_classifier(model, xte, yte, encoder(), NEURON_TYPES)
    return finish_classifier(model, out_path=out_path, arch=ARCH, kwargs=kwargs, ev=ev, history=history, t_start=t_start,
                             epochs=epochs, seed=seed, source=source, n_train=len(ytr), n_test=len(yte),
                             eval_seed=EVAL_SEED, sample=encoder()(xte[:4], torch.Generator().manual_seed(EVAL_SEED)), neuron_types=NEURON_TYPES,
                             input_shape=[784], steps=STEPS, dt=1e-3, num_classes=10, readout="spike_count", encoding="poisson")


ZOO_ENTRY = ZooEntry(
    name="mnist-custom",
    seed="003",
    framework="torch",
    description="784-128-10 SNN with seed 003's hand-written LIF (V += (I-V)/tau, fire on V > 1, reset to 0), "
                "Poisson-coded digits, T=20",
    checkpoint="mnist_custom.pt",
    train=train,
    default_epochs=15,
    metric_name="accuracy",
    extra={"sample": "mnist_custom_sample.npy", "input_layout": "TB", "steps": STEPS},
)


if __name__ == "__main__":
    run_cli(ZOO_ENTRY, "mnist_custom", options=[("--mnist-dir", {"default": None, "help": "real MNIST IDX files"})])
