"""The model zoo of ../shared/seeds (models/): where it lives, its entries, their checkpoints."""

from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from .errors import SnnexportError

# The zoo's modules are the repository's top-level ``models/`` folder. A wheel installs that
# folder as ``snnexport.zoo_models`` (pyproject package-dir), never as a top-level ``models``
# that would shadow users' own; shipped checkpoints keep their stored arch names
# ``models.<module>:<factory>``, which :func:`resolve_zoo_module` maps to wherever it lives.
ZOO_ARCH_PREFIX = "models"
INSTALLED_ZOO_PACKAGE = "snnexport.zoo_models"


def _checkout_models_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


def _find_spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


@lru_cache(maxsize=None)
def zoo_package() -> str:
    """Import name of the zoo: ``models`` in a source checkout, ``snnexport.zoo_models`` when installed."""
    checkout = _checkout_models_dir()
    in_checkout = (checkout / "registry.py").is_file() and (checkout.parent / "pyproject.toml").is_file()
    if in_checkout:
        spec = _find_spec(ZOO_ARCH_PREFIX)  # the checkout's own models/ on sys.path (never another one)
        where = list(spec.submodule_search_locations or []) if spec is not None else []
        if where and Path(where[0]).resolve() == checkout:
            return ZOO_ARCH_PREFIX
    if _find_spec(INSTALLED_ZOO_PACKAGE) is not None:
        return INSTALLED_ZOO_PACKAGE
    if in_checkout:
        return ZOO_ARCH_PREFIX
    raise SnnexportError("the model zoo is not installed (neither snnexport.zoo_models nor a checkout's models/)")


def is_zoo_module(mod_name: str) -> bool:
    """Whether ``mod_name`` is a zoo module by its stored name (``models`` or ``models.<...>``)."""
    return mod_name == ZOO_ARCH_PREFIX or mod_name.startswith(ZOO_ARCH_PREFIX + ".")


def resolve_zoo_module(mod_name: str) -> str:
    """The module name to import for ``mod_name`` from a checkpoint's arch string.

    ``models.mnist_custom`` -> ``models.mnist_custom`` in a source checkout and
    ``snnexport.zoo_models.mnist_custom`` in a wheel install; any other name is returned
    unchanged, and so is a ``models.<x>`` the zoo does not have (a user's own ``models``
    package). Only call this for arch strings already trusted as zoo factories.
    """
    if not is_zoo_module(mod_name):
        return mod_name
    try:
        package = zoo_package()
    except SnnexportError:
        return mod_name
    resolved = package + mod_name[len(ZOO_ARCH_PREFIX):]
    if resolved == mod_name:
        return mod_name
    return resolved if _find_spec(resolved) is not None else mod_name


def zoo_checkpoint(name: str):
    """Path of the shipped checkpoint of zoo model ``name`` (e.g. ``shd``), or None.

    Lets ``snnexport report shd`` work from any folder after a wheel install.
    """
    if not name or any(c in name for c in "/\\."):
        return None
    try:
        entry = zoo_entries().get(name)
    except SnnexportError:
        return None
    return entry.checkpoint_path if entry is not None and entry.checkpoint_path.is_file() else None


def zoo_entries():
    """The zoo registry: name -> entry (checkpoint path, trainer, recorded metrics)."""
    try:
        registry = importlib.import_module(f"{zoo_package()}.registry")
    except ModuleNotFoundError:
        raise SnnexportError("the model zoo (models/) is not importable; run from the snnexport checkout") from None
    return registry.load_zoo()
