"""``snnexport`` command line. Each command is thin: it parses, calls the library, prints.

Exit codes: 0 success; 1 verify found a real mismatch; 2 bad input (one-line ``error:``
message naming the file/node/module, never a traceback, never a partial output file);
3 internal error (set ``SNNEXPORT_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

import click

# Before torch loads: on a shared CPU, OpenMP threads spin-waiting for each other made small
# ops 5-15x slower here; passive waiting costs nothing when the cores are free.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .errors import SnnexportError, os_error_message, reading, terminal_safe  # noqa: E402
from . import jsonout  # noqa: E402


def _shape(text: Optional[str]) -> Optional[tuple]:
    if not text:
        return None
    try:
        shape = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise SnnexportError(f"--input-shape must be comma-separated integers like 3,32,32, got {text!r}") from None
    if not shape or any(s <= 0 for s in shape):
        raise SnnexportError(f"--input-shape must hold positive integers, got {text!r}")
    return shape


def _remember_trust_arch(ctx, _param, value):
    # Kept on the click context (not a parameter) so every command with model_options gets it unchanged.
    ctx.meta["snnexport.trust_arch"] = bool(value)


# --steps/--batch: 0 or negative is refused (0 used to mean "the default" silently).
POSITIVE_INT = click.IntRange(min=1)


def model_options(fn):
    """Options of every command that accepts a checkpoint."""
    opts = [
        click.option("--arch", help="Model factory 'package.module:factory' for a plain state_dict, or to trust the checkpoint's own."),
        click.option("--arch-kwargs", help="JSON object of keyword arguments for --arch."),
        click.option("--unsafe-pickle", is_flag=True, help="Allow unpickling arbitrary objects (runs code from the file!)."),
        click.option("--trust-arch", is_flag=True, expose_value=False, callback=_remember_trust_arch, help="Import the arch the checkpoint names even if not registered (runs its code!)."),
        click.option("--input-shape", help="Per-sample input shape, e.g. 3,32,32 (if the checkpoint does not say)."),
        click.option("--input-layout", type=click.Choice(["TB", "BT", "step"]), help="How the model takes input."),
        click.option("--dt", type=float, help="Time step in seconds recorded in the graph (default: checkpoint's or 1e-3); "
                     "for a .nir graph that records none, the step to run it with."),
        click.option("--strict", is_flag=True, expose_value=False, callback=_remember_strict,
                     help="Refuse (exit 2) instead of warning when the graph's Euler step dt/tau exceeds 1 or its dt is assumed."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _remember_strict(ctx, _param, value):
    ctx.meta["snnexport.strict"] = bool(value)
    return value


def load_graph_or_model(path: str, arch=None, arch_kwargs=None, unsafe_pickle=False, input_shape=None,
                        input_layout=None, dt=None, trust_arch=None):
    """``(graph, loaded_model or None)`` for a .nir graph or a checkpoint. For a graph written
    elsewhere, ``--dt``/``--input-shape`` supply what it does not state; what had to be
    interpreted or assumed is printed as a warning (an error with ``--strict``)."""
    from .checkpoint import load, parse_kwargs
    from .graph import apply_run_options, euler_warnings, read_graph, reading_notes
    from .sources import convert_model

    p = Path(path)
    if not p.exists():  # a zoo model's name (`snnexport report shd`) means its shipped checkpoint
        from .zoo import zoo_checkpoint

        p = zoo_checkpoint(str(path)) or p
    if trust_arch is None:
        ctx = click.get_current_context(silent=True)
        trust_arch = bool(ctx and ctx.meta.get("snnexport.trust_arch"))
    with reading(p, "cannot load"):  # malformed content of the file: one-line error naming it, exit 2
        if p.suffix.lower() in (".nir", ".h5", ".hdf5"):
            graph, loaded = read_graph(p), None
            for note in reading_notes(graph):
                click.echo(f"note: {terminal_safe(str(p))}: {terminal_safe(note)}", err=True)
            warnings = apply_run_options(graph, str(p), dt=dt, input_shape=_shape(input_shape))
        else:
            loaded = load(p, arch=arch, arch_kwargs=parse_kwargs(arch_kwargs), unsafe_pickle=unsafe_pickle,
                          trust_arch=trust_arch)
            graph = convert_model(loaded, dt=dt, input_shape=_shape(input_shape), input_layout=input_layout)
            warnings = []
    warnings += euler_warnings(graph)
    ctx = click.get_current_context(silent=True)
    if warnings and ctx is not None and ctx.meta.get("snnexport.strict"):
        raise SnnexportError(f"{warnings[0]} (--strict)")
    for w in warnings:
        click.echo(f"warning: {terminal_safe(w)}", err=True)
    return graph, loaded


# Commands in their own modules (report, targets, zoo, ONNX) are imported only when run: their
# modules import torch/nir, which `--help` and `targets` do not need. The list
# below gives each one's module, attribute and the first paragraph of its help (`snnexport --help`
# shortens it as for the real command; tests/test_startup.py checks it against the command's own).
_LAZY_COMMANDS = {
    "report": ("report", "command", "Spikes, sparsity, synaptic operations and energy per hardware target for a graph or checkpoint."),
    "targets": ("targets", "targets_command", "List the hardware targets of `snnexport report` with their evidence grades."),
    "models": ("zoo", "models_command", "List the model zoo: size, source framework, recorded metric."),
    "train": ("zoo", "train_command", "Train a zoo model reproducibly (progress bar, metric per epoch)."),
    "export-onnx": ("onnx_export", "command", "Export a NIR graph or a checkpoint as an ONNX model (unrolled over T, or a Loop)."),
    "quantize": ("hardware.quantize", "command", "Convert a graph or checkpoint to a target's number formats and neuron model; print what changed."),
}


class _LazyGroup(click.Group):
    """Lists the optional commands by their one-line help; imports one only to run it."""

    def resolve_command(self, ctx, args):
        if args and args[0] in _LAZY_COMMANDS and getattr(self.commands.get(args[0]), "_lazy", False):
            _load_command(args[0])
        return super().resolve_command(ctx, args)


def _load_command(name: str) -> None:
    import importlib

    mod, attr, _ = _LAZY_COMMANDS[name]
    try:
        m = importlib.import_module(f"snnexport.{mod}")
    except ModuleNotFoundError as e:
        if (e.name or "") == f"snnexport.{mod}":
            cli.commands.pop(name, None)
            return
        raise
    cmd = getattr(m, attr, None)
    if cmd is None:
        cli.commands.pop(name, None)
    else:
        cli.add_command(cmd, name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="snnexport")
def cli():
    """Exact export of PyTorch spiking neural networks to NIR, verified across simulators."""


@cli.command()
@click.argument("model", type=click.Path())
@click.option("-o", "--output", type=click.Path(), help="Output .nir file (default: MODEL.nir beside the input).")
@click.option("--nir-compat", type=click.Choice(["1.0.4"]), help="Write a file this older nir reads (sinabs/rockpool pin nir<=1.0.4).")
@model_options
def convert(model, output, nir_compat, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Convert a PyTorch SNN checkpoint into a NIR graph (HDF5)."""
    from .extension import consumer_warnings
    from .graph import write_graph
    from .safe_files import refuse_overwriting_input

    out = Path(output) if output else Path(model).with_suffix(".nir")
    refuse_overwriting_input(out, model)
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    if nir_compat:
        from .nir_compat import write_compat

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
    from .graph import param_count

    return param_count(node)


