"""Reading HDF5 graphs and .npy/.npz arrays from strangers: nothing else touched, memory bounded.

Every check runs on the file's *declared* structure before any data is read:

- only regular files are opened (a FIFO or device is refused before ``open`` can block);
- HDF5: every object is walked without reading data; external links, soft links, objects
  reached twice (hard-link aliases or cycles), external raw storage, virtual datasets,
  committed datatypes, plugin filters, object/compound/reference dtypes, too many objects or
  too deep nesting are refused; the declared sizes (shape x itemsize) must fit the memory
  budget, and a dataset must not declare absurdly more than it stores (a never-written
  chunked dataset with a fill value, or a compression bomb);
- variable-length strings (their bytes live in a shared heap, so many elements may point at
  one big string) are read in blocks small enough that even that case fits the budget;
- .npy/.npz: the array header (and for .npz the zip directory) is parsed first; the declared
  size must fit the budget and the bytes actually present; never ``allow_pickle``.

The data is then read from the *same* open handle that was checked.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import math
import os
import stat
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import numpy as np

from .errors import SnnexportError

# Deflate cannot exceed ~1032:1; anything claiming more decompresses from lies or nested filters.
MAX_RATIO = 1100
# Below this a dataset's declared/stored ratio is not worth judging (tiny fill-value arrays are fine).
RATIO_FLOOR = 1 << 20
MAX_OBJECTS = 500_000
MAX_DEPTH = 64
# Reading an array costs the array plus one conversion copy (nir, torch or float64 checks).
READ_OVERHEAD = 2
# Built-in HDF5 filters (gzip, shuffle, fletcher32, szip, nbit, scaleoffset) and h5py's lzf;
# any other id would make HDF5 load a plugin library.
SAFE_FILTERS = {1, 2, 3, 4, 5, 6, 32000}
NUMERIC_KINDS = "biufc"


def budget_bytes(budget: Optional[int] = None) -> int:
    """The memory budget in bytes: ``budget`` if given, else the current ``--max-memory``."""
    if budget is not None:
        return int(budget)
    from .resources import current_budget

    return current_budget()


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.1f} GiB"


# ----- regular files only -----------------------------------------------------------------------

@contextlib.contextmanager
def open_regular(path: str | Path) -> Iterator[io.BufferedReader]:
    """Open ``path`` for reading only if it is a regular file.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so a
    FIFO (which would block ``open`` until a writer appears) or a device is refused without
    hanging, and the file checked is the file read.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SnnexportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SnnexportError(f"{path}: is a directory, expected a file") from None
    except OSError as e:
        raise SnnexportError(f"{path}: cannot open ({e.strerror or type(e).__name__})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise SnnexportError(f"{path}: is a directory, expected a file")
        if not stat.S_ISREG(st.st_mode):
            raise SnnexportError(f"{path}: not a regular file (FIFO, socket or device); refusing to read it")
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        yield f


def require_regular(path: str | Path) -> None:
    """Refuse missing, directory and non-regular paths (without blocking on a FIFO)."""
    with open_regular(path):
        pass


# ----- HDF5 --------------------------------------------------------------------------------------

class Hdf5Plan:
    """What :func:`check_hdf5` learned: declared bytes of fixed-size data, vlen elements."""

    def __init__(self, file_size: int):
        self.file_size = file_size
        self.fixed_bytes = 0
        self.objects = 0
        self.vlen_elements = 0


def _filters(dset) -> list:
    plist = dset.id.get_create_plist()
    return [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]


def _check_dataset(dset, name: str, where: str, plan: Hdf5Plan, budget: int, vlen_numeric: Tuple[str, ...]) -> None:
    import h5py

    if dset.is_virtual:
        raise SnnexportError(f"{where}: dataset {name!r} is a virtual dataset (maps other files); refused")
    if dset.external:
        raise SnnexportError(f"{where}: dataset {name!r} keeps its data in an external file; refused")
    for code in _filters(dset):
        if code not in SAFE_FILTERS:
            raise SnnexportError(f"{where}: dataset {name!r} uses HDF5 filter {code}, which would load a plugin; refused")
    dt = dset.dtype
    shape = dset.shape
    if shape is None:  # null dataspace: no data at all
        return
    if dt.kind != "O":  # fixed-size: checked below without h5py's (slow) vlen introspection
        string = vlen = None
    else:
        string, vlen = h5py.check_string_dtype(dt), h5py.check_vlen_dtype(dt)
    count = math.prod(int(s) for s in shape)
    if string is not None and string.length is None:
        plan.vlen_elements += count  # sized while reading (see _read_vlen)
        return
    if vlen is not None:
        if name.lstrip("/") not in vlen_numeric or np.dtype(vlen).kind not in NUMERIC_KINDS:
            raise SnnexportError(f"{where}: dataset {name!r} has variable-length dtype {vlen}; expected numbers")
        plan.vlen_elements += count
        return
    if dt.kind not in NUMERIC_KINDS + "S" or dt.hasobject or dt.fields is not None or dt.subdtype is not None:
        raise SnnexportError(f"{where}: dataset {name!r} has dtype {dt}; expected plain numbers or strings")
    declared = count * dt.itemsize
    stored = int(dset.id.get_storage_size())
    if declared > RATIO_FLOOR and declared > MAX_RATIO * max(stored, 1):
        raise SnnexportError(
            f"{where}: dataset {name!r} declares {_mib(declared)} but stores {stored} bytes "
            f"(never-written fill value or compression bomb); refused")
    plan.fixed_bytes += declared
    if READ_OVERHEAD * plan.fixed_bytes > budget:
        raise SnnexportError(
            f"{where}: datasets declare {_mib(plan.fixed_bytes)} (at {name!r}), more than the memory budget "
            f"{_mib(budget)} allows; raise --max-memory if the file is trusted")


def _walk(f, where: str) -> Iterator[Tuple[str, Any, int]]:
    """Yield ``(path, object, depth)`` for every object, refusing anything that is not a plain
    hard link to an object seen for the first time. Iterative, so nesting cannot overflow.
    Links are judged from their link info, before the object is opened."""
    import h5py

    seen = {h5py.h5o.get_info(f.id).addr}
    stack = [(f, "", 0)]
    while stack:
        group, prefix, depth = stack.pop()
        for key in group.keys():
            name = f"{prefix}/{key}"
            info = group.id.links.get_info(key.encode("utf8"))
            if info.type != h5py.h5l.TYPE_HARD:
                link = group.get(key, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise SnnexportError(f"{where}: {name!r} is an external link (to {link.filename!r}); refused")
                if isinstance(link, h5py.SoftLink):
                    raise SnnexportError(f"{where}: {name!r} is a soft link (to {link.path!r}); refused")
                raise SnnexportError(f"{where}: {name!r} is a {type(link).__name__}; only plain objects are accepted")
            if info.u in seen:
                raise SnnexportError(f"{where}: {name!r} is a second link to an object already seen; refused")
            seen.add(info.u)
            if depth + 1 > MAX_DEPTH:
                raise SnnexportError(f"{where}: objects nested deeper than {MAX_DEPTH} levels at {name[:200]!r}")
            obj = group[key]
            yield name, obj, depth + 1
            if isinstance(obj, h5py.Group):
                stack.append((obj, name, depth + 1))


def check_hdf5_handle(f, where: str, budget_bytes: int, file_size: int, vlen_numeric: Tuple[str, ...] = ()) -> Hdf5Plan:
    """Walk every object of an open ``h5py.File`` without reading data; raise on anything unsafe."""
    import h5py

    plan = Hdf5Plan(file_size)
    if file_size > budget_bytes:
        raise SnnexportError(f"{where}: file of {_mib(file_size)} is larger than the memory budget {_mib(budget_bytes)}; "
                             f"raise --max-memory if the file is trusted")
    for name, obj, _depth in _walk(f, where):
        plan.objects += 1
        if plan.objects > MAX_OBJECTS:
            raise SnnexportError(f"{where}: more than {MAX_OBJECTS} HDF5 objects; refused")
        if isinstance(obj, h5py.Dataset):
            _check_dataset(obj, name, where, plan, budget_bytes, vlen_numeric)
        elif not isinstance(obj, h5py.Group):
            raise SnnexportError(f"{where}: {name!r} is a {type(obj).__name__}; only groups and datasets are accepted")
    return plan


@contextlib.contextmanager
def open_hdf5(path: str | Path, budget: Optional[int] = None, vlen_numeric: Tuple[str, ...] = ()):
    """Yield ``(h5py.File, reader)`` for a checked file; ``reader`` reads datasets within the budget."""
    import h5py

    where = str(path)
    limit = budget_bytes(budget)
    with open_regular(path) as raw:
        size = os.fstat(raw.fileno()).st_size
        try:
            # the descriptor already checked, through the native driver (a Python file object is slow)
            proc = f"/proc/self/fd/{raw.fileno()}"
            f = h5py.File(proc if os.path.exists(proc) else raw, "r")
        except OSError as e:
            raise SnnexportError(f"{where}: not a readable HDF5 file ({_first_line(e)})") from None
        with f:
            try:
                plan = check_hdf5_handle(f, where, limit, size, vlen_numeric)
            except SnnexportError:
                raise
            except (OSError, KeyError, ValueError, RuntimeError, TypeError) as e:
                raise SnnexportError(f"{where}: damaged HDF5 structure ({_first_line(e)})") from None
            yield f, BudgetReader(where, limit, plan)


def check_hdf5(path: str | Path, budget_bytes: Optional[int] = None, vlen_numeric: Tuple[str, ...] = ()) -> Hdf5Plan:
    """Check an HDF5 file without reading its data (see the module docstring). Raises
    :class:`SnnexportError` with one line naming the file and the object."""
    with open_hdf5(path, budget_bytes, vlen_numeric) as (_f, reader):
        return reader.plan


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class BudgetReader:
    """Reads datasets of a checked file, charging variable-length data to the budget as it goes."""

    def __init__(self, where: str, budget: int, plan: Hdf5Plan):
        self.where = where
        self.plan = plan
        self.left = budget // READ_OVERHEAD - plan.fixed_bytes

    def read(self, dset, name: str = "") -> Any:
        dt = dset.dtype  # h5py rebuilds it on every access
        if dt.kind == "O":  # variable-length strings or sequences
            return self._read_vlen(dset, name or dset.name)
        return dset[()]

    def _charge(self, nbytes: int, name: str) -> None:
        self.left -= nbytes
        if self.left < 0:
            raise SnnexportError(f"{self.where}: variable-length data up to {name!r} exceeds the memory budget; refused")

    def _read_vlen(self, dset, name: str) -> Any:
        # One element is one heap object, at most the file's size (checked against the budget).
        # Blocks are sized so that even if every element pointed at the largest possible object
        # they would fit what is left; a single row is always allowed (at most a few file sizes
        # at once), and what was really read is charged after each block.
        shape = dset.shape
        if shape == ():
            value = dset[()]
            self._charge(_vlen_nbytes(value), name)
            return value
        out = np.empty(shape, dtype=object)
        if out.size == 0:
            return out
        per_row = math.prod(shape[1:]) if len(shape) > 1 else 1
        worst_row = self.plan.file_size * per_row
        start = 0
        while start < shape[0]:
            rows = min(shape[0] - start, max(1, self.left // max(1, worst_row)))
            block = dset[start:start + rows]
            out[start:start + rows] = block
            self._charge(sum(_vlen_nbytes(v) for v in np.asarray(block, dtype=object).reshape(-1)), name)
            start += rows
        return out


def _vlen_nbytes(value: Any) -> int:
    if isinstance(value, (bytes, str)):
        return len(value) + 64
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 112
    return 64


def read_hdf_dict(f, reader: BudgetReader, group_name: str = "node") -> Dict[str, Any]:
    """``nir.serialization.hdf2dict`` on a checked handle: the same nested dict, read within budget."""
    import h5py

    def one(group, out: Dict[str, Any]) -> None:
        for key, item in group.items():
            key = key.decode("utf8") if isinstance(key, bytes) else key
            if isinstance(item, h5py.Group):
                out[key] = {}
                one(item, out[key])
            elif isinstance(item, h5py.Dataset):
                value = reader.read(item)
                out[key] = value.decode("utf8") if isinstance(value, bytes) else value

    if group_name not in f or not isinstance(f[group_name], h5py.Group):
        raise SnnexportError(f"{reader.where}: not a NIR file (no {group_name!r} group)")
    root: Dict[str, Any] = {}
    one(f[group_name], root)  # depth is bounded by MAX_DEPTH, far below the recursion limit
    return root


def read_nir(path: str | Path, budget: Optional[int] = None, check_dict=None, type_notes: Optional[list] = None):
    """``nir.read`` after :func:`check_hdf5`, reading from the same checked handle.
    ``check_dict(data)`` may inspect the nested dict before nir builds nodes from it. With a
    ``type_notes`` list, a failing type check (Norse, rockpool and sinabs put batch/time
    dimensions into Input/Output types) is noted there instead of raised; the caller fixes it."""
    import nir

    with open_hdf5(path, budget) as (f, reader):
        data = read_hdf_dict(f, reader)
    if check_dict is not None:
        check_dict(data)
    if "type_check" in data:
        raise SnnexportError(f"{path}: graph has a 'type_check' entry, which NIR reserves")
    data["type_check"] = False  # nir's own inference is quadratic; check_nir_types does the same
    node = nir.dict2NIRNode(data)
    if isinstance(node, nir.NIRGraph):
        from .conv_transpose import restore_types

        restore_types(node)  # transposed convolutions: nir recomputes a wrong input type from the fields
        try:
            check_nir_types(node)
        except ValueError as e:
            if type_notes is None or "type" not in str(e).lower():
                raise
            type_notes.append(f"nir's type check failed ({str(e).splitlines()[0]}); read without it")
    return node


def _typed(t) -> bool:
    return t is not None and all(v is not None for v in t.values())


def check_nir_types(graph) -> None:
    """What ``NIRGraph(type_check=True)`` does (``infer_types`` then ``check_types``), in linear
    time when nothing needs inferring.

    nir's ``infer_types`` rescans every edge (and rebuilds the Input dict) for every edge it
    visits, so a graph of thousands of nodes took tens of seconds. When every node already has
    its input and output types, every root is an Input and every leaf an Output (nothing to
    infer or insert), it reduces to the structure check and ``check_types`` on every edge,
    both linear. Otherwise (convolutions without an input shape, nested graphs, bare roots or
    leaves) nir's own inference runs.
    """
    import nir

    graph.validate_structure()
    targets = {b for _, b in graph.edges}
    sources = {a for a, _ in graph.edges}
    nothing_to_infer = all(
        _typed(node.input_type) and _typed(node.output_type) and not isinstance(node, nir.NIRGraph)
        and (name in targets or isinstance(node, nir.Input)) and (name in sources or isinstance(node, nir.Output))
        for name, node in graph.nodes.items()
    )
    if not nothing_to_infer:
        graph.infer_types()
    elif graph.nodes and not any(isinstance(graph.nodes[a], nir.Input) for a, _ in graph.edges):
        graph.infer_types()  # raises nir's own "no input nodes" error
    graph.check_types()
    graph.__post_init__()  # input/output types of the graph from its (possibly new) Input/Output nodes


# ----- .npy / .npz -------------------------------------------------------------------------------

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAGIC = b"\x93NUMPY"


def _npy_header(f, where: str) -> Tuple[tuple, bool, np.dtype]:
    from numpy.lib import format as npf

    try:
        version = npf.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npf.read_array_header_1_0(f, max_header_size=10000)
        elif version == (2, 0):
            shape, fortran, dtype = npf.read_array_header_2_0(f, max_header_size=10000)
        elif version == (3, 0):
            shape, fortran, dtype = npf._read_array_header(f, version, max_header_size=10000)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except Exception as e:  # noqa: BLE001 - numpy's header parser raises ValueError, SyntaxError, TokenError...
        raise SnnexportError(f"{where}: malformed .npy header ({_first_line(e)})") from None
    dtype = np.dtype(dtype)
    if dtype.hasobject:
        raise SnnexportError(f"{where}: array of dtype object (pickled Python objects) is refused")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in NUMERIC_KINDS:
        raise SnnexportError(f"{where}: array dtype {dtype} is not plain numbers")
    return tuple(int(s) for s in shape), bool(fortran), dtype


def _check_declared(where: str, shape: tuple, dtype: np.dtype, available: int, budget: int) -> int:
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > available:
        raise SnnexportError(f"{where}: header declares shape {list(shape)} ({_mib(nbytes)}) but only {available} "
                             f"bytes of data follow; truncated or forged")
    # the array itself, its float64 check copy and the tensor made from it
    need = math.prod(shape) * (dtype.itemsize + 16)
    if need > budget:
        raise SnnexportError(f"{where}: array of shape {list(shape)} {dtype} needs about {_mib(need)}, more than the "
                             f"memory budget {_mib(budget)}; raise --max-memory if the file is trusted")
    return nbytes


def _read_npy_body(f, where: str, shape: tuple, fortran: bool, dtype: np.dtype) -> np.ndarray:
    count = math.prod(shape)
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise SnnexportError(f"{where}: array data truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    arr = arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
    native = dtype.newbyteorder("=")
    return np.array(arr, dtype=native, order="C")  # own, writable, native byte order


def load_array_file(path: str | Path, budget: Optional[int] = None, check_header=None) -> np.ndarray:
    """A numeric array from a .npy, or the array ``x`` (or the only one) of a .npz.

    The kind is sniffed from the content, not the suffix; headers and zip entries are checked
    against the bytes present and the budget before anything is allocated, and so is
    ``check_header(shape, dtype)`` (e.g. the shape the model expects).
    """
    where = str(path)
    limit = budget_bytes(budget)
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(6)
        f.seek(0)
        if head.startswith(NPY_MAGIC):
            shape, fortran, dtype = _npy_header(f, where)
            _check_declared(where, shape, dtype, size - f.tell(), limit)
            if check_header is not None:
                check_header(shape, dtype)
            return _read_npy_body(f, where, shape, fortran, dtype)
        if head[:4] in ZIP_MAGIC:
            return _load_npz(f, where, size, limit, check_header)
    raise SnnexportError(f"{where}: not a .npy or .npz array file (unknown content)")


def _load_npz(f, where: str, size: int, limit: int, check_header=None) -> np.ndarray:
    try:
        zf = zipfile.ZipFile(f)
    except Exception as e:  # noqa: BLE001 - any damage to the zip directory
        raise SnnexportError(f"{where}: damaged .npz archive ({_first_line(e)})") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > 10_000:
            raise SnnexportError(f"{where}: .npz archive has {len(infos)} entries; refused")
        keys = {i.filename[:-4] if i.filename.endswith(".npy") else i.filename: i for i in infos}
        if not keys:
            raise SnnexportError(f"{where}: .npz archive holds no array")
        if "x" in keys:
            key = "x"
        elif len(keys) == 1:
            key = next(iter(keys))
        else:
            raise SnnexportError(f"{where}: .npz holds several arrays ({', '.join(sorted(keys))}); name the input 'x'")
        info = keys[key]
        member = f"{where}[{info.filename}]"
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SnnexportError(f"{member}: zip compression method {info.compress_type} is not used by numpy; refused")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise SnnexportError(f"{member}: expands {info.file_size} bytes from {info.compress_size} "
                                 f"(ratio over {MAX_RATIO}); compression bomb refused")
        if info.compress_size > size:
            raise SnnexportError(f"{member}: entry claims {info.compress_size} compressed bytes in a {size}-byte file")
        try:
            with zf.open(info) as m:
                shape, fortran, dtype = _npy_header(m, member)
                _check_declared(member, shape, dtype, info.file_size - m.tell(), limit)
                if check_header is not None:
                    check_header(shape, dtype)
                return _read_npy_body(m, member, shape, fortran, dtype)
        except SnnexportError:
            raise
        except Exception as e:  # noqa: BLE001 - zipfile/zlib raise BadZipFile, zlib.error, NotImplementedError...
            raise SnnexportError(f"{member}: damaged .npz entry ({_first_line(e)})") from None
