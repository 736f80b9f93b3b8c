"""SpikingRx and its ANN twin under the three energy conventions: models/results/spikingrx_energy.{md,json}.

    .venv/bin/python scripts/spikingrx_energy.py

Every shipped SpikingRx checkpoint (T=4, T=2 and the fewer-spike variants of
models/spikingrx/variants.py that exist) runs on the shipped sample (4 real received
grids at 15 dB, the same grid at each of its T steps); conventions and equations:
docs/report.md, "Energy conventions".
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.spikingrx.energy import ann_zero_skipping, energy_of  # noqa: E402
from models.spikingrx.train import ANN_CHECKPOINT, CHECKPOINT, RESULTS, sample_for, sample_for_steps  # noqa: E402
from models.spikingrx.variants import VARIANTS  # noqa: E402
from snnexport import checkpoint  # noqa: E402

NAMES = {"neurobench": "(a) NeuroBench", "papers": "(b) papers", "event": "(c) event-exact"}


def shipped():
    paths = [CHECKPOINT, CHECKPOINT.with_name("spikingrx_t2.pt"), CHECKPOINT.with_name("spikingrx_k1_t2.pt")]
    paths += [v.path for v in VARIANTS]
    paths += [CHECKPOINT.with_name(n) for n in PAPER_SNNS]
    return [p for p in paths if p.exists()]


# the paper-scale model (train.paper_config) and its fine-tuned variants; their twin: spikingrx_paper_ann.pt
PAPER_SNNS = ("spikingrx_paper.pt", "spikingrx_paper_r1.pt", "spikingrx_paper_t1.pt", "spikingrx_paper_r2.pt",
              "spikingrx_paper_r1b.pt", "spikingrx_paper_r1c.pt", "spikingrx_paper_r2b.pt")
PAPER_ANN = CHECKPOINT.with_name("spikingrx_paper_ann.pt")


def main() -> None:
    t0 = time.time()
    rows = []
    for p in shipped():
        r = energy_of(p, sample_for(p))
        r["rate_reg"] = checkpoint.load(p, trust_arch=True).info.get("train", {}).get("rate_reg", 0.0)
        rows.append(r)
        print(p.name, {k: round(d["ann_over_snn"], 3) for k, d in r["conventions"].items()}, flush=True)
    ann = ann_zero_skipping(ANN_CHECKPOINT, sample_for_steps(4))
    k1_ann = CHECKPOINT.with_name("spikingrx_k1_t2_ann.pt")
    k1 = ann_zero_skipping(k1_ann, sample_for(CHECKPOINT.with_name("spikingrx_k1_t2.pt"))) if k1_ann.exists() else None
    paper = ann_zero_skipping(PAPER_ANN, sample_for(CHECKPOINT.with_name(PAPER_SNNS[0]))) if PAPER_ANN.exists() else None
    mac, ac = 4.6, 0.9
    result = {"rows": rows, "ann_twin": {"dense_macs": ann["dense_macs"], "dense_energy_pj": ann["dense_macs"] * mac,
                                         "zero_skipping_macs": ann["effective_macs"],
                                         "zero_skipping_energy_pj": ann["effective_macs"] * mac},
              "ann_twin_k1": k1 and {"dense_macs": k1["dense_macs"], "dense_energy_pj": k1["dense_macs"] * mac},
              "ann_twin_paper": paper and {"dense_macs": paper["dense_macs"], "dense_energy_pj": paper["dense_macs"] * mac},
              "mac_pj": mac, "ac_pj": ac, "seconds": round(time.time() - t0, 1)}
    (RESULTS / "spikingrx_energy.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "spikingrx_energy.md").write_text(markdown(result))
    print(markdown(result))


def markdown(res) -> str:
    a = res["ann_twin"]
    lines = [
        "# SpikingRx vs its ANN twin under three energy conventions",
        "",
        "Synaptic energy per inference (one 72x14 slot), 45 nm fp32: E_MAC = 4.6 pJ, E_AC = 0.9 pJ (Horowitz, "
        "ISSCC 2014). Definitions and equations: docs/report.md, \"Energy conventions\". Input: the shipped "
        "sample (4 real received grids at 15 dB, repeated over T). Written by `scripts/spikingrx_energy.py`.",
        "",
        f"ANN twin of the K=3 models (same topology, ReLU, one pass): {a['dense_macs']:,} MACs = {a['dense_energy_pj'] / 1e6:.1f} uJ dense "
        f"(the baseline of every ratio below); on zero-skipping hardware {a['zero_skipping_macs']:,.0f} MACs = "
        f"{a['zero_skipping_energy_pj'] / 1e6:.1f} uJ.",
        "",
        *([f"ANN twin of the K=1 models (14 input channels): {res['ann_twin_k1']['dense_macs']:,} MACs = "
           f"{res['ann_twin_k1']['dense_energy_pj'] / 1e6:.1f} uJ (the baseline of the K=1 rows).", ""] if res.get("ann_twin_k1") else []),
        *([f"ANN twin of the paper-scale models (128 filters, 7 SEW blocks; `spikingrx_paper_ann.pt`): "
           f"{res['ann_twin_paper']['dense_macs']:,} MACs = {res['ann_twin_paper']['dense_energy_pj'] / 1e6:.1f} uJ "
           "(the baseline of the spikingrx_paper* rows).", ""] if res.get("ann_twin_paper") else []),
        "| model | K (C_in) | T | rate reg. | firing rate | " + " | ".join(f"{NAMES[k]}: MACs / ACs / energy / ANN÷SNN" for k in NAMES) + " |",
        "|---|---:|---:|---:|---:|" + "---|" * len(NAMES),
    ]
    for r in res["rows"]:
        cells = []
        for k in NAMES:
            d = r["conventions"][k]
            cells.append(f"{d['macs'] / 1e6:.2f}M / {d['acs'] / 1e6:.2f}M / {d['energy_pj'] / 1e6:.1f} uJ / "
                         f"**{d['ann_over_snn']:.2f}x**")
        lines.append(f"| {r['checkpoint']} | {r['neighbours']} ({r['input_channels']}) | {r['steps']} | {r['rate_reg']:g} | {r['firing_rate']:.3f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Which convention is the paper's: SpikingRx (arXiv 2409.05610) and NeuromorphicRx (arXiv 2512.05246) cost "
        "the first layer as MACs and every other layer as ACs at spike rate x T x FLOPs: convention (b). Their ~9x "
        "(T=2) and 7.6x are (b) numbers; (a) NeuroBench charges the analog stem T times and the integer SEW sums "
        "as MACs, (c) charges a SEW sum of k spikes as k events and the stem once.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
