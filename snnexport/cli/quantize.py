"""``snnexport quantize``: a graph or checkpoint in a chip's number formats and neuron model."""

from __future__ import annotations

import click

from .. import jsonout

from .options import load_graph_or_model, model_options


@click.command("quantize")
@click.argument("model", type=click.Path())
@click.option("--target", "target", required=True, help="Target to quantize for (xylo-audio2, loihi2).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Quantized NIR graph to write.")
@click.option("--ignore-fit", is_flag=True, help="Quantize even when the network exceeds the chip's neuron or input pools "
                                                 "(a simulated larger chip; structural violations still refuse).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@model_options
def command(model, target, output, ignore_fit, as_json, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Convert a graph or checkpoint to a target's number formats and neuron model; print what changed."""
    import json

    from ..graph import write_graph
    from ..hardware.quantize import quantize
    from ..safe_files import refuse_overwriting_input

    refuse_overwriting_input(output, model)  # -o equal to the input (or a link to it) would replace it
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    q, changes = quantize(graph, target, ignore_fit=ignore_fit)
    write_graph(q, output)
    if as_json:
        click.echo(jsonout.dumps({"target": target, "output": str(output),
                               "changes": [c.__dict__ for c in changes]}, indent=2, sort_keys=True))
        return
    click.echo(f"quantized {model} for {target} -> {output}; {len(changes)} changes:")
    for c in changes:
        click.echo(f"  {c.line()}")
