"""The Python API: convert, verify, report and simulate in-memory models and graphs.

The command line is a thin layer over these functions. Inputs ``x`` are time-major
``[T, B, *input_shape]`` tensors (or arrays) everywhere, whatever layout the model itself
takes (a ``BT`` model gets ``x.transpose(0, 1)`` from the source participant).

A *model* argument may be a ``torch.nn.Module`` (converted on the fly; it is also run as the
``source`` participant of verify), a :class:`snnexport.checkpoint.LoadedModel`, or a
``nir.NIRGraph``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import nir
import numpy as np
import torch

from .errors import SnnexportError

ModelOrGraph = Union[torch.nn.Module, nir.NIRGraph, Any]


def _loaded(module: torch.nn.Module, info: Dict[str, Any], name: str = "<module>"):
    from .checkpoint import LoadedModel

    return LoadedModel(module, Path(name), info=info)


def _per_sample_shape(example_input, layout: str) -> Tuple[Tuple[int, ...], Optional[int]]:
    """(per-sample input shape, steps or None) of an input in the model's own layout."""
    t = torch.as_tensor(example_input)
    lead = 1 if layout == "step" else 2
    if t.dim() <= lead:
        want = "[B, ...]" if layout == "step" else ("[T, B, ...]" if layout == "TB" else "[B, T, ...]")
        raise SnnexportError(f"example_input of shape {tuple(t.shape)} has no per-sample dimensions; a {layout} model takes {want}")
    steps = None if layout == "step" else int(t.shape[0 if layout == "TB" else 1])
    return tuple(int(s) for s in t.shape[lead:]), steps


def _layout_of(module: torch.nn.Module, input_layout: Optional[str]) -> str:
    from .sources.frameworks import default_layout

    return input_layout or default_layout(module) or "TB"


def convert(module: torch.nn.Module, example_input=None, *, input_shape: Optional[Sequence[int]] = None,
            input_layout: Optional[str] = None, dt: Optional[float] = None, input_kind: Optional[str] = None,
            steps: Optional[int] = None, **facts: Any) -> nir.NIRGraph:
    """Convert an in-memory PyTorch SNN (snnTorch, Norse, SpikingJelly or plain torch) to NIR.

    ``example_input``: an input as the model takes it (``[T, B, ...]`` for ``TB``, ``[B, T, ...]``
    for ``BT``, one step ``[B, ...]`` for a ``step`` model); it gives the per-sample input shape
    and the number of steps. Or pass ``input_shape`` (per sample) directly. ``input_layout``
    defaults to the framework's own (snnTorch/Norse modules: ``step``/``TB``); ``input_kind``
    is ``"spikes"`` (default) or ``"analog"``; ``dt`` (seconds, default 1e-3) is recorded in
    the graph; other keyword arguments are JSON-able facts recorded in the graph's metadata
    (as ``snnexport.save`` records them). The module is converted in its current mode: call
    ``model.eval()`` first (a BatchNorm in training mode is refused)."""
    from .checkpoint import LoadedModel
    from .sources import convert_model

    if isinstance(module, LoadedModel):
        return convert_model(module, dt=dt, input_shape=input_shape, input_layout=input_layout)
    if not isinstance(module, torch.nn.Module):
        raise SnnexportError(f"convert: expected a torch.nn.Module, got {type(module).__name__}")
    layout = _layout_of(module, input_layout)
    info: Dict[str, Any] = dict(facts, input_layout=layout)
    if example_input is not None:
        shape, ex_steps = _per_sample_shape(example_input, layout)
        info["input_shape"] = list(input_shape or shape)
        if ex_steps and steps is None:
            info["steps"] = ex_steps
    elif input_shape is not None:
        info["input_shape"] = [int(s) for s in input_shape]
    if steps is not None:
        info["steps"] = int(steps)
    if input_kind is not None:
        info["input_kind"] = input_kind
    return convert_model(_loaded(module, info, f"<{type(module).__name__}>"), dt=dt)


def _time_major(x, dtype: torch.dtype) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else torch.as_tensor(x)
    if t.dim() < 2:
        raise SnnexportError(f"x must be time-major [T, B, ...], got shape {tuple(t.shape)}")
    return t.detach().to(dtype)


