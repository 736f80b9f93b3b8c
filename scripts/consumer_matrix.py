"""The two NIR-boundary matrices of docs/consumers.md, measured.

    .venv/bin/python scripts/consumer_matrix.py [--spyx-python /tmp/spyxvenv/bin/python] [-o docs/consumers.md]

1. Consumer matrix: each shipped zoo checkpoint is converted (``snnexport convert``) and its plain
   graph handed to each known importer: snnTorch ``import_from_nir``, Norse ``from_nir`` and sinabs
   ``from_nir`` through the upstream witnesses (snnexport/simulators/upstream_*.py), spyx
   ``spyx.nir.from_nir`` in its own interpreter (scripts/spyx_child.py; ``--spyx-python`` or
   ``$SNNEXPORT_SPYX_PYTHON``; skipped with the reason when absent), rockpool ``from_nir`` (loads or
   not). Every neuron node's spikes on the same seeded input are compared with (a) our exact
   reference (the source model's semantics), (b) a plain-NIR reference run at the graph's dt and
   (c) the consumer's documented convention (:func:`snnexport.consumers.convention_graph` run by our
   reference, or :func:`snnexport.consumers.chain_spikes`); a 0 in (c) means the mismatch in (a) is
   exactly what that convention predicts. The explanation column is ``consumer_notes`` for the graph.
2. Foreign-exporter matrix: one row per exporter, each cell the outcome of the test that checks it
   (tests/test_foreign_graphs.py, tests/test_nir_semantics.py), run here with pytest.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snnexport.checkpoint import load  # noqa: E402
from snnexport.consumers import ASSUMED_DT, chain_spikes, consumer_notes, consumer_warnings, convention_graph  # noqa: E402
from snnexport.extension import graph_ext  # noqa: E402
from snnexport.graph import apply_run_options, plain_view, write_graph  # noqa: E402
from snnexport.inputs import make_input  # noqa: E402
from snnexport.simulators.reference.runner import simulate  # noqa: E402
from snnexport.sources import convert_model  # noqa: E402

ZOO = ["mnist_custom", "mnist_snntorch", "shd", "stereo_codec_encoder", "spikingrx"]  # the shipped checkpoints
SIZES = {"spikingrx": (4, 2)}  # (T, B) where the default would take minutes (SEW-ResNet, 64 channels)
CONSUMERS = ["snnTorch", "Norse", "sinabs", "spyx", "rockpool"]
SPYX_CHILD = ROOT / "scripts" / "spyx_child.py"


def spyx_python(arg: Optional[str]) -> tuple:
    """``(interpreter, None)`` or ``(None, why it is skipped)``."""
    py = arg or os.environ.get("SNNEXPORT_SPYX_PYTHON")
    if not py:
        return None, "no spyx interpreter (--spyx-python or SNNEXPORT_SPYX_PYTHON)"
    probe = subprocess.run([py, "-c", "import spyx.nir"], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"{py} cannot import spyx.nir"
    return py, None


def versions(py: Optional[str]) -> str:
    import importlib.metadata as md

    out = []
    for dist in ("snntorch", "norse", "sinabs", "rockpool", "nir"):
        try:
            out.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            out.append(f"{dist} not installed")
    if py:
        r = subprocess.run([py, "-c", "import importlib.metadata as m; print(f\"spyx {m.version('spyx')} "
                            "(jax {m.version('jax')}, nir {m.version('nir')})\")"], capture_output=True, text=True)
        out.append(r.stdout.strip() or "spyx: version unknown")
    return ", ".join(out)


def run_spyx(py: str, graph, x: torch.Tensor, dt: float) -> Dict:
    """spyx's importer on the plain graph, in its own interpreter (scripts/spyx_child.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        gpath, xpath, opath = Path(tmp) / "g.nir", Path(tmp) / "x.npy", Path(tmp) / "out.npz"
        write_graph(plain_view(graph), gpath)
        np.save(xpath, x.numpy())
        r = subprocess.run([py, str(SPYX_CHILD), str(gpath), str(xpath), repr(dt), str(opath)], capture_output=True,
                           text=True, timeout=900)
        if r.returncode != 0 or not opath.exists():
            return {"status": "run failed", "error": (r.stderr.strip().splitlines() or ["no output"])[-1]}
        d = np.load(opath)
        out = {k: str(d[k]) for k in ("status", "error", "versions") if k in d.files}
        out["dropped"] = [str(s) for s in d["dropped"]] if "dropped" in d.files else []
        out["spikes"] = {k.split(":", 1)[1]: d[k].astype(np.float64) for k in d.files if k.startswith("layer:")}
        return out


