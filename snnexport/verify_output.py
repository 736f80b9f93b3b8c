"""Human-readable verify output (rich table) and ``--save-spikes`` files."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, Iterable

import numpy as np
from rich.console import Console
from rich.table import Table

from .atomic import atomic_path
from .errors import SnnexportError, markup_safe
from .simulators import SimResult
from .verification import CANNOT_RUN, VerifyResult


def _fmt_div(d) -> str:
    if not d:
        return "-"
    s = f"t={d['step']} {d['node']} b={d['batch']} n={d['neuron']} ref={d['reference_spike']:.0f} got={d['participant_spike']:.0f}"
    if "reference_margin" in d:
        s += f" margin ref={d['reference_margin']:.3g}"
    if "participant_margin" in d:
        s += f" got={d['participant_margin']:.3g}"
    return s


def print_report(report: VerifyResult) -> None:
    """Node names and error texts come from files: every cell is escaped (no markup, no terminal control)."""
    console = Console(width=200)
    chunks = f", {report.chunks} chunks" if report.chunks > 1 else ""
    table = Table(title=f"snnexport verify ({report.dtype}, T={report.steps}, B={report.batch}{chunks})")
    for col in ("participant", "role", "spikes", "per node", "mismatches", "max |Δreadout|", "first divergence", "adapters", "result"):
        table.add_column(col, overflow="fold")
    esc = markup_safe
    for r in report.participants:
        if r.status == CANNOT_RUN:
            table.add_row(esc(r.name), esc(r.role), "-", "-", "-", "-", esc(r.error), "-", "[yellow]cannot run[/]")
            continue
        if r.error:
            table.add_row(esc(r.name), esc(r.role), "-", "-", "-", "-", esc(r.error), "-",
                          "[yellow]failed[/]" if r.role == "upstream" else "[red]ERROR[/]")
            continue
        per = " ".join(f"{k}:{v}" for k, v in r.spikes_per_node.items())
        mm = str(r.mismatches)
        if r.rounding_mismatches:
            mm += f" ({r.rounding_mismatches} rounding, {r.consequential_mismatches} after)"
        if r.missing_nodes:
            mm += f" missing {','.join(r.missing_nodes)}"
        ro = "-" if r.max_abs_readout_diff is None else f"{r.max_abs_readout_diff:.3g}"
        ok = "[green]identical[/]" if r.identical else ("[yellow]differs[/]" if r.role == "upstream" else
                                                        "[yellow]quantized[/]" if r.role == "chip" else "[red]MISMATCH[/]")
        table.add_row(esc(r.name), esc(r.role), str(r.total_spikes), esc(per), esc(mm), ro, esc(_fmt_div(r.first_divergence)),
                      esc("; ".join(r.adapters) or "-"), ok)
    console.print(table)
    console.print(markup_safe(report.verdict or ("IDENTICAL" if report.identical else "MISMATCH")))


def _arrays(res: SimResult):
    yield from ((f"spikes/{k}", v, 1) for k, v in res.spikes.items())
    yield from ((f"readout/{k}", np.asarray(v), None) for k, v in res.readout.items())


class NpzSink:
    """``--save-spikes`` written chunk by chunk: each array grows in a ``.npy`` file on disk
    (memory-mapped only while a chunk is written), and ``close`` packs one ``NAME.npz`` per
    participant (``spikes/NODE`` as uint8 0/1 where the spikes are 0/1, ``readout/OUTPUT``),
    each renamed into place atomically. Memory stays that of one chunk at any batch size."""

    def __init__(self, folder: str | Path, batch: int, reduced_outputs: Iterable[str] = ()):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.batch = batch
        self.reduced = set(reduced_outputs)
        self.tmp = Path(tempfile.mkdtemp(prefix=".snnexport-spikes.", dir=self.folder))
        self.files: Dict[str, Dict[str, Path]] = {}

    def add(self, name: str, start: int, res: SimResult) -> None:
        files = self.files.setdefault(name, {})
        for key, arr, axis in _arrays(res):
            if axis is None:  # readout: [T, B, ...], or [B, ...] after a time reduction
                axis = 0 if key.split("/", 1)[1] in self.reduced else 1
            path = files.get(key)
            if path is None:
                path = self.tmp / f"{len(self.files)}-{len(files)}.npy"
                shape = list(arr.shape)
                shape[axis] = self.batch
                mm = np.lib.format.open_memmap(path, mode="w+", dtype=arr.dtype, shape=tuple(shape))
                files[key] = path
            else:
                mm = np.lib.format.open_memmap(path, mode="r+")
            index = [slice(None)] * arr.ndim
            index[axis] = slice(start, start + arr.shape[axis])
            mm[tuple(index)] = arr
            mm.flush()
            del mm  # unmap: written pages leave this process's memory

    def drop(self, name: str) -> None:
        for path in self.files.pop(name, {}).values():
            path.unlink(missing_ok=True)

    def close(self) -> None:
        try:
            for name, files in self.files.items():
                with atomic_path(self.folder / f"{name}.npz", suffix=".npz") as out:
                    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                        for key, path in files.items():
                            zf.write(path, arcname=f"{key}.npy")
        finally:
            self.abort()

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.files = {}


def save_results(results: Dict[str, SimResult], folder: str) -> None:
    """Whole-batch results (e.g. ``run_verify(keep_results=...)``) as one .npz each."""
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise SnnexportError(f"{out}: --save-spikes needs a folder, and this is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SnnexportError(f"{out}: cannot create the --save-spikes folder ({e.strerror or type(e).__name__})") from None
    for name, res in results.items():
        arrays = {k: v for k, v, _ in _arrays(res)}
        with atomic_path(out / f"{name}.npz", suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
