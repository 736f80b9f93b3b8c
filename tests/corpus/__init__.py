"""A corpus of small SNNs written the way each framework's tutorials and docs write them.

``CORPUS`` lists every model: its registered arch, what ``snnexport.save`` records for it
(as the README's "Checkpoints convert accepts" says), the idiom it exercises, and what is
expected: ``identical`` (converts, and every participant verifies identical in float64 and
float32) or ``refused`` (exit 2, one line matching ``refusal``). ``python -m tests.corpus``
measures them all and prints the docs/corpus.md table.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

SIMS = "source,reference,snntorch,norse,onnxruntime"


@dataclass(frozen=True)
class Entry:
    name: str
    framework: str
    module: str
    idiom: str
    info: Dict[str, Any] = field(default_factory=dict)
    expect: str = "identical"
    refusal: Optional[str] = None  # a regex the one-line refusal must match

    @property
    def arch(self) -> str:
        return f"tests.corpus.{self.module}:{self.name}"


CORPUS = [
    # snnTorch
    Entry("tutorial5_static_loop", "snntorch", "snntorch_models",
          "tutorial 5: same image fed every step, init_leaky(), returns (spk_rec, mem_rec)",
          dict(input_shape=[16], input_kind="analog", steps=8)),
    Entry("tutorial6_csnn_sequential", "snntorch", "snntorch_models",
          "tutorial 6: Conv2d-MaxPool2d-Leaky(init_hidden) Sequential, fast_sigmoid, output=True",
          dict(input_shape=[1, 14, 14], input_kind="analog", steps=6)),
    Entry("tutorial7_learn_beta", "snntorch", "snntorch_models",
          "tutorial 7: Flatten-Linear-Leaky(learn_beta=True, init_hidden) Sequential, atan",
          dict(input_shape=[4, 4], steps=8)),
    Entry("synaptic_loop", "snntorch", "snntorch_models",
          "Synaptic, init_synaptic(), loop over x[step]", dict(input_shape=[10], steps=10)),
    Entry("rleaky_loop", "snntorch", "snntorch_models",
          "RLeaky(linear_features), init_rleaky(), loop over x[step]", dict(input_shape=[10], steps=10)),
    Entry("leaky_zero_reset_sequential", "snntorch", "snntorch_models",
          "Leaky(reset_mechanism='zero', threshold=0.5, init_hidden) Sequential", dict(input_shape=[10], steps=10)),
    Entry("alpha_loop", "snntorch", "snntorch_models", "Alpha neuron, init_alpha(), loop over x[step]",
          dict(input_shape=[10], steps=10), expect="refused",
          refusal=r"^error: module 'lif1' of type snntorch\._neurons\.alpha\.Alpha is not supported: .*snn\.Synaptic"),
    Entry("lapicque_sequential", "snntorch", "snntorch_models", "tutorial 2: Lapicque(R, C, time_step) init_hidden",
          dict(input_shape=[10], steps=10)),
    Entry("reset_in_forward", "snntorch", "snntorch_models",
          "tutorial 7 forward_pass: utils.reset(net), net(data[step]) per step, learn_threshold",
          dict(input_shape=[10], steps=10)),
    Entry("conv_loop_class", "snntorch", "snntorch_models",
          "class CSNN: F.max_pool2d(conv(x[step])) -> Leaky, spk.view(batch, -1), returns (spk, mem)",
          dict(input_shape=[1, 10, 10], input_kind="analog", steps=6)),
    Entry("rate_encoder_in_forward", "snntorch", "snntorch_models", "spikegen.rate(x, num_steps) inside forward",
          dict(input_shape=[10], input_kind="analog", steps=8), expect="refused",
          refusal=r"^error: snntorch\.spikegen\.rate inside forward .*data pipeline"),
    # Norse
    Entry("sequential_state_cells", "norse", "norse_models",
          "SequentialState(Linear, LIFCell, Linear, LICell) stepped with carried state", dict(input_shape=[10], steps=10)),
    Entry("lifted_conv_sequential", "norse", "norse_models",
          "SequentialState(Lift(Conv2d), LIF, Lift(MaxPool2d), Lift(Flatten), Lift(Linear), LI), time-major",
          dict(input_shape=[1, 10, 10], steps=8)),
    Entry("lifbox_loop", "norse", "norse_models", "LIFBoxCell(LIFBoxParameters) loop over x[ts]",
          dict(input_shape=[10], steps=10)),
    Entry("mnist_conv_tutorial", "norse", "norse_models",
          "MNIST conv tutorial: 10*conv, F.max_pool2d, view, relu, LICell voltages into a buffer",
          dict(input_shape=[1, 10, 10], input_kind="analog", steps=8)),
    Entry("recurrent_cell_loop", "norse", "norse_models", "LIFRecurrentCell -> LILinearCell loop",
          dict(input_shape=[10], steps=10)),
    Entry("lif_parameters_sequential", "norse", "norse_models",
          "SequentialState(Lift(Linear), LIF(LIFParameters(...)), Lift(Linear), LI()), time-major",
          dict(input_shape=[10], steps=10)),
    # SpikingJelly
    Entry("single_step_fc", "spikingjelly", "spikingjelly_models",
          "layer.Flatten-layer.Linear-LIFNode(tau=2, ATan) single-step, net(x[t]) + reset_net",
          dict(input_shape=[4, 4], steps=8)),
    Entry("multi_step_csnn", "spikingjelly", "spikingjelly_models",
          "CSNN: layer.Conv2d/BatchNorm2d-IFNode-layer.MaxPool2d, set_step_mode(net, 'm')",
          dict(input_shape=[1, 8, 8], input_kind="analog", steps=6)),
    Entry("seq_to_ann", "spikingjelly", "spikingjelly_models",
          "SeqToANNContainer(Conv2d, BatchNorm2d) / (MaxPool2d, Flatten, Linear), LIFNode(step_mode='m')",
          dict(input_shape=[1, 8, 8], input_kind="analog", steps=6)),
    Entry("sew_resnet_block", "spikingjelly", "spikingjelly_models",
          "SEW-ResNet ADD block (layer.Conv2d/BatchNorm2d, IFNode), MaxPool2d of the SEW sum",
          dict(input_shape=[1, 6, 6], input_kind="analog", steps=6)),
    Entry("plif_multi_step", "spikingjelly", "spikingjelly_models",
          "ParametricLIFNode (trained w, detach_reset) multi-step", dict(input_shape=[10], steps=10)),
    Entry("lif_v_reset_soft", "spikingjelly", "spikingjelly_models",
          "LIFNode(v_reset=None) soft reset; LIFNode(decay_input=False, v_reset=-0.1)",
          dict(input_shape=[10], steps=10)),
    Entry("sew_resnet_adaptive_pool", "spikingjelly", "spikingjelly_models",
          "sew_resnet code: stem, ADD block, layer.AdaptiveAvgPool2d((1, 1)), torch.flatten(x, 2), fc, mean(0)",
          dict(input_shape=[1, 6, 6], input_kind="analog", steps=6)),
    Entry("if_soft_reset_dropout", "spikingjelly", "spikingjelly_models",
          "IFNode(v_reset=None), layer.AvgPool2d, layer.Dropout, multi-step", dict(input_shape=[1, 6, 6], steps=6)),
    # plain PyTorch
    Entry("inline_lif_loop", "torch", "torch_models",
          "inline neuron arithmetic in forward: mem = beta*mem + fc(x[t]); spk = (mem > 1).float()",
          dict(input_shape=[10], steps=10), expect="refused",
          refusal=r"^error: operation torch\.gt on the output of fc1: neuron arithmetic .*register_neuron"),
    Entry("registered_lif_loop", "torch", "torch_models",
          "the same LIF as a module with reset(), autograd.Function spike, register_neuron",
          dict(input_shape=[10], steps=10)),
    Entry("batch_time_conv", "torch", "torch_models",
          "x.flatten(0, 1) -> conv/bn -> reshape(T, B, ...), avg_pool2d, flatten, count / T readout",
          dict(input_shape=[1, 6, 6], input_kind="analog", steps=6)),
    Entry("residual_cat", "torch", "torch_models",
          "torch.cat of two branches, 2.0 * current, in-place residual r += h",
          dict(input_shape=[10], steps=10)),
]


def load_all():
    """Import every corpus module (registers the archs and the user neuron)."""
    import importlib

    for m in sorted({e.module for e in CORPUS}):
        importlib.import_module(f"tests.corpus.{m}")
