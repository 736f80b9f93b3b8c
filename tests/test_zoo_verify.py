"""Every shipped zoo checkpoint converts and verifies with 0 mismatches in float64 across
source, reference, snnTorch, Norse and ONNX Runtime, on its shipped sample input."""

from pathlib import Path

import pytest
import torch

from models.registry import CHECKPOINTS, load_zoo
from snnexport.checkpoint import load
from snnexport.inputs import make_input
from snnexport.sources import convert_model
from snnexport.verification import run_verify

ZOO = load_zoo()
PARTICIPANTS = ["source", "reference", "snntorch", "norse", "onnxruntime"]
# verify of these takes over ~20 s on the 2-core CI machine
SLOW = {"spikingrx"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in sorted(ZOO)])
def test_zoo_checkpoint_verifies_everywhere(name):
    entry = ZOO[name]
    assert entry.checkpoint_path.exists(), f"{name}: checkpoint {entry.checkpoint_path} is not shipped"
    loaded = load(entry.checkpoint_path)
    graph = convert_model(loaded)
    sample = Path(str(entry.checkpoint_path).replace(".pt", "_sample.npy"))
    sample = sample if sample.exists() else CHECKPOINTS / f"{name.replace('-', '_')}_sample.npy"
    x = make_input(graph, path=str(sample)) if sample.exists() else make_input(graph, batch=2)
    x = x[:, :2]  # two samples keep the suite fast
    rep = run_verify(graph, x, torch.float64, PARTICIPANTS, source=loaded)
    rows = {r.name: r for r in rep.participants}
    assert set(rows) == set(PARTICIPANTS)
    for r in rep.participants:
        assert r.identical and r.mismatches == 0 and r.error is None, (name, r)
        assert r.max_abs_readout_diff is not None and r.max_abs_readout_diff <= 1e-12, (name, r)
    spikes = rows["reference"].spikes_per_node
    assert spikes and all(v > 0 for v in spikes.values()), (name, spikes)


def test_full_stereo_codec_verifies_everywhere():
    """Seed 001's whole codec: SpikingJelly encoder, time mean, conv-transpose decoder (extension
    nodes, snnexport.conv_transpose) -- identical spikes and readouts in float64 and float32."""
    codec = CHECKPOINTS / "stereo_codec.pt"
    assert codec.exists()
    loaded = load(codec)
    graph = convert_model(loaded)
    types = {n: type(v).__name__ for n, v in graph.nodes.items()}
    assert types["decoder.net.0"] == "Conv2d" and types["decoder.out"] == "Scale"
    x = make_input(graph, path=str(CHECKPOINTS / "stereo_codec_sample.npy"))[:, :1]
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        rep = run_verify(graph, x, dtype, PARTICIPANTS, source=loaded)
        for r in rep.participants:
            assert r.identical and r.mismatches == 0 and r.error is None, (dtype, r)
            assert r.max_abs_readout_diff is not None and r.max_abs_readout_diff <= tol, (dtype, r)
        assert all(v > 0 for v in rep.participants[1].spikes_per_node.values())
