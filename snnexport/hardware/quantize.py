"""``snnexport quantize``: a graph in a target's number formats and neuron model.

One quantizer per target (registry :data:`QUANTIZERS`); each returns the quantized graph
and the list of :class:`Change` s it made (``beta 0.95 -> 0.9375``), which the command
prints. The integer semantics of a quantized graph live in the ``snnexport`` metadata
under ``chip`` (see docs/quantization.md for the equations); the NIR fields hold the
closest float reading of the same network, so any NIR consumer still runs something close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import nir

from ..errors import SnnexportError

QUANTIZERS: Dict[str, Callable[..., Tuple[nir.NIRGraph, List["Change"]]]] = {}


@dataclass
class Change:
    node: str
    what: str
    before: str
    after: str
    why: str = ""

    def line(self) -> str:
        return f"{self.node}: {self.what} {self.before} -> {self.after}" + (f" ({self.why})" if self.why else "")


def register_quantizer(name: str):
    def deco(fn):
        QUANTIZERS[name] = fn
        return fn
    return deco


def quantize(graph: nir.NIRGraph, target: str, ignore_fit: bool = False) -> Tuple[nir.NIRGraph, List[Change]]:
    from . import loihi_quant, xylo_quant  # noqa: F401  (registration by import)

    if target not in QUANTIZERS:
        raise SnnexportError(f"--target: no quantizer for {target!r} (available: {', '.join(sorted(QUANTIZERS))})")
    return QUANTIZERS[target](graph, ignore_fit=ignore_fit)


def chip_target(graph: nir.NIRGraph) -> str:
    """The target a graph was quantized for ('' if none)."""
    from ..extension import graph_ext

    return str(graph_ext(graph).extra.get("quantized_for", ""))


# ----------------------------------------------------------------------------- CLI

import click  # noqa: E402


def _model_options(fn):
    from ..cli import model_options

    return model_options(fn)


@click.command("quantize")
@click.argument("model", type=click.Path())
@click.option("--target", "target", required=True, help="Target to quantize for (xylo-audio2, loihi2).")
@click.option("-o", "--output", required=True, type=click.Path(), help="Quantized NIR graph to write.")
@click.option("--ignore-fit", is_flag=True, help="Quantize even when the network exceeds the chip's neuron or input pools "
                                                 "(a simulated larger chip; structural violations still refuse).")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@_model_options
def command(model, target, output, ignore_fit, as_json, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt):
    """Convert a graph or checkpoint to a target's number formats and neuron model; print what changed."""
    import json

    from ..cli import load_graph_or_model
    from ..graph import write_graph
    from ..safe_files import refuse_overwriting_input

    refuse_overwriting_input(output, model)  # -o equal to the input (or a link to it) would replace it
    graph, _ = load_graph_or_model(model, arch, arch_kwargs, unsafe_pickle, input_shape, input_layout, dt)
    q, changes = quantize(graph, target, ignore_fit=ignore_fit)
    write_graph(q, output)
    if as_json:
        click.echo(json.dumps({"target": target, "output": str(output),
                               "changes": [c.__dict__ for c in changes]}, indent=2, sort_keys=True))
        return
    click.echo(f"quantized {model} for {target} -> {output}; {len(changes)} changes:")
    for c in changes:
        click.echo(f"  {c.line()}")
