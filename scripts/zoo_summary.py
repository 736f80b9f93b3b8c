"""The README's zoo and energy tables, measured from the shipped checkpoints.

    .venv/bin/python scripts/zoo_summary.py [--plots docs/img]

For every zoo model: convert, verify (source, reference, snnTorch, Norse, ONNX Runtime) and
report on its shipped sample input; prints two Markdown tables and writes one report PNG
per model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.registry import CHECKPOINTS, load_zoo  # noqa: E402
from snnexport.checkpoint import load  # noqa: E402
from snnexport.inputs import make_input  # noqa: E402
from snnexport.sources import convert_model  # noqa: E402
from snnexport.simulators import load_all, participants  # noqa: E402
from snnexport.verification import run_verify  # noqa: E402

TARGETS = ["loihi", "truenorth", "snn-45nm-fp32", "ann-45nm-fp32"]


def sample_of(entry) -> Path:
    p = Path(str(entry.checkpoint_path).replace(".pt", "_sample.npy"))
    return p if p.exists() else CHECKPOINTS / f"{entry.name.replace('-', '_')}_sample.npy"


def metric_text(metrics: dict, name: str) -> str:
    ber = ROOT / "models" / "results" / f"{name}_ber.json"
    if ber.exists():  # the receiver: uncoded BER at chosen SNRs (models/results/<name>_ber.md)
        d = json.loads(ber.read_text())
        curve = dict(zip(d["snr_db"], d["curves"][name]["ber"]))
        return "BER " + ", ".join(f"{curve[s]:.2g} @ {s:g} dB" for s in (5.0, 10.0, 15.0) if s in curve)
    if "psnr_db" in metrics or "psnr" in metrics:
        return f"PSNR {metrics.get('psnr_db', metrics.get('psnr')):.2f} dB"
    if "accuracy" in metrics:
        return f"accuracy {100 * metrics['accuracy']:.1f} %"
    return "-"


def main() -> None:
    global SIMS
    load_all()
    # the default participants of the registry, upstream witnesses aside (a table column each)
    SIMS = participants(default=True, roles=("source", "reference", "simulator"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--plots", default=str(ROOT / "docs" / "img"))
    args = ap.parse_args()
    Path(args.plots).mkdir(parents=True, exist_ok=True)
    zoo_rows, energy_rows = [], []
    for name, entry in sorted(load_zoo().items()):
        if not entry.checkpoint_path.exists():
            print(f"skip {name}: no checkpoint", file=sys.stderr)
            continue
        loaded = load(entry.checkpoint_path)
        graph = convert_model(loaded)
        sample = sample_of(entry)
        x = make_input(graph, path=str(sample)) if sample.exists() else make_input(graph, batch=4)
        rep = run_verify(graph, x, torch.float64, SIMS, source=loaded)
        mism = sum(r.mismatches for r in rep.participants)
        params = sum(p.numel() for p in loaded.model.parameters())
        cmd = [sys.executable, "-m", "snnexport.cli", "report", str(entry.checkpoint_path), "--input", str(sample),
               "--json", "--targets", ",".join(TARGETS), "--plot", str(Path(args.plots) / f"{name}_report.png")]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True).stdout
        r = json.loads(out)
        per = r["per_inference"]
        spikes = per.get("spikes", 0)
        zoo_rows.append(f"| {name} | {entry.seed} | {entry.framework} | {params:,} | {x.shape[0]} | "
                        f"{metric_text(loaded.info.get('metrics', {}), name)} | {spikes:,.0f} | "
                        f"{'0 of ' + str(sum(int(v) for v in rep.participants[1].spikes_per_node.values())) + ' spikes' if mism == 0 else str(mism) + ' ✗'} |")
        t = r["targets"]
        base = t["ann-45nm-fp32"]["energy_j"]
        cells = []
        for tg in TARGETS[:-1]:
            e = t[tg]
            fit = "fits" if e["fits"] else f"{len(e['violations'])} violations"
            cells.append(f"{e['energy_j'] * 1e6:.3g} µJ ({e['energy_j'] / base:.2g}×, {fit})" if e["costed"] else "n/a")
        energy_rows.append(f"| {name} | {per['effective_acs']:,.0f} ACs + {per['effective_macs']:,.0f} MACs | {per.get('activation_sparsity', 0):.3f} | "
                           f"{base * 1e6:.3g} µJ | " + " | ".join(cells) + " |")
    print(f"| model | seed | framework | parameters | T | metric | spikes / inference | verify mismatches (float64, {len(SIMS)} participants) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(zoo_rows))
    print()
    print("| model | synaptic ops / inference (NeuroBench) | activation sparsity | dense ANN fp32 (45 nm) | " + " | ".join(TARGETS[:-1]) + " |")
    print("|---|---|---|---|" + "---|" * (len(TARGETS) - 1))
    print("\n".join(energy_rows))


if __name__ == "__main__":
    main()
