"""Hardware targets for ``snnexport report``: one strictly validated TOML file per target.

Where targets come from (later entries override nothing: a name defined twice is an error):

1. ``targets/`` at the root of the snnexport checkout (the shipped ones);
2. every folder in ``$SNNEXPORT_TARGETS`` (``os.pathsep``-separated);
3. ``--targets-dir DIR`` on the command line.

A user adds a target by adding ``NAME.toml`` to one of them. Schema (all energies in
picojoules per event; every field is checked, unknown fields are errors)::

    name = "loihi"                 # must equal the file name without .toml
    title = "Intel Loihi (14 nm)"
    kind = "neuromorphic"          # neuromorphic | dense
    grade = "measured silicon"     # measured silicon | pre-silicon simulation | datasheet | estimate
    process = "Intel 14 nm"        # optional
    note = "..."                   # optional

    [[sources]]                    # at least one
    cite = "M. Davies et al., ... IEEE Micro 38(1), 2018"
    where = "Table 1"
    url = "https://doi.org/..."    # optional

    [energy]                       # every field optional, each a number >= 0
    synaptic_op_pj = 23.6          # one synaptic operation (binary input event x one synapse)
    mac_pj = 4.6                   # one multiply-accumulate (non-binary input x one synapse)
    add_pj = 0.9                   # one addition (bias)
    neuron_update_pj = 10          # one neuron state update (or the active/idle pair below)
    neuron_update_active_pj = 81
    neuron_update_idle_pj = 52
    spike_pj = 1.7                 # routing one output spike
    weight_read_pj = 5.0           # one weight fetched from on-chip memory per SOP/MAC (data movement)
    static_power_mw = 0.42         # costed only together with step_time_us
    step_time_us = 1000

    [constraints]                  # every field optional; see CONSTRAINT_FIELDS
    cores = 128
    neurons_per_core = 1024
    layer_types = ["Affine", "Conv2d"]

    [grades]                       # optional: fields whose evidence differs from `grade`
    "constraints.weight_bits" = "estimate"

    [notes]                        # optional: one note per field
    "constraints.weight_bits" = "1-9 bit weights per the paper; 8 assumed"

Rules beyond types: ``dense`` targets need ``energy.mac_pj``; the active/idle neuron
energies come as a pair and exclude ``neuron_update_pj``; a ``neuromorphic`` target without
``synaptic_op_pj`` may not give other operation energies (its energy is then reported as
not available, its fit is still checked).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from .errors import SnnexportError, reading

# "unconfirmed": a figure whose cited source could not be checked (issue 15's re-grading);
# report output lists such fields beside every energy that uses them.
GRADES = ("measured silicon", "pre-silicon simulation", "datasheet", "estimate", "unconfirmed")
KINDS = ("neuromorphic", "dense")

ENERGY_FIELDS: Dict[str, str] = {
    "synaptic_op_pj": "energy of one synaptic operation (binary event x one nonzero synapse), pJ",
    "mac_pj": "energy of one multiply-accumulate (non-binary input x one synapse), pJ",
    "add_pj": "energy of one addition (bias), pJ",
    "neuron_update_pj": "energy of one neuron update per time step, pJ",
    "neuron_update_active_pj": "energy of one update of a neuron whose state changes, pJ",
    "neuron_update_idle_pj": "energy of one update of a neuron whose state does not change, pJ",
    "spike_pj": "energy of routing one output spike, pJ",
    "weight_read_pj": "energy of reading one weight from on-chip memory, once per SOP or MAC (data movement), pJ",
    "static_power_mw": "static/leakage power, mW (costed only with step_time_us)",
    "step_time_us": "wall-clock duration of one time step, microseconds",
}

# name -> (python type, description). int fields must be positive.
CONSTRAINT_FIELDS: Dict[str, Tuple[type, str]] = {
    "cores": (int, "neuromorphic cores available"),
    "neurons_per_core": (int, "neurons (compartments) per core"),
    "max_neurons": (int, "neurons on the whole device"),
    "synapses_per_core": (int, "stored synapses per core"),
    "max_synapses": (int, "stored synapses on the whole device"),
    "fan_in": (int, "largest number of synapses into one neuron"),
    "fan_out": (int, "largest number of synapses out of one neuron"),
    "max_destinations": (int, "downstream layers one layer may feed"),
    "weight_bits": (int, "weight precision in bits"),
    "state_bits": (int, "neuron state precision in bits (informative)"),
    "max_distinct_weights_per_neuron": (int, "distinct nonzero weight values one neuron may use"),
    "max_steps": (int, "time steps per inference"),
    "max_inputs": (int, "input channels"),
    "max_outputs": (int, "output neurons"),
    "max_layers": (int, "synaptic layers (cores in a pipeline)"),
    "max_kernel": (int, "largest convolution kernel side"),
    "max_channels": (int, "largest number of channels of a layer"),
    "layer_types": (list, "NIR node types the target runs (others are violations)"),
    "neuron_types": (list, "NIR neuron types the target runs"),
    "conv_weight_sharing": (bool, "convolutions stored once per kernel (else unrolled per synapse)"),
    "graded_spikes": (bool, "events may carry a value (else non-binary inputs are violations)"),
    "non_spiking_readout": (bool, "non-spiking readout (time-reduced head, LI neurons) runs on chip"),
}

TOP_FIELDS = ("name", "title", "kind", "grade", "process", "note", "sources", "energy", "constraints", "grades", "notes")


@dataclass
class Source:
    cite: str
    where: str
    url: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        d = {"cite": self.cite, "where": self.where}
        if self.url:
            d["url"] = self.url
        return d


@dataclass
class Target:
    name: str
    title: str
    kind: str
    grade: str
    sources: List[Source]
    energy: Dict[str, float]
    constraints: Dict[str, Any] = field(default_factory=dict)
    grades: Dict[str, str] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)
    process: Optional[str] = None
    note: Optional[str] = None
    path: Optional[Path] = None

    @property
    def costed(self) -> bool:
        """Whether this target gives enough energies to cost an inference."""
        return "mac_pj" in self.energy if self.kind == "dense" else "synaptic_op_pj" in self.energy

    def grade_of(self, key: str) -> str:
        """Evidence grade of one field, e.g. ``energy.synaptic_op_pj``."""
        return self.grades.get(key, self.grade)

    def to_json(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "name": self.name, "title": self.title, "kind": self.kind, "grade": self.grade,
            "sources": [s.to_json() for s in self.sources], "energy": dict(self.energy),
            "constraints": dict(self.constraints), "grades": dict(self.grades), "notes": dict(self.notes),
        }
        if self.process:
            d["process"] = self.process
        if self.note:
            d["note"] = self.note
        return d


# ----------------------------------------------------------------------------- validation

def _err(path: Path, key: str, msg: str) -> SnnexportError:
    return SnnexportError(f"{path}: {key}: {msg}" if key else f"{path}: {msg}")


def _typename(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "table"}.get(type(v), type(v).__name__)


def _string(path: Path, key: str, v: Any, required: bool = True) -> Optional[str]:
    if v is None:
        if required:
            raise _err(path, "", f"missing required field '{key}'")
        return None
    if not isinstance(v, str) or not v.strip():
        raise _err(path, key, f"must be a non-empty string, got {_typename(v)} {v!r}")
    return v.strip()


def _number(path: Path, key: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _err(path, key, f"must be a number, got {_typename(v)} {v!r}")
    if not math.isfinite(float(v)):
        raise _err(path, key, f"must be finite, got {v}")
    if v < 0:
        raise _err(path, key, f"must not be negative, got {v}")
    return float(v)


def _table(path: Path, key: str, v: Any) -> Dict[str, Any]:
    if not isinstance(v, dict):
        raise _err(path, key, f"must be a table, got {_typename(v)}")
    return v


def _unknown(path: Path, prefix: str, keys: Iterable[str], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    for k in keys:
        if k not in allowed:
            raise _err(path, f"{prefix}{k}", f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _constraint(path: Path, key: str, v: Any) -> Any:
    kind, _ = CONSTRAINT_FIELDS[key]
    where = f"constraints.{key}"
    if kind is bool:
        if not isinstance(v, bool):
            raise _err(path, where, f"must be true or false, got {_typename(v)} {v!r}")
        return v
    if kind is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _err(path, where, f"must be an integer, got {_typename(v)} {v!r}")
        if v <= 0:
            raise _err(path, where, f"must be positive, got {v}")
        return v
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s for s in v):
        raise _err(path, where, f"must be a non-empty array of strings, got {v!r}")
    return list(v)


def parse_target(data: Dict[str, Any], path: Path) -> Target:
    """Validate the parsed TOML of one target file; every error names the file and field."""
    _unknown(path, "", data.keys(), TOP_FIELDS)
    name = _string(path, "name", data.get("name"))
    if name != path.stem:
        raise _err(path, "name", f"must equal the file name without .toml ({path.stem!r}), got {name!r}")
    title = _string(path, "title", data.get("title"))
    kind = _string(path, "kind", data.get("kind"))
    if kind not in KINDS:
        raise _err(path, "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    grade = _string(path, "grade", data.get("grade"))
    if grade not in GRADES:
        raise _err(path, "grade", f"must be one of {', '.join(GRADES)}, got {grade!r}")
    process = _string(path, "process", data.get("process"), required=False)
    note = _string(path, "note", data.get("note"), required=False)

    raw_sources = data.get("sources")
    if raw_sources is None:
        raise _err(path, "", "missing required field 'sources' (at least one [[sources]] with cite and where)")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise _err(path, "sources", "must be a non-empty array of tables ([[sources]])")
    sources = []
    for i, s in enumerate(raw_sources):
        key = f"sources[{i}]"
        s = _table(path, key, s)
        _unknown(path, f"{key}.", s.keys(), ("cite", "where", "url"))
        for req, what in (("cite", "the publication or datasheet"), ("where", "table, page or section")):
            if s.get(req) is None:
                raise _err(path, f"{key}.{req}", f"missing required field ({what})")
        sources.append(Source(_string(path, f"{key}.cite", s["cite"]), _string(path, f"{key}.where", s["where"]),
                              _string(path, f"{key}.url", s.get("url"), required=False)))

    if "energy" not in data:
        raise _err(path, "", "missing required field 'energy' (a table; may be empty if no energy is published)")
    raw_energy = _table(path, "energy", data["energy"])
    _unknown(path, "energy.", raw_energy.keys(), ENERGY_FIELDS)
    energy = {k: _number(path, f"energy.{k}", v) for k, v in raw_energy.items()}
    pair = ("neuron_update_active_pj", "neuron_update_idle_pj")
    if (pair[0] in energy) != (pair[1] in energy):
        missing = pair[1] if pair[0] in energy else pair[0]
        raise _err(path, f"energy.{missing}", "missing: active and idle neuron update energies come as a pair")
    if "neuron_update_pj" in energy and pair[0] in energy:
        raise _err(path, "energy.neuron_update_pj", "give either neuron_update_pj or the active/idle pair, not both")
    if kind == "dense" and "mac_pj" not in energy:
        raise _err(path, "energy.mac_pj", "missing: a dense target needs the energy of one MAC")
    if kind == "neuromorphic" and "synaptic_op_pj" not in energy:
        ops = [k for k in energy if k not in ("static_power_mw", "step_time_us")]
        if ops:
            raise _err(path, "energy.synaptic_op_pj", f"missing while {', '.join(ops)} given: "
                                                      f"without it no inference can be costed")

    constraints: Dict[str, Any] = {}
    if "constraints" in data:
        raw = _table(path, "constraints", data["constraints"])
        _unknown(path, "constraints.", raw.keys(), CONSTRAINT_FIELDS)
        constraints = {k: _constraint(path, k, v) for k, v in raw.items()}

    valid_keys = {f"energy.{k}" for k in ENERGY_FIELDS} | {f"constraints.{k}" for k in CONSTRAINT_FIELDS} | {
        "sources", "process", "note"}
    grades: Dict[str, str] = {}
    if "grades" in data:
        raw = _table(path, "grades", data["grades"])
        for k, v in raw.items():
            if k not in valid_keys:
                raise _err(path, f"grades.{k}", "names no energy.* or constraints.* field")
            section, fname = k.split(".", 1) if "." in k else (k, "")
            present = energy if section == "energy" else constraints
            if fname and fname not in present:
                raise _err(path, f"grades.{k}", "grades a field this file does not set")
            if v not in GRADES:
                raise _err(path, f"grades.{k}", f"must be one of {', '.join(GRADES)}, got {v!r}")
            grades[k] = v
    notes: Dict[str, str] = {}
    if "notes" in data:
        raw = _table(path, "notes", data["notes"])
        for k, v in raw.items():
            if k not in valid_keys:
                raise _err(path, f"notes.{k}", "names no energy.* or constraints.* field")
            notes[k] = _string(path, f"notes.{k}", v)
    return Target(name, title, kind, grade, sources, energy, constraints, grades, notes, process, note, path)


def load_target(path: str | Path) -> Target:
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise SnnexportError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise SnnexportError(f"{path}: not valid TOML ({str(e).splitlines()[0]})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SnnexportError(f"{path}: unreadable ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    except RecursionError:  # tomllib recurses per nesting level: '[[[[...' 100k deep
        raise SnnexportError(f"{path}: not valid TOML (nested too deeply)") from None
    with reading(path, "invalid target"):
        return parse_target(data, path)


# ----------------------------------------------------------------------------- discovery

# A wheel ships the repository's targets/ as package data snnexport/builtin_targets
# (pyproject package-dir); a source checkout reads targets/ beside the package.
INSTALLED_TARGETS = "builtin_targets"


def builtin_dir() -> Path:
    here = Path(__file__).resolve().parent
    installed = here / INSTALLED_TARGETS
    if installed.is_dir():
        return installed
    return here.parent / "targets"


def target_dirs(extra: Sequence[str | Path] = ()) -> List[Path]:
    dirs = [builtin_dir()]
    env = os.environ.get("SNNEXPORT_TARGETS", "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    dirs += [Path(p) for p in extra]
    out: List[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def load_targets(extra_dirs: Sequence[str | Path] = ()) -> Dict[str, Target]:
    """Every target file, validated; sorted by name. A malformed file is an error (never skipped)."""
    found: Dict[str, Target] = {}
    for i, d in enumerate(target_dirs(extra_dirs)):
        if not d.exists():
            if i == 0:
                continue  # an installed package without the checkout's targets/
            raise SnnexportError(f"{d}: targets folder does not exist")
        if not d.is_dir():
            raise SnnexportError(f"{d}: is not a folder of target .toml files")
        for p in sorted(d.glob("*.toml")):
            t = load_target(p)
            if t.name in found:
                raise SnnexportError(f"{p}: target name {t.name!r} is already defined by {found[t.name].path}")
            found[t.name] = t
    return dict(sorted(found.items()))


def select_targets(all_targets: Dict[str, Target], names: Optional[str]) -> List[Target]:
    if not names:
        return list(all_targets.values())
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in all_targets]
    if unknown:
        raise SnnexportError(f"--targets: unknown target(s) {', '.join(unknown)} (known: {', '.join(all_targets)})")
    return [all_targets[n] for n in dict.fromkeys(wanted)]
