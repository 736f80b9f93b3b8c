"""Human-readable verify output (rich table) and ``--save-spikes`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
from rich.console import Console
from rich.table import Table

from .atomic import atomic_path
from .errors import SnnexportError, markup_safe
from .simulators import SimResult
from .verify import VerifyReport


def _fmt_div(d) -> str:
    if not d:
        return "-"
    s = f"t={d['step']} {d['node']} b={d['batch']} n={d['neuron']} ref={d['reference_spike']:.0f} got={d['participant_spike']:.0f}"
    if "reference_margin" in d:
        s += f" margin ref={d['reference_margin']:.3g}"
    if "participant_margin" in d:
        s += f" got={d['participant_margin']:.3g}"
    return s


def print_report(report: VerifyReport) -> None:
    """Node names and error texts come from files: every cell is escaped (no markup, no terminal control)."""
    console = Console(width=200)
    table = Table(title=f"snnexport verify ({report.dtype}, T={report.steps}, B={report.batch})")
    for col in ("participant", "role", "spikes", "per node", "mismatches", "max |Δreadout|", "first divergence", "adapters", "result"):
        table.add_column(col, overflow="fold")
    esc = markup_safe
    for r in report.participants:
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
    verdict = "IDENTICAL: every non-upstream participant matches the reference" if report.identical else "MISMATCH"
    if any(r.role == "chip" for r in report.participants):
        verdict += " (chip participants run the quantized integer model: their mismatches are reported, not judged)"
    console.print(verdict)


def save_results(results: Dict[str, SimResult], folder: str) -> None:
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise SnnexportError(f"{out}: --save-spikes needs a folder, and this is a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SnnexportError(f"{out}: cannot create the --save-spikes folder ({e.strerror or type(e).__name__})") from None
    for name, res in results.items():
        arrays = {f"spikes/{k}": v for k, v in res.spikes.items()}
        arrays.update({f"readout/{k}": np.asarray(v) for k, v in res.readout.items()})
        with atomic_path(out / f"{name}.npz", suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