def _graph_and_source(model: ModelOrGraph, x: torch.Tensor, input_layout=None, dt=None, input_kind=None):
    """(graph, LoadedModel or None) for a module, a LoadedModel or a graph; ``x`` time-major."""
    from .checkpoint import LoadedModel
    from .sources import convert_model

    if isinstance(model, nir.NIRGraph):
        return model, None
    if isinstance(model, LoadedModel):
        return convert_model(model, dt=dt, input_shape=tuple(x.shape[2:]), input_layout=input_layout), model
    if isinstance(model, torch.nn.Module):
        layout = _layout_of(model, input_layout)
        info: Dict[str, Any] = {"input_layout": layout, "input_shape": list(x.shape[2:]), "steps": int(x.shape[0])}
        if input_kind is not None:
            info["input_kind"] = input_kind
        loaded = _loaded(model, info, f"<{type(model).__name__}>")
        return convert_model(loaded, dt=dt), loaded
    raise SnnexportError(f"expected a torch.nn.Module, a LoadedModel or a nir.NIRGraph, got {type(model).__name__}")


def verify(model: ModelOrGraph, x, *, sims: Optional[Sequence[str]] = None, dtype: torch.dtype = torch.float64,
           upstream: bool = True, max_memory: Optional[Union[int, str]] = None, save_spikes: Optional[str] = None,
           keep_results: Optional[Dict[str, Any]] = None, source=None, progress: bool = False,
           input_layout: Optional[str] = None, dt: Optional[float] = None, input_kind: Optional[str] = None):
    """Run ``x`` (time-major ``[T, B, *input_shape]``) through every participant and compare
    each with the reference simulator; returns a :class:`snnexport.verification.VerifyResult`.

    ``sims``: participant names (default: ``source`` for a module, ``reference``, snnTorch,
    Norse, ONNX Runtime and the upstream witnesses; ``upstream=False`` drops the witnesses).
    ``dtype``: float64 (default; "identical" means every spike equal, readouts within 1e-12)
    or float32 (spike flips only where the reference membrane is within float32 rounding of
    the threshold). ``max_memory``: bytes or ``"4G"``; the batch is run in chunks so the
    process stays within it. ``save_spikes``: a folder for one ``.npz`` per participant.
    A participant that cannot run the graph becomes a row with status ``"cannot run"``. A
    module passed in is not modified (the source participant runs a copy)."""
    from .resources import parse_size
    from .verification import default_sims, run_verify

    x = _time_major(x, dtype)
    graph, loaded = _graph_and_source(model, x, input_layout, dt, input_kind)
    if source is not None:  # the model the graph came from (a module or a LoadedModel)
        loaded = source if not isinstance(source, torch.nn.Module) else _loaded(source, {}, f"<{type(source).__name__}>")
    names = list(sims) if sims else default_sims(loaded is not None)
    if not upstream:
        names = [n for n in names if not n.endswith("-upstream")]
    if "source" in names and loaded is None:
        raise SnnexportError("participant 'source' needs a model (a .pt checkpoint or a torch.nn.Module), not a graph")
    if loaded is not None and isinstance(source if source is not None else model, torch.nn.Module) and "source" in names:
        loaded = _private_copy(loaded)  # the source participant casts the model to dtype
    budget = parse_size(max_memory) if isinstance(max_memory, str) else max_memory
    sink = None
    if save_spikes:
        from .graph import output_is_time_reduced, output_names
        from .verify_output import NpzSink

        sink = NpzSink(save_spikes, int(x.shape[1]), [o for o in output_names(graph) if output_is_time_reduced(graph, o)])
    return run_verify(graph, x, dtype, names, source=loaded, progress=progress, keep_results=keep_results,
                      max_memory=budget, sink=sink)


def _private_copy(loaded):
    from dataclasses import replace

    try:
        return replace(loaded, model=copy.deepcopy(loaded.model))
    except Exception:  # noqa: BLE001 - a module that cannot be copied runs as it is
        return loaded


