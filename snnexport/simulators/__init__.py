"""Simulator participants. Importing this package registers every available one."""

from .base import ROLES, SIMULATORS, SimResult, register_simulator  # noqa: F401


def load_all() -> None:
    """Import every simulator module (each registers itself); missing frameworks are skipped."""
    import importlib

    for mod in ("reference", "snntorch_sim", "norse_sim", "source", "upstream_snntorch", "upstream_norse", "upstream_sinabs",
                "onnxruntime_sim", "chip"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:  # a participant whose framework module is absent
            if not str(e.name or "").startswith(f"{__name__}."):
                raise
