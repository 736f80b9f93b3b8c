"""Write NIR files that older nir releases can read (``convert --nir-compat 1.0.4``).

sinabs 3.1 and rockpool 3.1 pin ``nir<=1.0.4``. nir 1.0.4's reader passes every stored field
of a node to its class, so a 1.0.8 file fails there on fields it does not know (``LIF ...
unexpected keyword 'v_reset'``, ``Conv2d ... 'metadata'``). A compatible file is the 1.0.8
file with those fields removed from the HDF5 groups, which is only faithful where the removed
field held what 1.0.4 assumes anyway: 1.0.4 documents every spiking neuron's reset as
``v - v_threshold`` (no ``v_reset`` field), and nodes without a ``metadata`` field lose
their ``snnexport`` entries. Everything else is a note, or an error when
1.0.4 cannot express the node at all (``CubaLI``).
"""

from __future__ import annotations

import io

from pathlib import Path
from typing import Dict, List, Tuple

import h5py
import nir
import numpy as np

from .atomic import write_bytes
from .errors import SnnexportError
from .extension import KEY, SPIKING_TYPES, neuron_ext

# Fields each node type's class takes in nir 1.0.4 (read from its dataclasses), plus the
# stored keys its from_dict consumes itself ("type"; "shape" for Input/Output; Flatten's input_type).
NIR_104_FIELDS: Dict[str, Tuple[str, ...]] = {
    "Affine": ("weight", "bias", "metadata"),
    "AvgPool2d": ("kernel_size", "stride", "padding"),
    "Conv1d": ("input_shape", "weight", "stride", "padding", "dilation", "groups", "bias", "metadata"),
    "Conv2d": ("input_shape", "weight", "stride", "padding", "dilation", "groups", "bias"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in", "metadata"),
    "Delay": ("delay", "metadata"),
    "Flatten": ("input_type", "start_dim", "end_dim", "metadata"),
    "I": ("r", "metadata"),
    "IF": ("r", "v_threshold", "metadata"),
    "Input": ("shape",),
    "LI": ("tau", "r", "v_leak", "metadata"),
    "LIF": ("tau", "r", "v_leak", "v_threshold", "metadata"),
    "Linear": ("weight",),
    "NIRGraph": ("nodes", "edges", "metadata"),
    "Output": ("shape",),
    "Scale": ("scale",),
    "SumPool2d": ("kernel_size", "stride", "padding", "metadata"),
    "Threshold": ("threshold", "metadata"),
}
COMPAT_VERSIONS = {"1.0.4": NIR_104_FIELDS}
# snnexport metadata whose loss changes nothing a simulator computes
_HARMLESS_META = {"source_path"}


def compat_notes(graph: nir.NIRGraph, version: str = "1.0.4") -> List[str]:
    """What a file for nir ``version`` cannot carry from ``graph``; raises where a node has no equivalent."""
    table = _table(version)
    notes: List[str] = []
    for name, node in graph.nodes.items():
        tname = type(node).__name__
        if tname not in table:
            raise SnnexportError(f"node {name!r}: nir {version} has no {tname} node; the graph cannot be written for it")
        keep = table[tname]
        if tname in SPIKING_TYPES and "v_reset" not in keep:
            ext = neuron_ext(node, name)
            mode = ext.reset if ext is not None else "value"
            if mode == "value":
                notes.append(f"{name}: resets to v_reset {_brief(node.v_reset)}; nir {version} documents {tname} reset as "
                             f"v - v_threshold (sinabs and rockpool subtract)")
            elif mode == "none":
                notes.append(f"{name}: never resets; nir {version} documents {tname} reset as v - v_threshold")
        meta = dict((getattr(node, "metadata", None) or {}).get(KEY, {}) or {})
        lost = sorted(set(meta) - _HARMLESS_META)
        if "metadata" not in keep and lost:
            notes.append(f"{name}: nir {version} {tname} holds no metadata; snnexport {', '.join(lost)} is dropped")
    return notes


def write_compat(graph: nir.NIRGraph, path: str | Path, version: str = "1.0.4") -> Tuple[Path, List[str]]:
    """Write ``graph`` as a file nir ``version`` reads; returns ``(path, notes)``. Atomic; the file
    is read back with the installed nir before it replaces ``path``."""
    table = _table(version)
    notes = compat_notes(graph, version)
    path = Path(path)
    # Built and checked in memory, then written with os.write: h5py writing to a full disk segfaulted.
    buf = io.BytesIO()
    nir.write(buf, graph)
    with h5py.File(buf, "r+") as f:
        _strip_group(f["node"], table)
        del f["version"]
        f.create_dataset("version", data=version)
    back = nir.read(io.BytesIO(buf.getvalue()))
    if set(back.nodes) != set(graph.nodes):
        raise SnnexportError(f"{path}: compatible file read back with different nodes")
    write_bytes(path, buf.getbuffer(), suffix=".nir")
    return path, notes


def _table(version: str) -> Dict[str, Tuple[str, ...]]:
    if version not in COMPAT_VERSIONS:
        raise SnnexportError(f"--nir-compat: no compatibility table for nir {version} (known: {', '.join(COMPAT_VERSIONS)})")
    return COMPAT_VERSIONS[version]


def _strip_group(group: h5py.Group, table: Dict[str, Tuple[str, ...]]) -> None:
    tname = group["type"][()]
    tname = tname.decode("utf8") if isinstance(tname, bytes) else str(tname)
    keep = set(table[tname]) | {"type"}
    for key in list(group.keys()):
        if key not in keep:
            del group[key]
    if tname == "NIRGraph":
        for child in group["nodes"].values():
            _strip_group(child, table)


def _brief(v) -> str:
    arr = np.asarray(v).reshape(-1)
    return str(arr.tolist()) if arr.size <= 4 else f"(min {arr.min():g}, max {arr.max():g})"
