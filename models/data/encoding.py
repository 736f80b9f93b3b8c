"""Rate coding of analog inputs into spike trains."""

from __future__ import annotations

from typing import Optional

import torch


def poisson_encode(x: torch.Tensor, steps: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Bernoulli/Poisson rate coding, time-major: ``[B, ...]`` in [0, 1] -> ``[steps, B, ...]`` of 0/1.

    At every step each input fires with probability equal to its intensity (seeds 003/004:
    ``torch.rand((num_steps, batch, ...)) < images``).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    x = x.float().clamp(0.0, 1.0)
    rand = torch.rand((steps, *x.shape), generator=generator, dtype=torch.float32)
    return (rand < x.unsqueeze(0)).float()
