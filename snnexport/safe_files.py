"""Checks any reader runs before opening a file from someone else.

- :func:`require_regular_file`: a FIFO, device or folder named ``*.pt`` is refused by ``stat``
  (opening a FIFO blocks until a writer appears: it would hang forever).
- :func:`check_torch_zip`: a ``torch.save`` archive declares every entry's uncompressed size in
  its zip directory; reading that directory costs nothing, so a compression bomb (1 MB on disk,
  gigabytes once inflated) is refused before ``torch.load`` allocates anything.
- :func:`refuse_overwriting_input`: an output path that is one of the inputs would replace it.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import Optional

from .errors import SnnexportError

# torch.save stores entries uncompressed (ratio 1); real compressed archives stay far below this.
MAX_COMPRESSION_RATIO = 100
# Small entries may compress well (all-zero buffers); only big ones are judged by their ratio.
RATIO_CHECK_MIN_BYTES = 1 << 20
MAX_ZIP_ENTRIES = 100_000


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def require_regular_file(path: str | os.PathLike, expected: str = "file") -> Path:
    """``path`` exists and is a regular file (symlinks followed); otherwise a one-line error."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise SnnexportError(f"{p}: no such file") from None
    except OSError as e:
        raise SnnexportError(f"{p}: cannot read ({e.strerror or type(e).__name__})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SnnexportError(f"{p}: is {_kind(st.st_mode)}, expected a {expected}")
    return p


def check_torch_zip(path: str | os.PathLike, budget_bytes: Optional[int]) -> int:
    """Refuse a zip archive whose declared contents exceed ``budget_bytes`` or look like a bomb.

    Returns the declared uncompressed total. Only the zip directory is read.
    """
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        msg = " ".join(str(e).split())[:200]
        raise SnnexportError(f"{p}: corrupted zip archive ({type(e).__name__}: {msg})") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise SnnexportError(f"{p}: zip archive declares {len(infos)} entries (limit {MAX_ZIP_ENTRIES}); refused")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise SnnexportError(
                f"{p}: zip entry {info.filename!r} inflates {info.compress_size} bytes to {info.file_size} "
                f"(ratio over {MAX_COMPRESSION_RATIO}); refused as a compression bomb"
            )
    if budget_bytes is not None and total > budget_bytes:
        raise SnnexportError(
            f"{p}: archive holds {total / 2**20:.0f} MiB once unpacked, more than the memory budget "
            f"{budget_bytes / 2**20:.0f} MiB; raise --max-memory if you trust it"
        )
    return total


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist yet: compare where they would be
        return a.resolve() == b.resolve()


def refuse_overwriting_input(output: Optional[str | os.PathLike], *inputs: Optional[str | os.PathLike]) -> None:
    """An output that is one of the inputs (same path, or a link to it) would replace it: refuse.

    ``None`` (no such output, or an input not given) is skipped, so callers pass options as they are.
    """
    if output is None:
        return
    out = Path(output)
    for inp in inputs:
        if inp is not None and _same_file(out, Path(inp)):
            raise SnnexportError(f"{out}: output would overwrite the input {inp}; choose another output path (-o)")
