"""Which model factories a checkpoint may name: the trust model for ``arch``.

A checkpoint in snnexport's format stores ``arch = "package.module:factory"``; rebuilding the
model means importing that module (its top level runs) and calling the factory. A file from
someone else must not choose code to run, so a *stored* arch is honoured without asking only
when it names a factory the user already trusts:

- registered in Python by code the user imported: ``snnexport.register_arch`` (call or decorator);
- declared by an installed package in the entry-point group ``snnexport.architectures``
  (``name = "package.module:factory"``); only the entry point strings are read until a
  checkpoint names one of them, so an installed package is never imported just to ask;
- one of the factories shipped with snnexport (:data:`SHIPPED`).

Anything else is refused before any import. The user can still say "I trust it": ``--arch``
typed on the command line (or ``arch=`` passed to :func:`snnexport.load`), or ``--trust-arch``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
from pathlib import Path
from typing import Callable, Dict, Optional

from .errors import SnnexportError

ENTRY_POINT_GROUP = "snnexport.architectures"

# The arch strings stored in models/checkpoints/*.pt and used by the examples. The zoo's
# ``models`` package is trusted only where it is the one beside this package (see _shipped_ok),
# so a foreign ``models`` folder earlier on sys.path does not inherit the trust.
SHIPPED = frozenset({
    "models.mnist_custom:mnist_custom_factory",
    "models.mnist_snntorch:mnist_snntorch_factory",
    "models.shd:shd_factory",
    "models.spikingrx.ann:ann_factory",
    "models.spikingrx.qat:folded_factory",
    "models.stereo_codec:stereo_codec_factory",
    "models.stereo_codec:stereo_encoder_factory",
    "snnexport.examples.spikingrx:spikingrx_factory",
    "snnexport.examples.spikingrx:sew_block_model",
})

_CHECKOUT = Path(__file__).resolve().parent.parent
_ARCH_RE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
MAX_ARCH_CHARS = 300

# name -> factory, or None when only the name is trusted (imported on first use)
_REGISTERED: Dict[str, Optional[Callable]] = {}


def check_arch_string(arch, where: str) -> str:
    """``arch`` must be ``package.module:factory`` made of Python identifiers."""
    if not isinstance(arch, str) or len(arch) > MAX_ARCH_CHARS or not _ARCH_RE.fullmatch(arch):
        shown = repr(arch)[:80] if isinstance(arch, str) else type(arch).__name__
        raise SnnexportError(f"{where}: arch must look like 'package.module:factory', got {shown}")
    return arch


def register_arch(name_or_factory, factory: Optional[Callable] = None):
    """Trust a model factory, so checkpoints that name it load without ``--trust-arch``.

    - ``@register_arch`` on a function or class trusts ``"its.module:its_name"``;
    - ``@register_arch("pkg.module:name")`` trusts that name and binds it to the decorated factory;
    - ``register_arch("pkg.module:name", factory)`` does the same as a call;
    - ``register_arch("pkg.module:name")`` alone trusts the name; the module is imported when a
      checkpoint needs it.
    """
    if callable(name_or_factory) and factory is None:
        fn = name_or_factory
        name = f"{fn.__module__}:{fn.__qualname__}"
        _REGISTERED[check_arch_string(name, "register_arch")] = fn
        return fn
    name = check_arch_string(name_or_factory, "register_arch")
    if factory is not None:
        if not callable(factory):
            raise SnnexportError(f"register_arch: factory for {name!r} is not callable")
        _REGISTERED[name] = factory
        return factory
    _REGISTERED.setdefault(name, None)

    def bind(fn: Callable) -> Callable:
        _REGISTERED[name] = fn
        return fn

    return bind


def _entry_points() -> Dict[str, importlib.metadata.EntryPoint]:
    """value ("pkg.module:factory") -> entry point; nothing is imported."""
    try:
        eps = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # noqa: BLE001 -- a broken installed distribution must not break loading
        return {}
    return {" ".join(ep.value.split()): ep for ep in eps}


def _shipped_ok(arch: str) -> bool:
    """A shipped name counts only if its top-level package is ours (found without importing it)."""
    if arch not in SHIPPED:
        return False
    top = arch.split(":", 1)[0].split(".", 1)[0]
    if top == "snnexport":
        return True
    if top == "models":
        from .zoo import INSTALLED_ZOO_PACKAGE, zoo_package

        try:  # a wheel install ships the zoo as snnexport.zoo_models, where "models.x" resolves
            if zoo_package() == INSTALLED_ZOO_PACKAGE:
                return True
        except SnnexportError:
            return False
    try:
        spec = importlib.util.find_spec(top)  # a top-level find_spec runs no module code
    except (ImportError, ValueError):
        return False
    locations = list(getattr(spec, "submodule_search_locations", None) or []) if spec else []
    return any(Path(loc).resolve() == _CHECKOUT / top for loc in locations)


def trust_source(arch: str) -> Optional[str]:
    """Why ``arch`` is trusted ("registered", "entry point of <dist>", "shipped"), or None."""
    if arch in _REGISTERED:
        return "registered"
    if _shipped_ok(arch):
        return "shipped"
    ep = _entry_points().get(arch)  # last: scanning installed distributions costs the most
    if ep is not None:
        dist = getattr(getattr(ep, "dist", None), "name", None)
        return f"entry point of {dist}" if dist else "entry point"
    return None


def refusal(arch: str, where: str) -> SnnexportError:
    module = arch.split(":", 1)[0]
    return SnnexportError(
        f"{where}: refused to import module {module!r} for the checkpoint's arch {arch!r}: it is not a trusted "
        f"architecture (importing it would run code the file chose); if you trust it, pass --arch {arch} or "
        f"--trust-arch, or register it (snnexport.register_arch or the {ENTRY_POINT_GROUP!r} entry point)"
    )


def import_factory(arch: str, where: str = "--arch") -> Callable:
    """Import ``arch`` and return its callable. Callers decide trust first (see :func:`trusted_factory`)."""
    check_arch_string(arch, where)
    if _REGISTERED.get(arch) is not None:
        return _REGISTERED[arch]
    mod_name, attr = arch.split(":", 1)
    try:
        from .zoo import resolve_zoo_module  # zoo archs "models.x" live in snnexport.zoo_models when installed

        module = importlib.import_module(resolve_zoo_module(mod_name))
    except ImportError as e:
        raise SnnexportError(f"{where}: cannot import module {mod_name!r} for arch {arch!r} ({e})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SnnexportError(f"{where}: module {mod_name!r} has no attribute {attr!r} (arch {arch!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SnnexportError(f"{where}: arch {arch!r} is not callable")
    return obj


def trusted_factory(arch: str, where: str, trust: bool = False) -> Callable:
    """The factory of a checkpoint's stored ``arch``; refused before any import unless trusted."""
    check_arch_string(arch, where)
    if not trust and trust_source(arch) is None:
        raise refusal(arch, where)
    return import_factory(arch, where)
