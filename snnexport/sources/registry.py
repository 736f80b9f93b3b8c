"""Conversion rules: one per source module type, looked up along the type's MRO.

Two kinds of rules:

* **layer rules** ``fn(module, ctx) -> NIR node | list of NIR nodes (a chain) | None``
  (``None`` = identity in eval mode: Dropout, Identity). ``ctx`` is a
  :class:`~snnexport.sources.convert.RuleContext` (input/output shapes, dt, dotted path,
  ``convert_child`` to reuse the rule of an inner module).
* **neuron rules** ``describe(module) -> NeuronSpec``: a plain description of the neuron's
  discrete-time semantics; :mod:`snnexport.sources.neurons` turns it into a NIR node whose
  standard fields are the Euler-equivalent continuous parameters and whose ``snnexport``
  metadata carries the exact discrete form (see :mod:`snnexport.extension`).

A module type found in neither registry is a *container* if it has children (its forward
is traced through) and unsupported otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Type

import torch.nn as nn

LayerRule = Callable[[nn.Module, Any], Any]
NeuronRule = Callable[[nn.Module], "NeuronSpec"]

LAYER_RULES: Dict[type, LayerRule] = {}
NEURON_RULES: Dict[type, NeuronRule] = {}
# Types that must never be traced into nor converted, with the reason (e.g. MaxPool2d).
UNSUPPORTED: Dict[type, str] = {}
# Hooks per framework: how to reset a model's state before a run, etc.
FRAMEWORK_HOOKS: Dict[str, Dict[str, Callable]] = {}


@dataclass
class NeuronSpec:
    """Discrete-time semantics of a neuron module (see :mod:`snnexport.extension`).

    ``kind``: ``LIF`` (default), ``CubaLIF`` (with synaptic current), ``LI``/``CubaLI``
    (non-spiking readouts; output is the membrane). Scalars or arrays broadcastable to the
    neuron shape. ``output_index``: when the module returns a tuple, which element is its
    output (spikes, or membrane for LI); ``None`` when it returns a tensor.
    ``recurrent``: ``(weight, bias or None)`` of a recurrent connection from the neuron's
    own spikes back into its input (snnTorch RLeaky), applied with a one-step delay.
    """

    dynamics: str = "beta"
    kind: str = "LIF"
    beta: Any = None
    gain: Any = 1.0
    tau: Any = None
    alpha: Any = None
    syn_gain: Any = 1.0
    tau_mem_inv: Any = None
    tau_syn_inv: Any = None
    r: Any = 1.0
    threshold: Any = 1.0
    v_reset: Any = 0.0
    v_leak: Any = 0.0
    reset: str = "value"
    reset_timing: str = "immediate"
    compare: str = "gt"
    dt: Optional[float] = None  # a framework's own dt (Norse); else the graph's dt
    output_index: Optional[int] = None
    recurrent: Optional[Tuple[Any, Any]] = None
    framework: str = "torch"
    # SpikingJelly ParametricLIFNode: decay factor k = sigmoid(w) (the ``sigmoid`` forms)
    k: Any = None
    # snnTorch Lapicque (the ``rc`` form, with ``r`` = R): 1/(R*C), time_step, 1 - time_step/(R*C)
    rc_inv: Any = None
    time_step: Any = None
    decay: Any = None
    # initial membrane (SpikingJelly starts at v_reset); 0 is NIR's convention
    v_init: Any = 0.0
    # parameter -> the value a float32 run uses (the source derives it in the run dtype)
    float32_params: Optional[Dict[str, Any]] = None
    # ``(weight, bias or None)`` of an input projection the module applies itself before the
    # neuron (Norse LILinearCell, LIFRecurrentCell): exported as a Linear/Affine node in front
    input_weight: Optional[Tuple[Any, Any]] = None


def register_layer(cls: Type[nn.Module], rule: Optional[LayerRule] = None):
    """Register a layer rule (usable as a decorator)."""
    if rule is None:
        return lambda fn: register_layer(cls, fn) or fn
    LAYER_RULES[cls] = rule
    return rule


def register_neuron(cls: Type[nn.Module], describe: Optional[NeuronRule] = None):
    """Teach snnexport a neuron module: ``describe(module) -> NeuronSpec``."""
    if describe is None:
        return lambda fn: register_neuron(cls, fn) or fn
    NEURON_RULES[cls] = describe
    return describe


def register_unsupported(cls: Type[nn.Module], reason: str) -> None:
    UNSUPPORTED[cls] = reason


def _lookup(table: Dict[type, Any], module: nn.Module):
    for klass in type(module).__mro__:
        if klass in table:
            return table[klass]
    return None


def layer_rule(module: nn.Module) -> Optional[LayerRule]:
    return _lookup(LAYER_RULES, module)


def neuron_rule(module: nn.Module) -> Optional[NeuronRule]:
    return _lookup(NEURON_RULES, module)


def unsupported_reason(module: nn.Module) -> Optional[str]:
    return _lookup(UNSUPPORTED, module)


def is_leaf(module: nn.Module) -> bool:
    """Converted as one unit (has a rule or is known-unsupported)."""
    return (
        neuron_rule(module) is not None
        or layer_rule(module) is not None
        or unsupported_reason(module) is not None
    )


def supported_types() -> list:
    names = {f"{k.__module__}.{k.__qualname__}" for k in list(LAYER_RULES) + list(NEURON_RULES)}
    return sorted(names)


def load_framework_rules() -> None:
    """Import every rule module; frameworks that are not installed are skipped."""
    import importlib

    for mod in ("torch_layers", "snntorch_rules", "norse_rules", "spikingjelly_rules"):
        try:
            importlib.import_module(f"snnexport.sources.{mod}")
        except ModuleNotFoundError as e:
            if (e.name or "").startswith("snnexport."):
                continue  # rule module not written
            if e.name and e.name.split(".")[0] in ("snntorch", "norse", "spikingjelly"):
                continue  # framework not installed
            raise
