"""Zoo registry: one ZooEntry per shipped model, discovered from ZOO_MODULES."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional

ROOT = Path(__file__).resolve().parent
CHECKPOINTS = ROOT / "checkpoints"
RESULTS = ROOT / "results"

# Module (under models/) -> defines ZOO_ENTRY. Adding a model is adding a module here (then
# `python -m snnexport.zoo_index` rewrites zoo_index.json, which `snnexport models` reads).
ZOO_MODULES = ["spikingrx", "mnist_custom", "mnist_snntorch", "shd", "stereo_codec"]


@dataclass
class ZooEntry:
    name: str                      # CLI name, e.g. "spikingrx"
    seed: str                      # source document, e.g. "000"
    framework: str                 # snntorch | norse | spikingjelly | torch (custom LIF)
    description: str
    checkpoint: str                # file name under models/checkpoints/
    # train(epochs, seed, out_path, progress=True) -> dict of metrics; writes the checkpoint
    train: Callable[..., Dict[str, Any]]
    default_epochs: int = 5
    metric_name: str = "accuracy"
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def checkpoint_path(self) -> Path:
        return CHECKPOINTS / self.checkpoint


def load_zoo() -> Dict[str, ZooEntry]:
    zoo: Dict[str, ZooEntry] = {}
    for mod in ZOO_MODULES:
        try:
            # Relative to this package: it is ``models`` in a checkout, ``snnexport.zoo_models`` in a wheel.
            m = importlib.import_module(f".{mod}", __package__)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(f"{__package__}."):
                continue  # not written yet
            raise
        entry: Optional[ZooEntry] = getattr(m, "ZOO_ENTRY", None)
        if entry is not None:
            zoo[entry.name] = entry
    return zoo