@cli.command()
@click.argument("graph_path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inspect(graph_path, as_json):
    """Show a NIR graph: nodes, types, shapes, edges, parameter counts, metadata."""
    from .inspect_graph import describe, print_table

    from .graph import read_graph

    with reading(graph_path):
        info = describe(read_graph(graph_path))
    if as_json:
        click.echo(jsonout.dumps(info, indent=2, sort_keys=True))
    else:
        print_table(info)


@cli.command()
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

    from . import api
    from .inputs import make_input
    from .resources import parse_size, set_budget
    from .verify_output import print_report

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


def _register_optional_commands() -> None:
    """Commands that live in their own modules (report, targets, zoo, ONNX): placeholders with
    their one-line help, replaced by the real command when one is run (``_LazyGroup``)."""
    for name, (_mod, _attr, short) in _LAZY_COMMANDS.items():
        if name not in cli.commands:
            placeholder = click.Command(name, help=short)
            placeholder._lazy = True
            cli.add_command(placeholder)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {terminal_safe(message)}", err=True)
    sys.exit(code)


def main(argv: Optional[List[str]] = None) -> Any:
    """Run the CLI; every failure is one ``error:`` line (escaped for the terminal) and an exit code."""
    try:
        _register_optional_commands()
        return cli.main(args=argv, prog_name="snnexport", standalone_mode=False)
    except SnnexportError as e:
        _fail(str(e), e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        _fail(e.format_message())
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001
        if os.environ.get("SNNEXPORT_DEBUG"):
            raise
        _fail(*_unexpected(e))
    finally:
        from .resources import set_budget

        set_budget(None)  # --max-memory holds for one run, not for later library calls


def _unexpected(e: Exception) -> tuple:
    """(message, exit code) for an exception no reader turned into an SnnexportError."""
    if isinstance(e, OSError) and os_error_message(e):
        return os_error_message(e), 2  # a file the run touched is missing, unreadable or unwritable
    if isinstance(e, RecursionError):
        return "input nested too deeply (recursion limit); the file is malformed", 2
    if isinstance(e, MemoryError):
        return "out of memory; lower --steps/--batch or set --max-memory", 2
    msg = " ".join(str(e).split())[:300]
    return f"internal error ({type(e).__name__}: {msg}); set SNNEXPORT_DEBUG=1 for the traceback", 3


if __name__ == "__main__":
    main()
