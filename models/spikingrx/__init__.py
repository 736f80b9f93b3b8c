"""SpikingRx (seed 000, arXiv 2409.05610): a spiking SEW-ResNet OFDM receiver.

Input: the received resource grid and the LS channel estimates from the pilots,
``[B, T, C_in=4, F=72, S=14]`` (the same grid repeated over T); output: one LLR per coded
bit of every resource element, ``[B, bits_per_symbol, 72, 14]``. Trained on 3GPP TDL-C
slots simulated with Sionna; compared with its ANN twin and with LS / LMMSE / perfect-CSI
receivers by ``python -m models.spikingrx.evaluate``.

Modules: :mod:`.data` (Sionna link and baselines), :mod:`.ann` (ReLU twin), :mod:`.train`,
:mod:`.evaluate`.
"""

from __future__ import annotations

import os
from typing import Any, Dict

# Spinning OpenMP workers (libgomp's default) make torch 10x slower when the cores are shared
# with other processes (measured here: 1.9 s vs 0.19 s per training batch with 2 threads).
# libgomp reads this when torch is first imported, so it helps the ``python -m
# models.spikingrx.*`` entry points; setdefault leaves a user's own setting alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ..registry import ZooEntry


def _train(epochs: int = 8, seed: int = 0, out_path=None, progress: bool = True) -> Dict[str, Any]:
    """ZooEntry.train: imports Sionna lazily so that listing the zoo stays cheap."""
    from .train import CHECKPOINT, train

    return train(epochs=epochs, seed=seed, out_path=out_path or CHECKPOINT, progress=progress)


ZOO_ENTRY = ZooEntry(
    name="spikingrx",
    seed="000",
    framework="torch",
    description="Spiking SEW-ResNet OFDM receiver (custom LIF), 16-QAM over 3GPP TDL-C, LLR per coded bit",
    checkpoint="spikingrx.pt",
    train=_train,
    default_epochs=8,
    metric_name="ber",
    extra={
        "sample_input": "spikingrx_sample.npy",
        "ann_checkpoint": "spikingrx_ann.pt",
        "results": "results/spikingrx_ber.md",
        "requires": "sionna-no-rt (requirements-extra.txt)",
    },
)
