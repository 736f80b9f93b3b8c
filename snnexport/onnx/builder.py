"""Constants of the ONNX export and :class:`Builder`, which emits ONNX nodes and initializers."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from ..errors import SnnexportError

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Unsqueeze/ReduceSum with axes as inputs, GreaterOrEqual
# ONNX ops that onnxruntime's CPU provider implements for float32 but not for float64.
ORT_NO_FLOAT64 = ("Conv", "ConvTranspose", "AveragePool")
F64_OPS = ("lower", "cast")
DTYPES = {"float64": np.float64, "float32": np.float32}
META_PREFIX = "snnexport."
SHAPE_PRESERVING = ("Input", "Output", "Scale", "Threshold")


def load_onnx():
    """The ``onnx`` package, or a one-line error saying how to install it."""
    try:
        import onnx  # noqa: F401
    except ModuleNotFoundError:
        raise SnnexportError("ONNX export needs the 'onnx' package (pip install onnx)") from None
    return onnx


# ---------------------------------------------------------------- builder

class Builder:
    """Emits ONNX nodes into the current graph (the main graph or a Loop body); every
    initializer goes to the main graph (a Loop body reads it from the outer scope)."""

    def __init__(self, dtype: np.dtype, opset: int, f64_ops: str):
        from onnx import TensorProto, helper

        self.helper = helper
        self.np_dtype = np.dtype(dtype)
        self.elem = TensorProto.DOUBLE if self.np_dtype == np.float64 else TensorProto.FLOAT
        self.opset = opset
        self.f64_ops = f64_ops
        self.nodes: List[Any] = []
        self.inits: List[Any] = []
        self.names: Set[str] = set()
        self.scope = ""
        self.adapters: Set[str] = set()
        self.zero_cache: Dict[Tuple, str] = {}
        self.batch_dim: Optional[str] = None  # 1-D int64 tensor [B]

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def op(self, op_type: str, *inputs: str, out: Optional[str] = None, **attrs: Any) -> str:
        y = out if out is not None else self.fresh(f"{self.scope}/{op_type}" if self.scope else op_type)
        if out is not None:
            self.names.add(out)
        self.nodes.append(self.helper.make_node(op_type, list(inputs), [y], name=y, **attrs))
        return y

    def const(self, base: str, array: Any, dtype: Any = None) -> str:
        from onnx import numpy_helper

        arr = np.asarray(array, dtype=dtype) if dtype is not None else np.asarray(array)
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.array(arr, order="C"), name))  # keeps 0-d scalars 0-d
        return name

    def cast_param(self, value: Any) -> np.ndarray:
        """A parameter in the export dtype, rounded exactly as ``torch.as_tensor(float64).to(dtype)``."""
        return np.asarray(value, dtype=np.float64).astype(self.np_dtype)

    def param(self, node: str, key: str, value: Any) -> str:
        return self.const(f"{node}/{key}", self.cast_param(value))

    def i64(self, base: str, values: Any) -> str:
        return self.const(base, np.asarray(values, dtype=np.int64))

    def zeros(self, shape: Tuple[int, ...]) -> str:
        """Zeros ``[B, *shape]`` in the export dtype (shared per shape)."""
        from onnx import numpy_helper

        key = tuple(shape)
        if key not in self.zero_cache:
            scope, self.scope = self.scope, "init"
            dims = self.op("Concat", self.batch_dim, self.i64(f"init/shape{list(key)}", list(key)), axis=0)
            zero = numpy_helper.from_array(np.zeros(1, dtype=self.np_dtype))
            self.zero_cache[key] = self.op("ConstantOfShape", dims, value=zero)
            self.scope = scope
        return self.zero_cache[key]

    def reduce_max0(self, x: str) -> str:
        if self.opset >= 18:
            return self.op("ReduceMax", x, self.i64("axes0", [0]), keepdims=0)
        return self.op("ReduceMax", x, axes=[0], keepdims=0)
