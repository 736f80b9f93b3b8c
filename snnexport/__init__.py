"""snnexport: exact export of PyTorch spiking neural networks to NIR, verified across simulators.

``import snnexport`` is cheap: everything below is imported on first use.
"""

__version__ = "0.1.0"

# public name -> (module, attribute); resolved lazily by __getattr__ (PEP 562)
_LAZY = {
    "load": (".checkpoint", "load"),
    "save": (".checkpoint", "save"),
    "NeuronSpec": (".sources.registry", "NeuronSpec"),
    "register_layer": (".sources.registry", "register_layer"),
    "register_neuron": (".sources.registry", "register_neuron"),
    "register_arch": (".architectures", "register_arch"),
    "convert": (".api", "convert"),
    "load_graph": (".api", "load"),
    # plain functions: the modules are snnexport.verification and snnexport.reporting, so that
    # importing them never rebinds these names
    "verify": (".api", "verify"),
    "report": (".api", "report"),
    "simulate": (".api", "simulate"),
    "VerifyResult": (".verification", "VerifyResult"),
    "testing": (".testing", None),
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'snnexport' has no attribute {name!r}")
    import importlib

    mod_name, attr = _LAZY[name]
    mod = importlib.import_module(mod_name, __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
