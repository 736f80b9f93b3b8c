"""User-facing errors: one line that names the file, node or module and what is wrong.

Also the one place that turns reader exceptions into such errors (:func:`reading`,
:func:`user_error_from`) and makes text from files safe to print (:func:`terminal_safe`,
:func:`markup_safe`).
"""

from __future__ import annotations

import contextlib
import os
import unicodedata
from typing import Iterator, Optional


class SnnexportError(Exception):
    """Bad input or an unsupported model. The CLI prints ``error: <message>`` and exits 2."""

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


class UnsupportedModuleError(SnnexportError):
    """A module (or functional op) of the source model has no conversion rule."""


# ----------------------------------------------------------------------------- terminal safety

def _escape_char(c: str, keep: str) -> str:
    # Control (Cc), format (Cf: bidi overrides, zero-width), surrogate, private and unassigned
    # characters are shown as \x1b / \u202e / ... instead of acting on the terminal.
    if c in keep or unicodedata.category(c)[0] != "C":
        return c
    return c.encode("unicode_escape", "backslashreplace").decode("ascii")


def terminal_safe(text: object, keep: str = "") -> str:
    """``text`` with control characters and escape sequences shown as ``\\x1b`` etc.

    ``keep`` lists control characters to pass through (``"\\n"`` for multi-line text).
    """
    s = str(text)
    if s.isprintable():
        return s
    return "".join(_escape_char(c, keep) for c in s)


def markup_safe(text: object) -> str:
    """:func:`terminal_safe`, and rich markup (``[red]``...) shown literally when printed with rich."""
    from rich.markup import escape

    return escape(terminal_safe(text))


# ----------------------------------------------------------------------------- reader exceptions

def _first_line(e: BaseException, limit: int = 200) -> str:
    msg = " ".join(str(e).split())
    if isinstance(e, KeyError) and e.args:
        msg = f"missing key {e.args[0]!r}"
    return (msg[:limit] + "...") if len(msg) > limit else msg


# Exceptions that readers raise on malformed content (h5py, numpy, torch and nir raise only these
# built-in types; RuntimeError is torch's for a model that cannot run with the file's shapes).
READER_ERRORS = (OSError, EOFError, KeyError, IndexError, TypeError, ValueError, AttributeError, UnicodeError,
                 OverflowError, RecursionError, LookupError, AssertionError, NotImplementedError, RuntimeError)


def user_error_from(e: BaseException, path: object, doing: str = "cannot read") -> SnnexportError:
    """One-line error for a reader exception ``e`` raised while reading ``path``."""
    if isinstance(e, RecursionError):
        return SnnexportError(f"{path}: nested too deeply to {doing.replace('cannot ', '')} (recursion limit)")
    if isinstance(e, MemoryError):
        return SnnexportError(f"{path}: needs more memory than is available to read")
    if isinstance(e, OSError) and e.strerror:
        other = e.filename if e.filename and str(e.filename) != str(path) else None
        return SnnexportError(f"{path}: {doing}" + (f" {other}" if other else "") + f" ({e.strerror})")
    return SnnexportError(f"{path}: {doing}: malformed content ({type(e).__name__}: {_first_line(e)})")


@contextlib.contextmanager
def reading(path: object, doing: str = "cannot read") -> Iterator[None]:
    """Turn a reader's exception about malformed content of ``path`` into a one-line error.

    Wrap the code that reads a file and builds objects from it::

        with reading(path):
            graph = nir.read(path)

    ``SnnexportError`` passes unchanged; ``SNNEXPORT_DEBUG=1`` re-raises the original.
    """
    try:
        yield
    except SnnexportError:
        raise
    except (READER_ERRORS + (MemoryError,)) as e:
        if os.environ.get("SNNEXPORT_DEBUG"):
            raise
        raise user_error_from(e, path, doing) from e


def os_error_message(e: OSError) -> Optional[str]:
    """'path: strerror' for an OSError that names a file (None if it names none)."""
    if not (e.filename or e.filename2):
        return None
    where = e.filename if e.filename else e.filename2
    what = e.strerror or type(e).__name__
    if e.filename2:
        return f"{e.filename}: {what} ({e.filename2})"
    return f"{where}: {what}"
