#!/usr/bin/env python
"""Simulator benchmark: the reference (per step and time-batched) beside snnTorch and Norse.

Everything runs in this one process, on the same input, one participant after the other in
round-robin rounds (so that the noise of a shared machine hits all of them alike); the time
reported is the median over the rounds. Peak memory is measured per participant in a forked
child (its RSS high-water mark during one inference minus its RSS before it, see
:func:`peak_mib`). Spikes of
every participant are compared with the per-step reference, node by node.

Models: MNIST-FC (snnTorch 784-512-256-10, ``models/checkpoints/mnist_snntorch.pt`` if
present, else seeded random weights), T=25, B=1/16/256, Bernoulli input rate 0.15, float32;
SpikingRx (``models/checkpoints/spikingrx.pt`` if present, else ``SpikingRx`` with seeded
random weights), analog input. Then ``snnexport convert`` and a full ``run_verify`` of
MNIST-FC. ``--break-even`` measures the event-driven vs dense GEMM break-even activity.
``--only floor``: MNIST-FC at input rates 0.05/0.15/0.5 beside the fastest GEMM floor (MKL,
oneDNN, ONNX Runtime MLAS on the same layer inputs) and snnTorch's own loop, with spike flips
against that loop; ``--only numba``: what loading numba costs and saves (its break-even).

    .venv/bin/python benchmarks/bench_simulators.py            # full run (~10 min on 2 shared cores)
    .venv/bin/python benchmarks/bench_simulators.py --quick    # B = 1, 16; fewer rounds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CKPT = ROOT / "models" / "checkpoints"


# ----------------------------------------------------------------------------------- helpers

def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM")


def peak_mib(fn: Callable[[], Any], cold: Optional[Callable[[], Any]] = None) -> Optional[float]:
    """Extra peak RSS of one call of ``fn``, measured in a forked child: the child runs ``cold``
    (drops kept buffers, e.g. the batched workspace, so that they count), hands its free heap
    back to the OS (``malloc_trim``: memory the parent had freed must count when touched
    again), resets its RSS high-water mark (``/proc/self/clear_refs``), runs ``fn`` once and
    reports ``VmHWM`` minus the RSS it started from."""
    import ctypes

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            if cold is not None:
                cold()
            import gc

            gc.collect()
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            base = rss_bytes()
            fn()
            os.write(w, f"{_hwm_bytes() - base}".encode())
        except BaseException:  # noqa: BLE001
            os.write(w, b"nan")
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    try:
        v = float(data.decode())
    except ValueError:
        return None
    return None if v != v else max(v, 0.0) / 2**20


def round_robin(fns: Dict[str, Callable[[], Any]], rounds: int, budget_s: float, stats: Optional[Dict] = None
                ) -> Dict[str, float]:
    """Median seconds per call of each fn, timed in interleaved rounds after one warm-up call
    (``stats``, if given, receives every sample)."""
    times: Dict[str, List[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()
    start = time.perf_counter()
    for r in range(rounds):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    if stats is not None:
        stats.update(times)
    return {k: statistics.median(v) for k, v in times.items()}


def to_np(spikes: Dict[str, Any]) -> Dict[str, np.ndarray]:
    return {k: (v.detach().to(torch.float64).numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64))
            for k, v in spikes.items()}


def same_spikes(ref: Dict[str, np.ndarray], other: Optional[Dict[str, np.ndarray]]) -> str:
    if other is None:
        return "n/a"
    nodes = [k for k in ref if k in other]
    if not nodes:
        return "n/a"
    bad = sum(int((ref[k] != other[k]).sum()) for k in nodes)
    missing = [k for k in ref if k not in other]
    tag = "identical" if bad == 0 else f"{bad} differ"
    return tag + (f" ({len(nodes)}/{len(ref)} nodes)" if missing else "")


def fmt_ms(s: Optional[float]) -> str:
    if s is None:
        return "n/a"
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.1f}"


class Participant:
    def __init__(self, name: str, run: Callable[[], Any], spikes: Callable[[], Optional[Dict[str, Any]]], note: str = ""):
        self.name, self.run, self.spikes, self.note = name, run, spikes, note


def try_import(what: str):
    import importlib

    try:
        return importlib.import_module(what), None
    except Exception as e:  # noqa: BLE001 -- a participant that is absent or broken is reported, not fatal
        return None, f"{type(e).__name__}: {e}"


def importer_participants(graph, dtype, x) -> List[Participant]:
    """snnTorch and Norse through snnexport's importers (whatever they expose)."""
    out = []
    for label, mod_name, fn_name in (("snnTorch (snnexport importer)", "snnexport.simulators.snntorch_sim", "to_snntorch"),
                                     ("Norse (snnexport importer)", "snnexport.simulators.norse_sim", "to_norse")):
        mod, err = try_import(mod_name)
        if mod is None or not hasattr(mod, fn_name):
            print(f"  [{label}: not available ({err or 'no ' + fn_name})]")
            continue
        try:
            net = getattr(mod, fn_name)(graph, dtype)
            net.run(x)
        except Exception as e:  # noqa: BLE001
            print(f"  [{label}: failed on this graph ({type(e).__name__}: {' '.join(str(e).split())[:160]})]")
            continue
        out.append(Participant(label, lambda net=net: net.run(x), lambda net=net: net.run(x).spikes,
                               "compile_graph + per-step runner with snnTorch/Norse neuron modules"))
    return out


