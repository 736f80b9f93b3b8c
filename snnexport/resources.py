"""Resource guard: estimate a run's memory from T, B and the graph before running it.

Per sample and time step, a simulator holds every node's output; verify also keeps the
spikes and membranes of every neuron for each participant. The estimate is deliberately
simple and conservative (x3 for temporaries). Over the budget, callers split the batch into
chunks that fit, or refuse when even one sample does not.
"""

from __future__ import annotations

import os
from typing import Optional

import nir
import numpy as np

from .errors import SnnexportError
from .extension import NEURON_TYPES, graph_ext

SAFE_FRACTION = 0.5
OVERHEAD = 3.0


def machine_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def default_budget() -> int:
    return int(machine_memory() * SAFE_FRACTION)


# A bare number is bytes; under this it was surely meant with a unit ("0.5" is not half a byte).
MIN_BARE_BYTES = 1 << 20
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

_budget: Optional[int] = None  # set from --max-memory for the whole command


def set_budget(nbytes: Optional[int]) -> None:
    """Make ``nbytes`` (``--max-memory``; None = default) the budget of every reader of this run."""
    global _budget
    _budget = None if nbytes is None else int(nbytes)


def current_budget() -> int:
    """The memory budget readers check declared sizes against: ``--max-memory`` or half the RAM."""
    return _budget if _budget is not None else default_budget()


def parse_size(text: Optional[str]) -> Optional[int]:
    """'4G', '512M', '1.5GiB', '2000000' -> bytes; refuses inf, nan, 0, negatives and tiny budgets."""
    import re

    if text is None or text == "":
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*", str(text).upper())
    if not m:
        raise SnnexportError(f"--max-memory must look like 4G, 512M or a byte count, got {text!r}")
    value = float(m.group(1)) * _SIZE_UNITS[m.group(2)]
    if not m.group(2) and value < MIN_BARE_BYTES:
        raise SnnexportError(f"--max-memory {text!r} is a byte count under 1 MiB; give a unit, e.g. 512M or 4G")
    if int(value) < 1:
        raise SnnexportError(f"--max-memory must be positive, got {text!r}")
    return int(value)


def _numel(shape) -> int:
    if shape is None:
        return 0
    arr = np.asarray(shape, dtype=np.float64).reshape(-1)
    return int(np.prod(arr)) if arr.size else 1


def bytes_per_sample(graph: nir.NIRGraph, steps: int, itemsize: int = 8, participants: int = 1) -> int:
    """Estimated bytes one sample costs over ``steps`` steps, all participants together."""
    per_step = 0.0
    kept = 0.0
    for node in graph.nodes.values():
        n = _numel((node.output_type or {}).get("output"))
        per_step += n
        if type(node).__name__ in NEURON_TYPES:
            kept += 3 * n  # spikes + membranes + state
    inp = _numel(graph_ext(graph).input_shape)
    total = (inp + per_step + kept * max(1, participants)) * steps * itemsize * OVERHEAD
    return int(total)


def plan_batch(graph: nir.NIRGraph, steps: int, batch: int, itemsize: int, participants: int,
               budget: Optional[int] = None) -> int:
    """Largest chunk of the batch that fits the budget (== batch when it all fits)."""
    budget = budget or default_budget()
    per = bytes_per_sample(graph, steps, itemsize, participants)
    if per > budget:
        raise SnnexportError(
            f"one sample over {steps} steps needs about {per / 2**20:.0f} MiB, more than the memory budget "
            f"{budget / 2**20:.0f} MiB; lower --steps or raise --max-memory"
        )
    return max(1, min(batch, budget // max(per, 1)))
