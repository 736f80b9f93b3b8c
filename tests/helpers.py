"""Shared test helpers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from snnexport.cli import main


def run_cli(args, capsys):
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return e.value.code or 0, out.out, out.err


ROOT = Path(__file__).resolve().parent.parent

# ``python -m snnexport ARGS`` that reports its own peak RSS when it exits. VmHWM belongs to the
# process's memory map after exec; ru_maxrss (getrusage or wait4) would also count the pytest
# process the child was forked from (Linux keeps the high-water mark across execve).
_PEAK_RSS_CHILD = """
import atexit, runpy, sys
def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM:'):
            sys.stderr.write('VMHWM_KIB ' + line.split()[1] + chr(10))
atexit.register(_hwm)
sys.argv = ['snnexport'] + sys.argv[1:]
runpy.run_module('snnexport', run_name='__main__')
"""


def cli_peak_rss_kib(args, cwd=ROOT, **env) -> tuple:
    """(exit code, stderr without the VmHWM line, peak RSS in KiB or None if the child never
    reported it) of ``python -m snnexport ARGS`` in a child process."""
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS_CHILD, *map(str, args)], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)
    lines = proc.stderr.decode(errors="replace").splitlines()
    peak = [int(l.split()[1]) for l in lines if l.startswith("VMHWM_KIB ")]
    assert len(peak) <= 1, lines
    return proc.returncode, "\n".join(l for l in lines if not l.startswith("VMHWM_KIB ")), (peak or [None])[0]


def randomise_bn(model, seed=0):
    """Non-trivial eval-mode BatchNorm statistics (so folding is really exercised)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return model.eval()


def save_sew_checkpoint(path, steps=6, bn_var=1.5):
    """The seed-000 SEW block (theta 0.3, BatchNorm variance ``bn_var``) as an snnexport checkpoint."""
    import snnexport
    from snnexport.examples.spikingrx import sew_block_model

    torch.manual_seed(0)
    model = sew_block_model(theta=0.3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and bn_var is not None:
            m.running_var.fill_(bn_var)
    model.eval()
    snnexport.save(model, path, arch="snnexport.examples.spikingrx:sew_block_model", kwargs={"theta": 0.3},
                   input_layout="BT", input_shape=[2, 6, 5], input_kind="analog", steps=steps)
    return path


def recurrent_one_neuron_graph():
    """input -> w -> n (LIF, beta 0, threshold 1) with a recurrent Linear(2.0) from n back to n:
    U_t = I_t + 2*S_{t-1}."""
    import nir
    import numpy as np

    from snnexport.extension import KEY, GraphExt, NeuronExt, set_node_ext

    s = np.ones(1)
    lif = nir.LIF(tau=s * 2, r=s, v_leak=s * 0, v_threshold=s * 1.0, v_reset=s * 0)
    set_node_ext(lif, **NeuronExt("beta", {"beta": np.array([0.0]), "gain": np.array([1.0])}).to_meta())
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "w": nir.Linear(weight=np.eye(1)), "n": lif,
             "rec": nir.Linear(weight=np.array([[2.0]])), "output": nir.Output(output_type={"output": np.array([1])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "w"), ("w", "n"), ("n", "rec"), ("rec", "n"), ("n", "output")],
                        metadata={KEY: GraphExt(input_shape=(1,)).to_meta()})
