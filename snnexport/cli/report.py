"""``snnexport report``: spikes, sparsity, synaptic operations and energy per hardware target."""

from __future__ import annotations

from pathlib import Path

import click

from .. import jsonout
from ..atomic import atomic_path
from ..energy_conventions import CONVENTIONS
from ..errors import SnnexportError, terminal_safe
from ..reporting import DEFAULT_BASELINE, Report, markdown, plot, print_report
from ..targets import load_targets, select_targets
from .options import load_graph_or_model, model_options


@click.command("report")
@click.argument("model", type=click.Path())
@click.option("--input", "input_path", type=click.Path(), help="Time-major input [T,B,...] as .npy or .npz.")
@click.option("--steps", type=click.IntRange(min=1), help="Time steps T of random input (default: the model's).")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True, help="Samples B of random input.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rate", type=float, default=0.2, show_default=True, help="Bernoulli rate of random spike input.")
@click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64", show_default=True)
@click.option("--targets", "target_names", help="Comma-separated targets (default: all; see `snnexport targets`).")
@click.option("--baseline", default=DEFAULT_BASELINE, show_default=True, help="Dense target the energy ratios refer to.")
@click.option("--targets-dir", "targets_dirs", multiple=True, type=click.Path(), help="Extra folder of target .toml files.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (deterministic).")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print Markdown instead of tables.")
@click.option("-o", "--output", type=click.Path(), help="Write the report (text, --json or --markdown) to this file.")
@click.option("--plot", "plot_path", type=click.Path(), help="Write a PNG: firing rates, raster, energy per target.")
@click.option("--convention", type=click.Choice(list(CONVENTIONS)), default="neurobench", show_default=True,
              help="Energy convention driving the target energies (all three are tabulated; docs/report.md).")
@click.option("--max-memory", help="Memory budget, e.g. 4G (default: half the machine's RAM): files and the run are checked against it.")
@model_options
def command(model, input_path, steps, batch, seed, rate, dtype, target_names, baseline, targets_dirs, as_json,
            as_markdown, output, plot_path, convention, max_memory, arch, arch_kwargs, unsafe_pickle, input_shape,
            input_layout, dt):
    """Spikes, sparsity, synaptic operations and energy per hardware target for a graph or checkpoint."""
    import torch

    from ..inputs import make_input
    from ..resources import check_run_fits, parse_size, set_budget
    from ..safe_files import refuse_overwriting_input

    set_budget(parse_size(max_memory))  # readers check declared sizes against it before loading
    if as_json and as_markdown:
        raise SnnexportError("--json and --markdown: choose one output format")
    for written in (output, plot_path):
        refuse_overwriting_input(written, model, input_path)
    all_targets = load_targets(targets_dirs)
    chosen = select_targets(all_targets, target_names)
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    tdtype = torch.float64 if dtype == "float64" else torch.float32
    x = make_input(graph, steps, batch, seed, rate, input_path, tdtype)
    check_run_fits(graph, x, "report")
    run = {"steps": int(x.shape[0]), "batch": int(x.shape[1]), "dtype": dtype,
           "input": str(input_path) if input_path else f"random (seed {seed}" + (f", rate {rate:g})" if _spiking(graph) else ", standard normal)")}
    if not input_path:
        run.update({"seed": seed, "rate": rate if _spiking(graph) else None})
    from .. import api

    rep = api.report(graph, x, targets=[t.name for t in chosen], baseline=baseline or None, targets_dirs=targets_dirs,
                     dtype=tdtype, source=str(model), run=run, convention=convention)
    if plot_path:
        plot(rep, plot_path)
    if as_json:
        text = jsonout.dumps(rep.to_json(), indent=2, sort_keys=True)
    elif as_markdown:
        text = markdown(rep)
    else:
        text = None
    if output:
        if text is None:
            text = _plain_text(rep)
        with atomic_path(output) as tmp:
            Path(tmp).write_text(text + "\n", encoding="utf8")
        click.echo(f"wrote {output}" + (f" and {plot_path}" if plot_path else ""), err=True)
    elif text is not None:
        click.echo(text if as_json else terminal_safe(text, keep="\n"))
    else:
        print_report(rep)
        if plot_path:
            click.echo(f"wrote {plot_path}", err=True)


def _spiking(graph) -> bool:
    from ..extension import graph_ext

    return graph_ext(graph).input_kind == "spikes"


def _plain_text(rep: Report) -> str:
    import io

    from rich.console import Console

    con = Console(record=True, width=140, file=io.StringIO())
    print_report(rep, con)
    return con.export_text()
