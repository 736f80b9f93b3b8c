"""snnexport: exact export of PyTorch spiking neural networks to NIR, verified across simulators."""

__version__ = "0.1.0"

# The API is imported on first use (PEP 562), so that ``import snnexport`` (and ``snnexport
# --help``) does not import torch.
_LAZY = {"load": ".checkpoint", "save": ".checkpoint", "NeuronSpec": ".sources.registry",
         "register_layer": ".sources.registry", "register_neuron": ".sources.registry",
         "register_arch": ".architectures"}


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'snnexport' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["__version__", *_LAZY]
