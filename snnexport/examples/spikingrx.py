"""Seed 000 (SpikingRx) building blocks as the seed writes them, and how snnexport converts them.

The seed's modules are plain PyTorch with a hand-written neuron, so no framework rule knows
them. This file is the worked example of teaching snnexport a user's own modules:

* ``LIF``: ``U = beta*U + (1-beta)*I[t]``, ``S = H(U - theta)`` firing on ``U >= theta``,
  ``U = U - S*theta`` (subtract reset, at once). Registered with
  :func:`snnexport.register_neuron`, which only needs a ``describe`` function.
* ``ConvBlock`` (conv applied to every time step), ``SpikeNorm`` (BatchNorm applied to
  every time step separately): registered as layer rules that reuse the torch rules of
  their inner ``nn.Conv2d`` / ``nn.BatchNorm2d``.
* ``SEWBlock``: conv -> norm -> LIF, plus an identity or 1x1-conv shortcut, summed (ADD).
  It needs no rule: the tracer sees the ``+`` and emits two incoming edges.

All tensors are ``[B, T, C, H, W]`` (input layout ``BT``).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..sources.registry import NeuronSpec, register_layer, register_neuron


class TriangularSurrogate(torch.autograd.Function):
    """Heaviside forward (fires on x >= 0), triangular surrogate gradient of half-width a."""

    @staticmethod
    def forward(ctx, x, a=1.0):
        ctx.save_for_backward(x)
        ctx.a = a
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        a = ctx.a
        mask = (x.abs() < a).to(x.dtype)
        return grad_output * (1 - x.abs() / a) * mask / a, None


spike_fn = TriangularSurrogate.apply


class LIF(nn.Module):
    """Seed 000's LIF over a [B, T, ...] tensor: integrate, fire on U >= theta, subtract."""

    def __init__(self, beta: float = 0.9, theta: float = 0.5):
        super().__init__()
        self.beta = float(beta)
        self.theta = float(theta)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        U = torch.zeros_like(current[:, 0])
        out_spikes = []
        for t in range(current.shape[1]):
            U = self.beta * U + (1 - self.beta) * current[:, t]
            S = spike_fn(U - self.theta)
            U = U - S * self.theta
            out_spikes.append(S)
        return torch.stack(out_spikes, dim=1)


class ConvBlock(nn.Module):
    """Conv2d applied to every time step of [B, T, C, H, W] (no activation: LIF follows)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, padding=padding)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T = x.shape[:2]
        return self.conv(x.flatten(0, 1)).unflatten(0, (B, T))


class SpikeNorm(nn.Module):
    """BatchNorm2d applied to each time step separately (no averaging across time)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return self.bn(x)
        return torch.stack([self.bn(x[:, t]) for t in range(x.shape[1])], dim=1)


class SEWBlock(nn.Module):
    """Spike-element-wise residual block: ``y = LIF(Norm(Conv(x))) + shortcut(x)``."""

    def __init__(self, in_ch: int, out_ch: int, beta: float = 0.9, theta: float = 0.5):
        super().__init__()
        self.conv_block = ConvBlock(in_ch, out_ch)
        self.norm = SpikeNorm(out_ch)
        self.lif = LIF(beta, theta)
        self.shortcut = ConvBlock(in_ch, out_ch, kernel_size=1, padding=0) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.lif(self.norm(self.conv_block(x)))
        return main + self.shortcut(x)


class LLRHead(nn.Module):
    """Readout: the time-mean of the last block's output, then a 1x1 conv to one LLR per bit."""

    def __init__(self, in_ch: int, bits_per_symbol: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, bits_per_symbol, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.mean(dim=1))


class SpikingRx(nn.Module):
    """Spiking SEW-ResNet OFDM receiver (seed 000 / arXiv 2409.05610).

    Input ``[B, T, C_in, F, S]``: real/imag parts of received symbols (and pilots) as
    channels over the resource grid (subcarriers F x OFDM symbols S), repeated over T.
    Output ``[B, bits_per_symbol, F, S]``: one LLR per coded bit of each resource element.
    """

    def __init__(self, in_ch: int = 4, hidden: int = 16, blocks: int = 2, bits_per_symbol: int = 4,
                 beta: float = 0.9, theta: float = 0.5):
        super().__init__()
        self.stem = ConvBlock(in_ch, hidden)
        self.stem_norm = SpikeNorm(hidden)
        self.stem_lif = LIF(beta, theta)
        self.blocks = nn.Sequential(*[SEWBlock(hidden, hidden, beta, theta) for _ in range(blocks)])
        self.head = LLRHead(hidden, bits_per_symbol)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_lif(self.stem_norm(self.stem(x)))
        x = self.blocks(x)
        return self.head(x)


def repeat_over_time(grid: torch.Tensor, steps: int) -> torch.Tensor:
    """[B, C, H, W] -> [B, T, C, H, W]: the seed feeds the same grid at every step."""
    return grid.unsqueeze(1).expand(-1, steps, *grid.shape[1:]).contiguous()


# ----- how snnexport converts these modules ------------------------------------------------

register_neuron(
    LIF,
    lambda m: NeuronSpec(
        dynamics="beta",
        beta=m.beta,
        gain=1 - m.beta,  # the same float the forward computes
        threshold=m.theta,
        reset="subtract",
        compare="ge",
    ),
)
register_layer(ConvBlock, lambda m, ctx: ctx.convert_child(m.conv, "conv"))
register_layer(SpikeNorm, lambda m, ctx: ctx.convert_child(m.bn, "bn"))
register_layer(LLRHead, lambda m, ctx: ctx.convert_child(m.conv, "conv", time_reduction="mean"))


def spikingrx_factory(**kwargs) -> SpikingRx:
    """Factory for checkpoints: ``arch="snnexport.examples.spikingrx:spikingrx_factory"``."""
    return SpikingRx(**kwargs)


def sew_block_model(in_ch: int = 2, hidden: int = 4, bits_per_symbol: int = 2, beta: float = 0.8,
                    theta: float = 0.5) -> nn.Module:
    """The smallest seed-000 network: stem, one SEW block with a 1x1-conv shortcut, LLR head."""
    m = SpikingRx(in_ch=in_ch, hidden=hidden, blocks=0, bits_per_symbol=bits_per_symbol, beta=beta, theta=theta)
    m.blocks = nn.Sequential(SEWBlock(hidden, hidden + 2, beta, theta))
    m.head = LLRHead(hidden + 2, bits_per_symbol)
    return m
