"""Start-up: commands that need no model import no torch, and no framework is imported until a
model of that framework is seen. Checked through ``-X importtime`` (the modules a fresh
interpreter imported), never through timing."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("torch", "norse", "snntorch", "spikingjelly", "matplotlib", "numba")
GRAPH_LIBRARIES = ("nir", "numpy", "h5py")  # a command that reads no graph needs none (0.5 s here)


def imported_by(args):
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = set()
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+\d+ \|(\s*)(\S+)$", line)
        if m:
            mods.add(m.group(2).split(".")[0])
    assert "snnexport" in mods  # the importtime output was read
    return mods, proc.stdout


@pytest.mark.parametrize("cmd", [["--help"], ["targets"], ["targets", "--help"], ["models"], ["models", "--json"]])
def test_commands_without_a_model_import_no_framework_and_no_graph_library(cmd):
    mods, out = imported_by(["-m", "snnexport", *cmd])
    assert not mods & set(FRAMEWORKS + GRAPH_LIBRARIES), sorted(mods & set(FRAMEWORKS + GRAPH_LIBRARIES))
    assert out.strip()


def test_models_lists_every_zoo_model_from_its_index_without_torch():
    import json

    mods, out = imported_by(["-m", "snnexport", "models", "--json"])
    assert not mods & set(FRAMEWORKS), f"{sorted(mods & set(FRAMEWORKS))}: is models/zoo_index.json stale?"
    rows = json.loads(out)
    ckpts = [r for r in rows if r["size_kb"] is not None]
    assert {r["name"] for r in rows} >= {"shd", "mnist-custom", "spikingrx"}
    assert ckpts and all(r["parameters"] > 0 and isinstance(r["metrics"], dict) for r in ckpts)


def test_help_lists_every_lazy_command_with_its_own_help():
    import click

    from snnexport import cli

    cli._register_optional_commands()
    listed = {n: cli.cli.commands[n].get_short_help_str(limit=60) for n in cli._LAZY_COMMANDS}
    for name in cli._LAZY_COMMANDS:
        cli._load_command(name)
        real = cli.cli.commands[name]
        assert not getattr(real, "_lazy", False)
        assert real.help.split("\n\n")[0] == cli._LAZY_COMMANDS[name][2], name
        assert real.get_short_help_str(limit=60) == listed[name], name
    assert isinstance(cli.cli, click.Group)


def test_plain_torch_model_imports_no_framework():
    code = ("import sys, torch\n"
            "from snnexport.sources.frameworks import detect_framework, frameworks_in\n"
            "m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())\n"
            "assert detect_framework(m) == 'torch' and frameworks_in(m) == []\n"
            "print(sorted(k for k in ('norse', 'snntorch', 'spikingjelly', 'matplotlib') if k in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_snntorch_model_is_detected_by_class_module():
    snn = pytest.importorskip("snntorch")
    import torch

    from snnexport.sources.frameworks import detect_framework, frameworks_in

    m = torch.nn.Sequential(torch.nn.Linear(4, 3), snn.Leaky(beta=0.9))
    assert "snntorch" in frameworks_in(m) and detect_framework(m) == "snntorch"


def test_max_memory_holds_for_one_cli_run_only(tmp_path, capsys):
    # the CLI clears the budget after each run without importing the budget's module itself
    from snnexport import cli
    from snnexport.resources import current_budget, default_budget

    with pytest.raises(SystemExit) as e:  # stops after --max-memory was set: two output formats
        cli.main(["report", str(tmp_path / "g.nir"), "--max-memory", "1G", "--json", "--markdown"])
    assert e.value.code == 2 and "choose one output format" in capsys.readouterr().err
    assert current_budget() == default_budget() != 1 << 30
