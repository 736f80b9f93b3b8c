"""The quantizer registry (:data:`QUANTIZERS`) and :class:`Change`, the record of one change a
quantizer made. Quantizer modules (xylo_quant, loihi_quant) register here;
:func:`snnexport.hardware.quantize.quantize` imports them and dispatches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import nir

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
