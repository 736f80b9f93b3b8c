"""Quantization: a graph in a target's number formats and neuron model (``snnexport quantize``).

One quantizer per target (registry :data:`QUANTIZERS`); each returns the quantized graph
and the list of :class:`Change` s it made (``beta 0.95 -> 0.9375``), which the command
prints. The integer semantics of a quantized graph live in the ``snnexport`` metadata
under ``chip`` (see docs/quantization.md for the equations); the NIR fields hold the
closest float reading of the same network, so any NIR consumer still runs something close.
"""

from __future__ import annotations

from typing import List, Tuple

import nir

from ..errors import SnnexportError
from .quantizers import QUANTIZERS, Change, register_quantizer  # noqa: F401  (the registry the quantizers fill)


def quantize(graph: nir.NIRGraph, target: str, ignore_fit: bool = False) -> Tuple[nir.NIRGraph, List[Change]]:
    from . import loihi_quant, xylo_quant  # noqa: F401  (registration by import)

    if target not in QUANTIZERS:
        raise SnnexportError(f"--target: no quantizer for {target!r} (available: {', '.join(sorted(QUANTIZERS))})")
    return QUANTIZERS[target](graph, ignore_fit=ignore_fit)


def chip_target(graph: nir.NIRGraph) -> str:
    """The target a graph was quantized for ('' if none)."""
    from ..extension import graph_ext

    return str(graph_ext(graph).extra.get("quantized_for", ""))