def report(model: ModelOrGraph, x, *, targets: Optional[Union[str, Sequence[str]]] = None,
           baseline: Optional[str] = "default", targets_dirs: Sequence[str] = (), dtype: torch.dtype = torch.float64,
           source: str = "", run: Optional[Dict[str, Any]] = None, input_layout: Optional[str] = None,
           dt: Optional[float] = None, input_kind: Optional[str] = None, convention: str = "neurobench"):
    """Spike counts, sparsity, synaptic operations and energy per hardware target for ``x``
    (time-major); returns a :class:`snnexport.reporting.Report` (``.to_json()``, ``.results``).
    ``targets``: names or a comma-separated string (default: every known target);
    ``baseline``: the dense target the energy ratios refer to (``None``: no ratios);
    ``convention``: the energy convention driving the target energies (``neurobench``, ``papers``,
    ``event_exact``; all three are tabulated under ``conventions``, see docs/report.md)."""
    from .reporting import DEFAULT_BASELINE, apply_convention, build_report
    from .targets import load_targets, select_targets

    x = _time_major(x, dtype)
    graph, _ = _graph_and_source(model, x, input_layout, dt, input_kind)
    all_targets = load_targets(targets_dirs)
    names = targets if targets is None or isinstance(targets, str) else ",".join(targets)
    chosen = select_targets(all_targets, names)
    if baseline == "default":
        baseline = DEFAULT_BASELINE
    run = dict(run) if run is not None else {"steps": int(x.shape[0]), "batch": int(x.shape[1]),
                                              "dtype": str(dtype).replace("torch.", "")}
    from .simulators.reference.runner import simulate as run_reference

    # one reference run serves the counts and the energy conventions' input statistics
    result = run_reference(graph, x, dtype, record_activations=True)
    rep = build_report(graph, x, chosen, all_targets, baseline or None, source=source, run=run, dtype=dtype,
                       result=result)
    apply_convention(rep, convention, graph, x, dtype, result=result)
    return rep


def simulate(graph: nir.NIRGraph, x, *, dtype: Optional[torch.dtype] = None, record_membranes: bool = False,
             record_activations: bool = False, mode: str = "auto"):
    """Run ``x`` (time-major ``[T, B, *input_shape]``) through ``graph`` in the reference
    simulator; returns a :class:`snnexport.simulators.SimResult` (``spikes``, ``readout``;
    ``membranes`` only with ``record_membranes=True``).

    The compiled program is cached per graph and dtype, so repeated calls cost no
    recompilation (see :func:`snnexport.simulators.reference.program_for` for when the cache
    is refreshed). ``dtype``: default ``x``'s dtype when it is float32/float64, else float64."""
    from .simulators.reference import program, runner

    t = torch.as_tensor(x)
    if dtype is None:
        dtype = t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float64
    if t.dim() < 2:
        raise SnnexportError(f"x must be time-major [T, B, ...], got shape {tuple(t.shape)}")
    prog = program.program_for(graph, dtype)
    return runner.simulate(prog, t, dtype, record_activations=record_activations, record_membranes=record_membranes, mode=mode)


__all__ = ["convert", "verify", "report", "simulate"]


def load(path, *, arch: Optional[str] = None, arch_kwargs: Optional[Dict[str, Any]] = None, trust_arch: bool = False,
         unsafe_pickle: bool = False, input_shape: Optional[Sequence[int]] = None, input_layout: Optional[str] = None,
         dt: Optional[float] = None) -> Tuple[nir.NIRGraph, Any, List[str]]:
    """``(graph, loaded checkpoint or None, warnings)`` for a ``.nir`` file, a checkpoint, or a zoo
    model's name: what every command reads. A checkpoint is loaded under the arch trust model
    (README "Security model") and converted; a graph written elsewhere takes ``dt``/``input_shape``
    for what it does not state. ``warnings`` lists what was read in or assumed (reading notes,
    an assumed dt, an Euler step dt/tau > 1); the CLI prints them (``--strict`` refuses)."""
    from .checkpoint import load as load_checkpoint
    from .errors import reading
    from .graph import apply_run_options, euler_warnings, read_graph
    from .sources import convert_model

    p = Path(path)
    if not p.exists():  # a zoo model's name (`snnexport report shd`) means its shipped checkpoint
        from .zoo import zoo_checkpoint

        p = zoo_checkpoint(str(path)) or p
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
    with reading(p, "cannot load"):  # malformed content of the file: one-line error naming it, exit 2
        if p.suffix.lower() in (".nir", ".h5", ".hdf5"):
            graph, loaded = read_graph(p), None
            warnings = apply_run_options(graph, str(p), dt=dt, input_shape=shape)
        else:
            loaded = load_checkpoint(p, arch=arch, arch_kwargs=arch_kwargs, unsafe_pickle=unsafe_pickle,
                                     trust_arch=trust_arch)
            graph = convert_model(loaded, dt=dt, input_shape=shape, input_layout=input_layout)
            warnings = []
    return graph, loaded, warnings + euler_warnings(graph)
