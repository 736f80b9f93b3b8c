"""The ``onnxruntime`` verify participant: export the graph to ONNX in memory and run it in ORT.

The model is built by :func:`snnexport.onnx.export_graph` (unrolled for the input's
``T`` up to :data:`UNROLL_MAX` steps, the Loop form beyond) and run on the
CPUExecutionProvider with ``intra_op_num_threads=2``. ORT's graph optimisations are
switched off: fusions such as MatMul+Add -> Gemm or Conv+Mul folding change the float
rounding, and the point of this participant is to run the operations as exported. In
float64, ops without an ORT float64 kernel (Conv, AveragePool) are lowered to exact float64
ops by default; the adapters list says so.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Optional

import nir
import numpy as np
import torch

from ..errors import SnnexportError
from .base import SimResult, register_simulator

UNROLL_MAX = 64
THREADS = 2


def session(model, optimize: bool = False, threads: int = THREADS):
    """An ORT CPU session for an ``onnx.ModelProto`` (or serialised bytes); ``optimize``
    turns ORT's graph optimisations on (timings only: fusions may change float rounding)."""
    try:
        import onnxruntime as ort
    except ModuleNotFoundError:
        raise SnnexportError("the onnxruntime participant needs the 'onnxruntime' package (pip install onnxruntime)") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    data = model if isinstance(model, (bytes, bytearray)) else model.SerializeToString()
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def run_model(model, x: torch.Tensor, sess=None) -> SimResult:
    """Run an exported model (its output names map back to NIR nodes through the model's
    ``snnexport.*`` metadata) on time-major ``x`` and collect a :class:`SimResult`."""
    from ..onnx import outputs_of

    maps = outputs_of(model)
    sess = sess or session(model)
    want = sess.get_inputs()[0].type
    np_dtype = np.float64 if "double" in want else np.float32
    names = [o.name for o in sess.get_outputs()]
    values = dict(zip(names, sess.run(names, {"x": x.detach().cpu().numpy().astype(np_dtype, copy=False)})))
    res = SimResult(adapters=list(maps["adapters"]))
    for out, node in maps["spikes"].items():
        res.spikes[node] = values[out].astype(np.float64)
    for out, node in maps["readouts"].items():
        res.readout[node] = values[out]
    for out, node in maps["membranes"].items():
        res.membranes[node] = values[out]
    return res


def run_onnxruntime(graph: nir.NIRGraph, x: torch.Tensor, dtype: torch.dtype, f64_ops: str = "lower",
                    loop: Optional[bool] = None, **_: Any) -> SimResult:
    from ..onnx import export_graph

    steps = int(x.shape[0])
    loop = steps > UNROLL_MAX if loop is None else loop
    exp = export_graph(graph, steps=None if loop else steps, loop=loop, dtype="float64" if dtype == torch.float64 else "float32",
                       f64_ops=f64_ops, membranes=True, check=False)
    res = run_model(exp.model, x.to(dtype))
    res.note = f"ONNX opset {exp.opset}, {'Loop' if loop else f'unrolled T={steps}'}, ORT optimisations off"
    return res


# registered only where both packages are installed (``verify --sims`` lists what is available)
if importlib.util.find_spec("onnx") is not None and importlib.util.find_spec("onnxruntime") is not None:
    register_simulator("onnxruntime", default=True, needs=("onnx", "onnxruntime"), rank=3)(run_onnxruntime)
