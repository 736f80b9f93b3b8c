"""Options and the model/graph loading every checkpoint-taking command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..errors import SnnexportError, reading, terminal_safe


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
    from ..checkpoint import load, parse_kwargs
    from ..graph import apply_run_options, euler_warnings, read_graph, reading_notes
    from ..sources import convert_model

    p = Path(path)
    if not p.exists():  # a zoo model's name (`snnexport report shd`) means its shipped checkpoint
        from ..zoo import zoo_checkpoint

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
