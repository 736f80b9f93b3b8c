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
    """Estimated bytes one sample adds to a verify run over ``steps`` steps, from the graph's
    declared shapes (before anything runs).

    Participants run one after another and each result is dropped once compared, so the
    cost is: the input; the reference's kept result (uint8 spikes and membranes of every
    neuron); and the largest participant's working set (every node's output, x OVERHEAD for
    temporaries, plus its float64 spikes and membranes and the comparison's masks).
    ``participants`` is accepted for compatibility; it no longer multiplies the estimate."""
    act = 0.0
    neurons = 0.0
    for node in graph.nodes.values():
        n = _numel((node.output_type or {}).get("output"))
        act += n
        if type(node).__name__ in NEURON_TYPES:
            neurons += n
    inp = _numel(graph_ext(graph).input_shape)
    kept_ref = neurons * (1 + itemsize)
    working = act * itemsize * OVERHEAD + neurons * (8 + itemsize + 2)
    return int((inp * itemsize + kept_ref + working) * steps)


def check_run_fits(graph: nir.NIRGraph, x, what: str = "run") -> None:
    """Refuse, in one line, a whole-batch run (``report``) whose estimate from the declared
    shapes exceeds the memory budget (``--max-memory``, else half the RAM)."""
    steps, batch = int(x.shape[0]), int(x.shape[1])
    need = bytes_per_sample(graph, steps, x.element_size()) * batch
    if need > current_budget():
        raise SnnexportError(f"{what}: T={steps}, B={batch} needs about {need / 2**20:.0f} MiB, more than the memory "
                             f"budget of {current_budget() / 2**20:.0f} MiB (--max-memory); lower --steps/--batch")


def plan_batch(graph: nir.NIRGraph, steps: int, batch: int, itemsize: int, participants: int,
               budget: Optional[int] = None) -> int:
    """Largest chunk of the batch that fits the budget (== batch when it all fits), from the
    declared sizes only (see :class:`ChunkPlanner` for the adaptive plan verify uses)."""
    return ChunkPlanner(graph, steps, batch, itemsize, budget).first_chunk()


# ---------------------------------------------------------------------------------------------
# the process's own memory (Linux /proc; elsewhere the declared estimate is used alone)

def current_rss() -> Optional[int]:
    """Resident memory of this process now, in bytes (None where unknown)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> Optional[int]:
    """Peak resident memory since the last :func:`reset_peak_rss` (VmHWM), in bytes."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def release_freed_memory() -> None:
    """Give memory freed by the last chunk back to the system (glibc keeps freed heap
    otherwise, and the next chunk's measurement would not see it as free)."""
    lib = _libc()
    if lib is not None:
        lib.malloc_trim(0)


_LIBC: list = []


def _libc():
    if not _LIBC:
        lib = None
        try:
            import ctypes

            lib = ctypes.CDLL("libc.so.6")
            lib.malloc_trim  # noqa: B018 - glibc only
            # Large arrays in their own mappings (fixed threshold): freed means returned at once, so
            # a chunk's measured growth is what it really needs (measured on SpikingRx B=64 at 1G:
            # peak 773 MiB with it, 912 MiB without). Process-wide from the first verify on: a
            # later >1 MiB allocation is a fresh mapping rather than reused heap.
            lib.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
        except (OSError, AttributeError):
            lib = None
        _LIBC.append(lib)
    return _LIBC[0]


class ChunkPlanner:
    """Chunk sizes for a verify run over ``batch`` samples within ``budget`` bytes of resident
    memory (the whole process: what it already holds counts).

    The first chunk is sized from the graph's declared shapes (:func:`bytes_per_sample`).
    After each chunk the run's own estimate replaces it: the peak RSS growth of that chunk per
    sample. Fixed per-chunk costs make small chunks look dearer per sample, but the plan
    ``n' = room / (growth / n)`` converges to the largest chunk that fits; growth is at most
    doubling per chunk, so a chunk that happened to reuse memory cannot overshoot."""

    MARGIN = 0.85

    def __init__(self, graph: nir.NIRGraph, steps: int, batch: int, itemsize: int, budget: Optional[int] = None):
        self.batch = batch
        self.budget = budget or default_budget()
        self.per = bytes_per_sample(graph, steps, itemsize)
        if self.per > self.budget:
            raise SnnexportError(
                f"one sample over {steps} steps needs about {self.per / 2**20:.0f} MiB, more than the memory budget "
                f"{self.budget / 2**20:.0f} MiB; lower --steps or raise --max-memory"
            )
        _libc()
        self.last = 0
        self.measured: list = []
        self._start: Optional[int] = None
        self._window = False

    def _room(self) -> float:
        rss = current_rss()
        return self.budget - (rss or 0)

    def _fit(self) -> int:
        n = int(self._room() * self.MARGIN // max(self.per, 1))
        if self.last:
            n = min(n, 2 * self.last)
        return max(1, min(self.batch, n))

    def first_chunk(self) -> int:
        self.last = self._fit()
        return self.last

    def begin_chunk(self) -> None:
        self._start = current_rss()
        self._window = reset_peak_rss()

    def end_chunk(self, n: int) -> int:
        """Record the chunk of ``n`` samples just run; the size of the next chunk."""
        peak = peak_rss() if self._window else None
        release_freed_memory()
        if peak is not None and self._start is not None and n > 0:
            growth = max(peak - self._start, 0)
            self.measured.append((n, growth))
            self.per = max(growth / n, 1 << 12)
        self.last = max(n, 1)
        self.last = self._fit()
        return self.last
