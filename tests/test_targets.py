"""Hardware target files: the shipped ones load with their cited numbers; malformed files fail
with one line naming the file and the field; users add targets by adding a file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snnexport.errors import SnnexportError
from snnexport.targets import GRADES, builtin_dir, load_target, load_targets, select_targets
from tests.helpers import run_cli  # noqa: E402

GOOD = """
name = "{name}"
title = "A test chip"
kind = "neuromorphic"
grade = "estimate"

[[sources]]
cite = "Nobody, 'A test chip', 2099"
where = "Table 0"

[energy]
synaptic_op_pj = 1.5
neuron_update_pj = 2.0

[constraints]
cores = 2
neurons_per_core = 8
layer_types = ["Affine"]
"""




def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------- shipped targets

def test_shipped_targets_load_with_cited_numbers():
    t = load_targets()
    required = {"loihi", "loihi2", "truenorth", "spinnaker", "spinnaker2", "speck", "xylo-audio2", "odin",
                "ann-45nm-fp32", "ann-45nm-int8", "gpu-a100-fp32"}
    assert required <= set(t)
    for target in t.values():
        assert target.grade in GRADES and target.sources and all(s.cite and s.where for s in target.sources)
    lo = t["loihi"]
    assert lo.grade == "measured silicon" and "Davies" in lo.sources[0].cite and "Table 1" in lo.sources[0].where
    assert lo.energy == {"synaptic_op_pj": 23.6, "neuron_update_active_pj": 81.0, "neuron_update_idle_pj": 52.0, "spike_pj": 1.7}
    assert lo.constraints["cores"] == 128 and lo.constraints["neurons_per_core"] == 1024
    tn = t["truenorth"]
    assert tn.energy["synaptic_op_pj"] == 26.0 and "Merolla" in tn.sources[0].cite
    assert tn.constraints["cores"] == 4096 and tn.constraints["neurons_per_core"] == 256 and tn.constraints["fan_in"] == 256
    assert t["odin"].energy["synaptic_op_pj"] == 12.7 and "Frenkel" in t["odin"].sources[0].cite
    fp32, int8 = t["ann-45nm-fp32"], t["ann-45nm-int8"]
    assert fp32.energy == {"mac_pj": 4.6, "add_pj": 0.9} and "Horowitz" in fp32.sources[0].cite
    assert int8.energy == {"mac_pj": 0.23, "add_pj": 0.03}
    # numbers we could not cite are marked, never silently passed off as measured
    assert t["loihi2"].grade == "estimate" and "estimate" in t["loihi2"].note.lower()
    assert t["spinnaker"].grade == "estimate"
    assert lo.grade_of("constraints.weight_bits") == "estimate"
    for name in ("spinnaker2", "speck", "xylo-audio2"):
        assert not t[name].costed  # no per-operation energy could be cited
        assert "not costed" in t[name].note.lower()


def test_select_targets_unknown_name():
    t = load_targets()
    assert [x.name for x in select_targets(t, "odin, loihi")] == ["odin", "loihi"]
    with pytest.raises(SnnexportError, match="unknown target.*nope"):
        select_targets(t, "loihi,nope")


# ----------------------------------------------------------------------------- validation

BAD = [
    ("missing-grade", lambda s: s.replace('grade = "estimate"\n', ""), "missing required field 'grade'"),
    ("wrong-type", lambda s: s.replace("synaptic_op_pj = 1.5", 'synaptic_op_pj = "1.5"'), "energy.synaptic_op_pj: must be a number"),
    ("negative", lambda s: s.replace("synaptic_op_pj = 1.5", "synaptic_op_pj = -1.5"), "energy.synaptic_op_pj: must not be negative"),
    ("bool-int", lambda s: s.replace("cores = 2", "cores = true"), "constraints.cores: must be an integer"),
    ("zero-cores", lambda s: s.replace("cores = 2", "cores = 0"), "constraints.cores: must be positive"),
    ("unknown-energy", lambda s: s.replace("synaptic_op_pj = 1.5", "synaptic_op_pj = 1.5\nsop = 2"), "energy.sop: unknown field"),
    ("unknown-top", lambda s: s + '\ncolour = "red"\n', "colour: unknown field"),
    ("bad-grade", lambda s: s.replace('grade = "estimate"', 'grade = "trust me"'), "grade: must be one of"),
    ("bad-kind", lambda s: s.replace('kind = "neuromorphic"', 'kind = "quantum"'), "kind: must be one of"),
    ("no-sources", lambda s: s.replace('[[sources]]\ncite = "Nobody, \'A test chip\', 2099"\nwhere = "Table 0"\n', ""),
     "missing required field 'sources'"),
    ("no-where", lambda s: s.replace('where = "Table 0"\n', ""), "sources[0].where: missing required field"),
    ("layer-types", lambda s: s.replace('layer_types = ["Affine"]', "layer_types = [1]"), "constraints.layer_types: must be a non-empty array"),
    ("half-pair", lambda s: s.replace("neuron_update_pj = 2.0", "neuron_update_active_pj = 2.0"), "energy.neuron_update_idle_pj: missing"),
    ("nan", lambda s: s.replace("synaptic_op_pj = 1.5", "synaptic_op_pj = nan"), "energy.synaptic_op_pj: must be finite"),
    ("dense-no-mac", lambda s: s.replace('kind = "neuromorphic"', 'kind = "dense"'), "energy.mac_pj: missing"),
    ("bad-toml", lambda s: s.replace("cores = 2", "cores = = 2"), "not valid TOML"),
    ("grade-unset-field", lambda s: s + '\n[grades]\n"constraints.fan_in" = "estimate"\n', "grades.constraints.fan_in: grades a field this file does not set"),
]


@pytest.mark.parametrize("label,edit,message", BAD, ids=[b[0] for b in BAD])
def test_malformed_target_one_line_error_naming_file_and_field(tmp_path, label, edit, message):
    p = write(tmp_path, "chip", edit(GOOD.format(name="chip")))
    with pytest.raises(SnnexportError) as e:
        load_target(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(p)), msg
    assert message in msg, msg


def test_name_must_match_file(tmp_path):
    p = write(tmp_path, "chip", GOOD.format(name="other"))
    with pytest.raises(SnnexportError, match=r"chip\.toml: name: must equal the file name"):
        load_target(p)


def test_duplicate_name_is_an_error(tmp_path):
    write(tmp_path, "loihi", GOOD.format(name="loihi"))
    with pytest.raises(SnnexportError, match="already defined by"):
        load_targets([tmp_path])


# ----------------------------------------------------------------------------- CLI

def test_targets_command_lists_grades(capsys):
    code, out, err = run_cli(["targets"], capsys)
    assert code == 0, err
    for name in ("loihi", "truenorth", "odin", "ann-45nm-fp32", "speck"):
        assert name in out
    for grade in ("measured silicon", "estimate", "datasheet"):
        assert grade in out
    code, out, _ = run_cli(["targets", "--json"], capsys)
    data = json.loads(out)
    assert data["loihi"]["energy"]["synaptic_op_pj"] == 23.6 and data["loihi"]["grade"] == "measured silicon"
    code, out, _ = run_cli(["targets", "--show", "loihi2"], capsys)
    assert code == 0 and "energy.synaptic_op_pj = 23.6" in out and "no Loihi 2 figure" in out


def test_user_adds_a_target_by_adding_a_file(tmp_path, capsys, monkeypatch):
    write(tmp_path, "mychip", GOOD.format(name="mychip"))
    code, out, _ = run_cli(["targets", "--targets-dir", str(tmp_path)], capsys)
    assert code == 0 and "mychip" in out
    monkeypatch.setenv("SNNEXPORT_TARGETS", str(tmp_path))
    assert "mychip" in load_targets()


def test_malformed_user_target_fails_the_command_with_one_line(tmp_path, capsys):
    write(tmp_path, "broken", GOOD.format(name="broken").replace("synaptic_op_pj = 1.5", "synaptic_op_pj = -3"))
    code, out, err = run_cli(["targets", "--targets-dir", str(tmp_path)], capsys)
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1
    assert "broken.toml: energy.synaptic_op_pj: must not be negative" in lines[0]


def test_every_shipped_file_is_strictly_valid():
    files = sorted(builtin_dir().glob("*.toml"))
    assert len(files) >= 11
    for p in files:
        assert load_target(p).name == p.stem
