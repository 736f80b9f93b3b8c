"""Simulator participants. Importing this package registers every available one."""

from .base import PARTICIPANTS, ROLES, SIMULATORS, Participant, SimResult, participants, register_simulator  # noqa: F401


def load_all() -> None:
    """Import every module of this package (each registers its participants); a module whose
    framework is absent is skipped. No list to keep: a new module here is found."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        mod = info.name
        if mod == "base":
            continue
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:  # a participant whose framework module is absent
            if not str(e.name or "").startswith(f"{__name__}."):
                raise
