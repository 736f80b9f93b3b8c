"""Plain-PyTorch SNNs written the way people write them by hand."""

import torch
import torch.nn as nn

import snnexport

MOD = "tests.corpus.torch_models"


def _gain(*layers, by=3.0):
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(by)


class InlineLIFNet(nn.Module):
    """The textbook loop: ``mem = beta*mem + fc(x[t]); spk = (mem > 1).float(); mem = mem - spk``.
    The neuron is arithmetic inside forward, not a module: refused, naming register_neuron."""

    def __init__(self, beta=0.9):
        super().__init__()
        self.beta = beta
        self.fc1 = nn.Linear(10, 8)
        self.fc2 = nn.Linear(8, 3)

    def forward(self, x):
        mem1 = torch.zeros(x.shape[1], 8)
        mem2 = torch.zeros(x.shape[1], 3)
        out = []
        for t in range(x.shape[0]):
            mem1 = self.beta * mem1 + self.fc1(x[t])
            spk1 = (mem1 > 1).float()
            mem1 = mem1 - spk1
            mem2 = self.beta * mem2 + self.fc2(spk1)
            spk2 = (mem2 > 1).float()
            mem2 = mem2 - spk2
            out.append(spk2)
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:inline_lif_loop")
def inline_lif_loop():
    torch.manual_seed(30)
    return InlineLIFNet().eval()


class SpikeFn(torch.autograd.Function):
    """Heaviside forward, fast-sigmoid surrogate backward (the usual hand-written spike function)."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).float()

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad / (1 + 10 * v.abs()) ** 2


class LIF(nn.Module):
    """The same neuron as a module (the README's rewrite): state kept between calls, ``reset()``."""

    def __init__(self, beta=0.9, threshold=1.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold
        self.mem = None

    def reset(self):
        self.mem = None

    def forward(self, x):
        if self.mem is None:
            self.mem = torch.zeros_like(x)
        self.mem = self.beta * self.mem + x
        spk = SpikeFn.apply(self.mem - self.threshold)
        self.mem = self.mem - spk * self.threshold
        return spk


def _describe_lif(m):
    from snnexport.sources.registry import NeuronSpec

    return NeuronSpec("beta", beta=m.beta, gain=1.0, threshold=m.threshold, reset="subtract", compare="gt")


snnexport.register_neuron(LIF, _describe_lif)


class ModuleLIFNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(10, 8), LIF(0.9)
        self.fc2, self.lif2 = nn.Linear(8, 3), LIF(0.8)

    def forward(self, x):
        out = []
        for t in range(x.shape[0]):
            out.append(self.lif2(self.fc2(self.lif1(self.fc1(x[t])))))
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:registered_lif_loop")
def registered_lif_loop():
    torch.manual_seed(31)
    net = ModuleLIFNet().eval()
    _gain(net.fc1, net.fc2, by=3.0)
    return net


class BatchTimeConvNet(nn.Module):
    """The common 'merge batch and time' idiom: x.flatten(0, 1) -> conv -> reshape(T, B, ...) -> LIF,
    a running spike count divided by T as the readout."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.lif1 = LIF(0.8, 0.5)
        self.fc = nn.Linear(4 * 3 * 3, 3)
        self.lif2 = LIF(0.8, 0.5)

    def forward(self, x):
        T, B = x.shape[:2]
        y = self.bn(self.conv(x.flatten(0, 1)))
        y = y.reshape(T, B, *y.shape[1:])
        count = 0
        for t in range(T):
            s = self.lif1(y[t])
            s = nn.functional.avg_pool2d(s, 2)
            s = s.flatten(1)
            count = count + self.lif2(self.fc(s))
        return count / T


@snnexport.register_arch(f"{MOD}:batch_time_conv")
def batch_time_conv():
    from tests.helpers import randomise_bn

    torch.manual_seed(32)
    net = BatchTimeConvNet()
    randomise_bn(net, seed=32)
    _gain(net.conv, by=2.0)
    _gain(net.fc, by=4.0)
    return net.eval()


class ResidualCatNet(nn.Module):
    """Two branches concatenated along features, an in-place residual and a scaled input current."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(10, 4), nn.Linear(10, 4)
        self.lif_a, self.lif_b = LIF(0.9, 0.5), LIF(0.9, 0.5)
        self.fc = nn.Linear(8, 8)
        self.lif_c = LIF(0.9, 0.5)
        self.head = nn.Linear(8, 3)
        self.lif_out = LIF(0.9, 0.5)

    def forward(self, x):
        out = []
        for t in range(x.shape[0]):
            h = torch.cat([self.lif_a(self.a(x[t])), self.lif_b(2.0 * self.b(x[t]))], dim=1)
            r = self.lif_c(self.fc(h))
            r += h
            out.append(self.lif_out(self.head(r)))
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:residual_cat")
def residual_cat():
    torch.manual_seed(33)
    net = ResidualCatNet()
    _gain(net.a, net.b, net.fc, net.head, by=2.0)
    return net.eval()
