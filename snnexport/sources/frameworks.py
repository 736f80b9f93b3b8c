"""Per-framework facts the converter and the source runner need, one registry entry each.

A framework registers (from its rule module) ``detect(model) -> bool``, ``reset(model)``
(clear hidden state before a run), ``layout(model) -> "TB"|"BT"|"step"|None`` (how its
models usually take input) and ``version``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn as nn

from . import registry


def register_framework(name: str, detect: Callable[[nn.Module], bool], reset: Callable[[nn.Module], None],
                       layout: Optional[Callable[[nn.Module], Optional[str]]] = None, version: str = "",
                       cast: Optional[Callable[[nn.Module, "torch.dtype"], None]] = None) -> None:
    """``cast(model, dtype)`` (optional): convert framework state that ``model.to(dtype)``
    misses (e.g. Norse's parameter NamedTuples) before a run in ``dtype``."""
    registry.FRAMEWORK_HOOKS[name] = {"detect": detect, "reset": reset, "layout": layout, "version": version,
                                      "cast": cast}


# framework package -> its rule module (snnexport.sources.<module>)
_RULE_MODULES = {"snntorch": "snntorch_rules", "norse": "norse_rules", "spikingjelly": "spikingjelly_rules"}


def frameworks_in(model: nn.Module) -> list:
    """Frameworks a model uses, without importing any: the top package of each submodule's
    class (``type(m).__module__``), plus any framework already imported by the process (a
    model may call a framework's functions from a plain module)."""
    import sys

    seen = {type(m).__module__.split(".")[0] for m in model.modules()}
    return [fw for fw in _RULE_MODULES if fw in seen or fw in sys.modules]


def load_rules_for(model: nn.Module) -> None:
    """Import the plain-torch rules and the rule modules of the frameworks ``model`` uses only
    (importing Norse, SpikingJelly or snnTorch costs up to ~0.9 s, e.g. Norse pulls matplotlib)."""
    import importlib

    for mod in ["torch_layers"] + [_RULE_MODULES[fw] for fw in frameworks_in(model)]:
        try:
            importlib.import_module(f"snnexport.sources.{mod}")
        except ModuleNotFoundError as e:
            if (e.name or "").startswith("snnexport.") or (e.name or "").split(".")[0] in _RULE_MODULES:
                continue  # rule module not written / framework not installed
            raise


def detect_framework(model: nn.Module) -> str:
    load_rules_for(model)
    for name, hooks in registry.FRAMEWORK_HOOKS.items():
        if hooks["detect"](model):
            return name
    return "torch"


def framework_version(name: str) -> str:
    hooks = registry.FRAMEWORK_HOOKS.get(name)
    if hooks and hooks.get("version"):
        return str(hooks["version"])
    import torch

    return f"torch {torch.__version__}"


def default_layout(model: nn.Module) -> Optional[str]:
    for hooks in registry.FRAMEWORK_HOOKS.values():
        if hooks["detect"](model) and hooks.get("layout"):
            lay = hooks["layout"](model)
            if lay:
                return lay
    return None


def cast_state(model: nn.Module, dtype) -> None:
    """Let each framework convert what ``model.to(dtype)`` does not (see ``register_framework``)."""
    for hooks in registry.FRAMEWORK_HOOKS.values():
        if hooks.get("cast") and hooks["detect"](model):
            hooks["cast"](model, dtype)


def reset_state(model: nn.Module) -> None:
    """Clear hidden state of every framework's neurons in ``model`` (before each run)."""
    for hooks in registry.FRAMEWORK_HOOKS.values():
        if hooks["detect"](model):
            hooks["reset"](model)
    for m in model.modules():  # user modules may offer a reset of their own
        if type(m).__module__.split(".")[0] in _FRAMEWORK_PACKAGES:
            continue  # framework classes are reset by their framework's hook above
        for meth in _USER_RESETS:  # the first convention a module follows, once
            fn = getattr(m, meth, None)
            if callable(fn):
                fn()
                break


# How user-written neuron modules clear their state, in order of preference: our own
# convention, then the common ones (SpikingJelly MemoryModule.reset, snnTorch reset_hidden).
_USER_RESETS = ("reset_state", "reset", "reset_hidden")
_FRAMEWORK_PACKAGES = ("torch", "snntorch", "norse", "spikingjelly")


def to_source_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """Time-major [T, B, ...] -> what the source model's forward takes."""
    return x.transpose(0, 1).contiguous() if layout == "BT" else x
