"""Helpers for users' cross-simulator equivalence tests (pytest or unittest).

    from snnexport.testing import assert_spike_identical

    def test_my_snn_exports_exactly():
        assert_spike_identical(model, x)   # x time-major [T, B, *input_shape]

On failure the ``AssertionError`` names each participant that differs and its first
divergence: step, node, batch sample, neuron index, both spike values and membranes.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch


def describe_divergence(d: dict) -> str:
    """One line for a first-divergence record of :class:`snnexport.verification.VerifyResult`."""
    s = (f"step {d['step']}, node {d['node']!r}, batch {d['batch']}, neuron {tuple(d['neuron'])}: "
         f"reference spike {d['reference_spike']:g}, participant spike {d['participant_spike']:g}")
    if "reference_membrane" in d:
        s += f"; reference membrane {d['reference_membrane']!r} (threshold {d['threshold']!r})"
    if "participant_membrane" in d:
        s += f", participant membrane {d['participant_membrane']!r}"
    return s


def failure_message(result) -> str:
    lines = [result.verdict or "MISMATCH"]
    for r in result.participants:
        if r.role == "upstream" or r.identical or not r.ran:
            continue
        if r.first_divergence is not None:
            lines.append(f"  {r.name}: {r.mismatches} spike mismatches; first at {describe_divergence(r.first_divergence)}")
        elif r.error:
            lines.append(f"  {r.name}: {r.error}")
        elif r.missing_nodes:
            lines.append(f"  {r.name}: no spikes recorded for {', '.join(r.missing_nodes)}")
        else:
            lines.append(f"  {r.name}: readouts differ by {r.max_abs_readout_diff:.3g} (relative)")
    for r in result.participants:
        if not r.ran:
            lines.append(f"  {r.name}: cannot run ({r.error})")
    return "\n".join(lines)


def assert_spike_identical(model, x, *, sims: Optional[Sequence[str]] = None, dtype: torch.dtype = torch.float64,
                           upstream: bool = False, **kwargs):
    """Assert that every participant produces the reference's spikes (and readouts) for ``x``.

    ``model``: a ``torch.nn.Module`` (converted, and run itself as the ``source``
    participant) or a ``nir.NIRGraph``; ``x``: time-major ``[T, B, *input_shape]``. Other
    keyword arguments go to :func:`snnexport.verify`. Returns the ``VerifyResult``."""
    from .api import verify

    result = verify(model, x, sims=sims, dtype=dtype, upstream=upstream, **kwargs)
    if not result.identical:
        raise AssertionError(failure_message(result))
    return result


__all__ = ["assert_spike_identical", "describe_divergence", "failure_message"]
