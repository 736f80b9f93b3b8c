"""Python API costs: ``snnexport.simulate`` repeated (cached program) against a precompiled
call, and the peak RSS of ``snnexport verify`` over the batch size under ``--max-memory``.

    .venv/bin/python benchmarks/bench_api.py                     # simulate cache (~1 min)
    .venv/bin/python benchmarks/bench_api.py --verify-rss        # + SpikingRx verify B=4/16/64 at 1G (~5 min)

Timings are medians of interleaved rounds (this project's machine is shared; ratios are what
to read). Peak RSS is the child's ``ru_maxrss`` from ``os.wait4``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def bench_simulate(rounds: int) -> None:
    import torch

    import snnexport
    from snnexport.api import load
    from snnexport.inputs import make_input
    from snnexport.simulators.reference import runner

    for ckpt, steps in (("mnist_snntorch.pt", 25), ("spikingrx.pt", 8)):
        graph, _, _ = load(ROOT / "models" / "checkpoints" / ckpt)
        for batch in (1, 16):
            x = make_input(graph, steps, batch, 0, 0.2, None, torch.float32)
            prog = runner.compile_graph(graph, torch.float32)
            calls = {
                "precompiled": lambda: runner.simulate(prog, x, record_membranes=False),
                "snnexport.simulate": lambda: snnexport.simulate(graph, x),
                "recompile+membranes": lambda: runner.simulate(graph, x, torch.float32),
            }
            times = {k: [] for k in calls}
            for f in calls.values():
                f()  # warm-up (and the one compilation of the cached program)
            for _ in range(rounds):
                for k, f in calls.items():
                    t = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - t)
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            base = med["precompiled"]
            print(f"{ckpt:18s} T={steps:2d} B={batch:2d} float32: " +
                  ", ".join(f"{k} {v:7.2f} ms ({v / base:4.2f}x)" for k, v in med.items()))


def peak_rss(args) -> tuple:
    proc = subprocess.Popen([sys.executable, "-m", "snnexport", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.perf_counter() - t


def bench_verify_rss() -> None:
    ckpt = str(ROOT / "models" / "checkpoints" / "spikingrx.pt")
    for batch in (4, 16, 64):
        code, mib, wall = peak_rss(["verify", ckpt, "--batch", str(batch), "--max-memory", "1G", "--json"])
        print(f"verify spikingrx.pt --batch {batch:3d} --max-memory 1G: exit {code}, peak RSS {mib:6.0f} MiB, {wall:5.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--verify-rss", action="store_true")
    a = ap.parse_args()
    bench_simulate(a.rounds)
    if a.verify_rss:
        bench_verify_rss()


if __name__ == "__main__":
    main()
