"""Hostile graphs and arrays, generated at run time: every reader refuses them before reading
data (exit 2, one line naming the file, nothing leaked, nothing written, memory bounded), and
unusual but valid inputs (big-endian, odd suffixes, odd node names) work end to end."""

import json
import os
import signal
import sys
import zipfile
import zlib
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from snnexport.extension import KEY, GraphExt, NeuronExt, set_node_ext
from snnexport.graph import write_graph
from tests.helpers import cli_peak_rss_kib, run_cli

ROOT = Path(__file__).resolve().parents[1]
SECRET = b"TOP-SECRET-7f3a9c-" * 4 + b"\x01\x02\x03\x04\x05\x06\x07\x08"  # 80 bytes, >= 72 needed
assert len(SECRET) >= 72


def small_graph(names=("a", "lif"), weight=None, tau=None, graph_meta=None, node_meta=None) -> nir.NIRGraph:
    a, l = names
    s = np.ones(3)
    lif = nir.LIF(tau=s * 2 if tau is None else tau, r=s, v_leak=s * 0, v_threshold=s, v_reset=s * 0)
    set_node_ext(lif, **NeuronExt("beta", {"beta": s * 0.5, "gain": s}).to_meta())
    if node_meta:
        set_node_ext(lif, **node_meta)
    w = np.eye(3) * 1.5 if weight is None else weight
    nodes = {"input": nir.Input(input_type={"input": np.array([3])}), a: nir.Affine(weight=w, bias=np.ones(3) * 0.3),
             l: lif, "output": nir.Output(output_type={"output": np.array([3])})}
    meta = GraphExt(input_shape=(3,)).to_meta()
    meta.update(graph_meta or {})
    return nir.NIRGraph(nodes=nodes, edges=[("input", a), (a, l), (l, "output")], metadata={KEY: meta})


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("secure")
    (d / "secret.bin").write_bytes(SECRET)
    with h5py.File(d / "secret.h5", "w") as f:
        f.create_dataset("w", data=np.frombuffer(SECRET[:72], dtype=np.float64).reshape(3, 3))
    write_graph(small_graph(), d / "valid.nir")
    return d


def _replace_weight(path: Path, make) -> None:
    with h5py.File(path, "r+") as f:
        del f["node/nodes/a/weight"]
        make(f["node/nodes/a"], "weight")


def hostile_nir(d: Path, case: str) -> Path:
    p = d / f"{case}.nir"
    p.write_bytes((d / "valid.nir").read_bytes())
    secret_bin, secret_h5 = str(d / "secret.bin"), str(d / "secret.h5")
    if case == "external_storage":
        _replace_weight(p, lambda g, k: g.create_dataset(k, shape=(3, 3), dtype="f8", external=[(secret_bin, 0, 72)]))
    elif case == "external_link":
        _replace_weight(p, lambda g, k: g.__setitem__(k, h5py.ExternalLink(secret_h5, "/w")))
    elif case == "soft_link":
        _replace_weight(p, lambda g, k: g.__setitem__(k, h5py.SoftLink("/node/nodes/lif/tau")))
    elif case == "virtual":
        def make(g, k):
            layout = h5py.VirtualLayout(shape=(3, 3), dtype="f8")
            layout[:] = h5py.VirtualSource(secret_h5, "w", shape=(3, 3))
            g.create_virtual_dataset(k, layout)
        _replace_weight(p, make)
    elif case == "fill_value_bomb":  # 56 KB of file declaring 12 GiB of 1.0
        _replace_weight(p, lambda g, k: g.create_dataset(k, shape=(40_000, 40_000), dtype="f8", chunks=(1000, 1000),
                                                         fillvalue=1.0))
    elif case == "huge_shape":
        _replace_weight(p, lambda g, k: g.create_dataset(k, shape=(10**7, 10**7), dtype="f8"))
    elif case == "gzip_bomb":  # 1 GiB of zeros, every chunk the same precompressed block
        chunk = (1024, 1024)
        blob = zlib.compress(np.zeros(chunk).tobytes(), 9)

        def make(g, k):
            ds = g.create_dataset(k, shape=(8 * 1024, 16 * 1024), dtype="f8", chunks=chunk, compression="gzip")
            for i in range(8):
                for j in range(16):
                    ds.id.write_direct_chunk((i * 1024, j * 1024), blob)
        _replace_weight(p, make)
    elif case == "vlen_numbers":
        _replace_weight(p, lambda g, k: g.create_dataset(k, shape=(3,), dtype=h5py.vlen_dtype(np.float64)))
    elif case == "compound":
        _replace_weight(p, lambda g, k: g.create_dataset(k, shape=(3,), dtype=np.dtype([("a", "f8"), ("b", "i4")])))
    elif case == "deep_nesting":
        with h5py.File(p, "r+") as f:
            g = f["node/nodes/a"].create_group("metadata")
            for i in range(70):
                g = g.create_group(f"d{i}")
    elif case == "hard_link_alias":
        _replace_weight(p, lambda g, k: g.__setitem__(k, g.file["node/nodes/lif/tau"]))
    else:
        raise AssertionError(case)
    return p


