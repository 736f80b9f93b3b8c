"""The tutorial-style corpus (tests/corpus/, docs/corpus.md), as a new user would run it:
``snnexport.save`` as the README says, ``convert`` and ``verify`` through the CLI, every
participant (source, reference, snntorch, norse, onnxruntime) in float64 and float32.

A model expected ``identical`` must convert, and verify with exit 0, zero mismatches in every
participant and spikes in every neuron layer; a model documented as unsupported must be refused
with exit 2 and exactly one ``error:`` line matching its documented reason (never exit 3).
Fast: the refusals, one model exercising this corpus's fix of functional avg_pool2d end to end and
unit tests of the pooling fixes; slow: every other model.
"""

import re

import pytest
import torch
import torch.nn as nn

import snnexport
from snnexport.errors import SnnexportError
from tests.corpus import CORPUS, load_all
from tests.corpus.measure import measure
from tests.helpers import run_cli

load_all()
FAST = {"batch_time_conv"}  # the end-to-end check of functional avg_pool2d; AdaptiveAvgPool2d: unit test below and slow
REFUSED = [e for e in CORPUS if e.expect == "refused"]
IDENTICAL = [e for e in CORPUS if e.expect == "identical"]


def _check(entry, tmp_path, capsys):
    outcome = measure(entry, tmp_path, lambda args: run_cli(args, capsys))
    if entry.expect == "refused":
        assert outcome.convert_code == 2, (entry.name, outcome.convert_code, outcome.convert_err[-2000:])
        line = outcome.refusal_line
        assert line is not None, (entry.name, outcome.error_lines())
        assert re.search(entry.refusal, line), (entry.name, line)
        assert len(line) < 500 and "supported types" not in line, ("a clear line, not a list", entry.name, line)
        assert not list(tmp_path.glob("*.nir")), "a refused convert leaves no output file"
        return
    assert outcome.convert_code == 0, (entry.name, outcome.error_lines())
    for dtype, v in outcome.verify.items():
        assert v["code"] == 0 and v["json"] and v["json"]["identical"], (entry.name, dtype, v["err"][-2000:])
        rows = {r["name"]: r for r in v["json"]["participants"]}
        assert {"source", "reference", "snntorch", "norse", "onnxruntime"} <= set(rows), (entry.name, dtype, set(rows))
        for name, row in rows.items():
            assert row["mismatches"] == 0 and not row.get("error"), (entry.name, dtype, name, row)
        per_node = rows["reference"]["spikes_per_node"]
        assert per_node and all(n > 0 for n in per_node.values()), (entry.name, dtype, per_node)
    assert outcome.identical() and outcome.result() == "identical"


@pytest.mark.parametrize("entry", [e for e in CORPUS if e.name in FAST or e.expect == "refused"], ids=lambda e: e.name)
def test_corpus_fast(entry, tmp_path, capsys):
    _check(entry, tmp_path, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("entry", [e for e in IDENTICAL if e.name not in FAST], ids=lambda e: e.name)
def test_corpus_model_converts_and_verifies_identical(entry, tmp_path, capsys):
    _check(entry, tmp_path, capsys)


def test_corpus_is_twenty_plus_from_all_four_frameworks():
    assert len(CORPUS) >= 20 and len({e.name for e in CORPUS}) == len(CORPUS)
    assert {e.framework for e in CORPUS} == {"snntorch", "norse", "spikingjelly", "torch"}
    assert all(e.expect in ("identical", "refused") and (e.expect == "identical") == (e.refusal is None) for e in CORPUS)


# ------------------------------------------------------------------ the fixes, refusals of what stays inexact

class _Pool(nn.Module):
    """conv -> pool -> neuron per step; ``pool`` is a module, or a plain function called in forward."""

    def __init__(self, pool):
        super().__init__()
        self.conv, self.lif = nn.Conv2d(1, 2, 3, padding=1), _LIF()
        if isinstance(pool, nn.Module):
            self.pool = pool
        else:
            self.pool_fn = pool

    def forward(self, x):
        pool = self.pool if hasattr(self, "pool") else self.pool_fn
        return torch.stack([self.lif(pool(self.conv(x[t]))) for t in range(x.shape[0])])


class _LIF(nn.Module):
    def forward(self, x):
        return (x > 0).float()


snnexport.register_neuron(_LIF, lambda m: __import__("snnexport.sources.registry", fromlist=["NeuronSpec"]).NeuronSpec(
    "beta", beta=0.0, gain=1.0, threshold=0.0, reset="none", compare="gt"))


@pytest.mark.parametrize("pool, why", [
    (lambda x: nn.functional.avg_pool2d(x, 2, ceil_mode=True), "ceil_mode"),
    (lambda x: nn.functional.avg_pool2d(x, 2, divisor_override=3), "divisor_override"),
    (lambda x: nn.functional.avg_pool2d(x, 3, padding=1, count_include_pad=False), "count_include_pad"),
    (nn.AdaptiveAvgPool2d((2, 2)), "uneven windows"),
])
def test_pooling_nir_cannot_say_is_refused_in_one_line(pool, why):
    model = _Pool(pool).eval()
    with pytest.raises(SnnexportError) as e:
        snnexport.convert(model, torch.rand(3, 2, 1, 5, 5), input_layout="TB")
    assert why in str(e.value) and "\n" not in str(e.value)


def test_functional_avg_pool2d_and_adaptive_pool_are_avgpool_nodes():
    import nir

    for pool, k in ((lambda x: nn.functional.avg_pool2d(x, 2), 2), (nn.AdaptiveAvgPool2d(1), 6)):
        torch.manual_seed(0)
        model = _Pool(pool).eval()
        g = snnexport.convert(model, torch.rand(3, 2, 1, 6, 6), input_layout="TB")
        pools = [v for v in g.nodes.values() if isinstance(v, nir.AvgPool2d)]
        assert len(pools) == 1 and list(pools[0].kernel_size) == [k, k] and list(pools[0].stride) == [k, k]
