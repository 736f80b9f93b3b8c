"""ONNX export of a NIR graph: :mod:`.rules` (one rule per node type), :mod:`.exporter` (the graph walk).

Nothing here imports a simulator: the onnxruntime participant imports this package.
"""

from .builder import DEFAULT_OPSET, DTYPES, F64_OPS, Builder
from .exporter import Exported, export_graph, outputs_of, unsupported, write_onnx
from .rules import ONNX_RULES, Ctx, OnnxRule, onnx_rule

__all__ = ["DEFAULT_OPSET", "DTYPES", "F64_OPS", "Builder", "Exported", "export_graph", "outputs_of", "unsupported",
           "write_onnx", "ONNX_RULES", "Ctx", "OnnxRule", "onnx_rule"]