HOSTILE_NIR = {
    "external_storage": "external file", "external_link": "external link", "soft_link": "soft link",
    "virtual": "virtual dataset", "fill_value_bomb": "never-written", "huge_shape": "never-written",
    "gzip_bomb": "memory budget", "vlen_numbers": "variable-length", "compound": "dtype",
    "hard_link_alias": "second link", "deep_nesting": "nested deeper",
}

WITHIN_DEFAULT_BUDGET = {"gzip_bomb"}  # refused for its size only under --max-memory 512M


def commands(path: Path, out: Path):
    return {
        "inspect": ["inspect", path],
        "convert": ["convert", path, "-o", out / "out.nir"],
        "verify": ["verify", path, "--max-memory", "512M"],
        "report": ["report", path, "-o", out / "report.txt"],
        "export-onnx": ["export-onnx", path, "-o", out / "out.onnx"],
    }


def assert_refused(code, out, err, path, outdir, must_name=()):
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert code == 2, f"exit {code}: {err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert str(path) in lines[0], lines[0]
    for word in must_name:
        assert word in lines[0], lines[0]
    for text in (out, err):
        assert SECRET[:18].decode() not in text
    assert list(outdir.iterdir()) == [], list(outdir.iterdir())


@pytest.mark.parametrize("case", sorted(HOSTILE_NIR))
def test_hostile_nir_refused_by_every_command(base, tmp_path, capsys, case):
    path = hostile_nir(base, case)
    outdir = tmp_path / "out"
    outdir.mkdir()
    for name, args in commands(path, outdir).items():
        if case in WITHIN_DEFAULT_BUDGET and name != "verify":
            continue  # a gzip-compressed 1 GiB is legal under the default budget (half the RAM)
        code, out, err = run_cli(args, capsys)
        assert_refused(code, out, err, path, outdir, must_name=(HOSTILE_NIR[case],))


def test_external_storage_really_points_at_the_secret(base, tmp_path):
    """The hostile file is real: plain h5py (without our checks) reads the secret bytes through it."""
    path = hostile_nir(base, "external_storage")
    cwd = os.getcwd()
    os.chdir(base)
    try:
        with h5py.File(path, "r") as f:
            assert f["node/nodes/a/weight"][()].tobytes() == SECRET[:72]
    finally:
        os.chdir(cwd)


