"""Quantization-aware 8-bit fine-tuning of SpikingRx, on the grid a Loihi 2 chip uses.

The grid. A chip does not see the torch model's convolutions: it sees the converted graph,
where every BatchNorm is folded into the convolution before it (``W * gamma / sqrt(var + eps)``
per output channel, snnexport/sources/convert.py ``fold_batchnorm``). Loihi 2 stores each
neuron population's input weights as 8-bit mantissas with one shared scale per population
(Lava's ``Dense(weights, weight_exp)``; our quantizer, snnexport/hardware/loihi_quant.py:
``wmax = max |W_eff|`` over the population's inputs, ``Wq = 2 * round(127 * W_eff / wmax)``
for a mixed-sign matrix, the scale folded into the threshold). So the grid is **per layer
(per population), symmetric, 255 levels, on the BatchNorm-folded weights**::

    s_l = max |W_l| / 127,   W_l = k * s_l,   k integer, |k| <= 127

Every weight layer of SpikingRx feeds exactly one population (the stem and block convs their
LIF, the 1x1 head the readout), so "per population" is "per layer". The LIF's input gain
``1 - beta`` is one scalar per population and does not move the grid: on these weights the
Loihi quantizer's integers are exactly ``2 k`` (``test_qat_grid_is_the_loihi_quantizers_grid``).
Biases stay float32 (Loihi takes them as a 13-bit mantissa with an exponent, in units of the
threshold, not on the 8-bit weight grid).

The recipe. The SNN checkpoint's BatchNorms are folded into its convolutions (eval statistics:
BatchNorm is frozen, as is usual for QAT), giving the same network without normalisation
layers (:func:`folded_factory`, arch ``models.spikingrx.qat:folded_factory``); then every
conv weight is fake-quantized in the forward pass with a straight-through estimator
(:class:`FakeQuant`: the forward uses ``round(W / s) * s``, the backward passes the gradient
to the float weight unchanged), ``s`` recomputed from the float weights at every step; after
fine-tuning the weights are snapped onto the grid (:func:`snap`) and saved dequantized in an
ordinary checkpoint whose ``info["qat"]`` records bits, scheme and every layer's scale.
Post-training quantization (PTQ) is the same fold and snap without the fine-tuning.

    nice -n 10 python -m models.spikingrx.qat_runs [--only NAME ...] [--threads 1]   # resumable
    python -m models.spikingrx.train --init models/checkpoints/spikingrx_t2.pt --steps 2 --qat 8 --out OUT.pt

The first (:mod:`.qat_runs`) runs QAT of the shipped T=4 and T=2 models and PTQ of both, and records
training, validation BER and energy in ``models/results/spikingrx_qat.json``.
"""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn as nn
from torch.nn.utils import parametrize

from snnexport.examples.spikingrx import SpikingRx

FOLDED_ARCH = "models.spikingrx.qat:folded_factory"
SCHEME = "symmetric per-layer (per-population) int8 on the BatchNorm-folded weights, scale = max|W|/127 (Loihi 2 Dense)"


def qmax(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def folded_factory(**kwargs) -> SpikingRx:
    """SpikingRx with every SpikeNorm replaced by identity: its convs carry the folded BatchNorm."""
    model = SpikingRx(**kwargs)
    model.stem_norm = nn.Identity()
    for block in model.blocks:
        block.norm = nn.Identity()
    return model


@torch.no_grad()
def fold_batchnorm(model: SpikingRx) -> SpikingRx:
    """The same network (eval statistics) with each BatchNorm folded into its conv, in float64 then float32."""
    kw = dict(in_ch=model.stem.conv.in_channels, hidden=model.stem.conv.out_channels, blocks=len(model.blocks),
              bits_per_symbol=model.head.conv.out_channels, beta=model.stem_lif.beta, theta=model.stem_lif.theta)
    folded = folded_factory(**kw)
    folded.load_state_dict({k: v for k, v in model.state_dict().items() if ".bn." not in k and not k.startswith("stem_norm")},
                           strict=False)
    pairs = [(model.stem.conv, model.stem_norm.bn, folded.stem.conv)]
    pairs += [(b.conv_block.conv, b.norm.bn, fb.conv_block.conv) for b, fb in zip(model.blocks, folded.blocks)]
    for conv, bn, out in pairs:
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        out.weight.copy_((conv.weight.double() * scale.reshape(-1, 1, 1, 1)).float())
        out.bias.copy_((conv.bias.double() * scale + bn.bias.double() - bn.running_mean.double() * scale).float())
    return folded.eval()


def weight_layers(model: nn.Module) -> Dict[str, nn.Module]:
    """Every layer with a weight the chip stores (the convolutions), by module name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}


def grid_scale(w: torch.Tensor, bits: int) -> torch.Tensor:
    """The layer's step ``max|W| / qmax`` (float32, like the weight)."""
    return w.detach().abs().max() / qmax(bits)


class FakeQuant(nn.Module):
    """Parametrization ``W -> round(W / s) * s`` (clamped to +-qmax) with a straight-through gradient."""

    def __init__(self, bits: int):
        super().__init__()
        self.bits = bits

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        s = grid_scale(w, self.bits)
        q = torch.clamp(torch.round(w / s), -qmax(self.bits), qmax(self.bits)) * s
        return w + (q - w).detach()


def attach_fake_quant(model: nn.Module, bits: int) -> nn.Module:
    for m in weight_layers(model).values():
        parametrize.register_parametrization(m, "weight", FakeQuant(bits))
    return model


@torch.no_grad()
def snap(model: nn.Module, bits: int) -> Dict[str, float]:
    """Remove any fake quantization and put every weight exactly on its layer's grid; -> {layer: scale}."""
    scales = {}
    for name, m in weight_layers(model).items():
        if parametrize.is_parametrized(m, "weight"):
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)  # the float weight
        s = grid_scale(m.weight, bits)
        m.weight.copy_(torch.clamp(torch.round(m.weight / s), -qmax(bits), qmax(bits)) * s)
        scales[name] = float(s)
    return scales


def grid_integers(w: torch.Tensor, scale: float) -> torch.Tensor:
    """The integers ``k`` of a weight on the grid ``scale`` (float32 arithmetic, as :func:`snap` wrote it)."""
    return torch.round(w.detach() / torch.tensor(scale, dtype=w.dtype))
