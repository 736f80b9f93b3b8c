"""Checkpoints: our own format, plain state_dicts with ``--arch``, and (opt-in) pickled modules.

``torch.load`` always runs with ``weights_only=True`` unless the user passes
``--unsafe-pickle``: a pickle can execute arbitrary code when loaded, and a checkpoint
from someone else must never do that silently.
"""

from __future__ import annotations

import importlib
import json
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from .atomic import write_bytes
from .errors import SnnexportError

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

    _check_arch_string(arch, where=str(path))
    payload = {
        "format": FORMAT,
        "snnexport_version": __version__,
        "arch": arch,
        "kwargs": dict(kwargs or {}),
        "info": dict(info),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }
    json.dumps(payload["kwargs"])  # must be plain data: it is loaded with weights_only=True
    import io

    buf = io.BytesIO()  # serialised in memory: a full disk then fails in os.write, as one-line error
    torch.save(payload, buf)
    write_bytes(path, buf.getbuffer(), suffix=".pt")
    return Path(path)


def _check_arch_string(arch: str, where: str) -> None:
    if not isinstance(arch, str) or ":" not in arch or not all(arch.split(":", 1)):
        raise SnnexportError(f"{where}: --arch must look like 'package.module:factory', got {arch!r}")


def import_factory(arch: str, where: str = "--arch"):
    _check_arch_string(arch, where)
    mod_name, attr = arch.split(":", 1)
    try:
        from .zoo import resolve_zoo_module  # zoo archs "models.x" live in snnexport.zoo_models when installed

        module = importlib.import_module(resolve_zoo_module(mod_name))
    except ImportError as e:
        raise SnnexportError(f"{where}: cannot import module {mod_name!r} for arch {arch!r} ({e})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise SnnexportError(f"{where}: module {mod_name!r} has no attribute {attr!r} (arch {arch!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise SnnexportError(f"{where}: arch {arch!r} is not callable")
    return obj


def parse_kwargs(text: Optional[str], where: str = "--arch-kwargs") -> Dict[str, Any]:
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise SnnexportError(f"{where}: not valid JSON ({e.msg} at position {e.pos})") from None
    if not isinstance(value, dict):
        raise SnnexportError(f"{where}: must be a JSON object, got {type(value).__name__}")
    return value


def build(arch: str, kwargs: Dict[str, Any], where: str) -> torch.nn.Module:
    factory = import_factory(arch, where)
    try:
        model = factory(**kwargs)
    except TypeError as e:
        raise SnnexportError(f"{where}: arch {arch!r} rejected kwargs {kwargs} ({e})") from None
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
) -> LoadedModel:
    """Load any accepted checkpoint; the model is returned in eval mode."""
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise SnnexportError(f"{where}: no such file")
    if path.is_dir():
        raise SnnexportError(f"{where}: is a directory, expected a .pt checkpoint")
    if not zipfile.is_zipfile(path) and not unsafe_pickle:
        # torch.save writes zip archives; anything else is a legacy pickle or not a checkpoint.
        with open(path, "rb") as fh:
            head = fh.read(2)
        if not head or head[0] != 0x80:
            raise SnnexportError(f"{where}: not a PyTorch checkpoint (neither a torch zip archive nor a pickle)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not unsafe_pickle)
    except pickle.UnpicklingError as e:
        msg = " ".join(str(e).split())
        if "weights_only" in msg or "Unsupported global" in msg or "GLOBAL" in msg:
            bad = _unsupported_global(msg)
            raise SnnexportError(
                f"{where}: refused to unpickle {bad or 'a Python object'}: loading it would run code from the file; "
                f"pass --unsafe-pickle only if you trust this file"
            ) from None
        raise SnnexportError(f"{where}: corrupted or truncated checkpoint ({msg[:200]})") from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile, AttributeError, ImportError, ModuleNotFoundError) as e:
        msg = " ".join(str(e).split())[:200]
        raise SnnexportError(f"{where}: corrupted or unreadable checkpoint ({type(e).__name__}: {msg})") from None

    if isinstance(obj, torch.nn.Module):
        obj.eval()
        return LoadedModel(obj, path, info={})
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        a = arch or obj.get("arch")
        kw = dict(obj.get("kwargs") or {})
        if arch_kwargs:
            kw.update(arch_kwargs)
        model = build(a, kw, where)
        _load_state(model, obj.get("state_dict") or {}, where, a)
        model.eval()
        return LoadedModel(model, path, a, kw, dict(obj.get("info") or {}))
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if not arch:
            raise SnnexportError(
                f"{where}: is a plain state_dict ({len(obj)} tensors); pass --arch package.module:factory "
                f"(and --arch-kwargs JSON) to say which model it belongs to"
            )
        kw = dict(arch_kwargs or {})
        model = build(arch, kw, where)
        _load_state(model, obj, where, arch)
        model.eval()
        return LoadedModel(model, path, arch, kw, {})
    raise SnnexportError(
        f"{where}: not a model checkpoint (found {type(obj).__name__}); expected an snnexport checkpoint, "
        f"a state_dict with --arch, or a pickled module with --unsafe-pickle"
    )


def _unsupported_global(msg: str) -> Optional[str]:
    import re

    m = re.search(r"Unsupported global: GLOBAL ([\w.]+)", msg)
    if m:
        return f"global {m.group(1)}"
    m = re.search(r"GLOBAL ([\w.]+)", msg)
    return f"global {m.group(1)}" if m else None