def test_shd_reader_has_the_same_checks(base, tmp_path):
    from models.data import shd

    path = tmp_path / "shd.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        g.create_dataset("times", (1,), dtype=h5py.vlen_dtype(np.float32))[0] = np.array([0.1], np.float32)
        g.create_dataset("units", (1,), dtype=h5py.vlen_dtype(np.uint16))[0] = np.array([3], np.uint16)
        f.create_dataset("labels", shape=(9,), dtype="f8", external=[(str(base / "secret.bin"), 0, 72)])
    with pytest.raises(ValueError, match="external file"):
        shd.load_shd_hdf5(path, steps=4, channels=2)
    with h5py.File(path, "r+") as f:
        del f["labels"]
        f.create_dataset("labels", data=np.array([1], np.uint16))
        f["spikes"].create_dataset("extra", shape=(10**6, 10**6), dtype="f8", chunks=(1000, 1000), fillvalue=2.0)
    with pytest.raises(ValueError, match="never-written"):
        shd.load_shd_hdf5(path, steps=4, channels=2)
    with h5py.File(path, "r+") as f:
        del f["spikes/extra"]
    x, y = shd.load_shd_hdf5(path, steps=4, channels=2)
    assert x.sum() == 1 and list(y) == [1]
    with pytest.raises(ValueError, match="memory budget"):
        shd.load_shd_hdf5(path, steps=10**6, channels=1000, budget=64 << 20)


def test_nonregular_files_refused_without_hanging(base, tmp_path, capsys):
    outdir = tmp_path / "out"
    outdir.mkdir()
    fifo_nir, fifo_npy = tmp_path / "pipe.nir", tmp_path / "pipe.npy"
    os.mkfifo(fifo_nir)
    os.mkfifo(fifo_npy)

    def hang(*_):
        raise TimeoutError("reader blocked on a FIFO")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        for args in commands(fifo_nir, outdir).values():
            code, out, err = run_cli(args, capsys)
            assert_refused(code, out, err, fifo_nir, outdir, must_name=("not a regular file",))
        for cmd in ("verify", "report"):
            code, out, err = run_cli([cmd, base / "valid.nir", "--input", fifo_npy], capsys)
            assert_refused(code, out, err, fifo_npy, outdir, must_name=("not a regular file",))
        code, out, err = run_cli(["inspect", "/dev/zero"], capsys)
        assert_refused(code, out, err, "/dev/zero", outdir)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ----- graph content ------------------------------------------------------------------------------

BAD_CONTENT = {
    "nan_weight": (dict(weight=np.array([[1, 0, 0], [0, np.nan, 0], [0, 0, 1.0]])), ("'a'", "weight", "NaN")),
    "inf_tau": (dict(tau=np.array([2.0, np.inf, 2.0])), ("'lif'", "tau", "infinite")),
    "nan_param": (dict(node_meta={"params": {"beta": np.array([0.5, np.nan, 0.5]), "gain": np.ones(3)}}),
                  ("'lif'", "params")),
    "dt_text": (dict(graph_meta={"dt": "fast"}), ("graph", "snnexport.dt", "number")),
    "steps_float": (dict(graph_meta={"default_steps": 2.5}), ("graph", "default_steps", "integer")),
    "shape_text": (dict(graph_meta={"input_shape": "3"}), ("graph", "input_shape")),
    "dynamics_number": (dict(node_meta={"dynamics": 3}), ("'lif'", "dynamics", "text")),
    "params_text": (dict(node_meta={"params": "beta"}), ("'lif'", "params")),
    "reduction_number": (dict(node_meta={"time_reduction": 1.0}), ("'lif'", "time_reduction")),
}


