"""snnexport: exact export of PyTorch spiking neural networks to NIR, verified across simulators."""

__version__ = "0.1.0"

from .checkpoint import load, save  # noqa: E402,F401
from .sources.registry import NeuronSpec, register_layer, register_neuron  # noqa: E402,F401
from .architectures import register_arch  # noqa: E402,F401
