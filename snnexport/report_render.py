"""The report for people: text tables (rich), Markdown and one PNG figure."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np

from . import energy_conventions
from .atomic import atomic_path
from .energy import format_count, format_energy
from .errors import markup_safe
from .report_document import Report


def _rate(v: float) -> str:
    return f"{v:.4f}"


def layer_rows(rep: Report) -> List[List[str]]:
    c = rep.counts
    B = c.batch
    rows = []
    for n in c.order:
        nc = c.nodes[n]
        if nc.role == "other":
            continue
        if nc.role == "neuron":
            rows.append([n, nc.type, str(nc.neurons), str(nc.params), format_count(nc.spikes / B) if nc.spiking else "-",
                         _rate(nc.firing_rate) if nc.spiking else "-", "-", "-", "-", format_count(nc.membrane_updates / B)])
        else:
            rows.append([n, nc.type + (f" ({nc.reduction})" if nc.reduction else ""), "-", str(nc.params), "-", "-",
                         format_count(nc.effective_acs / B), format_count(nc.effective_macs / B), format_count(nc.dense_ops / B), "-"])
    return rows


LAYER_HEAD = ["node", "type", "neurons", "params", "spikes", "rate", "ACs", "MACs", "dense", "mem. upd."]
TARGET_HEAD = ["target", "grade", "energy / inference", "vs baseline", "fit"]


def target_rows(rep: Report) -> List[List[str]]:
    rows = []
    for name, r in rep.results.items():
        ratio = f"{r.ratio:.3g}x" if r.ratio is not None else "-"
        fit = "fits" if not r.violations else f"{len(r.violations)} violation{'s' if len(r.violations) > 1 else ''}"
        rows.append([name, r.target.grade, format_energy(r.energy_pj), ratio, fit])
    return rows


def summary_lines(rep: Report) -> List[str]:
    c = rep.counts
    p = c.per_sample()
    run = rep.run
    return [
        f"source: {rep.source}",
        f"run: T={c.steps} steps, B={c.batch} samples, input {run.get('input', '?')} ({c.input_kind}, shape {list(c.input_shape)})",
        f"per inference: {p['neurons']} neurons, {p['parameters']} parameters, {format_count(p['spikes'])} spikes "
        f"(firing rate {p['firing_rate']:.4f}, activation sparsity {p['activation_sparsity']:.4f}), "
        f"connection sparsity {p['connection_sparsity']:.4f}",
        f"operations per inference: {format_count(p['effective_acs'])} ACs (SOPs), {format_count(p['effective_macs'])} MACs, "
        f"{format_count(p['dense_ops'])} dense (all steps), {format_count(p['ann_macs'])} MACs of the equivalent ANN (one pass), "
        f"{format_count(p['membrane_updates'])} membrane updates of {format_count(p['neuron_updates'])} neuron updates",
        f"baseline for ratios: {rep.baseline or 'none'}",
    ]


def print_report(rep: Report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    import sys

    con = console or (Console() if sys.stdout.isatty() else Console(width=150))
    esc = markup_safe  # node, file and target names come from files: no markup, no terminal control
    for line in summary_lines(rep):
        con.print(esc(line), highlight=False)
    t = Table(title="per layer, per inference")
    for h in LAYER_HEAD:
        t.add_column(h, justify="left" if h in ("node", "type") else "right")
    for row in layer_rows(rep):
        t.add_row(*(esc(c) for c in row))
    con.print(t)
    t = Table(title="per target")
    for h in TARGET_HEAD:
        t.add_column(h)
    for row in target_rows(rep):
        t.add_row(*(esc(c) for c in row))
    con.print(t)
    energy_conventions.print_table(rep.conventions, con)
    for name, r in rep.results.items():
        con.print(f"[bold]{esc(name)}[/bold] ({esc(r.target.grade)}): {esc(r.formula())}", highlight=False)
        for u in r.uncosted if r.costed else []:
            con.print(f"  not costed: {esc(u)}", highlight=False)
        if r.unconfirmed():
            con.print(f"  unconfirmed source: {esc(', '.join(r.unconfirmed()))} (see `snnexport targets --show {esc(name)}`)",
                      highlight=False)
        for v in r.violations:
            con.print(f"  [red]violates[/red] {esc(v)}", highlight=False)
        for v in r.fit_notes:
            con.print(f"  note: {esc(v)}", highlight=False)


def markdown(rep: Report) -> str:
    def table(head, rows):
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)

    parts = ["# snnexport report", ""] + [f"- {l}" for l in summary_lines(rep)] + ["", "## Per layer (per inference)", "",
                                                                              table(LAYER_HEAD, layer_rows(rep)), "",
                                                                              "## Per target", "", table(TARGET_HEAD, target_rows(rep)), ""]
    parts += [energy_conventions.markdown(rep.conventions)]
    for name, r in rep.results.items():
        parts.append(f"### {name}: {r.target.title}")
        parts.append("")
        parts.append(f"- grade: {r.target.grade}; sources: " + "; ".join(f"{s.cite} ({s.where})" for s in r.target.sources))
        parts.append(f"- `{r.formula()}`")
        for u in r.uncosted if r.costed else []:
            parts.append(f"- not costed: {u}")
        if r.unconfirmed():
            parts.append(f"- unconfirmed source: {', '.join(r.unconfirmed())}")
        if r.violations:
            parts.append("- violations:")
            parts += [f"  - {v}" for v in r.violations]
        else:
            parts.append("- fits: no constraint violated" if r.target.kind != "dense" else "- dense baseline: no constraints")
        parts += [f"- note: {v}" for v in r.fit_notes]
        parts.append("")
    return "\n".join(parts)


def plot(rep: Report, path: str | Path) -> Path:
    """One PNG: per-layer firing rate, spike raster of sample 0, energy per target (log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = rep.counts
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8))
    spiking = [nc for nc in c.neuron_nodes() if nc.spiking]
    ax = axes[0]
    ax.bar(range(len(spiking)), [nc.firing_rate for nc in spiking], color="tab:blue")
    ax.set_xticks(range(len(spiking)), [nc.name for nc in spiking], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("spikes per neuron per step")
    ax.set_title("firing rate per layer")
    ax = axes[1]
    offset, ticks = 0, []
    cap = 200  # neurons shown per layer
    for nc in spiking:
        s = c.spike_trains[nc.name][:, 0].reshape(c.steps, -1)[:, :cap]
        t_idx, n_idx = np.nonzero(s)
        ax.scatter(t_idx, n_idx + offset, s=4, marker="|")
        ticks.append((offset + s.shape[1] / 2, nc.name))
        offset += s.shape[1] + 2
    ax.set_yticks([p for p, _ in ticks], [n for _, n in ticks], fontsize=8)
    ax.set_xlabel("time step")
    ax.set_xlim(-0.5, c.steps - 0.5)
    ax.set_title(f"spike raster, sample 0 (first {cap} neurons per layer)")
    ax = axes[2]
    costed = [(n, r) for n, r in rep.results.items() if r.energy_pj]
    colors = ["tab:gray" if r.target.kind == "dense" else "tab:green" for _, r in costed]
    ax.bar(range(len(costed)), [r.energy_pj for _, r in costed], color=colors)
    ax.set_yscale("log")
    ax.set_xticks(range(len(costed)), [n for n, _ in costed], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("pJ per inference")
    ax.set_title("energy per target (grey: dense ANN)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