def run_upstream(consumer: str, graph, x: torch.Tensor) -> Dict:
    """snnTorch/Norse/sinabs through the upstream witnesses; rockpool: does ``from_nir`` load it."""
    from snnexport.errors import SnnexportError

    try:
        if consumer == "snnTorch":
            from snnexport.simulators.upstream_snntorch import run_upstream as run
        elif consumer == "Norse":
            from snnexport.simulators.upstream_norse import run_norse_upstream as run
        elif consumer == "sinabs":
            from snnexport.simulators.upstream_sinabs import run_upstream as run
        else:
            from rockpool.nn.modules.torch.nir import from_nir

            from_nir(plain_view(graph))
            return {"status": "loaded", "spikes": {}}
    except ImportError as e:
        return {"status": "not installed", "error": str(e)}
    except Exception as e:  # noqa: BLE001 - rockpool's failure is the finding
        return {"status": "load failed", "error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    try:
        res = run(graph, x, torch.float64)
    except SnnexportError as e:
        stage = "load failed" if "from_nir failed" in str(e) or "import_from_nir failed" in str(e) else "run failed"
        return {"status": stage, "error": str(e)}
    return {"status": "ran", "spikes": dict(res.spikes)}


def predicted(consumer: str, graph, x: torch.Tensor, dt: float) -> tuple:
    """``(spikes the consumer's documented convention predicts, model name)``."""
    g = convention_graph(consumer, graph, dt)
    if g is not None:
        return simulate(g, x).spikes, f"plain NIR, dt={ASSUMED_DT[consumer](dt):g}" + (
            ", r=1, v_reset=0" if consumer == "Norse" else "")
    try:
        return chain_spikes(consumer, plain_view(graph), x.numpy(), ASSUMED_DT[consumer](dt)), f"{consumer} equations"
    except (ValueError, KeyError) as e:
        return None, f"none ({e})"


def differ(a: Dict[str, np.ndarray], b: Optional[Dict[str, np.ndarray]], names) -> str:
    if b is None:
        return "n/a"
    return str(sum(int(np.count_nonzero(a[n] != b[n])) for n in names if n in b and a[n].shape == b[n].shape))


def consumer_rows(args) -> List[str]:
    py, spyx_why = spyx_python(args.spyx_python)
    rows = ["| graph (T, B) | consumer | loads | runs | spike values compared | ≠ exact reference | "
            "≠ plain NIR at the graph's dt | ≠ consumer's convention (model) | explanation (consumer notes) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name in args.zoo:
        lm = load(ROOT / "models" / "checkpoints" / f"{name}.pt")
        graph = convert_model(lm)
        dt = float(graph_ext(graph).dt)
        steps, batch = SIZES.get(name, (args.steps, args.batch))
        x = make_input(graph, steps, batch, seed=1, rate=0.3)
        exact = simulate(graph, x).spikes
        plain = plain_view(graph)
        apply_run_options(plain, name, dt=dt)
        plain_ref = simulate(plain, x).spikes
        notes = consumer_notes(graph)
        lost = [w for w in consumer_warnings(graph) if w not in notes]  # what any plain reader loses
        names = list(exact)
        rows.append(f"| {name} ({steps}, {batch}) | *plain NIR* (NIR's equations, any exact reader) | — | — | "
                    f"{sum(exact[n].size for n in names)} | {differ(plain_ref, exact, names)} | 0 | — | "
                    f"{'; '.join(lost) or '—'} |")
        print(f"{name}: dt={dt:g}, {sum(int(v.sum()) for v in exact.values())} reference spikes", file=sys.stderr)
        for c in CONSUMERS:
            if c == "spyx":
                got = run_spyx(py, graph, x, dt) if py else {"status": "skipped", "error": spyx_why}
            else:
                got = run_upstream(c, graph, x)
            status = got["status"]
            loads = "yes" if status in ("ran", "loaded", "run failed") else ("skipped" if status == "skipped" else "no")
            runs = {"ran": "yes", "loaded": "not run"}.get(status, "no")
            why = "; ".join(n.split(": ", 1)[1] for n in notes if n.startswith(f"{c} import: "))
            if got.get("error"):
                why = f"{got['error']}" + (f" — {why}" if why else "")
            if got.get("dropped"):
                why += f"; not imported: {', '.join(got['dropped'])}"
            spikes = got.get("spikes") or {}
            names = [n for n in exact if n in spikes and spikes[n].shape == exact[n].shape]
            if status == "ran" and names:
                pred, model = predicted(c, graph, x, dt)
                compared = sum(exact[n].size for n in names)
                cells = [str(compared), differ(spikes, exact, names), differ(spikes, plain_ref, names),
                         f"{differ(spikes, pred, names)} ({model})"]
            else:
                cells = ["—"] * 4
            rows.append(f"| {name} ({steps}, {batch}) | {c} | {loads} | {runs} | " + " | ".join(cells)
                        + f" | {why or '—'} |")
            print(rows[-1], file=sys.stderr)
    return rows


# ------------------------------------------------------------------ foreign exporters: the tests that check them

F, S = "tests/test_foreign_graphs.py::", "tests/test_nir_semantics.py::"
#: exporter -> (verify test, report test, reproduction test or the reason it is not claimed)
FOREIGN = [
    ("snnTorch `export_to_nir` (Leaky/Synaptic zero reset, RLeaky)", F + "test_snntorch_export_reproduces_snntorch_zero_reset",
     F + "test_snntorch_export_reproduces_snntorch_zero_reset",
     [F + "test_snntorch_export_reproduces_snntorch_zero_reset", F + "test_snntorch_rleaky_export_reproduces_snntorch"]),
    ("Norse `to_nir` (LIFBoxCell)", F + "test_norse_export_runs_and_its_time_constant_is_flagged",
     F + "test_norse_export_runs_and_its_time_constant_is_flagged",
     "no: Norse 1.1 writes tau = dt/tau_mem_inv (dt*tau), so the file does not describe the cell"),
    ("SpikingJelly `nir_exchange.export_to_nir` (LIF/IF)", F + "test_spikingjelly_export_reproduces_spikingjelly",
     F + "test_spikingjelly_export_reproduces_spikingjelly", [F + "test_spikingjelly_export_reproduces_spikingjelly"]),
    ("sinabs `to_nir` (IAF)", F + "test_sinabs_export_verifies_and_reports", F + "test_sinabs_export_verifies_and_reports",
     "no: sinabs fires multi-spikes and subtracts; NIR's IF fires once and resets to v_reset "
     "(the sinabs-upstream witness follows sinabs: test_sinabs_witness_follows_sinabs_documented_convention)"),
    ("rockpool `to_nir` (LIFTorch -> CubaLIF)", F + "test_rockpool_export_verifies_and_reports",
     F + "test_rockpool_export_verifies_and_reports",
     "not checked: rockpool decays exactly (exp(-dt/tau)) and multi-spikes; the file's Euler reading differs"),
    ("spyx `to_nir` (Linear + LIF, Linear + CuBaLIF; tests/data/foreign)", F + "test_spyx_exports_verify_and_report",
     F + "test_spyx_exports_verify_and_report",
     ("no: spyx writes r = beta (NIR's input gain r*dt/tau = beta*(1-beta); spyx adds the input unscaled) and "
      "v_reset = 0 (spyx subtracts the threshold), and emits the spike of the membrane before the step's input; "
      "{spyx_counts}; spyx's equations on the file give its spikes exactly",
      [F + "test_spyx_export_spikes_are_explained_by_its_conventions"])),
    ("NIR paper `01_lif` (lif_norse.nir)", F + "test_nir_paper_lif_runs_in_verify_and_report",
     F + "test_nir_paper_lif_runs_in_verify_and_report", [S + "test_nir_paper_lif_example"]),
    ("NIR paper braille (CubaLIF, r ≠ 1)", F + "test_nir_paper_braille_and_cnn_run_in_verify_and_report",
     F + "test_nir_paper_braille_and_cnn_run_in_verify_and_report",
     "no published spikes; r honoured: " + F.split("::")[0] + "::test_nir_paper_braille_cubalif_r_is_honoured"),
    ("NIR paper sinabs CNN", F + "test_nir_paper_braille_and_cnn_run_in_verify_and_report",
     F + "test_nir_paper_braille_and_cnn_run_in_verify_and_report", "no published spikes"),
]


def run_tests(ids: List[str]) -> Dict[str, str]:
    """pytest on ``ids`` (slow ones included): ``{id: "passed" | "FAILED" | "skipped: why"}``."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *ids],
                       cwd=ROOT, capture_output=True, text=True)
        out: Dict[str, str] = {}
        rank = {"passed": 0, "skipped": 1, "FAILED": 2}
        for case in ET.parse(xml).getroot().iter("testcase"):
            tid = case.get("classname").replace(".", "/") + ".py::" + case.get("name").split("[")[0]  # all params
            skipped = case.find("skipped")
            res = ("FAILED" if case.find("failure") is not None or case.find("error") is not None else
                   f"skipped: {skipped.get('message')}" if skipped is not None else "passed")
            if tid not in out or rank[res.split(":")[0]] > rank[out[tid].split(":")[0]]:
                out[tid] = res
        return out


def spyx_export_counts() -> str:
    """Plain-NIR reference vs spyx's own spikes on the files in tests/data/foreign."""
    from snnexport.graph import read_graph

    out = []
    for name in ("spyx_lif", "spyx_cubalif"):
        saved = np.load(ROOT / "tests" / "data" / "foreign" / f"{name}.npz")
        g = read_graph(ROOT / "tests" / "data" / "foreign" / f"{name}.nir")
        apply_run_options(g, name, dt=float(saved["dt"]))
        ours = simulate(g, torch.from_numpy(saved["x"].astype(np.float64))).spikes["layer_1"]
        own = saved["spikes:layer_1"]
        out.append(f"{name}: spyx {int(own.sum())} spikes, plain NIR {int(ours.sum())}, "
                   f"{int(np.count_nonzero(ours != own))} of {own.size} values differ")
    return "; ".join(out)


def foreign_rows() -> List[str]:
    def tests_of(rep) -> List[str]:
        return rep if isinstance(rep, list) else rep[1] if isinstance(rep, tuple) else []

    ids = sorted({i for _, v, r, rep in FOREIGN for i in [v, r] + tests_of(rep)})
    results = run_tests(ids)

    def cell(tid: str) -> str:
        res = results.get(tid, "not run")
        short = tid.split("::")[1]
        return f"yes (`{short}`)" if res == "passed" else f"{res} (`{short}`)"

    rows = ["| exporter | verify runs (--dt) | report runs (--dt) | reference reproduces the exporter's own spikes |",
            "|---|---|---|---|"]
    for title, v, r, rep in FOREIGN:
        if isinstance(rep, tuple):  # (finding, the tests that pin it)
            rep_cell = rep[0].format(spyx_counts=spyx_export_counts()) + " (" + " and ".join(cell(t) for t in rep[1]) + ")"
        else:
            rep_cell = " and ".join(cell(t) for t in rep) if isinstance(rep, list) else rep
        rows.append(f"| {title} | {cell(v)} | {cell(r)} | {rep_cell} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spyx-python", help="an interpreter with spyx (else $SNNEXPORT_SPYX_PYTHON)")
    ap.add_argument("--zoo", nargs="+", default=ZOO, help="checkpoint stems under models/checkpoints")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--skip-foreign", action="store_true", help="only the consumer matrix")
    ap.add_argument("-o", "--output", help="write the markdown page here (else stdout)")
    args = ap.parse_args()
    cmd = (".venv/bin/python scripts/consumer_matrix.py" + (" --spyx-python /tmp/spyxvenv/bin/python" if
                                                           spyx_python(args.spyx_python)[0] else "")
           + (" -o " + args.output if args.output else ""))
    text = [
        "# NIR consumers and foreign exporters, measured",
        "",
        f"Generated by `{cmd}` (do not edit by hand). spyx runs in its own interpreter "
        "(`python -m venv /tmp/spyxvenv && /tmp/spyxvenv/bin/pip install spyx nir==1.0.8`, CPU JAX).",
        "",
        "## snnexport graphs in other importers",
        "",
        f"Measured with {versions(spyx_python(args.spyx_python)[0])}.",
        "",
        "Each zoo checkpoint converted by `snnexport convert`, its plain graph (no `snnexport` metadata, as any "
        "consumer reads it) imported by each framework and run on the same seeded Bernoulli input (rate 0.3). "
        "Counts are spike values (step x sample x neuron, every neuron node) that differ. *Exact reference*: the "
        "source model's semantics (what `verify` proves). *Plain NIR*: NIR's own equations at the graph's dt "
        "(each graph's *plain NIR* row: what the plain fields lose against the exact semantics). "
        "*Consumer's convention*: what the importer's documented conventions predict (snnTorch: plain NIR at its "
        "hard-coded dt = 1e-4; Norse: r and v_reset dropped; sinabs and spyx: their neuron equations, see "
        "`snnexport.consumers.chain_spikes`); 0 there means the disagreement is fully explained. snnTorch, Norse "
        "run in float64; sinabs and spyx in float32 (their own choice).",
        "",
        *consumer_rows(args),
    ]
    if not args.skip_foreign:
        text += ["", "## Files written by other exporters", "",
                 "Each cell is the outcome of the named test (run by this script with pytest; tests/test_foreign_graphs.py "
                 "unless named otherwise). Exporters whose reproduction is not claimed say why.", "", *foreign_rows()]
    page = "\n".join(text) + "\n"
    if args.output:
        from snnexport.atomic import write_text

        write_text(args.output, page)
    else:
        print(page)


if __name__ == "__main__":
    main()
