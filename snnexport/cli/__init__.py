"""``snnexport`` command line, on top of the library: nothing in snnexport imports this package.

Each command is thin (one module per command or family): it parses, calls the library, prints.

Exit codes: 0 success; 1 verify found a real mismatch; 2 bad input (one-line ``error:``
message naming the file/node/module, never a traceback, never a partial output file);
3 internal error (set ``SNNEXPORT_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional

import click

# Before torch loads: on a shared CPU, OpenMP threads spin-waiting for each other made small
# ops 5-15x slower here; passive waiting costs nothing when the cores are free.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ..errors import SnnexportError, os_error_message, terminal_safe  # noqa: E402


# Commands whose modules import torch/nir (through the library) are imported only when run:
# `--help` and `targets` do not need them. Each entry: module of this package, attribute, and
# the first paragraph of the command's help (`snnexport --help` shortens it as for the real one).
_LAZY_COMMANDS = {
    "report": ("report", "command", "Spikes, sparsity, synaptic operations and energy per hardware target for a graph or checkpoint."),
    "targets": ("catalog", "targets_command", "List the hardware targets of `snnexport report` with their evidence grades."),
    "models": ("catalog", "models_command", "List the model zoo: size, source framework, recorded metric."),
    "train": ("catalog", "train_command", "Train a zoo model reproducibly (progress bar, metric per epoch)."),
    "export-onnx": ("export_onnx", "command", "Export a NIR graph or a checkpoint as an ONNX model (unrolled over T, or a Loop)."),
    "quantize": ("quantize", "command", "Convert a graph or checkpoint to a target's number formats and neuron model; print what changed."),
}


class _LazyGroup(click.Group):
    """Lists the lazy commands by their one-line help; imports one only to run it."""

    def resolve_command(self, ctx, args):
        if args and args[0] in _LAZY_COMMANDS and getattr(self.commands.get(args[0]), "_lazy", False):
            _load_command(args[0])
        return super().resolve_command(ctx, args)


def _load_command(name: str) -> None:
    import importlib

    mod, attr, _ = _LAZY_COMMANDS[name]
    cli.add_command(getattr(importlib.import_module(f"{__name__}.{mod}"), attr), name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="snnexport")
def cli():
    """Exact export of PyTorch spiking neural networks to NIR, verified across simulators."""


def _register_optional_commands() -> None:
    """Placeholders with their one-line help for the lazy commands, replaced by the real
    command when one is run (``_LazyGroup``)."""
    for name, (_mod, _attr, short) in _LAZY_COMMANDS.items():
        if name not in cli.commands:
            placeholder = click.Command(name, help=short)
            placeholder._lazy = True
            cli.add_command(placeholder)


def _register_commands() -> None:
    """The light commands (their modules import the library only when run), then the lazy ones."""
    from . import convert, verify

    for cmd in (convert.convert, convert.inspect, verify.verify):
        cli.add_command(cmd)
    _register_optional_commands()


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {terminal_safe(message)}", err=True)
    sys.exit(code)


def main(argv: Optional[List[str]] = None) -> Any:
    """Run the CLI; every failure is one ``error:`` line (escaped for the terminal) and an exit code."""
    try:
        _register_commands()
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
        # --max-memory holds for one run, not for later library calls; a run that never imported
        # the budget's module set none (and `--help` need not import nir and numpy to clear it)
        resources = sys.modules.get(f"{__package__.rpartition('.')[0]}.resources")
        if resources is not None:
            resources.set_budget(None)


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
