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
    return _write(result, out_dir, out_stem, markdown, plot)


def _write(result: Dict, out_dir, out_stem: str, to_markdown, to_plot) -> Dict:
    """``<out_stem>.json``, ``.md`` and ``.png`` of one evaluation in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{out_stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out_dir / f"{out_stem}.md").write_text(to_markdown(result))
    to_plot(result, out_dir / f"{out_stem}.png")
    return result


# ----- coded BLER through 5G NR LDPC -------------------------------------------------------------

BLER_TARGET = 0.1
CODED_SNRS = tuple(6.5 + 0.5 * i for i in range(14))  # 6.5..13 dB: the waterfall of every receiver (LS last)
STOP_AFTER_ZERO = 2  # a receiver with BLER 0 at this many consecutive SNR points is not decoded further
LDPC_ITERATIONS = 10


class Code:
    """One 5G NR LDPC transport block per slot filling every data RE (Sionna LDPC5G encoder/decoder).

    ``n`` = data REs x bits per symbol (864 x 4 = 3456 for 16-QAM, 1728 for QPSK) and
    ``k = n / 2`` (code rate 1/2: 1728 info bits per 16-QAM slot); Sionna picks the base
    graph and lifting size from (k, n) (BG2 here) and applies the 5G rate matching and the
    bit interleaver for the modulation. No CRC: a block error is any wrong info bit after
    ``LDPC_ITERATIONS`` belief-propagation iterations (boxplus-phi).
    """

    def __init__(self, num_data_res: int, bits_per_symbol: int, rate: float = 0.5, iterations: int = LDPC_ITERATIONS):
        from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

        self.n = num_data_res * bits_per_symbol
        self.k = int(round(self.n * rate))
        self.iterations = iterations
        self.encoder = LDPC5GEncoder(self.k, self.n, num_bits_per_symbol=bits_per_symbol)
        self.decoder = LDPC5GDecoder(self.encoder, hard_out=True, num_iter=iterations)

    def describe(self) -> Dict:
        return {"k": self.k, "n": self.n, "rate": self.k / self.n, "decoder": "5G NR LDPC, belief propagation (boxplus-phi)",
                "iterations": self.iterations}


@torch.no_grad()
def bler_curve(link: OFDMLink, receivers: Dict[str, NeuralReceiver], snrs: Sequence[float], slots: int, code: Code,
               chunk: int = 32, seed: int = EVAL_SEED, baselines: Sequence[str] = ("ls", "lmmse", "perfect"),
               progress: bool = True) -> Dict[str, Dict[str, List]]:
    """Block and (uncoded) bit errors per receiver and SNR; every receiver decodes the same codewords."""
    from tqdm.auto import tqdm

    names = list(receivers) + [b for b in baselines if b != "lmmse" or link.lmmse_estimator is not None]
    keys = ("block_errors", "blocks", "bler", "bit_errors", "bits", "ber")
    out = {n: {k: [] for k in keys} for n in names}
    bar = tqdm(total=len(snrs) * math.ceil(slots / chunk), desc="BLER", disable=not progress, dynamic_ncols=True)
    zeros = dict.fromkeys(names, 0)  # consecutive SNR points with BLER 0
    for i, snr in enumerate(snrs):
        active = [n for n in names if zeros[n] < STOP_AFTER_ZERO]
        acc = {n: dict.fromkeys(keys[:2] + keys[3:5], 0) for n in names}
        for j, start in enumerate(range(0, slots, chunk)):
            b = min(chunk, slots - start)
            gen = torch.Generator().manual_seed(seed + 7 * (1000 * i + j))
            info = torch.randint(0, 2, (b, code.k), generator=gen).to(torch.float32)
            s = link.simulate(b, float(snr), seed=seed + 1000 * i + j, bits=code.encoder(info))
            for n in active:
                llr = receivers[n].llr(s) if n in receivers else link.baseline_llr(s, n)
                info_hat = code.decoder(link.grid_to_stream(llr).to(torch.float32))
                e, nb = bit_errors(llr, s.bits, s.data_mask)
                a = acc[n]
                a["block_errors"] += int((info_hat != info).any(dim=1).sum())
                a["blocks"] += b
                a["bit_errors"] += e
                a["bits"] += nb
            bar.update(1)
        for n in names:
            a = acc[n]
            for k in ("block_errors", "blocks", "bit_errors", "bits"):
                out[n][k].append(a[k])
            # None: not simulated (BLER was already 0 at STOP_AFTER_ZERO lower SNR points)
            out[n]["bler"].append(a["block_errors"] / a["blocks"] if a["blocks"] else None)
            out[n]["ber"].append(a["bit_errors"] / a["bits"] if a["bits"] else None)
            zeros[n] = zeros[n] + 1 if a["blocks"] and a["block_errors"] == 0 else (zeros[n] if not a["blocks"] else 0)
    bar.close()
    return out


def bler_gaps(snrs: Sequence[float], curves: Dict[str, Dict[str, List]], reference: str = "ann",
              target: float = BLER_TARGET) -> Dict:
    """SNR needed for BLER = ``target`` per receiver and its gap to ``reference`` (positive: needs more SNR)."""
    # a point with no block error (or not simulated) counts as half an error in its blocks, so
    # that a waterfall falling from above the target to 0 between two points still crosses it
    floor = {n: 0.5 / max(c["blocks"]) for n, c in curves.items()}
    req = {n: snr_at_ber(snrs, [v if v else floor[n] for v in c["bler"]], target) for n, c in curves.items()}
    ref = req.get(reference)
    return {"target_bler": target, "snr_required_db": {n: (None if v is None else round(v, 3)) for n, v in req.items()},
            f"gap_to_{reference}_db": {n: (None if v is None or ref is None else round(v - ref, 3)) for n, v in req.items()}}


def evaluate_coded(checkpoints: Dict[str, Path], slots: int = 128, snrs: Sequence[float] = CODED_SNRS,
                   out_dir: Path = RESULTS, seed: int = EVAL_SEED, progress: bool = True,
                   out_stem: str = "spikingrx_bler", chunk: int = 32,
                   baselines: Sequence[str] = ("ls", "lmmse", "perfect"), threads: int = 2) -> Dict:
    """Coded BLER (and uncoded BER on the same slots) of the given neural receivers and LS / LMMSE / perfect CSI."""
    torch.set_num_threads(threads)
    t0, c0 = time.time(), time.process_time()
    receivers = {n: NeuralReceiver(Path(p)) for n, p in checkpoints.items()}
    link_cfg = next(iter(receivers.values())).link
    link = OFDMLink(link_cfg)
    code = Code(link.num_data_res, link_cfg.bits_per_symbol)
    curves = bler_curve(link, receivers, snrs, slots, code, chunk=chunk, seed=seed, baselines=baselines,
                        progress=progress)
    snr_list = list(snrs)
    result = {
        "snr_db": snr_list, "slots_per_snr": slots, "seed": seed, "link": link_cfg.to_dict(), "code": code.describe(),
        "steps": {n: r.steps for n, r in receivers.items()},
        "checkpoints": {n: _repo_relative(p) for n, p in checkpoints.items()},
        "curves": curves, "summary": bler_gaps(snr_list, curves),
        "seconds": round(time.time() - t0, 1), "cpu_seconds": round(time.process_time() - c0, 1),
    }
    return _write(result, out_dir, out_stem, markdown_coded, plot_coded)


def _label(n: str, steps: Dict[str, int]) -> str:
    return LABELS.get(n, n) + (f" T={steps[n]}" if n in steps and n != "ann" else "")


def markdown_coded(result: Dict) -> str:
    snrs, curves, code, link = result["snr_db"], result["curves"], result["code"], result["link"]
    names = list(curves)
    st = result["steps"]
    lines = [
        "# SpikingRx: coded BLER (5G NR LDPC) and uncoded BER vs SNR",
        "",
        f"Link: {link['modulation'].upper()}, {link['channel_model'].upper()}, UE speed {link['min_speed']:g}-"
        f"{link['max_speed']:g} m/s, {link['num_subcarriers']}x{link['num_ofdm_symbols']} grid. Code: one transport "
        f"block per slot over all data REs, k = {code['k']} info bits, n = {code['n']} coded bits (rate "
        f"{code['rate']:.2f}), {code['decoder']}, {code['iterations']} iterations, no CRC (block error: any info bit "
        f"wrong). {result['slots_per_snr']} slots per SNR point, the same codewords and channels for every receiver. "
        f"Run time {result['seconds']:.0f} s wall, {result['cpu_seconds']:.0f} s CPU.",
        "",
        "BLER:",
        "",
        "| SNR [dB] | " + " | ".join(_label(n, st) for n in names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for i, s in enumerate(snrs):
        lines.append(f"| {s:g} | " + " | ".join("-" if curves[n]['bler'][i] is None else f"{curves[n]['bler'][i]:.3f}"
                                                   for n in names) + " |")
    lines += ["", "Uncoded BER (hard decisions on the same LLRs):", "",
              "| SNR [dB] | " + " | ".join(_label(n, st) for n in names) + " |", "|---:|" + "---:|" * len(names)]
    for i, s in enumerate(snrs):
        lines.append(f"| {s:g} | " + " | ".join("-" if curves[n]['ber'][i] is None else f"{curves[n]['ber'][i]:.2e}"
                                                   for n in names) + " |")
    lines += ["", f"-: not simulated (BLER 0 at {STOP_AFTER_ZERO} lower SNR points)."]
    summ = result["summary"]
    lines += ["", f"SNR at BLER {summ['target_bler']:g} (interpolated in log BLER) and gap to the ANN twin:", "",
              "| receiver | SNR at BLER 10% | gap to ANN twin |", "|---|---:|---:|"]
    for n in names:
        v, g = summ["snr_required_db"][n], summ["gap_to_ann_db"][n]
        lines.append(f"| {_label(n, st)} | {'n/a' if v is None else f'{v:.2f} dB'} | {'n/a' if g is None else f'{g:+.2f} dB'} |")
    return "\n".join(lines) + "\n"


def plot_coded(result: Dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"spikingrx": ("C3", "o", "-"), "ann": ("C0", "s", "--"), "ls": ("C2", "^", "-"),
              "lmmse": ("C1", "d", "-"), "perfect": ("k", "x", "--")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, key, ylabel in ((axes[0], "bler", "coded BLER (5G LDPC)"), (axes[1], "ber", "uncoded BER")):
        for k, (n, c) in enumerate(result["curves"].items()):
            ys = [v if v else np.nan for v in c[key]]
            color, marker, ls = styles.get(n, (f"C{4 + k}", ".", ":"))
            ax.semilogy(result["snr_db"], ys, color=color, marker=marker, linestyle=ls, label=_label(n, result["steps"]))
        ax.set_xlabel("SNR = Es/N0 [dB]")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].axhline(BLER_TARGET, color="gray", lw=0.8)
    axes[0].legend(fontsize=7)
    code = result["code"]
    fig.suptitle(f"{result['link']['modulation'].upper()}, {result['link']['channel_model'].upper()}, "
                 f"LDPC k={code['k']} n={code['n']}, {result['slots_per_snr']} slots per point")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    p.add_argument("--coded", action="store_true",
                   help="coded BLER through 5G LDPC (SNR 6.5-13 dB; writes spikingrx_bler.*; --slots default 128)")
    p.add_argument("--extra", nargs="*", default=[], help="more neural receivers for --coded: NAME=CHECKPOINT")
    p.add_argument("--no-baselines", action="store_true", help="--coded: neural receivers only")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--threads", type=int, default=2, help="--coded: torch threads")
    a = p.parse_args(argv)
    if a.coded:
        ckpts = {"spikingrx": Path(a.checkpoint), **({"ann": Path(a.ann)} if a.ann else {})}
        ckpts.update({e.split("=", 1)[0]: Path(e.split("=", 1)[1]) for e in a.extra})
        stem = a.out_stem if a.out_stem != "spikingrx_ber" else "spikingrx_bler"
        result = evaluate_coded(ckpts, a.slots if a.slots != 256 else 128, CODED_SNRS, Path(a.out_dir), a.seed,
                                not a.no_progress, stem, baselines=() if a.no_baselines else ("ls", "lmmse", "perfect"),
                                threads=a.threads)
        print(markdown_coded(result))
        return
    result = evaluate(Path(a.checkpoint), Path(a.ann) if a.ann else None, a.slots,
                      snr_grid(a.snr_min, a.snr_max, a.snr_step), Path(a.out_dir), a.seed, not a.no_progress,
                      a.out_stem)
    print(markdown(result))
    print(f"({result['seconds']} s) -> {Path(a.out_dir) / (a.out_stem + '.md')}")


if __name__ == "__main__":
    main()