@pytest.mark.parametrize("case", sorted(BAD_CONTENT))
def test_bad_values_and_metadata_types_exit_2_naming_node_and_field(tmp_path, capsys, case):
    kwargs, words = BAD_CONTENT[case]
    path = tmp_path / f"{case}.nir"
    write_graph(small_graph(**kwargs), path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    for name, args in commands(path, outdir).items():
        code, out, err = run_cli(args, capsys)
        assert_refused(code, out, err, path, outdir, must_name=words)
        assert "NaN" not in out and "Infinity" not in out


@pytest.mark.parametrize("names", [("forward", "__class__"), ("__init__", "a.b"), ("training", "_modules"),
                                   ("a_b", "a.b")])
def test_node_names_that_are_python_attributes_work_end_to_end(tmp_path, capsys, names):
    path = tmp_path / "odd.nir"
    write_graph(small_graph(names=names), path)
    code, out, err = run_cli(["inspect", "--json", path], capsys)
    assert code == 0, err
    assert {n["name"] for n in json.loads(out)["nodes"]} == {"input", "output", *names}
    code, out, err = run_cli(["convert", path, "-o", tmp_path / "copy.nir"], capsys)
    assert code == 0, err
    assert set(nir.read(str(tmp_path / "copy.nir")).nodes) == {"input", "output", *names}
    code, out, err = run_cli(["verify", path, "--json", "--sims", "reference,snntorch,norse,onnxruntime"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert "identical" in out
    assert names[1] in out  # spikes reported under the user's node name
    code, out, err = run_cli(["report", path, "-o", tmp_path / "r.txt"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["export-onnx", path, "-o", tmp_path / "m.onnx", "--verify"], capsys)
    assert code == 0, err
    assert report


def test_upstream_importers_get_safe_aliases_and_run(tmp_path):
    """snnTorch's and Norse's importers make node names into torch attributes; they get aliases
    and their spikes come back under the user's names (they differ from the reference for
    upstream reasons, the same as with plain names)."""
    import torch

    from snnexport.simulators.upstream_norse import run_norse_upstream
    from snnexport.simulators.upstream_snntorch import run_upstream

    x = (torch.rand((6, 2, 3), generator=torch.Generator().manual_seed(1)) < 0.5).double() * 3
    for run in (run_upstream, run_norse_upstream):
        odd = run(small_graph(names=("forward", "__class__")), x, torch.float64)
        plain = run(small_graph(names=("aff", "lif")), x, torch.float64)
        assert set(odd.spikes) == {"__class__"} and set(plain.spikes) == {"lif"}
        np.testing.assert_array_equal(odd.spikes["__class__"], plain.spikes["lif"])


# ----- arrays -------------------------------------------------------------------------------------

def _npy_header(f, shape, dtype="<f8"):
    from numpy.lib import format as npf

    npf.write_array_header_1_0(f, {"descr": dtype, "fortran_order": False, "shape": shape})


def hostile_array(d: Path, case: str) -> Path:
    if case == "npy_huge_header":  # header claims 8 TB, file holds 80 bytes
        p = d / "huge.npy"
        with open(p, "wb") as f:
            _npy_header(f, (10**6, 10**6))
            f.write(b"\0" * 80)
    elif case == "npy_sparse_over_budget":  # every byte present (sparse file), 1 GiB > 512M budget
        p = d / "sparse.npy"
        with open(p, "wb") as f:
            _npy_header(f, (2**24, 2, 4))
            f.truncate(f.tell() + 2**24 * 8 * 8)
    elif case == "npz_bomb":  # 1 GiB declared by a ~1 MB archive (deflate's ratio limit, ~1030:1)
        p = d / "bomb.npz"
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            with zf.open("x.npy", "w", force_zip64=True) as m:
                _npy_header(m, (2**24, 2, 4))
                block = bytes(1 << 24)
                for _ in range(64):
                    m.write(block)
    elif case == "object_npy":
        p = d / "obj.npy"
        np.save(p, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    elif case == "not_an_array":
        p = d / "junk.npy"
        p.write_bytes(b"hello world, not numpy")
    elif case == "npz_forged_size":  # central directory claims 4 GiB for a tiny member
        p = d / "forged.npz"
        np.savez_compressed(p, x=np.zeros((4, 2, 3)))
        raw = bytearray(p.read_bytes())
        cd = raw.rfind(b"PK\x01\x02")
        raw[cd + 24:cd + 28] = (2**32 - 1).to_bytes(4, "little")
        p.write_bytes(bytes(raw))
    else:
        raise AssertionError(case)
    return p


HOSTILE_ARRAYS = {"npy_huge_header": "truncated or forged", "npy_sparse_over_budget": "memory budget",
                  "npz_bomb": "memory budget", "object_npy": "object", "not_an_array": "not a .npy",
                  "npz_forged_size": "x.npy"}


@pytest.mark.parametrize("case", sorted(HOSTILE_ARRAYS))
def test_hostile_arrays_refused_before_allocation(base, tmp_path, capsys, case):
    path = hostile_array(tmp_path, case)
    outdir = tmp_path / "out"
    outdir.mkdir()
    code, out, err = run_cli(["verify", base / "valid.nir", "--input", path, "--max-memory", "512M"], capsys)
    assert_refused(code, out, err, path, outdir, must_name=(HOSTILE_ARRAYS[case],))
    # without --max-memory the big ones are refused for their declared shape, still before reading
    code, out, err = run_cli(["report", base / "valid.nir", "--input", path, "-o", outdir / "r.txt"], capsys)
    assert_refused(code, out, err, path, outdir)


@pytest.mark.parametrize("form", ["big_endian", "upper_npz", "npy_that_is_zip", "fortran"])
def test_unusual_but_valid_arrays_are_read(base, tmp_path, capsys, form):
    from snnexport.inputs import load_array

    x = (np.random.default_rng(0).random((5, 2, 3)) < 0.4).astype(np.float64)
    if form == "big_endian":
        p = tmp_path / "x.npy"
        np.save(p, x.astype(">f8"))
    elif form == "upper_npz":
        p = tmp_path / "X.NPZ"
        with open(p, "wb") as f:
            np.savez(f, x=x)
    elif form == "npy_that_is_zip":
        p = tmp_path / "x.npy"
        with open(p, "wb") as f:
            np.savez_compressed(f, x=x)
    else:
        p = tmp_path / "x.npy"
        np.save(p, np.asfortranarray(x))
    arr = load_array(p)
    assert arr.dtype == np.float64 and arr.dtype.isnative
    np.testing.assert_array_equal(arr, x)
    args = ["verify", base / "valid.nir", "--sims", "reference,snntorch", "--json", "--input"]
    code, out, err = run_cli(args + [p], capsys)
    assert code == 0, err
    ref = tmp_path / "ref.npy"
    np.save(ref, x)
    code2, out2, err2 = run_cli(args + [ref], capsys)
    assert code2 == 0, err2
    got, want = json.loads(out), json.loads(out2)
    assert got["participants"][0]["total_spikes"] > 0
    assert got == want


# ----- peak memory of the bombs -------------------------------------------------------------------

def _peak_rss_kib(args, cwd) -> tuple:
    """(exit code, stderr without the report line, peak RSS in KiB) of a child process."""
    code, err, peak = cli_peak_rss_kib(args, cwd)
    assert peak is not None, err
    return code, err, peak


def test_peak_rss_of_bombs_stays_within_budget(base, tmp_path):
    budget = 512 << 20
    code, err, baseline = _peak_rss_kib(["verify", base / "valid.nir", "--sims", "reference", "--steps", "2",
                                         "--batch", "1", "--max-memory", "512M"], ROOT)
    assert code == 0, err
    peaks = {}
    (tmp_path / "valid.nir").write_bytes((base / "valid.nir").read_bytes())
    for case in ("fill_value_bomb", "gzip_bomb"):
        path = hostile_nir(tmp_path, case)
        code, err, peaks[case] = _peak_rss_kib(["verify", path, "--max-memory", "512M"], ROOT)
        assert code == 2 and str(path) in err, err
    for case in ("npz_bomb",):
        path = hostile_array(tmp_path, case)
        code, err, peaks[case] = _peak_rss_kib(["verify", base / "valid.nir", "--input", path, "--max-memory", "512M"],
                                               ROOT)
        assert code == 2 and str(path) in err, err
    print(f"peak RSS KiB: baseline {baseline}, " + ", ".join(f"{k} {v}" for k, v in peaks.items()))
    for case, kib in peaks.items():
        assert kib * 1024 < baseline * 1024 + budget, (case, kib, baseline)
        # refused before reading: no bomb costs more than a few MiB above the baseline run
        assert kib < baseline + 64 * 1024, (case, kib, baseline)


# ----- big graphs -----------------------------------------------------------------------------

def test_two_thousand_node_chain_inspects(tmp_path, capsys):
    """Reading and validation are linear (benchmarks/bench_graph_reading.py has the timings);
    a 2000-node chain with recurrent loops reads, validates and inspects in one run."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_graph_reading import chain_graph
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    graph = chain_graph(2000)
    path = tmp_path / "chain.nir"
    nir.write(str(path), graph, compression=None)  # uncompressed: writing is most of this test's time
    code, out, err = run_cli(["inspect", "--json", path], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert len(info["nodes"]) == len(graph.nodes) == 2022
    assert len(info["recurrent_edges"]) == 20
    assert [n["name"] for n in info["nodes"]][:3] == ["input", "n0", "n1"]


def test_graph_checks_do_constant_passes_whatever_the_size(tmp_path, monkeypatch):
    """Op counts instead of timings: validation walks the adjacency a fixed number of times
    (not once per node or per recurrent loop), and reading a fully typed graph never runs
    nir's quadratic type inference."""
    import snnexport.graph as graph_mod

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_graph_reading import chain_graph
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    calls = {"outgoing": 0, "input_names": 0}
    for fn in list(calls):
        original = getattr(graph_mod, fn)

        def counted(*a, _fn=fn, _orig=original, **k):
            calls[_fn] += 1
            return _orig(*a, **k)
        monkeypatch.setattr(graph_mod, fn, counted)
    per_size = []
    for n in (200, 800):
        for k in calls:
            calls[k] = 0
        graph_mod.validate_graph(chain_graph(n))
        per_size.append(dict(calls))
    assert per_size[0] == per_size[1], per_size  # 2 vs 8 recurrent loops, 4x the nodes: same passes
    assert per_size[0]["outgoing"] <= 3

    def no_inference(self):
        raise AssertionError("nir infer_types ran on a fully typed graph")

    path = tmp_path / "typed.nir"
    small = chain_graph(50)
    nir.write(str(path), small, compression=None)
    monkeypatch.setattr(nir.NIRGraph, "infer_types", no_inference)
    back = graph_mod.read_graph(path)
    assert set(back.nodes) == set(small.nodes) and sorted(back.edges) == sorted(small.edges)
    assert all(np.array_equal(back.nodes[n].output_type["output"], small.nodes[n].output_type["output"])
               for n in small.nodes)


def test_damaged_array_files_give_one_line_errors(tmp_path):
    """Truncated or bit-flipped .npy/.npz: SnnexportError (exit 2) every time, never zlib,
    tokenizer or zipfile exceptions (exit 3)."""
    import io
    import random

    from snnexport.errors import SnnexportError
    from snnexport.safe_io import load_array_file

    rng = random.Random(0)
    x = np.arange(60, dtype=np.float64).reshape(5, 4, 3)
    blobs = []
    for save in (lambda f: np.save(f, x), lambda f: np.savez_compressed(f, x=x), lambda f: np.savez(f, x=x, y=x)):
        b = io.BytesIO()
        save(b)
        blobs.append(b.getvalue())
    path = tmp_path / "damaged.npy"
    outcomes = {"refused": 0, "read": 0}
    for _ in range(400):
        raw = bytearray(rng.choice(blobs))
        if rng.random() < 0.5:
            raw = raw[:rng.randrange(len(raw))]
        else:
            for _ in range(rng.randint(1, 6)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
        path.write_bytes(bytes(raw))
        try:
            load_array_file(path, budget=1 << 30)
            outcomes["read"] += 1  # a flip inside the data or padding leaves a valid file
        except SnnexportError as e:
            assert str(path) in str(e) and "\n" not in str(e)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100, outcomes
