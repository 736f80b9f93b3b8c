"""Per-target fit rules taken from the vendors' own rules: one module per target family.

``snnexport.target_fit.fit_check`` applies the generic constraints of a target's TOML file
(``layer_types``, ``fan_in``, ...) and then the target's rule module registered here, which
checks what one number cannot say: Xylo Audio 2's separate hidden/output/input pools and
its recurrent-matrix layering, Speck's per-core memories with power-of-two padding, Loihi's
per-core compartments. Every finding names the rule and where that rule comes from
(datasheet, paper, or the vendor's open-source mapper file and function).

A rule returns :class:`Finding` objects: ``violation`` (the vendor's mapper refuses the
network) or ``note`` (it maps, but changes something: a bias dropped, a neuron model
approximated); notes are printed beside the fit verdict and never make it fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Tuple

import nir

FitRule = Callable[["object", "object", nir.NIRGraph], List["Finding"]]
FIT_RULES: Dict[str, FitRule] = {}


@dataclass(frozen=True)
class Finding:
    rule: str          # short rule name, e.g. "hidden_neurons"
    text: str          # what is wrong, naming the node
    source: str        # where the rule comes from
    kind: str = "violation"  # "violation" | "note"

    def line(self) -> str:
        return f"{self.rule}: {self.text} [{self.source}]"


def register(*names: str):
    """Register a fit rule for the targets ``names`` (their TOML ``name``)."""
    def deco(fn: FitRule) -> FitRule:
        for n in names:
            FIT_RULES[n] = fn
        return fn
    return deco


def target_findings(target, counts, graph: nir.NIRGraph) -> List[Finding]:
    """The target-specific findings (empty for a target without a rule module)."""
    _load()
    rule = FIT_RULES.get(target.name)
    return rule(target, counts, graph) if rule else []


def split(findings: List[Finding]) -> Tuple[List[str], List[str]]:
    """(violation lines, note lines)."""
    return ([f.line() for f in findings if f.kind == "violation"], [f.line() for f in findings if f.kind == "note"])


def _load() -> None:
    from . import loihi, speck, xylo_audio2  # noqa: F401  (registration by import)
