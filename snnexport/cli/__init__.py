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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="snnexport")
def cli():
    """Exact export of PyTorch spiking neural networks to NIR, verified across simulators."""


def _register_commands() -> None:
    """Every command module's commands on the group (imported on first use: see main)."""
    from . import catalog, convert, export_onnx, quantize, report, verify

    for cmd in (convert.convert, convert.inspect, verify.verify, report.command, export_onnx.command, quantize.command,
                catalog.targets_command, catalog.models_command, catalog.train_command):
        cli.add_command(cmd)


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
        from ..resources import set_budget

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
