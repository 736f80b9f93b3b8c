"""Checkpoints: our own format, plain state_dicts with ``--arch``, and (opt-in) pickled modules.

``torch.load`` always runs with ``weights_only=True`` unless the user passes
``--unsafe-pickle``: a pickle can execute arbitrary code when loaded, and a checkpoint
from someone else must never do that silently. For the same reason the ``arch`` a file
names is imported only when it is trusted (see :mod:`snnexport.architectures`), and every
other field is checked to be plain data of the right type and a sane size before use.

Which kwargs a factory receives:

- stored arch, no ``--arch``: the file's kwargs, updated by ``--arch-kwargs`` if given;
- ``--arch`` equal to the stored arch: the same;
- ``--arch`` naming another factory: the file's kwargs were written for the stored factory and
  are never passed to another one silently; ``--arch-kwargs`` is required (``'{}'`` for none)
  and only those are used.
"""

from __future__ import annotations

import contextlib
import json
import math
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from .architectures import check_arch_string, import_factory, trusted_factory
from .atomic import write_bytes
from .errors import SnnexportError
from .safe_files import check_torch_zip, require_regular_file

FORMAT = "snnexport-checkpoint"


@dataclass
class LoadedModel:
    model: torch.nn.Module
    path: Path
    arch: Optional[str] = None
    kwargs: Dict[str, Any] = field(default_factory=dict)
    info: Dict[str, Any] = field(default_factory=dict)  # input_layout, input_shape, dt, ...


def save(
    model: torch.nn.Module,
    path: str | Path,
    arch: str,
    kwargs: Optional[Dict[str, Any]] = None,
    **info: Any,
) -> Path:
    """Save ``model`` so that ``snnexport convert`` can rebuild it without unpickling code.

    ``arch`` is ``"pkg.module:factory"``; ``factory(**kwargs)`` must rebuild the module.
    ``info`` may hold ``input_layout`` (``TB``/``BT``/``step``), ``input_shape``,
    ``input_kind`` (``spikes``/``analog``), ``dt``, ``steps`` and any JSON-able facts
    (e.g. recorded accuracy).
    """
    from . import __version__

    where = str(path)
    check_arch_string(arch, where)
    # The same checks load() applies: a file that cannot be loaded back is refused now, not later.
    check_kwargs(kwargs, where)
    check_info(info, where)
    payload = {
        "format": FORMAT,
        "snnexport_version": __version__,
        "arch": arch,
        "kwargs": dict(kwargs or {}),
        "info": dict(info),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }
    import io

    buf = io.BytesIO()  # serialised in memory: a full disk then fails in os.write, as a one-line error
    torch.save(payload, buf)
    write_bytes(path, buf.getbuffer(), suffix=".pt")
    return Path(path)


def parse_kwargs(text: Optional[str], where: str = "--arch-kwargs") -> Optional[Dict[str, Any]]:
    """``--arch-kwargs`` JSON -> dict; None when the option was not given (not the same as ``{}``)."""
    if text is None:
        return None
    if text == "":
        return {}
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        detail = f"{e.msg} at position {e.pos}" if isinstance(e, json.JSONDecodeError) else "nested too deeply"
        raise SnnexportError(f"{where}: not valid JSON ({detail})") from None
    if not isinstance(value, dict):
        raise SnnexportError(f"{where}: must be a JSON object, got {type(value).__name__}")
    return check_kwargs(value, where, field="--arch-kwargs")


# ---- a checkpoint's data is plain JSON-like data; every field is checked before use ---------

MAX_DATA_DEPTH = 32
MAX_DATA_ITEMS = 100_000
MAX_STR_CHARS = 1_000_000
MAX_INPUT_DIMS = 8
MAX_INPUT_ELEMENTS = 1 << 26  # per sample: 512 MiB as float64; beyond that a shape is an attack, not a model
MAX_STEPS = 100_000
_SCALARS = (str, int, float, bool, type(None))


def _label(field: str) -> str:
    """'info.dt' -> "checkpoint field 'info.dt'"; fields of --arch-kwargs are named as values of the option."""
    if field.startswith("--"):
        rest = field.split(".", 1)[1] if "." in field else ""
        return f"value {rest!r}" if rest else "value"
    return f"checkpoint field {field!r}"


