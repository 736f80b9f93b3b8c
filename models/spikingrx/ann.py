"""ANN twin of SpikingRx: the same topology with ReLU in place of every LIF.

Same stem, SEW blocks (``y = ReLU(BN(Conv(x))) + x``) and LLR head, with the same parameter
names, so the two receivers differ only in the neuron. A ReLU has no state, so repeating the
input over T steps gives T identical steps whose time mean is one step: the twin runs with
``T = 1`` (``[B, 1, C, F, S]``) and costs 1/T of the SNN's synaptic operations per step.
"""

from __future__ import annotations

import torch.nn as nn

from snnexport.examples.spikingrx import LIF, SpikingRx


def _swap_lif_for_relu(module: nn.Module) -> None:
    """Replace every LIF child (recursively) by ``nn.ReLU``: ``S = H(U - theta)`` -> ``max(0, x)``."""
    for name, child in module.named_children():
        if isinstance(child, LIF):
            setattr(module, name, nn.ReLU())
        else:
            _swap_lif_for_relu(child)


def ann_factory(in_ch: int = 4, hidden: int = 16, blocks: int = 2, bits_per_symbol: int = 4) -> nn.Module:
    """Checkpoint factory (``arch="models.spikingrx.ann:ann_factory"``)."""
    model = SpikingRx(in_ch=in_ch, hidden=hidden, blocks=blocks, bits_per_symbol=bits_per_symbol)
    _swap_lif_for_relu(model)
    return model
