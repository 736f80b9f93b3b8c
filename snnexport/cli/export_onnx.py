"""``snnexport export-onnx``: a graph or checkpoint as an ONNX model, optionally run against the reference."""

from __future__ import annotations

from pathlib import Path

import click

from .. import jsonout
from ..errors import terminal_safe
from ..onnx import DEFAULT_OPSET, DTYPES, F64_OPS, export_graph, write_onnx
from .options import load_graph_or_model, model_options


@click.command("export-onnx")
@click.argument("model", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output .onnx file (default: MODEL.onnx beside the input).")
@click.option("--steps", type=click.IntRange(min=1), help="Unroll for a fixed T (default: the graph's default_steps).")
@click.option("--loop", is_flag=True, help="Express time with an ONNX Loop (any T at run time) instead of unrolling.")
@click.option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, help="ONNX opset (13 or later).")
@click.option("--dtype", type=click.Choice(list(DTYPES)), default="float64", show_default=True)
@click.option("--f64-ops", type=click.Choice(list(F64_OPS)), default="lower", show_default=True,
              help="float64 only: ops onnxruntime lacks a float64 kernel for (Conv, AveragePool) are 'lower'ed to exact "
                   "float64 Gather+MatMul, or 'cast' to float32 around the native op.")
@click.option("--membranes", is_flag=True, help="Also output membrane/<node> for every neuron.")
@click.option("--verify", "do_verify", is_flag=True,
              help="Run the written file in onnxruntime on seeded input and compare with the reference simulator.")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Batch of the --verify input.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --verify input.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--max-memory", help="Memory budget, e.g. 4G (default: half the machine's RAM): files are checked against it.")
@model_options
def command(model, output, steps, loop, opset, dtype, f64_ops, membranes, do_verify, batch, seed, as_json, max_memory,
            arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Export a NIR graph or a checkpoint as an ONNX model (unrolled over T, or a Loop)."""
    import sys

    from ..resources import parse_size, set_budget
    from ..safe_files import refuse_overwriting_input

    set_budget(parse_size(max_memory))  # readers check declared sizes against it before loading
    refuse_overwriting_input(Path(output) if output else Path(model).with_suffix(".onnx"), model)
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    exp = export_graph(graph, steps=steps, loop=loop, opset=opset, dtype=dtype, f64_ops=f64_ops, membranes=membranes)
    out = Path(output) if output else Path(model).with_suffix(".onnx")
    write_onnx(exp, out)
    info = {"output": str(out), "bytes": out.stat().st_size, "onnx_nodes": len(exp.model.graph.node), "opset": exp.opset,
            "form": exp.form, "steps": exp.steps, "dtype": exp.dtype, "outputs": [o.name for o in exp.model.graph.output],
            "adapters": exp.adapters}
    identical = True
    if do_verify:
        import onnx
        import torch

        from ..inputs import make_input
        from ..simulators.onnxruntime_sim import run_model
        from ..simulators.reference import simulate
        from ..verification import Row, compare

        tdtype = torch.float64 if dtype == "float64" else torch.float32
        x = make_input(graph, exp.steps, batch, seed, dtype=tdtype)
        row = Row("onnxruntime", "simulator")
        compare(graph, simulate(graph, x, tdtype), run_model(onnx.load(str(out)), x), row, tdtype)
        identical = row.identical
        info["verify"] = {"identical": row.identical, "steps": int(x.shape[0]), "batch": batch, "mismatches": row.mismatches,
                          "total_spikes": row.total_spikes, "max_abs_readout_diff": row.max_abs_readout_diff}
    if as_json:
        click.echo(jsonout.dumps(info, indent=2, sort_keys=True))
    else:
        form = f"unrolled T={exp.steps}" if exp.form == "unrolled" else "Loop (any T)"
        click.echo(f"wrote {out}: {info['bytes']} bytes, {info['onnx_nodes']} ONNX nodes, opset {exp.opset}, {form}, {dtype}; "
                   f"outputs {terminal_safe(', '.join(info['outputs']))}")
        for a in exp.adapters:
            click.echo(f"adapter: {terminal_safe(a)}")  # names nodes of the file
        if do_verify:
            v = info["verify"]
            click.echo(f"verify (onnxruntime vs reference, T={v['steps']}, B={batch}): {'identical' if v['identical'] else 'DIFFERENT'}; "
                       f"{v['mismatches']} spike mismatches of {v['total_spikes']} spikes, max readout diff {v['max_abs_readout_diff']}")
    if not identical:
        sys.exit(1)
