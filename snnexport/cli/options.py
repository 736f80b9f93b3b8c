"""Options and the model/graph loading every checkpoint-taking command shares."""

from __future__ import annotations

from typing import Optional

import click

from ..errors import SnnexportError, terminal_safe


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
    """``(graph, loaded_model or None)`` for a .nir graph or a checkpoint (:func:`snnexport.api.load`).
    For a graph written elsewhere, ``--dt``/``--input-shape`` supply what it does not state; what had
    to be interpreted is printed as a note, what was assumed as a warning (an error with ``--strict``)."""
    from ..api import load
    from ..checkpoint import parse_kwargs
    from ..graph import reading_notes

    if trust_arch is None:
        ctx = click.get_current_context(silent=True)
        trust_arch = bool(ctx and ctx.meta.get("snnexport.trust_arch"))
    graph, loaded, warnings = load(path, arch=arch, arch_kwargs=parse_kwargs(arch_kwargs), trust_arch=trust_arch,
                               unsafe_pickle=unsafe_pickle, input_shape=_shape(input_shape), input_layout=input_layout,
                               dt=dt)
    for note in reading_notes(graph) if loaded is None else []:
        click.echo(f"note: {terminal_safe(str(path))}: {terminal_safe(note)}", err=True)
    ctx = click.get_current_context(silent=True)
    if warnings and ctx is not None and ctx.meta.get("snnexport.strict"):
        raise SnnexportError(f"{warnings[0]} (--strict)")
    for w in warnings:
        click.echo(f"warning: {terminal_safe(w)}", err=True)
    return graph, loaded
