"""``snnexport convert`` and ``snnexport inspect``."""

from __future__ import annotations

from pathlib import Path

import click

from .. import jsonout
from ..errors import reading, terminal_safe
from .options import load_graph_or_model, model_options


@click.command()
@click.argument("model", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output .nir file (default: MODEL.nir beside the input).")
@click.option("--nir-compat", type=click.Choice(["1.0.4"]), help="Write a file this older nir reads (sinabs/rockpool pin nir<=1.0.4).")
@model_options
def convert(model, output, nir_compat, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Convert a PyTorch SNN checkpoint into a NIR graph (HDF5)."""
    from ..consumers import consumer_warnings
    from ..graph import write_graph
    from ..safe_files import refuse_overwriting_input

    out = Path(output) if output else Path(model).with_suffix(".nir")
    refuse_overwriting_input(out, model)
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    if nir_compat:
        from ..nir_compat import write_compat

        _, notes = write_compat(graph, out, nir_compat)
        for n in notes:
            click.echo(f"note (nir {nir_compat} readers): {terminal_safe(n)}", err=True)
    else:
        write_graph(graph, out)
    n_params = sum(_params(node) for node in graph.nodes.values())
    click.echo(f"wrote {out}: {len(graph.nodes)} nodes, {len(graph.edges)} edges, {n_params} parameters")
    for w in consumer_warnings(graph):
        click.echo(f"note (plain NIR consumers): {terminal_safe(w)}", err=True)


def _params(node) -> int:
    from ..graph import param_count

    return param_count(node)


@click.command()
@click.argument("graph_path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inspect(graph_path, as_json):
    """Show a NIR graph: nodes, types, shapes, edges, parameter counts, metadata."""
    from ..inspect_graph import describe, print_table

    from ..graph import read_graph

    with reading(graph_path):
        info = describe(read_graph(graph_path))
    if as_json:
        click.echo(jsonout.dumps(info, indent=2, sort_keys=True))
    else:
        print_table(info)
