"""``snnexport verify``: every simulator beside the source model, identical spikes or exit 1."""

from __future__ import annotations

import sys
from typing import List, Optional

import click

from .. import jsonout
from ..errors import SnnexportError
from .options import POSITIVE_INT, load_graph_or_model, model_options


@click.command()
@click.argument("model", type=click.Path())
@click.option("--sims", help="Comma-separated participants (default: source if a .pt, reference, snntorch, norse, upstream witnesses).")
@click.option("--steps", type=POSITIVE_INT, help="Time steps T (default: the model's).")
@click.option("--batch", type=POSITIVE_INT, default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rate", type=float, default=0.2, show_default=True, help="Bernoulli rate of random spike input.")
@click.option("--input", "input_path", type=click.Path(), help="Time-major input [T,B,...] as .npy or .npz.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--save-spikes", type=click.Path(), help="Folder for one .npz of spikes/readout per participant.")
@click.option("--no-upstream", is_flag=True, help="Skip the upstream witness rows.")
@click.option("--max-memory", help="Memory budget, e.g. 4G (default: half the machine's RAM); larger runs are chunked.")
@model_options
def verify(model, sims, steps, batch, seed, rate, input_path, dtype, as_json, save_spikes, no_upstream, max_memory,
           arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Run the graph in every simulator beside the source model and prove identical spikes."""
    import torch

    from .. import api
    from ..inputs import make_input
    from ..resources import parse_size, set_budget
    from ..verify_output import print_report

    set_budget(parse_size(max_memory))  # readers check declared sizes against it before loading
    graph, loaded = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    x = make_input(graph, steps, batch, seed, rate, input_path, tdtype)
    names: Optional[List[str]] = [s.strip() for s in sims.split(",") if s.strip()] if sims else None
    if names and "source" in names and loaded is None:
        raise SnnexportError(f"{model}: --sims source needs a checkpoint (.pt), not a graph")
    report = api.verify(graph, x, sims=names, dtype=tdtype, upstream=not no_upstream, source=loaded,
                        max_memory=parse_size(max_memory), save_spikes=save_spikes, progress=not as_json)
    if as_json:
        click.echo(jsonout.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        print_report(report)
    sys.exit(report.exit_code)
