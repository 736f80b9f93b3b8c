"""The zoo's catalogue (``snnexport models``) read from a static index, without torch.

Listing the zoo used to import every model module (torch, snnTorch, Norse, SpikingJelly) and
rebuild every network just to count its parameters: seconds for a table of facts that only
change when a model or its checkpoint does. ``zoo_index.json`` beside the zoo's registry holds
those facts (the rows of :func:`live_rows` without the machine's paths), each checkpoint's
SHA-256 and the registry's module list. :func:`catalog_rows` uses the index only while it
still describes the files on disk, and otherwise builds the rows live, as before: a stale
index costs time, never a wrong row. tests/test_zoo_index.py checks the index against the
real models; after retraining or editing a zoo model, regenerate it with
``python -m snnexport.zoo_index``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

INDEX_FILE = "zoo_index.json"
INDEX_FORMAT = 1
REGENERATE = "python -m snnexport.zoo_index"


def _registry():
    """The zoo's registry module: standard library only, so importing it imports no framework."""
    from .errors import SnnexportError
    from .zoo import zoo_package

    try:
        return importlib.import_module(f"{zoo_package()}.registry")
    except ModuleNotFoundError:
        raise SnnexportError("the model zoo (models/) is not importable; run from the snnexport checkout") from None


def index_path() -> Path:
    return Path(_registry().ROOT) / INDEX_FILE


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _with_paths(fact: Dict[str, Any], checkpoints: Path) -> Dict[str, Any]:
    """One ``snnexport models`` row: the stored facts plus this machine's checkpoint path and size."""
    path = checkpoints / fact["checkpoint"]
    row = {k: fact[k] for k in ("name", "seed", "framework", "description")}
    row["checkpoint"] = str(path)
    row["size_kb"] = round(path.stat().st_size / 1024, 1) if path.exists() else None
    if path.exists():
        row["parameters"] = fact["parameters"]
        row["metrics"] = fact["metrics"]
    return row


def live_rows() -> List[Dict[str, Any]]:
    """The rows built from the models themselves (imports every zoo module and torch)."""
    from .checkpoint import load
    from .zoo import zoo_entries

    rows = []
    for name, e in sorted(zoo_entries().items()):
        path = e.checkpoint_path
        row = {"name": name, "seed": e.seed, "framework": e.framework, "description": e.description,
               "checkpoint": str(path), "size_kb": round(path.stat().st_size / 1024, 1) if path.exists() else None}
        if path.exists():
            lm = load(path)
            row["parameters"] = sum(p.numel() for p in lm.model.parameters())
            row["metrics"] = lm.info.get("metrics", {})
        rows.append(row)
    return rows


def build_index(rows: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The index as it should be now, from ``rows`` of :func:`live_rows` (built when not given)."""
    from .zoo import zoo_entries

    registry = _registry()
    entries = zoo_entries()
    models = []
    for row in live_rows() if rows is None else rows:
        e = entries[row["name"]]
        path = Path(row["checkpoint"])
        fact = {"name": row["name"], "seed": row["seed"], "framework": row["framework"],
                "description": row["description"], "checkpoint": e.checkpoint,
                "sha256": sha256_of(path) if path.exists() else None}
        if path.exists():
            fact["parameters"] = row["parameters"]
            fact["metrics"] = row["metrics"]
        models.append(fact)
    return {"format": INDEX_FORMAT, "regenerate": REGENERATE, "zoo_modules": list(registry.ZOO_MODULES),
            "models": models}


def read_index() -> Optional[Dict[str, Any]]:
    """The stored index, or None when it is missing, unreadable or of another format."""
    try:
        index = json.loads(index_path().read_text(encoding="utf8"))
    except (OSError, ValueError):
        return None
    return index if isinstance(index, dict) and index.get("format") == INDEX_FORMAT else None


def stale_reason(index: Optional[Dict[str, Any]]) -> Optional[str]:
    """Why ``index`` no longer describes the zoo on disk (None: it does)."""
    if index is None:
        return f"{INDEX_FILE} is missing or unreadable"
    registry = _registry()
    if index.get("zoo_modules") != list(registry.ZOO_MODULES):
        return f"the registry lists {list(registry.ZOO_MODULES)}, the index {index.get('zoo_modules')}"
    for fact in index.get("models", []):
        path = Path(registry.CHECKPOINTS) / fact["checkpoint"]
        on_disk = sha256_of(path) if path.exists() else None
        if on_disk != fact.get("sha256"):
            return f"checkpoint {fact['checkpoint']} changed since the index was written"
    return None


def catalog_rows() -> List[Dict[str, Any]]:
    """``snnexport models``' rows: from the index while it is current (no torch), else live."""
    index = read_index()
    if stale_reason(index) is not None:
        return live_rows()
    checkpoints = Path(_registry().CHECKPOINTS)
    return [_with_paths(fact, checkpoints) for fact in sorted(index["models"], key=lambda f: f["name"])]


def write_index() -> Path:
    from . import jsonout
    from .atomic import write_text

    path = index_path()
    # keys in insertion order: `snnexport models` prints each model's metrics in the checkpoint's order
    write_text(path, jsonout.dumps(build_index(), indent=2) + "\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write_index()}")