def _check_plain(value: Any, where: str, field: str, depth: int = 0, budget: Optional[list] = None) -> Any:
    """JSON data (dict with str keys, list/tuple, str, finite number, bool, None), bounded in size."""
    budget = budget if budget is not None else [MAX_DATA_ITEMS]
    budget[0] -= 1
    if budget[0] < 0:
        raise SnnexportError(f"{where}: {_label(field)} holds more than {MAX_DATA_ITEMS} items")
    if depth > MAX_DATA_DEPTH:
        raise SnnexportError(f"{where}: {_label(field)} is nested deeper than {MAX_DATA_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise SnnexportError(f"{where}: {_label(field)} is {value}, expected a finite number")
    if isinstance(value, str) and len(value) > MAX_STR_CHARS:
        raise SnnexportError(f"{where}: {_label(field)} is a string of {len(value)} characters")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, (list, tuple)):
        return [_check_plain(v, where, f"{field}[{i}]", depth + 1, budget) for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SnnexportError(f"{where}: {_label(field)} has a key of type {type(k).__name__}, expected str")
            out[k] = _check_plain(v, where, f"{field}.{k}", depth + 1, budget)
        return out
    raise SnnexportError(
        f"{where}: {_label(field)} must be plain data (str, number, bool, null, list, dict), got {type(value).__name__}"
    )


def check_kwargs(value: Any, where: str, field: str = "kwargs") -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SnnexportError(f"{where}: {_label(field)} must be a dict of keyword arguments, got {type(value).__name__}")
    return _check_plain(value, where, field)


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def check_info(value: Any, where: str) -> Dict[str, Any]:
    """``info``: the known keys with their types and sane sizes; other keys plain data (recorded facts)."""
    from .extension import INPUT_KINDS, INPUT_LAYOUTS

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SnnexportError(f"{where}: checkpoint field 'info' must be a dict, got {type(value).__name__}")
    info = {k: v for k, v in _check_plain(value, where, "info").items() if v is not None}
    if "input_layout" in info and info["input_layout"] not in INPUT_LAYOUTS:
        raise SnnexportError(f"{where}: checkpoint field 'info.input_layout' must be one of {', '.join(INPUT_LAYOUTS)}, "
                             f"got {str(info['input_layout'])[:40]!r}")
    if "input_kind" in info and info["input_kind"] not in INPUT_KINDS:
        raise SnnexportError(f"{where}: checkpoint field 'info.input_kind' must be one of {', '.join(INPUT_KINDS)}, "
                             f"got {str(info['input_kind'])[:40]!r}")
    if "input_shape" in info:
        shape = info["input_shape"]
        if not isinstance(shape, list) or not 1 <= len(shape) <= MAX_INPUT_DIMS or not all(_positive_int(s) for s in shape):
            raise SnnexportError(f"{where}: checkpoint field 'info.input_shape' must be a list of 1 to {MAX_INPUT_DIMS} "
                                 f"positive integers, got {str(shape)[:60]}")
        if math.prod(shape) > MAX_INPUT_ELEMENTS:
            raise SnnexportError(f"{where}: checkpoint field 'info.input_shape' {shape} asks for {math.prod(shape)} values "
                                 f"per sample (limit {MAX_INPUT_ELEMENTS})")
    if "dt" in info:
        dt = info["dt"]
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
            raise SnnexportError(f"{where}: checkpoint field 'info.dt' must be a positive finite number, got {str(dt)[:40]}")
        info["dt"] = float(dt)
    if "steps" in info:
        steps = info["steps"]
        if not _positive_int(steps) or steps > MAX_STEPS:
            raise SnnexportError(f"{where}: checkpoint field 'info.steps' must be an integer from 1 to {MAX_STEPS}, "
                                 f"got {str(steps)[:40]}")
    return info


def check_state_dict(value: Any, where: str, field: str = "state_dict") -> Dict[str, torch.Tensor]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SnnexportError(f"{where}: {_label(field)} must be a dict of tensors, got {type(value).__name__}")
    for k, v in value.items():
        if not isinstance(k, str):
            raise SnnexportError(f"{where}: {_label(field)} has a key of type {type(k).__name__}, expected str")
        if not isinstance(v, torch.Tensor):
            raise SnnexportError(f"{where}: {_label(field + '.' + k[:80])} must be a tensor, got {type(v).__name__}")
        # NaN/Inf weights would only surface later as a graph node with no file named (and a
        # reference that mismatches itself): refused here, naming the file and the tensor.
        if (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all()):
            raise SnnexportError(f"{where}: {_label(field + '.' + k[:80])} has NaN or infinite values")
    return value


# A trusted factory still takes its sizes from the file's kwargs. Every parameter and persistent
# buffer must match a tensor of the state_dict (strict load), whose bytes the zip check bounded;
# so the build may register at most that many values, plus room for non-persistent buffers.
EXTRA_BUILD_ELEMENTS = 1 << 24
MAX_BUILD_MODULES = 100_000


@contextlib.contextmanager
def _bounded_build(state: Dict[str, torch.Tensor], where: str, arch: str):
    """Stop a factory as soon as it registers more than the checkpoint can fill.

    The hooks run when a parameter/buffer is registered: after ``torch.empty`` reserved it but
    before the module's initialisation writes it, so an oversized model fails before its
    memory is touched."""
    from torch.nn.modules import module as nn_module

    limit = sum(t.numel() for t in state.values()) + EXTRA_BUILD_ELEMENTS
    seen = {"values": 0, "modules": 0}

    def on_tensor(_module, name, tensor):
        if tensor is not None:
            seen["values"] += tensor.numel()
            if seen["values"] > limit:
                raise SnnexportError(
                    f"{where}: arch {arch!r} with these kwargs builds more than {limit} values (at {name!r}), more than "
                    f"its state_dict can fill; the kwargs do not match the weights"
                )

    def on_module(_module, name, _sub):
        seen["modules"] += 1
        if seen["modules"] > MAX_BUILD_MODULES:
            raise SnnexportError(f"{where}: arch {arch!r} with these kwargs builds more than {MAX_BUILD_MODULES} modules")

    handles = [nn_module.register_module_parameter_registration_hook(on_tensor),
               nn_module.register_module_buffer_registration_hook(on_tensor),
               nn_module.register_module_module_registration_hook(on_module)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def build(arch: str, kwargs: Dict[str, Any], where: str, factory=None,
          state: Optional[Dict[str, torch.Tensor]] = None) -> torch.nn.Module:
    """``factory(**kwargs)``; ``factory`` defaults to importing ``arch`` (callers decide trust first).
    With ``state``, the build may not allocate more than that state_dict can fill."""
    factory = factory or import_factory(arch, where)
    guard = _bounded_build(state, where, arch) if state is not None else contextlib.nullcontext()
    try:
        with guard:
            model = factory(**kwargs)
    except TypeError as e:
        raise SnnexportError(f"{where}: arch {arch!r} rejected kwargs {str(kwargs)[:200]} ({e})") from None
    except (ValueError, RuntimeError, MemoryError, OverflowError) as e:  # e.g. sizes the allocator cannot reserve
        msg = " ".join(str(e).split())[:200]
        raise SnnexportError(f"{where}: arch {arch!r} failed to build with kwargs {str(kwargs)[:200]} "
                             f"({type(e).__name__}: {msg})") from None
    if not isinstance(model, torch.nn.Module):
        raise SnnexportError(f"{where}: arch {arch!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _load_state(model: torch.nn.Module, state: Dict[str, Any], where: str, arch: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:300]
        raise SnnexportError(f"{where}: state_dict does not fit arch {arch!r}: {first}") from None


def load(
    path: str | Path,
    arch: Optional[str] = None,
    arch_kwargs: Optional[Dict[str, Any]] = None,
    unsafe_pickle: bool = False,
    trust_arch: bool = False,
    max_bytes: Optional[int] = None,
) -> LoadedModel:
    """Load any accepted checkpoint; the model is returned in eval mode.

    ``arch`` is the caller's own choice (the user typed it), so it is trusted; the arch stored
    in a file is imported only if trusted (:mod:`snnexport.architectures`) or ``trust_arch``.
    ``max_bytes`` bounds what the archive may unpack to (default: half the machine's memory).
    """
    path = Path(path)
    where = str(path)
    require_regular_file(path, "PyTorch checkpoint (.pt)")
    obj = _read(path, where, unsafe_pickle, max_bytes)

    if isinstance(obj, torch.nn.Module):
        obj.eval()
        return LoadedModel(obj, path, info={})
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        return _load_own_format(obj, path, where, arch, arch_kwargs, trust_arch)
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if not arch:
            raise SnnexportError(
                f"{where}: is a plain state_dict ({len(obj)} tensors); pass --arch package.module:factory "
                f"(and --arch-kwargs JSON) to say which model it belongs to"
            )
        state = check_state_dict(obj, where, "state_dict")
        kw = dict(arch_kwargs or {})
        model = build(arch, kw, where, state=state)
        _load_state(model, state, where, arch)
        model.eval()
        return LoadedModel(model, path, arch, kw, {})
    raise SnnexportError(
        f"{where}: not a model checkpoint (found {type(obj).__name__}); expected an snnexport checkpoint, "
        f"a state_dict with --arch, or a pickled module with --unsafe-pickle"
    )


def _read(path: Path, where: str, unsafe_pickle: bool, max_bytes: Optional[int]) -> Any:
    if zipfile.is_zipfile(path):
        from .resources import default_budget

        check_torch_zip(path, max_bytes or default_budget())
    elif not unsafe_pickle:
        # torch.save writes zip archives; anything else is a legacy pickle or not a checkpoint.
        with open(path, "rb") as fh:
            head = fh.read(2)
        if not head or head[0] != 0x80:
            raise SnnexportError(f"{where}: not a PyTorch checkpoint (neither a torch zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            if not unsafe_pickle:  # torch warns about a legacy pickle it is about to refuse: one line only
                warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    except pickle.UnpicklingError as e:
        msg = " ".join(str(e).split())
        if "weights_only" in msg or "Unsupported global" in msg or "GLOBAL" in msg:
            bad = _unsupported_global(msg)
            raise SnnexportError(
                f"{where}: refused to unpickle {bad or 'a Python object'}: loading it would run code from the file; "
                f"pass --unsafe-pickle only if you trust this file"
            ) from None
        raise SnnexportError(f"{where}: corrupted or truncated checkpoint ({msg[:200]})") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, ImportError, ModuleNotFoundError,
            RecursionError, MemoryError) as e:
        msg = " ".join(str(e).split())[:200]
        raise SnnexportError(f"{where}: corrupted or unreadable checkpoint ({type(e).__name__}: {msg})") from None


def _load_own_format(obj: Dict[str, Any], path: Path, where: str, arch: Optional[str],
                     arch_kwargs: Optional[Dict[str, Any]], trust_arch: bool) -> LoadedModel:
    # Every field is checked before anything is imported or built.
    stored = obj.get("arch")
    if stored is None:
        raise SnnexportError(f"{where}: checkpoint field 'arch' is missing")
    check_arch_string(stored, f"{where}: checkpoint field 'arch'")
    file_kwargs = check_kwargs(obj.get("kwargs"), where)
    info = check_info(obj.get("info"), where)
    state = check_state_dict(obj.get("state_dict"), where)

    if arch is None or arch == stored:
        factory = trusted_factory(stored, where, trust=trust_arch or arch == stored)
        a, kw = stored, {**file_kwargs, **(arch_kwargs or {})}
    elif arch_kwargs is None:
        raise SnnexportError(
            f"{where}: --arch {arch} differs from the checkpoint's arch {stored}; its kwargs belong to {stored} and are "
            f"not passed to another factory: give --arch-kwargs (JSON, '{{}}' for none) for {arch}"
        )
    else:
        factory, a, kw = None, arch, dict(arch_kwargs)
    model = build(a, kw, where, factory, state)
    _load_state(model, state, where, a)
    model.eval()
    return LoadedModel(model, path, a, kw, info)


def _unsupported_global(msg: str) -> Optional[str]:
    import re

    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
    if m:
        return f"global {m.group(1)}"
    m = re.search(r"GLOBAL ([\w.]+)", msg)
    return f"global {m.group(1)}" if m else None
