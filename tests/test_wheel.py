"""A real wheel: build it, install it (non-editable) into a throwaway venv, run it from elsewhere.

The venv gets the shared venv's packages through a .pth file (nothing is downloaded) but not
its editable snnexport (.pth files inside an added path are not processed), so what runs is
the wheel. The wheel must not install a top-level ``models`` package, must ship the target
files and the zoo checkpoints, and ``targets``, ``models`` and ``report`` must work from a
folder that is not the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", "*.pyc", ".pytest_cache", "out",
                              ".whl", ".gl", "results", "benchmarks", "docs", "tests")


def _run(cmd, cwd, timeout=120, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def _source_packages() -> set:
    """Every package folder of the checkout, under the names the wheel gives them."""
    names = set()
    for top, installed in (("snnexport", "snnexport"), ("models", "snnexport.zoo_models")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            names.add(".".join((installed, *rel)))
    return names


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)  # a clean copy: no stale build/ of the checkout
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", ".", "-w", tmp / "dist"], src)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp / "dist").glob("snnexport-*.whl")
    venv = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp).stdout.strip())
    shared = Path(sysconfig.get_path("purelib"))
    (site / "zz_shared_venv.pth").write_text(f"{shared}\n")  # after the venv's own site-packages
    r = _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel], tmp)
    assert r.returncode == 0, r.stderr
    work = tmp / "elsewhere"
    work.mkdir()
    return {"wheel": wheel, "venv": venv, "py": py, "bin": venv / "bin" / "snnexport", "site": site, "cwd": work}


@pytest.mark.slow
def test_wheel_contents(wheel_venv):
    names = zipfile.ZipFile(wheel_venv["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"snnexport"}, tops  # no top-level models/ or targets/
    packages = {os.path.dirname(n).replace("/", ".") for n in names if n.endswith("/__init__.py")}
    missing = _source_packages() - packages
    assert not missing, f"package folders missing from pyproject [tool.setuptools] packages: {sorted(missing)}"
    shipped_targets = {Path(n).name for n in names if n.startswith("snnexport/builtin_targets/")}
    assert shipped_targets == {p.name for p in (ROOT / "targets").glob("*.toml")}
    shipped_ckpt = {Path(n).name for n in names if n.startswith("snnexport/zoo_models/checkpoints/")}
    assert {p.name for p in (ROOT / "models" / "checkpoints").glob("*.pt")} <= shipped_ckpt


@pytest.mark.slow
def test_wheel_runs_from_any_folder(wheel_venv):
    v = wheel_venv
    cwd = v["cwd"]
    r = _run([v["py"], "-c", "import snnexport, sys; print(snnexport.__file__)"], cwd)
    assert r.returncode == 0 and r.stdout.strip().startswith(str(v["site"])), (r.stdout, r.stderr)
    r = _run([v["py"], "-c", "import models"], cwd)
    assert r.returncode != 0 and "No module named 'models'" in r.stderr, (r.stdout, r.stderr)

    r = _run([v["bin"], "targets", "--json"], cwd)
    assert r.returncode == 0, r.stderr
    assert "loihi" in r.stdout and "truenorth" in r.stdout

    r = _run([v["bin"], "models", "--json"], cwd)
    assert r.returncode == 0, r.stderr
    assert '"shd"' in r.stdout and '"parameters"' in r.stdout  # checkpoints found and loaded

    ckpt = v["site"] / "snnexport" / "zoo_models" / "checkpoints" / "shd.pt"  # arch "models.shd:shd_factory"
    r = _run([v["bin"], "report", ckpt, "--steps", "3", "--batch", "1", "--targets", "loihi", "--json"], cwd)
    assert r.returncode == 0, r.stderr
    assert '"loihi"' in r.stdout
    r = _run([v["bin"], "report", "mnist-custom", "--steps", "2", "--batch", "1", "--targets", "loihi"], cwd)
    assert r.returncode == 0, r.stderr
    assert list(cwd.iterdir()) == []  # nothing written into the working folder