# ------------------------------------------------------------------------------------ models

def mnist_model():
    from snnexport.checkpoint import LoadedModel, load

    path = CKPT / "mnist_snntorch.pt"
    if path.exists():
        return load(path), f"checkpoint {path.relative_to(ROOT)}"
    from models.mnist_snntorch import SNNModel

    torch.manual_seed(0)
    model = SNNModel().eval()
    return LoadedModel(model, Path("mnist_snntorch(random).pt"), "models.mnist_snntorch:mnist_snntorch_factory", {},
                       {"input_shape": [784], "input_layout": "TB", "steps": 25}), "random weights (seed 0; no checkpoint)"


def spikingrx_model():
    from snnexport.checkpoint import LoadedModel, load

    path = CKPT / "spikingrx.pt"
    if path.exists():
        return load(path), f"checkpoint {path.relative_to(ROOT)}"
    from snnexport.examples.spikingrx import SpikingRx

    torch.manual_seed(0)
    model = SpikingRx(in_ch=4, hidden=32, blocks=3, bits_per_symbol=4).eval()
    return LoadedModel(model, Path("spikingrx(random).pt"), "snnexport.examples.spikingrx:spikingrx_factory",
                       {"in_ch": 4, "hidden": 32, "blocks": 3, "bits_per_symbol": 4},
                       {"input_shape": [4, 72, 14], "input_layout": "BT", "input_kind": "analog"}), \
        "random weights (seed 0; no checkpoint), 4x72x14 grid, hidden 32, 3 SEW blocks"


# --------------------------------------------------------------------------------- sections

