"""SpikingJelly (activation_based) models written the way its tutorials write them."""

import torch
import torch.nn as nn

import snnexport

MOD = "tests.corpus.spikingjelly_models"


def _gain(*layers, by=3.0):
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(by)


@snnexport.register_arch(f"{MOD}:single_step_fc")
def single_step_fc():
    """The first tutorial: layer.Flatten -> layer.Linear -> LIFNode(tau=2, ATan) in single-step mode;
    the training loop calls net(x[t]) for each t and functional.reset_net(net) after a sample."""
    from spikingjelly.activation_based import layer, neuron, surrogate

    torch.manual_seed(20)
    net = nn.Sequential(layer.Flatten(), layer.Linear(16, 10, bias=False),
                        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan()),
                        layer.Linear(10, 3, bias=False),
                        neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan())).eval()
    _gain(net[1], by=4.0)
    _gain(net[3], by=12.0)
    return net


@snnexport.register_arch(f"{MOD}:multi_step_csnn")
def multi_step_csnn():
    """The CSNN tutorial, multi-step: layer.Conv2d/BatchNorm2d -> IFNode -> layer.MaxPool2d, twice,
    layer.Flatten -> layer.Linear -> IFNode; ``functional.set_step_mode(net, 'm')``."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    torch.manual_seed(21)
    net = nn.Sequential(
        layer.Conv2d(1, 4, kernel_size=3, padding=1, bias=False), layer.BatchNorm2d(4),
        neuron.IFNode(surrogate_function=surrogate.ATan()), layer.MaxPool2d(2, 2),
        layer.Conv2d(4, 4, kernel_size=3, padding=1, bias=False), layer.BatchNorm2d(4),
        neuron.IFNode(surrogate_function=surrogate.ATan()), layer.MaxPool2d(2, 2),
        layer.Flatten(), layer.Linear(4 * 2 * 2, 3, bias=False),
        neuron.IFNode(surrogate_function=surrogate.ATan()))
    functional.set_step_mode(net, "m")
    from tests.helpers import randomise_bn

    randomise_bn(net, seed=21)
    _gain(net[9], by=3.0)
    return net.eval()


class SeqToANNNet(nn.Module):
    """Multi-step with ``layer.SeqToANNContainer`` wrapping the stateless layers, LIFNode(step_mode='m')."""

    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        self.conv_fc = nn.Sequential(
            layer.SeqToANNContainer(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)),
            neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m"),
            layer.SeqToANNContainer(nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)),
            neuron.LIFNode(tau=2.0, surrogate_function=surrogate.ATan(), step_mode="m"))

    def forward(self, x):
        return self.conv_fc(x)


@snnexport.register_arch(f"{MOD}:seq_to_ann")
def seq_to_ann():
    from tests.helpers import randomise_bn

    torch.manual_seed(22)
    net = SeqToANNNet()
    randomise_bn(net, seed=22)
    _gain(net.conv_fc[0][0], by=3.0)
    _gain(net.conv_fc[2][2], by=4.0)
    return net.eval()


class SEWBlock(nn.Module):
    """SEW-ResNet basic block, connect_f 'ADD': sn2(bn2(conv2(sn1(bn1(conv1(x)))))) + x."""

    def __init__(self, channels):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        self.conv1 = layer.Conv2d(channels, channels, 3, padding=1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(channels, step_mode="m")
        self.sn1 = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")
        self.conv2 = layer.Conv2d(channels, channels, 3, padding=1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(channels, step_mode="m")
        self.sn2 = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")

    def forward(self, x):
        identity = x
        out = self.sn1(self.bn1(self.conv1(x)))
        out = self.sn2(self.bn2(self.conv2(out)))
        return out + identity


class SEWNet(nn.Module):
    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        self.conv = layer.Conv2d(1, 4, 3, padding=1, bias=False, step_mode="m")
        self.bn = layer.BatchNorm2d(4, step_mode="m")
        self.sn = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")
        self.block = SEWBlock(4)
        self.pool = layer.MaxPool2d(2, 2, step_mode="m")
        self.flat = layer.Flatten(step_mode="m")
        self.fc = layer.Linear(4 * 3 * 3, 3, step_mode="m")
        self.out = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")

    def forward(self, x):
        x = self.sn(self.bn(self.conv(x)))
        x = self.block(x)
        return self.out(self.fc(self.flat(self.pool(x))))


@snnexport.register_arch(f"{MOD}:sew_resnet_block")
def sew_resnet_block():
    from tests.helpers import randomise_bn

    torch.manual_seed(23)
    net = SEWNet()
    randomise_bn(net, seed=23)
    _gain(net.conv, by=3.0)
    _gain(net.fc, by=6.0)
    return net.eval()


@snnexport.register_arch(f"{MOD}:plif_multi_step")
def plif_multi_step():
    """ParametricLIFNode (learnable sigmoid decay) multi-step, after a trained w moved off init_tau."""
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    torch.manual_seed(24)
    net = nn.Sequential(layer.Linear(10, 8), neuron.ParametricLIFNode(init_tau=2.0, surrogate_function=surrogate.ATan()),
                        layer.Linear(8, 3), neuron.ParametricLIFNode(init_tau=3.0, surrogate_function=surrogate.ATan(),
                                                                     detach_reset=True))
    functional.set_step_mode(net, "m")
    with torch.no_grad():
        net[1].w.fill_(0.3)
    _gain(net[0], by=3.0)
    _gain(net[2], by=8.0)
    return net.eval()


@snnexport.register_arch(f"{MOD}:lif_v_reset_soft")
def lif_v_reset_soft():
    """LIFNode(v_reset=None) (soft reset) and LIFNode(decay_input=False, v_reset=-0.1) single-step."""
    from spikingjelly.activation_based import layer, neuron, surrogate

    torch.manual_seed(25)
    net = nn.Sequential(layer.Linear(10, 8), neuron.LIFNode(tau=2.0, v_reset=None, surrogate_function=surrogate.Sigmoid()),
                        layer.Linear(8, 3), neuron.LIFNode(tau=4.0, decay_input=False, v_reset=-0.1)).eval()
    _gain(net[0], net[2], by=3.0)
    return net


class SEWResNetTiny(nn.Module):
    """A SEW-ResNet as the spikingjelly.activation_based.model.sew_resnet code writes it: stem, one
    ADD block, ``layer.AdaptiveAvgPool2d((1, 1))``, ``torch.flatten(x, 2)`` of [T, B, C, 1, 1], fc,
    mean over T of the fc output (the classifier's firing rate)."""

    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        self.conv1 = layer.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = layer.BatchNorm2d(4)
        self.sn1 = neuron.IFNode(surrogate_function=surrogate.ATan(), detach_reset=True)
        self.layer1 = SEWBlock(4)
        self.avgpool = layer.AdaptiveAvgPool2d((1, 1))
        self.fc = layer.Linear(4, 3)
        self.sn_out = neuron.IFNode(surrogate_function=surrogate.ATan())
        functional.set_step_mode(self, "m")

    def forward(self, x):
        x = self.sn1(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 2)
        return self.sn_out(self.fc(x)).mean(0)


@snnexport.register_arch(f"{MOD}:sew_resnet_adaptive_pool")
def sew_resnet_adaptive_pool():
    from tests.helpers import randomise_bn

    torch.manual_seed(26)
    net = SEWResNetTiny()
    randomise_bn(net, seed=26)
    _gain(net.conv1, by=3.0)
    _gain(net.fc, by=6.0)
    return net.eval()


@snnexport.register_arch(f"{MOD}:if_soft_reset_dropout")
def if_soft_reset_dropout():
    """IFNode(v_reset=None) soft reset with layer.Dropout and layer.AvgPool2d, multi-step."""
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(27)
    net = nn.Sequential(layer.Conv2d(1, 4, 3, padding=1), neuron.IFNode(v_reset=None), layer.AvgPool2d(2),
                        layer.Flatten(), layer.Dropout(0.5), layer.Linear(4 * 3 * 3, 3), neuron.IFNode(v_reset=None))
    functional.set_step_mode(net, "m")
    _gain(net[0], by=3.0)
    _gain(net[5], by=20.0)
    return net.eval()
