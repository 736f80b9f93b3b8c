"""The energy-accuracy frontier of SpikingRx: BLER gap to the ANN twin vs energy ratio, per convention.

Reads ``spikingrx_bler.json`` (SpikingRx T=4 and T=2, the ANN twin and the classical receivers)
and ``spikingrx_bler_variants.json`` (the fewer-spike variants, same slots and codewords), and
``spikingrx_energy.json`` (scripts/spikingrx_energy.py); writes ``spikingrx_frontier.{md,png,json}``.

    python -m models.spikingrx.frontier
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from .evaluate import BLER_TARGET, bler_gaps
from .train import RESULTS

CONVENTIONS = {"neurobench": "(a) NeuroBench", "papers": "(b) papers", "event": "(c) event-exact"}
TARGET_RATIO, TARGET_GAP = 5.0, 0.3  # issue 17's bar: >= 5x less energy at <= 0.3 dB BLER gap, convention (b)


def _load(name: str) -> Dict:
    p = RESULTS / name
    return json.loads(p.read_text()) if p.exists() else {}


# BLER runs: (file, file whose "ann" curve is the reference when this one has none: same slots and seed)
BLER_RUNS = [("spikingrx_bler.json", None), ("spikingrx_bler_variants.json", "spikingrx_bler.json"),
             ("spikingrx_bler_k1.json", None), ("spikingrx_bler_qat.json", "spikingrx_bler.json"),
             ("spikingrx_bler_paper.json", None), ("spikingrx_bler_paper_variants.json", "spikingrx_bler_paper.json"),
             ("spikingrx_bler_paper_ft.json", "spikingrx_bler_paper.json"),
             ("spikingrx_bler_paper_ft2.json", "spikingrx_bler_paper.json")]


def energy_rows() -> Dict[str, Dict]:
    """Checkpoint stem -> energy row: scripts/spikingrx_energy.py's, and the 8-bit runs' (models/spikingrx/qat.py)."""
    rows = {r["checkpoint"].removesuffix(".pt"): r for r in _load("spikingrx_energy.json").get("rows", [])}
    rows.update(_load("spikingrx_qat.json").get("energy", {}))
    return rows


def points() -> List[Dict]:
    """One row per SNN checkpoint with a BLER curve and an energy row: gap to its own ANN twin, ratios."""
    from pathlib import Path as _P

    energy = energy_rows()
    rows, seen = [], set()
    for name, ref_name in BLER_RUNS:
        run = _load(name)
        if not run:
            continue
        curves, ckpts = dict(run["curves"]), dict(run["checkpoints"])
        if "ann" not in curves and ref_name:
            ref = _load(ref_name)
            assert (ref["snr_db"], ref["seed"], ref["slots_per_snr"]) == (run["snr_db"], run["seed"], run["slots_per_snr"])
            curves["ann"], ckpts["ann"] = ref["curves"]["ann"], ref["checkpoints"]["ann"]
        gaps = bler_gaps(run["snr_db"], curves)
        for n, path in ckpts.items():
            stem = _P(path).stem
            if n == "ann" or stem in seen or stem not in energy:
                continue
            seen.add(stem)
            r = energy[stem]
            rows.append({"name": stem, "ann_twin": _P(ckpts["ann"]).stem, "steps": r["steps"], "rate_reg": r["rate_reg"],
                         "firing_rate": r["firing_rate"], "snr_at_bler10_db": gaps["snr_required_db"][n],
                         "bler_at_max_snr": next((v for v in reversed(curves[n]["bler"]) if v is not None), None),
                         "max_snr_db": run["snr_db"][-1], "neighbours": r.get("neighbours"),
                         "ann_snr_at_bler10_db": gaps["snr_required_db"]["ann"],
                         "bound_papers": r["ann_macs"] / r["conventions"]["papers"]["macs"],
                         "gap_db": gaps["gap_to_ann_db"][n], "weights": r.get("weights", "fp32"),
                         **({"ratio_papers_int8": r["conventions_int8"]["papers"]["ann_over_snn"]}
                            if "conventions_int8" in r else {}),
                         **{f"ratio_{c}": r["conventions"][c]["ann_over_snn"] for c in CONVENTIONS}})
    return rows


def best(rows: List[Dict], convention: str = "papers", max_gap: float = TARGET_GAP) -> Dict:
    """The shipped checkpoint with the highest ratio within ``max_gap`` (PTQ rows are comparisons, not shipped)."""
    ok = [r for r in rows if r["gap_db"] is not None and r["gap_db"] <= max_gap and r["weights"] != "int8 PTQ"]
    return max(ok, key=lambda r: r[f"ratio_{convention}"]) if ok else {}


def markdown(rows: List[Dict], stem_bound: Dict) -> str:
    lines = ["# SpikingRx energy-accuracy frontier", "",
             f"Gap: SNR SpikingRx needs for coded BLER {BLER_TARGET:g} minus the ANN twin's (5G LDPC, "
             "models/results/spikingrx_bler.md; positive: worse). Energy ratio: dense ANN twin / SNN synaptic energy "
             "on the shipped 15 dB sample, per convention (models/results/spikingrx_energy.md; above 1: the SNN "
             "saves energy).", "",
             "| variant | its ANN twin | weights | K | T | rate reg. | firing rate | SNR at BLER 10% | gap [dB] | "
             + " | ".join(f"ANN÷SNN {v}" for v in CONVENTIONS.values()) + " | (b) bound, no spikes |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(CONVENTIONS) + 1)]
    for r in sorted(rows, key=lambda r: -r["ratio_papers"]):
        gap = (f"> +{r['max_snr_db'] - r['ann_snr_at_bler10_db']:.1f}" if r["gap_db"] is None
               else f"{r['gap_db']:+.2f}")
        snr = (f"> {r['max_snr_db']:g} dB (BLER {r['bler_at_max_snr']:.2f} there)" if r["snr_at_bler10_db"] is None
               else f"{r['snr_at_bler10_db']:.2f} dB")
        lines.append(f"| {r['name']} | {r['ann_twin']} | {r['weights']} | {r['neighbours']} | {r['steps']} | {r['rate_reg']:g} | "
                     f"{r['firing_rate']:.3f} | {snr} | {gap} | "
                     + " | ".join(f"{r['ratio_' + c]:.2f}x" for c in CONVENTIONS) + f" | {r['bound_papers']:.2f}x |")
    b = best(rows)
    lines += ["", f"Best point under the papers' convention (b) within {TARGET_GAP} dB of the ANN twin: "
              + (f"**{b['name']}**, {b['ratio_papers']:.2f}x at {b['gap_db']:+.2f} dB." if b else "none."),
              "", f"Bound from the stem under (b): for the K=3 models the first layer alone costs "
              f"{stem_bound['stem_macs'] / 1e6:.2f}M MACs x 4.6 pJ of the twin's {stem_bound['ann_macs'] / 1e6:.2f}M, so "
              f"even with no spike at all the ratio is at most {stem_bound['bound']:.2f}x (column *(b) bound*): the "
              f"issue's >= {TARGET_RATIO:g}x is out of reach for 26 input feature channels into a 3x3 stem, whatever "
              "the firing rate and T. With K=1 features (14 channels) the bound rises to 7.9x, but the K=1 SNNs "
              "trained here are 0.9-2.3 dB behind their twin (3 more fine-tuning epochs moved the T=2 one from +1.03 to +0.89 dB).", ""]
    lines += _paper_note(rows)
    lines += _quantized_note(rows)
    twins = _twin_gap()
    if twins is not None:
        lines += [f"The K=1 ANN twin itself needs {twins:+.2f} dB more than the K=3 twin at BLER 10% "
                  "(same slots and codewords).", ""]
    return "\n".join(lines)


def _paper_note(rows: List[Dict]) -> List[str]:
    """The paper-scale rows: their stem is a small share of the twin, so the bound is far above 5x and
    the firing rate x T decides the ratio."""
    p = sorted((r for r in rows if r["name"].startswith("spikingrx_paper")), key=lambda r: r["name"])
    if not p:
        return []
    lines = [f"Paper-scale SpikingRx (`train.paper_config`: 128 filters, 7 SEW blocks, 1,065,732 parameters; twin "
             f"{p[0]['ann_twin']}): the 3x3 stem is a small share of the twin, so the no-spike bound under (b) is "
             f"{p[0]['bound_papers']:.1f}x and the ratio is set by the firing rate x T of the 14 body convolutions:", ""]
    for r in p:
        gap = "n/a" if r["gap_db"] is None else f"{r['gap_db']:+.2f} dB"
        lines.append(f"- {r['name']}: T={r['steps']}, rate reg. {r['rate_reg']:g}, firing rate {r['firing_rate']:.3f}: "
                     f"gap {gap}, (b) {r['ratio_papers']:.2f}x.")
    return lines + [""]


def _quantized_note(rows: List[Dict]) -> List[str]:
    q = [r for r in rows if r["weights"] != "fp32"]
    if not q:
        return []
    floats = {r["name"]: r for r in rows}
    lines = ["8-bit weights (models/spikingrx/qat.py, results/spikingrx_qat.json): every conv weight on the Loihi 2 "
             "grid (per layer, symmetric, |k| <= 127, BatchNorm folded). QAT: 2 epochs of straight-through fine-tuning "
             "from the float model; PTQ: the same grid without fine-tuning (not shipped: `python -m models.spikingrx.qat_runs "
             "--only NAME` rebuilds it in seconds under out/). The energy columns above cost every operation as 45 nm "
             "fp32 for the SNN and its twin alike: (b) counts dense FLOPs and moves only with the firing rate; (a) and "
             "(c) count nonzero weights only, and the 8-bit grid rounds 12-14% of the stem's weights (3-5% of the "
             "others) to zero, hence their higher ratios. With int8 arithmetic for both (MAC 0.23 pJ, AC 0.03 pJ, "
             "Horowitz) an AC is relatively cheaper and (b) becomes (the float models' counts would give the same: "
             "the gain is the arithmetic, which 8-bit weights make legitimate):", ""]
    for r in sorted(q, key=lambda r: r["name"]):
        base = floats.get(r["name"].replace("_qat8", "").replace("_ptq8", ""))
        ref = f" (float {base['name']}: {base['gap_db']:+.2f} dB)" if base and base["gap_db"] is not None else ""
        gap = "n/a" if r["gap_db"] is None else f"{r['gap_db']:+.2f} dB"
        lines.append(f"- {r['name']} ({r['weights']}): gap {gap}{ref}; (b) {r['ratio_papers']:.2f}x at fp32 costs, "
                     f"{r['ratio_papers_int8']:.2f}x with both at int8.")
    return lines + [""]


def _twin_gap():
    a, b = _load("spikingrx_bler.json"), _load("spikingrx_bler_k1.json")
    if not a or not b or (a["snr_db"], a["seed"], a["slots_per_snr"]) != (b["snr_db"], b["seed"], b["slots_per_snr"]):
        return None
    ga, gb = bler_gaps(a["snr_db"], a["curves"]), bler_gaps(b["snr_db"], b["curves"])
    return gb["snr_required_db"]["ann"] - ga["snr_required_db"]["ann"]


def stem_bound() -> Dict:
    e = _load("spikingrx_energy.json")
    r = e["rows"][0]["conventions"]["papers"]
    stem, ann = r["macs"], e["ann_twin"]["dense_macs"]
    return {"stem_macs": stem, "ann_macs": ann, "bound": ann / stem}


def plot(rows: List[Dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    markers = {"neurobench": "s", "papers": "o", "event": "^"}
    for k, (c, label) in enumerate(CONVENTIONS.items()):
        pts = [r for r in rows if r["gap_db"] is not None]
        ax.scatter([r[f"ratio_{c}"] for r in pts], [r["gap_db"] for r in pts], marker=markers[c], color=f"C{k}", label=label)
        if c == "papers":
            for r in pts:
                ax.annotate(r["name"].replace("spikingrx_", "").replace("spikingrx", "t4"), (r["ratio_papers"], r["gap_db"]),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axvline(1.0, color="gray", lw=0.8)
    ax.axvline(TARGET_RATIO, color="C3", lw=0.8, ls="--", label=f"issue bar: {TARGET_RATIO:g}x at <= {TARGET_GAP} dB")
    ax.axhline(TARGET_GAP, color="C3", lw=0.8, ls="--")
    ax.axvline(stem_bound()["bound"], color="C1", lw=0.8, ls=":", label="(b) bound for K=3: stem MACs alone")
    ax.set_xscale("log")
    ax.set_xlabel("energy ratio, dense ANN twin / SNN (log)")
    ax.set_ylabel(f"SNR gap to the ANN twin at coded BLER {BLER_TARGET:g} [dB]")
    ax.set_title("SpikingRx variants: accuracy vs energy under three conventions")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    rows = points()
    sb = stem_bound()
    (RESULTS / "spikingrx_frontier.json").write_text(json.dumps({"rows": rows, "stem_bound": sb,
                                                                  "best_papers": best(rows)}, indent=1) + "\n")
    (RESULTS / "spikingrx_frontier.md").write_text(markdown(rows, sb))
    plot(rows, RESULTS / "spikingrx_frontier.png")
    print(markdown(rows, sb))


if __name__ == "__main__":
    main()