def bench_model(title: str, loaded, graph, x: torch.Tensor, dtype, rounds: int, budget: float, extra: List[Participant],
                gemm_only: bool, results: Dict[str, Any]) -> None:
    from snnexport.simulators.reference import batched, compile_graph, simulate
    from snnexport.simulators.source import run_source_model

    T, B = x.shape[:2]
    prog = compile_graph(graph, dtype)
    ref = simulate(prog, x, record_membranes=False, mode="step")
    ref_spikes = to_np(ref.spikes)
    parts = [
        Participant("reference, per step", lambda: simulate(prog, x, record_membranes=False, mode="step"),
                    lambda: ref.spikes),
        Participant("reference, batched (simulate -> SimResult)", lambda: simulate(prog, x, record_membranes=False),
                    lambda: simulate(prog, x, record_membranes=False).spikes, "auto mode; numpy spikes in the run dtype"),
        Participant("reference, batched engine (tensors)", lambda: batched.run_batched(prog, x),
                    lambda: {k: v.clone() for k, v in batched.run_batched(prog, x)[0].items()}, "run_batched, event=auto"),
        Participant("reference, batched engine, dense only", lambda: batched.run_batched(prog, x, event="off"),
                    lambda: {k: v.clone() for k, v in batched.run_batched(prog, x, event="off")[0].items()}, "event=off"),
    ]
    parts += importer_participants(graph, dtype, x)
    parts += extra
    if loaded is not None:
        model = loaded.model.to(dtype)
        parts.append(Participant("source model, own forward", lambda: _source_forward(model, graph, x),
                                 lambda: run_source_model(model, graph, x).spikes))
    names = [p.name for p in parts]
    fns = {p.name: p.run for p in parts}
    if gemm_only:
        gemms = _gemm_inputs(prog, x, ref)
        fns["GEMM only (torch.mm, no bias)"] = lambda: [torch.mm(a, w.t()) for a, w in gemms]
        fns["GEMM + bias (F.linear)"] = lambda: [F.linear(a, w, b) for (a, w), b in zip(gemms, _biases(prog))]
    layers = _layer_inputs(prog, x)
    if layers:
        kinds = sorted({type(prog.graph.nodes[n]).__name__ for n, _ in layers})
        fns[f"layers only ({'/'.join(kinds)} over T*B)"] = lambda: [
            prog.rules[n].step(v, None, prog.params[n]) for n, v in layers]
    sp = [torch.from_numpy(v).to(dtype) for v in ref.spikes.values()]
    fns["(part of SimResult: spikes copied, run dtype)"] = lambda: [v.clone().numpy() for v in sp]
    samples: Dict[str, List[float]] = {}
    times = round_robin(fns, rounds, budget, samples)
    idents = {p.name: same_spikes(ref_spikes, _safe(lambda p=p: to_np(p.spikes()))) for p in parts}
    mems = {p.name: peak_mib(p.run, cold=lambda: batched.release_workspace(prog)) for p in parts}
    snn = next((times[n] for n in names if n.startswith("snnTorch step loop")), None)
    snn_imp = times.get("snnTorch (snnexport importer)")
    norse = times.get("Norse (snnexport importer)")
    print(f"\n{title}: T={T}, B={B}, {str(dtype).replace('torch.', '')}, median of {len(samples[names[0]])} rounds")
    head = (f"  {'participant':<46}{'ms/inference':>13}{'(min)':>9}{'x snnTorch':>11}{'x importer':>11}{'x Norse':>9}"
            f"{'peak MiB':>10}  spikes")
    print(head)
    rows = []
    for n in list(fns):
        t = times[n]
        ratio = lambda base: f"{base / t:.1f}" if base else "-"  # noqa: E731
        mem = mems.get(n)
        print(f"  {n:<46}{fmt_ms(t):>13}{fmt_ms(min(samples[n])):>9}{ratio(snn):>11}{ratio(snn_imp):>11}{ratio(norse):>9}"
              f"{(f'{mem:.1f}' if mem is not None else '-'):>10}  {idents.get(n, '')}")
        rows.append({"participant": n, "ms": t * 1e3, "min_ms": min(samples[n]) * 1e3, "rounds": len(samples[n]),
                     "peak_mib": mem, "spikes": idents.get(n, ""),
                     "speedup_vs_snntorch_loop": (snn / t) if snn else None,
                     "speedup_vs_snntorch_importer": (snn_imp / t) if snn_imp else None,
                     "speedup_vs_norse": (norse / t) if norse else None})
    rates = _input_rates(prog, x, ref)
    if rates:
        print("  input activity of each Affine/Linear layer: " + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))
    if gemm_only:
        g = times["GEMM only (torch.mm, no bias)"]
        print(f"  GEMM shapes: " + ", ".join(f"[{a.shape[0]},{a.shape[1]}]x[{w.shape[1]},{w.shape[0]}]" for a, w in gemms))
        for n in ("reference, batched engine (tensors)", "reference, batched engine, dense only",
                  "reference, batched (simulate -> SimResult)"):
            print(f"  {n} / GEMM only = {times[n] / g:.3f}")
    layer_row = next((k for k in times if k.startswith("layers only")), None)
    if layer_row:
        for n in ("reference, batched engine (tensors)", "reference, batched (simulate -> SimResult)"):
            print(f"  {n} / {layer_row} = {times[n] / times[layer_row]:.3f}")
    results[f"{title} B={B}"] = {"T": T, "B": B, "rows": rows, "input_rates": rates}


