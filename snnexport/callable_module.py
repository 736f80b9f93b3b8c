"""``snnexport.verify`` and ``snnexport.report`` are both a module and an API function.

Importing a submodule binds it as an attribute of its package, so a function of the same
name in the package would be replaced by the module the first time anyone imports
``snnexport.verify``. Instead the module itself is made callable: calling it calls the API
function, and ``from snnexport.verify import run_verify`` keeps working.
"""

from __future__ import annotations

import importlib
import sys
import types


class CallableModule(types.ModuleType):
    """A module whose call is delegated to ``__api_target__`` ("module:function")."""

    def __call__(self, *args, **kwargs):
        mod, attr = self.__dict__["__api_target__"].split(":")
        return getattr(importlib.import_module(mod), attr)(*args, **kwargs)


def make_callable(module_name: str, target: str) -> None:
    module = sys.modules[module_name]
    module.__api_target__ = target
    module.__class__ = CallableModule
