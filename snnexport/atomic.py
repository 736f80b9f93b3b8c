"""Atomic file output: every file snnexport writes goes through here.

A write goes to a hidden temporary file beside the target and is renamed onto it only when
complete, so a failed or interrupted run never leaves a partial output. Disk faults (full
disk, read-only or missing folder, a folder where the file should go) become one-line
:class:`SnnexportError`\\ s naming the target. While a write is in flight a SIGTERM/SIGHUP
handler removes the temporary files and exits 143 (SIGINT already unwinds via
KeyboardInterrupt, which the ``except BaseException`` below handles).

Libraries that write through C code which may crash on a full disk (h5py segfaulted) should
serialise to memory first and hand the bytes to :func:`write_bytes`, so the disk is only
touched by ``os.write`` and its errors surface as ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Iterator, Set

from .errors import SnnexportError

# Temporary files of writes in flight; the signal handler removes them.
_in_flight: Set[Path] = set()
_previous_handlers: dict = {}
_CLEANUP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)

# Tests only: seconds to sleep per written chunk, so a test can kill a run mid-write.
_SLOW_ENV = "SNNEXPORT_TEST_SLOW_WRITE"


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    for tmp in list(_in_flight):
        with contextlib.suppress(OSError):
            tmp.unlink()
    _in_flight.clear()
    os._exit(128 + signum)  # 143 for SIGTERM; nothing else may run (or write) after this


def _install_handlers() -> None:
    if _previous_handlers or threading.current_thread() is not threading.main_thread():
        return
    for s in _CLEANUP_SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            _previous_handlers[s] = signal.signal(s, _on_signal)


def _restore_handlers() -> None:
    if _in_flight:
        return
    for s, h in list(_previous_handlers.items()):
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(s, h)
    _previous_handlers.clear()


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP (delivered on exit) where a temp file exists but is not yet registered."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = mask(signal.SIG_BLOCK, _CLEANUP_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


def describe_os_error(e: OSError) -> str:
    """'No space left on device' etc.: the strerror, without Python's '[Errno 28]' prefix."""
    if e.strerror:
        return e.strerror
    return os.strerror(e.errno) if e.errno else (str(e) or type(e).__name__)


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise SnnexportError(f"{target}: is a directory; give a file name to write")
    # Renaming onto a device or FIFO would replace the node itself (as root: /dev/full became a file).
    if target.exists() and not target.is_file():
        raise SnnexportError(f"{target}: is not a regular file (device, FIFO or socket); refusing to replace it")
    parent = target.parent
    if not parent.exists():
        raise SnnexportError(f"{target}: cannot write: folder {parent} does not exist")
    if not parent.is_dir():
        raise SnnexportError(f"{target}: cannot write: {parent} is not a folder")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` on success.

    On any exception (and on SIGTERM) the temporary file is removed, so no partial output is
    ever left. ``OSError`` raised while creating, writing or renaming becomes a one-line
    :class:`SnnexportError` naming ``target``.
    """
    target = Path(target)
    _check_target(target)
    _install_handlers()
    # The temp file must be registered before a signal can be handled, else it would be left.
    with _signals_blocked():
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent)
        except OSError as e:
            _restore_handlers()
            raise SnnexportError(f"{target}: cannot write ({describe_os_error(e)})") from None
        tmp_path = Path(tmp)
        _in_flight.add(tmp_path)
    try:
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the file normal permissions
        try:
            yield tmp_path
            os.replace(tmp_path, target)
        except OSError as e:
            if e.errno == errno.EISDIR:
                raise SnnexportError(f"{target}: is a directory; give a file name to write") from None
            raise SnnexportError(f"{target}: cannot write ({describe_os_error(e)})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    finally:
        _in_flight.discard(tmp_path)
        _restore_handlers()


def write_bytes(target: str | os.PathLike, data: bytes, suffix: str = "", chunk: int = 1 << 20) -> Path:
    """Write ``data`` to ``target`` atomically with plain ``os.write`` calls."""
    import time

    slow = float(os.environ.get(_SLOW_ENV) or 0)
    target = Path(target)
    view = memoryview(data)
    with atomic_path(target, suffix=suffix) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC | getattr(os, "O_BINARY", 0))
        try:
            pos = 0
            while pos < len(view):
                pos += os.write(fd, view[pos:pos + chunk])
                if slow:
                    time.sleep(slow)
            os.fsync(fd)
        finally:
            os.close(fd)
    return target


def write_text(target: str | os.PathLike, text: str, suffix: str = "") -> Path:
    return write_bytes(target, text.encode("utf8"), suffix=suffix)
