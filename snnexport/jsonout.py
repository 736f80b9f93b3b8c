"""JSON output that is always valid JSON: NaN and infinities never appear as bare tokens.

``json.dumps`` writes ``NaN``/``Infinity`` by default, which strict parsers (and other
languages) reject. :func:`dumps` writes each non-finite float as ``null`` and, when the top
level is an object, lists where that happened under ``"json_notes"``. Every JSON that
snnexport prints or writes goes through here.
"""

from __future__ import annotations

import json
import math
from typing import Any, List

NOTES_KEY = "json_notes"


def _name(x: float) -> str:
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def sanitize(obj: Any, notes: List[str], where: str = "$") -> Any:
    """``obj`` with non-finite floats replaced by None (each noted as 'path: NaN')."""
    if isinstance(obj, dict):
        return {k: sanitize(v, notes, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [sanitize(v, notes, f"{where}[{i}]") for i, v in enumerate(obj)]
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "shape", None) == ():
        obj = obj.item()  # numpy / torch scalars
    if isinstance(obj, float) and not math.isfinite(obj):
        notes.append(f"{where} was {_name(obj)} (written as null)")
        return None
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, **kwargs)`` with NaN/Infinity written as null and noted; never invalid JSON."""
    notes: List[str] = []
    clean = sanitize(obj, notes)
    if notes and isinstance(clean, dict):
        clean[NOTES_KEY] = list(clean.get(NOTES_KEY) or []) + notes
    kwargs["allow_nan"] = False
    return json.dumps(clean, **kwargs)


def sig(v: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits (deterministic JSON floats)."""
    if v is None or not math.isfinite(v) or v == 0:
        return v
    return float(f"{v:.{digits}g}")
