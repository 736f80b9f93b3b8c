"""Source frameworks -> NIR. ``convert_model`` is the entry point; rules live one file per framework."""

from __future__ import annotations

from typing import Optional, Sequence

import nir
import torch.nn as nn

from ..checkpoint import LoadedModel
from ..errors import SnnexportError
from ..extension import INPUT_KINDS, INPUT_LAYOUTS
from .convert import ConvertOptions, trace_to_nir
from .frameworks import default_layout, detect_framework, framework_version

DEFAULT_DT = 1e-3


def _infer_input_shape(model: nn.Module) -> Optional[tuple]:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            return None  # spatial size unknown
    return None


def options_for(loaded: LoadedModel, dt: Optional[float] = None, input_shape: Optional[Sequence[int]] = None,
                input_layout: Optional[str] = None) -> ConvertOptions:
    info = loaded.info or {}
    model = loaded.model
    framework = detect_framework(model)
    layout = input_layout or info.get("input_layout") or default_layout(model) or "TB"
    guessed = not (input_layout or info.get("input_layout"))  # a framework default is a guess too
    if layout not in INPUT_LAYOUTS:
        raise SnnexportError(f"{loaded.path}: input layout must be one of {', '.join(INPUT_LAYOUTS)}, got {layout!r}")
    shape = tuple(input_shape) if input_shape else tuple(info.get("input_shape") or ()) or _infer_input_shape(model)
    if not shape:
        raise SnnexportError(f"{loaded.path}: cannot tell the model's per-sample input shape; pass --input-shape C,H,W")
    kind = info.get("input_kind", "spikes")
    if kind not in INPUT_KINDS:
        raise SnnexportError(f"{loaded.path}: input_kind must be one of {INPUT_KINDS}, got {kind!r}")
    step_dt = float(dt if dt is not None else info.get("dt", DEFAULT_DT))
    if not step_dt > 0:
        raise SnnexportError(f"--dt must be positive, got {step_dt}")
    extra = {k: v for k, v in info.items() if isinstance(v, (int, float, str)) and k not in ("input_layout", "input_kind", "dt", "steps")}
    if loaded.arch:
        extra["arch"] = loaded.arch
    return ConvertOptions(dt=step_dt, input_layout=layout, input_shape=tuple(int(s) for s in shape), input_kind=kind,
                          steps=int(info.get("steps", 8)), framework=framework,
                          framework_version=framework_version(framework), extra=extra, layout_guessed=guessed)


def convert_model(loaded: LoadedModel, **kw) -> nir.NIRGraph:
    opts = options_for(loaded, **kw)
    return trace_to_nir(loaded.model, opts)
