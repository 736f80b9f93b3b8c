"""BER vs SNR of SpikingRx, its ANN twin and classical receivers, on the same Sionna slots.

For every SNR point the same freshly simulated slots (seeded, never used in training) go
through every receiver:

* ``spikingrx``: the shipped SNN checkpoint (T steps of the repeated input grid);
* ``ann``: the ReLU twin (same topology, same training data);
* ``ls``: LS at the pilots + linear time interpolation, LMMSE equalisation, APP demapping;
* ``ls-nn``: the same with nearest-neighbour interpolation (Sionna's default LS receiver);
* ``lmmse``: Sionna's LMMSE channel estimator with the true channel statistics;
* ``perfect``: the true channel (perfect CSI), LMMSE equalisation, APP demapping.

BER is uncoded: hard decisions ``[LLR > 0]`` on the coded bits of all data REs. Writes
``spikingrx_ber.json``, ``spikingrx_ber.md`` and ``spikingrx_ber.png`` under models/results/.

    python -m models.spikingrx.evaluate [--slots 256] [--snr-min -5 --snr-max 20 --snr-step 2.5]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from snnexport import checkpoint

from .data import LinkConfig, OFDMLink, bit_errors, features
from .train import ANN_CHECKPOINT, CHECKPOINT, RESULTS, predict_llr

BASELINES = ("ls", "ls-nn", "lmmse", "perfect")
LABELS = {
    "spikingrx": "SpikingRx (SNN)",
    "ann": "ANN twin (ReLU)",
    "ls": "LS (linear interp.) + LMMSE eq.",
    "ls-nn": "LS (nearest-neighbour) + LMMSE eq.",
    "lmmse": "LMMSE estimation + LMMSE eq.",
    "perfect": "Perfect CSI + LMMSE eq.",
}
EVAL_SEED = 20_240_905  # disjoint from the training seeds (see train.VAL_SEED_OFFSET)


class NeuralReceiver:
    """A loaded checkpoint plus what it needs to turn slots into LLRs."""

    def __init__(self, path: Path):
        loaded = checkpoint.load(path)
        self.model = loaded.model
        self.steps = int(loaded.info["steps"])
        self.neighbours = int(loaded.info["features"]["neighbours"])
        self.link = LinkConfig.from_dict(loaded.info["link"])

    @torch.no_grad()
    def llr(self, slots) -> torch.Tensor:
        return predict_llr(self.model, features(slots, self.neighbours), self.steps)


def snr_grid(lo: float, hi: float, step: float) -> List[float]:
    n = int(math.floor((hi - lo) / step + 1e-9)) + 1
    return [round(lo + i * step, 6) for i in range(n)]


def ber_curve(link: OFDMLink, receivers: Dict[str, NeuralReceiver], snrs: Sequence[float], slots: int,
              chunk: int = 64, seed: int = EVAL_SEED, progress: bool = True) -> Dict[str, Dict[str, List]]:
    """Errors and bit counts per receiver and SNR; every receiver sees the same slots."""
    from tqdm.auto import tqdm

    names = list(receivers) + [b for b in BASELINES if b != "lmmse" or link.lmmse_estimator is not None]
    out = {n: {"errors": [], "bits": [], "ber": []} for n in names}
    bar = tqdm(total=len(snrs) * math.ceil(slots / chunk), desc="BER", disable=not progress, dynamic_ncols=True)
    for i, snr in enumerate(snrs):
        errs = dict.fromkeys(names, 0)
        bits = dict.fromkeys(names, 0)
        for k, start in enumerate(range(0, slots, chunk)):
            s = link.simulate(min(chunk, slots - start), float(snr), seed=seed + 1000 * i + k)
            for n in names:
                llr = receivers[n].llr(s) if n in receivers else link.baseline_llr(s, n)
                e, b = bit_errors(llr, s.bits, s.data_mask)
                errs[n], bits[n] = errs[n] + e, bits[n] + b
            bar.update(1)
        for n in names:
            out[n]["errors"].append(errs[n])
            out[n]["bits"].append(bits[n])
            out[n]["ber"].append(errs[n] / bits[n])
    bar.close()
    return out


def snr_at_ber(snrs: Sequence[float], bers: Sequence[float], target: float) -> Optional[float]:
    """SNR where the curve crosses ``target``, interpolating log10(BER) linearly in dB."""
    for (s0, b0), (s1, b1) in zip(zip(snrs, bers), zip(snrs[1:], bers[1:])):
        if b0 >= target > b1 and b1 > 0:
            l0, l1, lt = math.log10(b0), math.log10(b1), math.log10(target)
            return s0 + (s1 - s0) * (l0 - lt) / (l0 - l1)
    return None


def gaps(snrs: Sequence[float], curves: Dict[str, Dict[str, List]], targets=(1e-1, 3e-2, 1e-2)) -> Dict:
    """SNR needed by each receiver at each target BER, and SpikingRx's gap to the others (dB)."""
    req = {str(t): {n: snr_at_ber(snrs, c["ber"], t) for n, c in curves.items()} for t in targets}
    gap = {}
    for t, r in req.items():
        ref = r.get("spikingrx")
        gap[t] = {n: (None if ref is None or v is None else round(ref - v, 2)) for n, v in r.items() if n != "spikingrx"}
    return {"snr_required_db": req, "spikingrx_gap_db": gap}


