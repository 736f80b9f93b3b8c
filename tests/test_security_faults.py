"""Faults, exit codes, JSON validity and terminal safety (issue 12, items 1-4).

Every case is generated at run time. A fault must give exit 2 with one ``error:`` line naming
the path, and leave no file behind, hidden temporary files included.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from snnexport.errors import SnnexportError, markup_safe, reading, terminal_safe
from snnexport.extension import KEY, GraphExt, NeuronExt, set_node_ext
from snnexport.graph import write_graph
from tests.helpers import run_cli, save_sew_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(code, err, *names):
    assert code == 2, f"exit {code}: {err}"
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in names:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def strict_json(text):
    """json.loads that rejects NaN/Infinity (as strict parsers do)."""
    def bad(token):
        raise AssertionError(f"invalid JSON token {token}")
    return json.loads(text, parse_constant=bad)


def tiny_graph(weight=1.0, names=("input", "a", "lif", "output"), default_steps=8):
    s = np.ones(3)
    lif = nir.LIF(tau=s * 2, r=s, v_leak=s * 0, v_threshold=s, v_reset=s * 0)
    set_node_ext(lif, **NeuronExt("beta", {"beta": s * 0.5, "gain": s}).to_meta())
    i, a, n, o = names
    nodes = {i: nir.Input(input_type={"input": np.array([3])}), a: nir.Affine(weight=np.eye(3) * weight, bias=np.zeros(3)),
             n: lif, o: nir.Output(output_type={"output": np.array([3])})}
    meta = GraphExt(input_shape=(3,), default_steps=default_steps).to_meta()
    return nir.NIRGraph(nodes=nodes, edges=[(i, a), (a, n), (n, o)], metadata={KEY: meta})


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    ckpt = save_sew_checkpoint(d / "sew.pt", steps=4, bn_var=None)
    g = d / "tiny.nir"
    write_graph(tiny_graph(), g)
    return d, ckpt, g


def listing(folder: Path):
    return sorted(p.name for p in folder.iterdir())


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); the monkeypatched variants cover this")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


# ----------------------------------------------------------------------------- 1. atomic writes

def test_output_is_a_directory(files, capsys, tmp_path):
    d, ckpt, g = files
    (tmp_path / "out.nir").mkdir()
    code, _, err = run_cli(["convert", g, "-o", tmp_path / "out.nir"], capsys)
    one_line_error(code, err, tmp_path / "out.nir", "directory")
    assert listing(tmp_path) == ["out.nir"] and listing(tmp_path / "out.nir") == []


def test_missing_output_folder(files, capsys, tmp_path):
    d, ckpt, g = files
    out = tmp_path / "no" / "such" / "x.nir"
    code, _, err = run_cli(["convert", g, "-o", out], capsys)
    one_line_error(code, err, out, "does not exist")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("err_no", [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT])
def test_write_fault_monkeypatched(files, capsys, tmp_path, monkeypatch, err_no):
    d, ckpt, g = files
    real_write = os.write

    def failing_write(fd, data):
        if fd > 2:
            raise OSError(err_no, os.strerror(err_no))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    out = tmp_path / "x.nir"
    code, _, err = run_cli(["convert", g, "-o", out], capsys)
    monkeypatch.undo()
    one_line_error(code, err, out, os.strerror(err_no))
    assert listing(tmp_path) == []


def test_checkpoint_save_full_disk(tmp_path, monkeypatch):
    import snnexport

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(SnnexportError, match="No space left on device"):
        snnexport.save(torch.nn.Linear(2, 2), tmp_path / "m.pt", arch="torch.nn:Linear",
                       kwargs={"in_features": 2, "out_features": 2})
    monkeypatch.undo()
    assert listing(tmp_path) == []


def test_unwritable_folder_monkeypatched(files, capsys, tmp_path, monkeypatch):
    """Root ignores permission bits, so a read-only folder is simulated where mkstemp fails."""
    import tempfile

    d, ckpt, g = files

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, _, err = run_cli(["report", g, "--targets", "loihi", "--steps", "2", "--json", "-o", tmp_path / "r.json"], capsys)
    monkeypatch.undo()
    one_line_error(code, err, tmp_path / "r.json", "Permission denied")
    assert listing(tmp_path) == []


def test_full_disk_tmpfs(files, capsys, tmp_path):
    d, ckpt, g = files
    with tmpfs(tmp_path / "small", "size=64k") as mnt:
        with contextlib.suppress(OSError), open(mnt / "filler", "wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        for cmd, out in ((["convert", ckpt], "x.nir"), (["export-onnx", g], "x.onnx"),
                         (["report", g, "--targets", "loihi", "--steps", "2", "--json"], "r.json")):
            code, _, err = run_cli([*cmd, "-o", mnt / out], capsys)
            one_line_error(code, err, mnt / out, "No space left on device")
            assert listing(mnt) == ["filler"]


def test_read_only_folder_tmpfs(files, capsys, tmp_path):
    d, ckpt, g = files
    with tmpfs(tmp_path / "ro", "ro,size=64k") as mnt:
        code, _, err = run_cli(["convert", g, "-o", mnt / "x.nir"], capsys)
        one_line_error(code, err, mnt / "x.nir", "Read-only file system")
        assert listing(mnt) == []


def test_save_spikes_onto_a_file(files, capsys, tmp_path):
    d, ckpt, g = files
    target = tmp_path / "spikes"
    target.write_text("keep")
    code, _, err = run_cli(["verify", g, "--sims", "reference", "--save-spikes", target], capsys)
    one_line_error(code, err, target)
    assert target.read_text() == "keep"


def test_sigterm_mid_write_leaves_no_temp_file(files, tmp_path):
    """Killed while the output is being written: exit 143 and no hidden temp file."""
    d, ckpt, g = files
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, SNNEXPORT_TEST_SLOW_WRITE="120", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "snnexport", "convert", str(g), "-o", str(out_dir / "x.nir")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not listing(out_dir):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the write never started"
            time.sleep(0.05)
        assert all(n.startswith(".x.nir.") for n in listing(out_dir)), listing(out_dir)  # mid-write
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, (proc.returncode, proc.stderr.read(), listing(out_dir))
    assert listing(out_dir) == []


# ----------------------------------------------------------------------------- 2. exit 2, never 3

CHECKPOINT_MUTATIONS = {
    "info is a string": lambda p: p.__setitem__("info", "x"),
    "info is a list": lambda p: p.__setitem__("info", [1]),
    "input_shape is text": lambda p: p["info"].__setitem__("input_shape", "abc"),
    "input_shape floats": lambda p: p["info"].__setitem__("input_shape", [1.5, 2]),
    "input_shape negative": lambda p: p["info"].__setitem__("input_shape", [-2, 6, 5]),
    "input_shape nested": lambda p: p["info"].__setitem__("input_shape", [[2], 6, 5]),
    "dt is text": lambda p: p["info"].__setitem__("dt", "x"),
    "dt is a list": lambda p: p["info"].__setitem__("dt", [1]),
    "steps is text": lambda p: p["info"].__setitem__("steps", "many"),
    "kwargs is a list": lambda p: p.__setitem__("kwargs", [1]),
    "kwargs is text": lambda p: p.__setitem__("kwargs", "theta"),
    "kwarg of wrong type": lambda p: p["kwargs"].__setitem__("theta", "hot"),
    "state_dict is a list": lambda p: p.__setitem__("state_dict", [1]),
    "state_dict is text": lambda p: p.__setitem__("state_dict", "x"),
    "state_dict entry not a tensor": lambda p: p["state_dict"].__setitem__(next(iter(p["state_dict"])), 1),
}


@pytest.mark.parametrize("mutation", list(CHECKPOINT_MUTATIONS))
def test_malformed_checkpoint_types(files, capsys, tmp_path, mutation):
    d, ckpt, g = files
    payload = copy.deepcopy(torch.load(ckpt, weights_only=True))
    CHECKPOINT_MUTATIONS[mutation](payload)
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    code, _, err = run_cli(["convert", bad, "-o", tmp_path / "out.nir"], capsys)
    one_line_error(code, err, bad)
    assert listing(tmp_path) == ["bad.pt"]


@pytest.mark.parametrize("field,value", [("dt", "abc"), ("input_shape", "x")])
def test_malformed_graph_metadata(capsys, tmp_path, field, value):
    g = tiny_graph()
    g.metadata[KEY][field] = value
    p = tmp_path / "bad.nir"
    nir.write(str(p), g)  # bypasses write_graph's checks, as a hostile file would
    code, _, err = run_cli(["inspect", p], capsys)
    one_line_error(code, err, p)


def test_deep_toml_target(files, capsys, tmp_path):
    d, ckpt, g = files
    tdir = tmp_path / "targets"
    tdir.mkdir()
    deep = tdir / "deep.toml"
    deep.write_text("x = " + "[" * 100_000 + "]" * 100_000)
    code, _, err = run_cli(["targets", "--targets-dir", tdir], capsys)
    one_line_error(code, err, deep)
    code, _, err = run_cli(["report", g, "--targets-dir", tdir, "--steps", "2"], capsys)
    one_line_error(code, err, deep)


@pytest.mark.parametrize("value", ["inf", "nan", "0.5", "-1", "0", "-4G", "1e9", "0K", "lots"])
def test_bad_max_memory(files, capsys, value):
    d, ckpt, g = files
    code, _, err = run_cli(["verify", g, "--sims", "reference", "--max-memory", value], capsys)
    one_line_error(code, err, "--max-memory")


def test_max_memory_accepts_real_budgets():
    from snnexport.resources import parse_size

    assert parse_size("512M") == 512 << 20
    assert parse_size("1.5G") == 3 << 29
    assert parse_size("4GiB") == 4 << 30
    assert parse_size("2097152") == 2 << 20
    assert parse_size("1K") == 1024  # tiny but real: refused later by the guard, never "no guard"


@pytest.mark.parametrize("command", ["verify", "report", "export-onnx"])
@pytest.mark.parametrize("option,value", [("--steps", "0"), ("--steps", "-3"), ("--batch", "0"), ("--batch", "-1")])
def test_nonpositive_steps_and_batch(files, capsys, tmp_path, command, option, value):
    d, ckpt, g = files
    code, _, err = run_cli([command, g, option, value, *(["-o", tmp_path / "x.onnx"] if command == "export-onnx" else [])], capsys)
    one_line_error(code, err, option)
    assert listing(tmp_path) == []


def test_onnx_unroll_cap(capsys, tmp_path):
    p = tmp_path / "huge_steps.nir"
    write_graph(tiny_graph(default_steps=10**9), p)
    t0 = time.monotonic()
    code, _, err = run_cli(["export-onnx", p, "-o", tmp_path / "x.onnx"], capsys)
    line = one_line_error(code, err, "--loop")
    assert "1000000000" in line and time.monotonic() - t0 < 60
    assert listing(tmp_path) == ["huge_steps.nir"]


def test_onnx_default_steps_not_a_number(capsys, tmp_path):
    g = tiny_graph()
    g.metadata[KEY]["default_steps"] = "ten"
    p = tmp_path / "g.nir"
    nir.write(str(p), g)
    code, _, err = run_cli(["export-onnx", p, "-o", tmp_path / "x.onnx"], capsys)
    one_line_error(code, err, "default_steps")  # refused when the graph is read
    assert listing(tmp_path) == ["g.nir"]


def test_reading_context_manager(tmp_path):
    p = tmp_path / "f.bin"
    for exc, expect in ((KeyError("dt"), "missing key 'dt'"), (TypeError("bad type"), "TypeError: bad type"),
                        (OSError(errno.EIO, "Input/output error"), "Input/output error"),
                        (RecursionError("deep"), "nested too deeply")):
        with pytest.raises(SnnexportError) as e:
            with reading(p):
                raise exc
        assert str(p) in str(e.value) and expect in str(e.value)
    with pytest.raises(SnnexportError, match="kept"):  # passes through unchanged
        with reading(p):
            raise SnnexportError("kept")
    with pytest.raises(ZeroDivisionError):  # a bug is not a reader fault
        with reading(p):
            1 / 0


def test_os_error_with_file_name_is_exit_2(capsys, tmp_path, monkeypatch):
    """An OSError naming a file that escapes every reader still gives one line and exit 2."""
    import snnexport.inspect_graph as ig

    def broken(_graph):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(tmp_path / "gone.h5"))

    p = tmp_path / "ok.nir"
    write_graph(tiny_graph(), p)
    monkeypatch.setattr(ig, "describe", broken)  # inside reading(p): names both files
    code, _, err = run_cli(["inspect", p], capsys)
    one_line_error(code, err, p, "gone.h5", "No such file")
    monkeypatch.undo()
    monkeypatch.setattr(ig, "print_table", broken)  # outside any reader: the top-level handler
    code, _, err = run_cli(["inspect", p], capsys)
    one_line_error(code, err, "gone.h5", "No such file")


# ----------------------------------------------------------------------------- 3. JSON never NaN

def test_json_sanitizer():
    from snnexport import jsonout

    text = jsonout.dumps({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float64("-inf"), "d": 2.5}, sort_keys=True)
    data = strict_json(text)
    assert data["a"] is None and data["b"] == [1.0, None] and data["c"] is None and data["d"] == 2.5
    assert len(data["json_notes"]) == 3 and any("$.b[1] was Infinity" in n for n in data["json_notes"])
    assert strict_json(jsonout.dumps([float("nan")])) == [None]


def test_verify_and_report_json_with_overflowing_readout(capsys, tmp_path):
    """Finite weights of 1e308 overflow to inf readouts; |inf - inf| is NaN: JSON must stay valid."""
    p = tmp_path / "big.nir"
    g = tiny_graph(weight=1e308)
    g.nodes["a2"] = nir.Affine(weight=np.eye(3) * 1e308, bias=np.zeros(3))
    g.edges = [("input", "a"), ("a", "a2"), ("a2", "lif"), ("lif", "output")]
    write_graph(g, p)
    for cmd in (["verify", p, "--sims", "reference,snntorch", "--json", "--no-upstream"],
                ["report", p, "--targets", "loihi", "--json", "--steps", "3"]):
        code, out, err = run_cli(cmd, capsys)
        if code == 2:  # refused at read time as non-finite: also clean
            one_line_error(code, err, p)
            continue
        assert code in (0, 1), err
        strict_json(out)
        assert "NaN" not in out and "Infinity" not in out.replace("was Infinity", "").replace("was -Infinity", "")


# ----------------------------------------------------------------------------- 4. terminal safety

EVIL = "\x1b[2J\x1b[31mevil[/red][bold]\u202e\x07"
EVIL_NODE = EVIL.replace("/", "")  # '/' would nest HDF5 groups


def test_terminal_safe_and_markup_safe():
    s = terminal_safe(EVIL)
    assert "\x1b" not in s and "\x07" not in s and "\u202e" not in s
    assert "\\x1b[2J" in s and "\\u202e" in s and "\\x07" in s
    assert terminal_safe("plain name é") == "plain name é"
    from rich.console import Console

    con = Console(record=True, width=200, color_system=None)
    con.print(markup_safe(EVIL))
    shown = con.export_text()
    assert "[bold]" in shown and "[/red]" in shown and "\x1b" not in shown


def test_inspect_escapes_node_names(capsys, tmp_path):
    p = tmp_path / "evil.nir"
    write_graph(tiny_graph(names=("input", "a" + EVIL_NODE, "lif[bold]", "output")), p)
    code, out, err = run_cli(["inspect", p], capsys)
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b" in out and "lif[bold]" in out


def test_verify_and_report_escape_node_names(capsys, tmp_path):
    p = tmp_path / "evil.nir"
    write_graph(tiny_graph(names=("input", "a" + EVIL_NODE, "lif\x1b[5m[blink]", "output")), p)
    for cmd in (["verify", p, "--sims", "reference", "--steps", "3"], ["report", p, "--targets", "loihi", "--steps", "3"]):
        code, out, err = run_cli(cmd, capsys)
        assert code == 0, err
        assert "\x1b" not in out + err and "\x07" not in out + err
        assert "[blink]" in out


def test_error_messages_escaped(capsys, tmp_path):
    p = tmp_path / f"missing{EVIL}.nir"
    code, _, err = run_cli(["inspect", p], capsys)
    line = one_line_error(code, err)
    assert "\x1b" not in err and "\\x1b[2J" in line