def _safe(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001
        print(f"  [spike check failed: {type(e).__name__}: {' '.join(str(e).split())[:160]}]")
        return None


def _source_forward(model, graph, x):
    from snnexport.extension import graph_ext
    from snnexport.sources.frameworks import to_source_layout
    from snnexport.sources.frameworks import reset_state

    reset_state(model)
    with torch.no_grad():
        return model(to_source_layout(x, graph_ext(graph).input_layout))


def _linear_nodes(prog):
    return [n for n in prog.order if type(prog.graph.nodes[n]).__name__ in ("Affine", "Linear")]


def _gemm_inputs(prog, x, ref):
    """(input [T*B, K], weight [N, K]) of every Affine/Linear layer, inputs taken from the run."""
    T, B = x.shape[:2]
    out = []
    for n in _linear_nodes(prog):
        src = prog.inputs[n][0]
        v = x if src == prog.input_name else torch.from_numpy(ref.spikes[src]).to(prog.dtype)
        out.append((v.reshape(T * B, -1).contiguous(), prog.params[n]["w"]))
    return out


def _layer_inputs(prog, x):
    """(node, summed input [T*B, ...]) of every per-step Affine/Linear/Conv node, from one batched run."""
    from snnexport.simulators.reference import batched

    T, B = x.shape[:2]
    values = batched.run_batched(prog, x, keep=set(prog.order))[0]
    out = []
    for n in prog.order:
        if type(prog.graph.nodes[n]).__name__ in ("Affine", "Linear", "Conv1d", "Conv2d"):
            v = batched._sum(prog, n, values)
            out.append((n, v.reshape(T * B, *v.shape[2:]).clone()))
    return out


def _biases(prog):
    return [prog.params[n].get("b") for n in _linear_nodes(prog)]


def _input_rates(prog, x, ref):
    rates = {}
    for n in _linear_nodes(prog):
        src = prog.inputs[n][0]
        v = x if src == prog.input_name else torch.from_numpy(ref.spikes[src]) if src in ref.spikes else None
        if v is not None:
            rates[n] = float(torch.count_nonzero(v)) / v.numel()
    return rates


def snntorch_loop_participant(loaded, graph, x) -> List[Participant]:
    """snnTorch's idiomatic loop: the zoo model's own forward (nn.Linear + snn.Leaky per step)."""
    from snnexport.simulators.source import run_source_model

    model = loaded.model.to(x.dtype)
    return [Participant("snnTorch step loop (snn.Leaky, model forward)", lambda: model(x),
                        lambda: run_source_model(model, graph, x).spikes, "models.mnist_snntorch.SNNModel.forward")]


def bench_convert_verify(loaded, info: str, results: Dict[str, Any], quick: bool) -> None:
    from snnexport.checkpoint import save
    from snnexport.graph import read_graph
    from snnexport.simulators.reference import compile_graph, simulate
    from snnexport.verification import default_sims, run_verify

    print("\nsnnexport convert / verify (MNIST-FC, " + info + ")")
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = CKPT / "mnist_snntorch.pt"
        if not ckpt.exists():
            ckpt = Path(tmp) / "mnist_snntorch.pt"
            save(loaded.model, ckpt, loaded.arch, loaded.kwargs, **loaded.info)
        out = Path(tmp) / "mnist.nir"
        from snnexport.cli import main as cli_main

        t = time.perf_counter()
        try:
            cli_main(["convert", str(ckpt), "-o", str(out)])
        except SystemExit as e:
            if e.code not in (0, None):
                raise
        t_convert = time.perf_counter() - t
        exe = Path(sys.executable).with_name("snnexport")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "snnexport.cli"]
        t = time.perf_counter()
        proc = subprocess.run(cmd + ["convert", str(ckpt), "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
        t_convert_cli = time.perf_counter() - t
        print(f"  convert, in process (snnexport.cli.main):          {t_convert * 1e3:8.0f} ms")
        print(f"  convert, CLI subprocess incl. interpreter start:   {t_convert_cli * 1e3:8.0f} ms"
              + ("" if proc.returncode == 0 else f"  (exit {proc.returncode}: {proc.stderr.strip()[-160:]})"))
        graph = read_graph(out)
        T, B = 25, 16
        g = torch.Generator().manual_seed(0)
        x = (torch.rand((T, B, 784), generator=g, dtype=torch.float64) < 0.15).double()
        sims = default_sims(True)
        t = time.perf_counter()
        report = run_verify(graph, x, torch.float64, sims, source=loaded)
        t_verify = time.perf_counter() - t
        per = {}
        from snnexport.simulators import SIMULATORS

        for name in sims:  # each participant alone, to show where verify's time goes
            if name not in SIMULATORS:
                continue
            t = time.perf_counter()
            try:
                SIMULATORS[name](graph, x, torch.float64, source=loaded)
                per[name] = time.perf_counter() - t
            except Exception as e:  # noqa: BLE001
                per[name] = None
                print(f"  [{name}: {type(e).__name__}: {' '.join(str(e).split())[:120]}]")
        prog = compile_graph(graph, torch.float64)
        ref_t = round_robin({"step": lambda: simulate(prog, x, mode="step"), "auto": lambda: simulate(prog, x)},
                            3 if quick else 5, 60)
        rows = ", ".join(f"{r.name}={'identical' if r.identical else 'DIFFERENT' if not r.error else 'error'}"
                         for r in report.participants)
        print(f"  run_verify (float64, T={T}, B={B}, participants {', '.join(sims)}): {t_verify * 1e3:8.0f} ms")
        print(f"    rows: {rows}")
        print("    one call each: " + ", ".join(f"{k} {fmt_ms(v)} ms" for k, v in per.items()))
        print(f"    reference inside verify (float64, membranes recorded): per step {fmt_ms(ref_t['step'])} ms, "
              f"batched {fmt_ms(ref_t['auto'])} ms")
        results["convert_verify"] = {"convert_ms": t_convert * 1e3, "convert_cli_ms": t_convert_cli * 1e3,
                                     "verify_ms": t_verify * 1e3, "verify_identical": report.identical,
                                     "per_participant_ms": {k: (v * 1e3 if v else None) for k, v in per.items()},
                                     "reference_step_ms": ref_t["step"] * 1e3, "reference_batched_ms": ref_t["auto"] * 1e3}


def _ort_gemms(prog):
    """One ONNX Runtime (MLAS) Gemm session per Affine/Linear layer, 1 thread, or [] if absent."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return []
    sessions = []
    for n in _linear_nodes(prog):
        p = prog.params[n]
        w = p["w"].numpy()
        b = p["b"].numpy() if p.get("b") is not None else np.zeros(w.shape[0], w.dtype)
        et = TensorProto.FLOAT if w.dtype == np.float32 else TensorProto.DOUBLE
        node = helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)
        graph = helper.make_graph([node], n, [helper.make_tensor_value_info("x", et, [None, w.shape[1]])],
                                  [helper.make_tensor_value_info("y", et, [None, w.shape[0]])],
                                  initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        sessions.append(ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"]))
    return sessions


def _flips(a: Dict[str, np.ndarray], b: Dict[str, np.ndarray]) -> int:
    return sum(int((np.asarray(a[k]) != np.asarray(b[k])).sum()) for k in a if k in b)


def bench_floor(loaded, graph, results: Dict[str, Any], rounds: int, quick: bool) -> None:
    """MNIST-FC at T=25: simulate / engine / snnTorch's own loop beside the fastest GEMM floor
    (the three dense layers alone, on the layer inputs of the same run: MKL, oneDNN with packed
    weights, ONNX Runtime MLAS), per input rate; spike flips against snnTorch's own loop and
    against our per-step mode."""
    from snnexport.simulators.reference import batched, compile_graph, simulate
    from snnexport.simulators.source import run_source_model

    dtype = torch.float32
    model = loaded.model.to(dtype)
    prog = compile_graph(graph, dtype)
    rows = []
    print("\nMNIST-FC T=25, float32: simulate vs the fastest GEMM floor and snnTorch's own loop, per input rate")
    print(f"  {'B':>4}{'rate':>6}{'simulate':>10}{'engine':>9}{'snnTorch':>10}{'MKL':>9}{'oneDNN':>9}{'MLAS':>9}"
          f"{'floor':>9}{'sim/floor':>10}{'snnT/sim':>9}{'flips vs snnTorch':>19}{'vs per-step':>12}{'of':>11}")
    for B in ((16,) if quick else (1, 16, 256)):
        for rate in (0.05, 0.15, 0.5):
            x = (torch.rand((25, B, 784), generator=torch.Generator().manual_seed(int(rate * 1000) + B)) < rate).to(dtype)
            step = simulate(prog, x, record_membranes=False, mode="step")
            gemms = _gemm_inputs(prog, x, step)
            biases = _biases(prog)
            packed = [torch.ops.mkldnn._reorder_linear_weight(w) for _, w in gemms]
            sessions = _ort_gemms(prog)
            fns = {
                "simulate": lambda: simulate(prog, x, record_membranes=False),
                "engine": lambda: batched.run_batched(prog, x),
                "snnTorch": lambda: model(x),
                "MKL": lambda: [F.linear(a, w, b) for (a, w), b in zip(gemms, biases)],
                "oneDNN": lambda: [torch.ops.mkldnn._linear_pointwise(a, pw, b, "none", [], "")
                                   for (a, _), pw, b in zip(gemms, packed, biases)],
            }
            if sessions:
                arrays = [a.numpy() for a, _ in gemms]
                fns["MLAS"] = lambda: [s.run(None, {"x": a}) for s, a in zip(sessions, arrays)]
            t = round_robin(fns, rounds if B < 256 else max(3, rounds // 2), 60.0)
            floor_name = min((k for k in ("MKL", "oneDNN", "MLAS") if k in t), key=t.get)
            sim = simulate(prog, x, record_membranes=False).spikes
            snn = to_np(run_source_model(model, graph, x).spikes)
            total = sum(int(np.asarray(v).size) for v in sim.values())
            row = {"B": B, "rate": rate, **{f"{k}_ms": v * 1e3 for k, v in t.items()}, "floor": floor_name,
                   "simulate_over_floor": t["simulate"] / t[floor_name], "snntorch_over_simulate": t["snnTorch"] / t["simulate"],
                   "flips_vs_snntorch_loop": _flips(snn, sim), "flips_vs_per_step": _flips(to_np(step.spikes), sim),
                   "spike_values": total, "layer_rates": _input_rates(prog, x, step)}
            rows.append(row)
            print(f"  {B:>4}{rate:>6}{fmt_ms(t['simulate']):>10}{fmt_ms(t['engine']):>9}{fmt_ms(t['snnTorch']):>10}"
                  f"{fmt_ms(t['MKL']):>9}{fmt_ms(t['oneDNN']):>9}{fmt_ms(t.get('MLAS')):>9}{floor_name:>9}"
                  f"{row['simulate_over_floor']:>10.2f}{row['snntorch_over_simulate']:>9.2f}"
                  f"{row['flips_vs_snntorch_loop']:>19}{row['flips_vs_per_step']:>12}{total:>11}")
    if not quick:  # the long run: flips only (T=200, B=256, rate 0.15), no timing
        x = (torch.rand((200, 256, 784), generator=torch.Generator().manual_seed(200)) < 0.15).to(dtype)
        sim = simulate(prog, x, record_membranes=False).spikes
        snn = to_np(run_source_model(model, graph, x).spikes)
        step = to_np(simulate(prog, x, record_membranes=False, mode="step").spikes)
        total = sum(int(np.asarray(v).size) for v in sim.values())
        long_row = {"T": 200, "B": 256, "rate": 0.15, "flips_vs_snntorch_loop": _flips(snn, sim),
                    "flips_vs_per_step": _flips(step, sim), "per_step_vs_snntorch_loop": _flips(snn, step), "spike_values": total}
        print(f"  T=200, B=256, rate 0.15: flips vs snnTorch's loop {long_row['flips_vs_snntorch_loop']}, vs per step "
              f"{long_row['flips_vs_per_step']} (per step vs snnTorch {long_row['per_step_vs_snntorch_loop']}) of {total}")
        results["floor_long_flips"] = long_row
    results["floor"] = rows


def bench_numba_break_even(results: Dict[str, Any]) -> None:
    """What loading numba costs a process, and what the fused kernel saves per neuron-step
    against the torch loop: the break-even model (batched.NUMBA_BREAK_EVEN_S, LOOP_STEP_S, LOOP_ELEM_S)."""
    from snnexport.simulators.reference import batched, compile_graph

    code = ("import time, sys; sys.path.insert(0, %r)\n"
            "from snnexport.simulators.reference import batched\n"
            "t = time.perf_counter(); batched.warm_up(); print(time.perf_counter() - t)\n") % str(ROOT)
    loads = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        loads.append(float(out.stdout.strip().splitlines()[-1]))
    load_s = statistics.median(loads)
    loaded, _ = mnist_model()
    from snnexport.sources import convert_model

    graph = convert_model(loaded)
    print(f"\nnumba break-even: loading numba + its cached kernels {load_s:.2f} s per process (median of 3)")
    print(f"  {'dtype':<8}{'B':>5}{'neuron-steps':>14}{'torch loop ms':>15}{'kernel ms':>11}{'saved ms':>10}"
          f"{'model ms':>10}{'runs to pay':>13}")
    rows = []
    for dtype in (torch.float32, torch.float64):
        for B in (1, 4, 16, 256):
            prog = compile_graph(graph, dtype)
            x = (torch.rand((25, B, 784), generator=torch.Generator().manual_seed(B)) < 0.15).to(dtype)
            work = 25 * B * (512 + 256 + 10)
            model_s = 25 * 3 * batched.LOOP_STEP_S + work * batched.LOOP_ELEM_S
            saved = batched.NUMBA_BREAK_EVEN_S
            batched._load_kernels()

            def with_kernels(on: bool):
                batched._kernels_loaded = on  # the torch loop when off (the kernels stay compiled)
                batched.NUMBA_BREAK_EVEN_S = 0.0 if on else 1e18
                try:
                    batched.run_batched(prog, x, event="off")
                finally:
                    batched._kernels_loaded, batched.NUMBA_BREAK_EVEN_S = True, saved
            t = round_robin({"loop": lambda: with_kernels(False), "kernel": lambda: with_kernels(True)}, 9, 30.0)
            gain = t["loop"] - t["kernel"]
            runs = load_s / gain if gain > 0 else float("inf")
            rows.append({"dtype": str(dtype), "B": B, "neuron_steps": work, "loop_ms": t["loop"] * 1e3,
                         "kernel_ms": t["kernel"] * 1e3, "saved_ms": gain * 1e3, "model_ms": model_s * 1e3, "runs_to_pay": runs})
            print(f"  {str(dtype).replace('torch.', ''):<8}{B:>5}{work:>14}{t['loop'] * 1e3:>15.2f}{t['kernel'] * 1e3:>11.2f}"
                  f"{gain * 1e3:>10.2f}{model_s * 1e3:>10.2f}{runs:>13.3g}")
    results["numba_break_even"] = {"load_s": load_s, "rows": rows, "NUMBA_BREAK_EVEN_S": batched.NUMBA_BREAK_EVEN_S,
                                   "LOOP_STEP_S": batched.LOOP_STEP_S, "LOOP_ELEM_S": batched.LOOP_ELEM_S}


def bench_bit_equality(graph, results: Dict[str, Any], quick: bool) -> None:
    """Are the batched membranes bit-equal to the per-step ones (MNIST-FC, rate 0.15)?"""
    from snnexport.simulators.reference import batched, compile_graph, simulate

    print("\nBatched vs per step, MNIST-FC, T=25: membranes of all 3 layers (spikes compared too)")
    print(f"  {'dtype':<8}{'B':>5}  {'dense GEMM over T*B':<40}{'event-driven (event=on)':<40}")
    rows = []
    for dt in (torch.float64, torch.float32):
        for B in ((1, 3, 4, 16) if quick else (1, 2, 3, 4, 5, 8, 12, 16, 64, 256)):
            x = (torch.rand((25, B, 784), generator=torch.Generator().manual_seed(B)) < 0.15).to(dt)
            step = simulate(compile_graph(graph, dt), x, mode="step")
            cells = []
            for event in ("off", "on"):
                bat = batched.simulate_batched(compile_graph(graph, dt), x, event=event)
                d = max(float(np.abs(step.membranes[k] - bat.membranes[k]).max()) for k in step.membranes)
                spk = all(np.array_equal(step.spikes[k], bat.spikes[k]) for k in step.spikes)
                cells.append(("bit-equal" if d == 0 else f"max |dU| {d:.1e}") + (", spikes identical" if spk else ", SPIKES DIFFER"))
                rows.append({"dtype": str(dt), "B": B, "event": event, "max_membrane_diff": d, "spikes_identical": spk})
            print(f"  {str(dt).replace('torch.', ''):<8}{B:>5}  {cells[0]:<40}{cells[1]:<40}")
    results["bit_equality"] = rows


def bench_break_even(results: Dict[str, Any], quick: bool) -> None:
    """Event-driven / dense GEMM time ratio over input activity, per layer shape and row count."""
    from snnexport.simulators.reference import batched

    if not batched.HAVE_NUMBA:
        print("\nbreak-even: numba not installed")
        return
    rates = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
    print("\nEvent-driven Affine vs dense F.linear: time ratio event/dense (< 1: event-driven faster)")
    print(f"  {'dtype':<8}{'K->N':>10}{'rows':>6}  " + "".join(f"{r:>6}" for r in rates) + "   break-even")
    table = []
    for dt in (torch.float32, torch.float64):
        for K, N in ((784, 512), (512, 256), (256, 10)):
            W = torch.randn(N, K, dtype=dt)
            b = torch.randn(N, dtype=dt)
            wt = W.t().contiguous().numpy()
            for M in ((25, 400) if quick else (25, 400, 6400)):
                ratios = []
                for r in rates:
                    x = (torch.rand(M, K) < r).to(dt)
                    out = torch.empty(M, N, dtype=dt)
                    n = 3 if M >= 6400 else 9
                    t = round_robin({"dense": lambda: F.linear(x, W, b),
                                     "event": lambda: batched._event_linear(x.numpy(), wt, b.numpy(), True, out.numpy())},
                                    n, 20)
                    ratios.append(t["event"] / t["dense"])
                be = _crossing(rates, ratios)
                print(f"  {str(dt).replace('torch.', ''):<8}{f'{K}->{N}':>10}{M:>6}  " + "".join(f"{q:6.2f}" for q in ratios)
                      + f"   {be}")
                table.append({"dtype": str(dt), "K": K, "N": N, "rows": M, "rates": rates, "ratio": ratios, "break_even": be})
    print(f"  used by event='auto': rate < {batched.EVENT_MAX_RATE[True]} with < {batched.SMALL_ROWS} rows, "
          f"< {batched.EVENT_MAX_RATE[False]} otherwise, and >= {batched.EVENT_MIN_OUT} outputs")
    results["break_even"] = table


def _crossing(rates, ratios) -> str:
    if ratios[0] >= 1:
        return "never faster"
    for (r0, q0), (r1, q1) in zip(zip(rates, ratios), zip(rates[1:], ratios[1:])):
        if q1 >= 1 > q0:
            return f"~{r0 + (1 - q0) * (r1 - r0) / (q1 - q0):.2f}"
    return f"> {rates[-1]}"


# -------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="B = 1, 16 only, fewer rounds, shorter break-even sweep")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for every participant (default 1)")
    ap.add_argument("--rounds", type=int, help="timing rounds per configuration (default 9, quick 5)")
    ap.add_argument("--break-even", action="store_true", help="also sweep the event-driven break-even activity")
    ap.add_argument("--only", choices=["mnist", "spikingrx", "verify", "bits", "floor", "numba"], action="append",
                    help="run only these sections")
    ap.add_argument("--json", help="write all numbers to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = args.rounds or (5 if args.quick else 9)
    budget = 40.0 if args.quick else 120.0
    from snnexport.simulators.reference import batched

    t = time.perf_counter()
    batched.warm_up()
    warm = time.perf_counter() - t
    print(f"snnexport simulator benchmark: torch {torch.__version__} ({args.threads} thread(s)), "
          f"numba {getattr(sys.modules.get('numba'), '__version__', 'absent')}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; numba kernels ready in {warm:.2f} s")
    results: Dict[str, Any] = {"argv": sys.argv[1:], "threads": args.threads, "torch": torch.__version__}
    only = set(args.only or ["mnist", "spikingrx", "verify", "bits", "floor", "numba"])
    dtype = torch.float32
    if only & {"mnist", "verify", "bits", "floor"}:
        loaded, info = mnist_model()
        from snnexport.sources import convert_model

        graph = convert_model(loaded)
    if "mnist" in only:
        print(f"\nMNIST-FC 784-512-256-10 (snnTorch Leaky beta=0.95, reset_delay), {info}; input Bernoulli(0.15)")
        for B in ((1, 16) if args.quick else (1, 16, 256)):
            g = torch.Generator().manual_seed(B)
            x = (torch.rand((25, B, 784), generator=g) < 0.15).to(dtype)
            bench_model("MNIST-FC", loaded, graph, x, dtype, rounds if B < 256 else max(3, rounds // 2), budget,
                        snntorch_loop_participant(loaded, graph, x), gemm_only=(B == 256 or args.quick), results=results)
    if "floor" in only:
        bench_floor(loaded, graph, results, rounds, args.quick)
    if "numba" in only:
        bench_numba_break_even(results)
    if "spikingrx" in only:
        rx, rx_info = spikingrx_model()
        from snnexport.sources import convert_model

        rx_graph = convert_model(rx)
        from snnexport.extension import graph_ext

        shape = tuple(graph_ext(rx_graph).input_shape)
        T = 8
        print(f"\nSpikingRx ({rx_info}); input standard normal [T={T}, B, {', '.join(map(str, shape))}]")
        for B in ((1,) if args.quick else (1, 16)):
            g = torch.Generator().manual_seed(100 + B)
            x = torch.randn((T, B, *shape), generator=g).to(dtype)
            bench_model("SpikingRx", rx, rx_graph, x, dtype, rounds, budget, [], gemm_only=False, results=results)
    if "verify" in only:
        bench_convert_verify(loaded, info, results, args.quick)
    if "bits" in only:
        bench_bit_equality(graph, results, args.quick)
    if args.break_even:
        bench_break_even(results, args.quick)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