def markdown(result: Dict) -> str:
    snrs, curves = result["snr_db"], result["curves"]
    names = list(curves)
    lines = [
        "# SpikingRx: uncoded BER vs SNR",
        "",
        f"Link: {result['link']['modulation'].upper()}, {result['link']['channel_model'].upper()} "
        f"(delay spread {result['link']['delay_spread'] * 1e9:.0f} ns, UE speed "
        f"{result['link']['min_speed']:g}-{result['link']['max_speed']:g} m/s, carrier "
        f"{result['link']['carrier_frequency'] / 1e9:g} GHz), {result['link']['num_subcarriers']} subcarriers x "
        f"{result['link']['num_ofdm_symbols']} OFDM symbols, {result['link']['subcarrier_spacing'] / 1e3:g} kHz, "
        f"Kronecker pilots on symbols {result['link']['pilot_ofdm_symbols']}.",
        f"{result['slots_per_snr']} fresh slots per SNR point ({curves[names[0]]['bits'][0]} coded bits), "
        f"the same slots for every receiver. SNR = Es/N0 per resource element. SpikingRx T = {result['steps']}.",
        "",
        "| SNR [dB] | " + " | ".join(LABELS.get(n, n) for n in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for i, s in enumerate(snrs):
        lines.append(f"| {s:g} | " + " | ".join(f"{curves[n]['ber'][i]:.2e}" for n in names) + " |")
    lines += ["", "SNR needed to reach a BER, and SpikingRx's gap (positive: SpikingRx needs more SNR):", ""]
    lines.append("| target BER | " + " | ".join(LABELS.get(n, n) for n in names) + " |")
    lines.append("|---:|" + "---:|" * len(names))
    for t, req in result["summary"]["snr_required_db"].items():
        cells = []
        for n in names:
            v = req.get(n)
            g = result["summary"]["spikingrx_gap_db"][t].get(n)
            cells.append("n/a" if v is None else (f"{v:.2f} dB" + ("" if g is None else f" ({g:+.2f})")))
        lines.append(f"| {float(t):g} | " + " | ".join(cells) + " |")
    lines += ["", "SpikingRx beats LS (linear interp.) at every SNR point: "
              + ("yes" if result["summary"]["beats_ls_everywhere"] else "**no**"), ""]
    return "\n".join(lines)


def plot(result: Dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"spikingrx": ("C3", "o", "-"), "ann": ("C0", "s", "--"), "ls": ("C2", "^", "-"),
              "ls-nn": ("C2", "v", ":"), "lmmse": ("C1", "d", "-"), "perfect": ("k", "x", "--")}
    fig, ax = plt.subplots(figsize=(7, 4.8))
    for n, c in result["curves"].items():
        bers = [b if b > 0 else np.nan for b in c["ber"]]
        color, marker, ls = styles.get(n, (None, ".", "-"))
        ax.semilogy(result["snr_db"], bers, color=color, marker=marker, linestyle=ls, label=LABELS.get(n, n))
    link = result["link"]
    ax.set_title(f"SpikingRx (T={result['steps']}), {link['modulation'].upper()}, "
                 f"{link['channel_model'].upper()}, {link['num_subcarriers']}x{link['num_ofdm_symbols']} grid")
    ax.set_xlabel("SNR = Es/N0 [dB]")
    ax.set_ylabel("uncoded BER")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _repo_relative(path) -> str:
    """Paths inside the repository are recorded relative to its root (stable across checkouts)."""
    path, root = Path(path).resolve(), RESULTS.parents[1]
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def evaluate(checkpoint_path: Path = CHECKPOINT, ann_path: Optional[Path] = ANN_CHECKPOINT, slots: int = 256,
             snrs: Sequence[float] = snr_grid(-5, 20, 2.5), out_dir: Path = RESULTS, seed: int = EVAL_SEED,
             progress: bool = True, out_stem: str = "spikingrx_ber") -> Dict:
    """Run :func:`ber_curve` for the checkpoints and write ``<out_stem>.json/.md/.png``."""
    torch.set_num_threads(2)
    t0 = time.time()
    receivers = {"spikingrx": NeuralReceiver(Path(checkpoint_path))}
    if ann_path is not None and Path(ann_path).exists():
        receivers["ann"] = NeuralReceiver(Path(ann_path))
    link_cfg = receivers["spikingrx"].link
    link = OFDMLink(link_cfg)
    curves = ber_curve(link, receivers, snrs, slots, seed=seed, progress=progress)
    snr_list = list(snrs)
    summary = gaps(snr_list, curves)
    summary["beats_ls_everywhere"] = all(a < b for a, b in zip(curves["spikingrx"]["ber"], curves["ls"]["ber"]))
    result = {
        "snr_db": snr_list,
        "slots_per_snr": slots,
        "seed": seed,
        "steps": receivers["spikingrx"].steps,
        "link": link_cfg.to_dict(),
        "checkpoints": {n: _repo_relative(p) for n, p in
                        [("spikingrx", checkpoint_path), ("ann", ann_path)] if p is not None and Path(p).exists()},
        "curves": curves,
        "summary": summary,
        "seconds": round(time.time() - t0, 1),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{out_stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out_dir / f"{out_stem}.md").write_text(markdown(result))
    plot(result, out_dir / f"{out_stem}.png")
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="BER vs SNR of SpikingRx and its baselines")
    p.add_argument("--checkpoint", default=str(CHECKPOINT))
    p.add_argument("--ann", default=str(ANN_CHECKPOINT), help="ANN twin checkpoint ('' to skip)")
    p.add_argument("--slots", type=int, default=256, help="slots per SNR point")
    p.add_argument("--snr-min", type=float, default=-5.0)
    p.add_argument("--snr-max", type=float, default=20.0)
    p.add_argument("--snr-step", type=float, default=2.5)
    p.add_argument("--seed", type=int, default=EVAL_SEED)
    p.add_argument("--out-dir", default=str(RESULTS))
    p.add_argument("--out-stem", default="spikingrx_ber", help="file name stem of the .json/.md/.png")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    result = evaluate(Path(a.checkpoint), Path(a.ann) if a.ann else None, a.slots,
                      snr_grid(a.snr_min, a.snr_max, a.snr_step), Path(a.out_dir), a.seed, not a.no_progress,
                      a.out_stem)
    print(markdown(result))
    print(f"({result['seconds']} s) -> {Path(a.out_dir) / (a.out_stem + '.md')}")


if __name__ == "__main__":
    main()
