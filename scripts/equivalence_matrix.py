"""Source framework x participant x spike mismatches, upstream witnesses included.

    .venv/bin/python scripts/equivalence_matrix.py [--dtype float64|float32] [--zoo]

Each row converts a small randomly initialised model of one source framework (and, with
--zoo, every shipped zoo checkpoint) and runs `snnexport verify` with every participant.
Cells: spike values that differ from the reference (of all compared), or the error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snnexport.checkpoint import LoadedModel, load  # noqa: E402
from snnexport.inputs import make_input  # noqa: E402
from snnexport.simulators import load_all, participants  # noqa: E402
from snnexport.sources import convert_model  # noqa: E402
from snnexport.verification import run_verify  # noqa: E402



def snntorch_leaky():
    import snntorch as snn

    return nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=0.9, init_hidden=True), nn.Linear(16, 8),
                         snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True)), dict(input_layout="step", input_shape=[20])


def snntorch_synaptic_zero():
    import snntorch as snn

    return nn.Sequential(nn.Linear(20, 16), snn.Leaky(beta=torch.rand(16), reset_mechanism="zero", init_hidden=True),
                         nn.Linear(16, 8), snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True)), \
        dict(input_layout="step", input_shape=[20])


def norse_lifbox():
    import norse.torch as norse

    return norse.SequentialState(nn.Linear(20, 16), norse.LIFBoxCell(), nn.Linear(16, 8), norse.LIFBoxCell()), \
        dict(input_layout="step", input_shape=[20], input_kind="analog")


def norse_lif_li():
    import norse.torch as norse

    return norse.SequentialState(nn.Linear(20, 16), norse.LIFCell(), nn.Linear(16, 4), norse.LICell()), \
        dict(input_layout="step", input_shape=[20], input_kind="analog")


def spikingjelly_conv():
    from spikingjelly.activation_based import layer, neuron

    m = nn.Sequential(layer.Conv2d(2, 4, 3, padding=1, step_mode="m"), layer.BatchNorm2d(4, step_mode="m"),
                      neuron.LIFNode(tau=2.0, v_reset=None, step_mode="m"), layer.Flatten(step_mode="m"),
                      layer.Linear(4 * 6 * 6, 5, step_mode="m"), neuron.IFNode(v_reset=0.0, step_mode="m"))
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_var.fill_(0.7)
            mod.running_mean.fill_(0.1)
    return m, dict(input_layout="TB", input_shape=[2, 6, 6], input_kind="analog")


def seed000_sew():
    from snnexport.examples.spikingrx import sew_block_model

    return sew_block_model(theta=0.3), dict(input_layout="BT", input_shape=[2, 6, 5], input_kind="analog")


BUILDERS = [("snnTorch Leaky (subtract, delayed)", snntorch_leaky), ("snnTorch Leaky zero + Synaptic", snntorch_synaptic_zero),
            ("Norse LIFBoxCell", norse_lifbox), ("Norse LIFCell + LICell", norse_lif_li),
            ("SpikingJelly conv+BN LIF/IF", spikingjelly_conv), ("custom (seed 000 SEW block)", seed000_sew)]


def cell(row) -> str:
    if row is None:
        return "n/a"
    if row.error:
        return "error: " + row.error.split(":")[0][:30]
    return f"{row.mismatches}" + ("" if row.identical else " ✗")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--zoo", action="store_true", help="also every shipped zoo checkpoint")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    load_all()
    sims = participants(default=True)  # every default participant the registry holds
    cases = []
    for title, build in BUILDERS:
        torch.manual_seed(0)
        model, info = build()
        lm = LoadedModel(model.eval(), f"{title}.pt", info=info)
        cases.append((title, lm))
    if args.zoo:
        for ck in sorted((ROOT / "models" / "checkpoints").glob("*.pt")):
            try:
                cases.append((f"zoo: {ck.stem}", load(ck)))
            except Exception as e:  # noqa: BLE001
                print(f"skip {ck.name}: {e}", file=sys.stderr)
    print(f"| source model ({args.dtype}, T={args.steps}, B={args.batch}) | reference spikes | " + " | ".join(sims) + " |")
    print("|---|---|" + "---|" * len(sims))
    for title, lm in cases:
        graph = convert_model(lm)
        x = make_input(graph, args.steps, args.batch, seed=1, rate=0.3, dtype=dtype)
        if graph.metadata["snnexport"]["input_kind"] == "analog":
            x = x * 8  # enough drive for every framework default (Norse dt*tau_mem_inv = 0.1)
        rep = run_verify(graph, x, dtype, sims, source=lm)
        rows = {r.name: r for r in rep.participants}
        ref = rows["reference"]
        total = sum(int(v) for v in ref.spikes_per_node.values())
        print(f"| {title} | {total} spikes | " + " | ".join(cell(rows.get(s)) for s in sims) + " |")


if __name__ == "__main__":
    main()
