"""The 8-bit runs of SpikingRx: QAT of the shipped T=4 and T=2 models, PTQ of both for comparison.

    nice -n 10 python -m models.spikingrx.qat_runs [--only NAME ...] [--threads 1]   # resumable

The grid and the fake quantizer are in :mod:`.qat`; this driver sits above :mod:`.train`
(whose ``finetune(..., qat_bits=)`` uses :mod:`.qat`), so the two never import each other.
Records training, validation BER and energy in ``models/results/spikingrx_qat.json``.
"""

from __future__ import annotations

QAT_EPOCHS, QAT_SLOTS, QAT_LR, BITS = 2, 4096, 3e-4, 8


# ----- the runs: QAT of the shipped T=4 and T=2 models, PTQ of the same for comparison -----------

def runs():
    """(name, init, steps, epochs, out dir): QAT checkpoints are shipped, PTQ ones stay under out/."""
    from .train import CHECKPOINT, RUNS

    ckpts = CHECKPOINT.parent
    return [("spikingrx_t2_qat8", ckpts / "spikingrx_t2.pt", 2, QAT_EPOCHS, ckpts),
            ("spikingrx_qat8", ckpts / "spikingrx.pt", 4, QAT_EPOCHS, ckpts),
            ("spikingrx_t2_ptq8", ckpts / "spikingrx_t2.pt", 2, 0, RUNS),
            ("spikingrx_ptq8", ckpts / "spikingrx.pt", 4, 0, RUNS)]



def record_path():
    from .train import RESULTS

    return RESULTS / "spikingrx_qat.json"


def main(argv=None) -> None:
    """Run every QAT/PTQ job of :func:`runs` not done yet (resumable), record it in results/spikingrx_qat.json."""
    import argparse
    import json

    from .train import finetune, sample_for

    p = argparse.ArgumentParser(description="8-bit QAT (and PTQ) of the shipped SpikingRx checkpoints, resumable")
    p.add_argument("--only", nargs="*")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action="store_true")
    a = p.parse_args(argv)
    rec_path = record_path()
    for name, init, steps, epochs, out_dir in runs():
        record = json.loads(rec_path.read_text()) if rec_path.exists() else {}
        out = out_dir / f"{name}.pt"
        if (a.only and name not in a.only) or (out.exists() and name in record.get("runs", {})):
            continue
        m = finetune(init, out, steps, 0.0, epochs, QAT_SLOTS if epochs else 64, QAT_LR, progress=a.progress,
                     qat_bits=BITS, threads=a.threads)
        sample_for(out)
        record.setdefault("runs", {})[name] = {
            "init": init.name, "steps": steps, "epochs": epochs, "train_slots": QAT_SLOTS if epochs else 0, "lr": QAT_LR,
            "bits": BITS, "checkpoint": str(out.relative_to(out.parents[2])),
            "command": f"python -m models.spikingrx.qat_runs --only {name}",
            **{k: v for k, v in m.items() if k != "history"}, "history": m.get("history", [])}
        rec_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(name, json.dumps({k: v for k, v in m.items() if k != "history"}), flush=True)
    record_energy(rec_path)


def record_energy(rec_path) -> None:
    """Energy of every finished run under the three conventions (45 nm fp32, and int8 for SNN and twin alike)."""
    import json

    from .energy import INT8_PJ, energy_of
    from .train import ROOT, sample_for

    record = json.loads(rec_path.read_text())
    for name, r in record.get("runs", {}).items():
        if name in record.get("energy", {}):
            continue
        path = ROOT.parent / r["checkpoint"]
        row = energy_of(path, sample_for(path))
        row.update(rate_reg=0.0, weights=f"int8 {'QAT' if r['epochs'] else 'PTQ'}",
                   conventions_int8=energy_of(path, sample_for(path), **INT8_PJ)["conventions"])
        record.setdefault("energy", {})[name] = row
        rec_path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(name, {k: round(d["ann_over_snn"], 3) for k, d in row["conventions"].items()}, flush=True)


if __name__ == "__main__":
    main()
