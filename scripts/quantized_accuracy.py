"""Task accuracy kept after `snnexport quantize`: float graph (reference simulator) vs our
chip-exact integer simulation, on each zoo classifier's held-out set.

    .venv/bin/python scripts/quantized_accuracy.py [--models shd,mnist_snntorch] [--limit N]

Prediction = argmax of output spike counts (the zoo's readout). Networks larger than a
chip's pools are quantized with --ignore-fit semantics (a simulated larger chip) and marked
so. Prints a Markdown table (the README's).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snnexport.api import load  # noqa: E402
from snnexport.hardware.quantize import quantize  # noqa: E402
from snnexport.hardware import loihi_quant, loihi_sim, xylo_quant, xylo_sim  # noqa: E402
from snnexport.simulators import SIMULATORS, load_all  # noqa: E402


def run(name: str, limit: int, target: str = "xylo-audio2"):
    m = importlib.import_module(f"models.{name}")
    from models.data.training import EVAL_SEED

    _, _, xte, yte, *_ = m.load_data()
    xte, yte = xte[:limit], yte[:limit]
    enc = getattr(m, "encode", None) or m.encoder()
    x = enc(xte, torch.Generator().manual_seed(EVAL_SEED)).to(torch.float64)  # [T, B, ...]
    graph, _, _ = load(Path("models/checkpoints") / f"{name}.pt")
    load_all()
    ref = SIMULATORS["reference"](graph, x, torch.float64)
    out_name = next(iter(ref.readout))
    float_pred = np.asarray(ref.readout[out_name]).sum(0).argmax(-1)
    q, changes = quantize(graph, target, ignore_fit=True)
    oversize = any(c.what == "fit" for c in changes)
    T, B = x.shape[:2]
    flat = np.asarray(x.numpy()).reshape(T, B, -1)
    # run the pipeline delay out so the last steps' spikes count
    if target == "xylo-audio2":
        D = max(xylo_quant.layer_delays(q).values())
        _, out, _ = xylo_sim.simulate(xylo_quant.to_xylo_net(q), np.concatenate([flat, np.zeros((D, B, flat.shape[2]))]).astype(np.int64))
    else:
        D = max(loihi_quant.layer_delays(q).values())
        spikes = loihi_sim.simulate(loihi_quant.to_loihi_net(q), np.concatenate([flat, np.zeros((D, B, flat.shape[2]))]))
        out = spikes[list(spikes)[-1]]
    chip_pred = out.sum(0).argmax(-1)
    y = yte.numpy()
    return {"model": name, "target": target + (" (larger pools)" if oversize else ""), "n": int(B),
            "float": float((float_pred == y).mean()), "chip": float((chip_pred == y).mean()),
            "agree": float((float_pred == chip_pred).mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="shd,mnist_snntorch")
    ap.add_argument("--limit", type=int, default=600)
    ap.add_argument("--targets", default="xylo-audio2,loihi2")
    a = ap.parse_args()
    print("| model | target | samples | float accuracy | chip-exact accuracy | same prediction |")
    print("|---|---|---|---|---|---|")
    for name in a.models.split(","):
        for target in a.targets.split(","):
            try:
                r = run(name, a.limit, target)
            except Exception as e:  # noqa: BLE001 - one row per model, the reason when it cannot be quantized
                print(f"| {name} | {target} | - | - | not quantized: {' '.join(str(e).split())[:120]} | - |")
                continue
            print(f"| {r['model']} | {r['target']} | {r['n']} | {r['float']:.4f} | {r['chip']:.4f} | {r['agree']:.4f} |")


if __name__ == "__main__":
    main()
