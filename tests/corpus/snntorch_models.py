"""snnTorch models written the way its tutorials 5-7 and docs write them (not rewritten for us).

Each factory is a registered arch, so a checkpoint saved with ``snnexport.save`` loads without
``--trust-arch``. Weights are scaled after the seeded init only so that every layer spikes on
the corpus input (a test comparing silent networks would prove nothing).
"""

import torch
import torch.nn as nn

import snnexport

MOD = "tests.corpus.snntorch_models"


def _gain(*layers, by=3.0):
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(by)


class Tutorial5Net(nn.Module):
    """Tutorial 5: fc -> Leaky -> fc -> Leaky, the same (flattened) image fed every step,
    membranes from ``init_leaky()``, returning the spike and membrane records."""

    def __init__(self, num_inputs=16, num_hidden=12, num_outputs=4, beta=0.95, num_steps=8):
        super().__init__()
        import snntorch as snn

        self.num_steps = num_steps
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = snn.Leaky(beta=beta)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=beta)

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk2_rec = []
        mem2_rec = []
        for step in range(self.num_steps):
            cur1 = self.fc1(x)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc2(spk1)
            spk2, mem2 = self.lif2(cur2, mem2)
            spk2_rec.append(spk2)
            mem2_rec.append(mem2)
        return torch.stack(spk2_rec, dim=0), torch.stack(mem2_rec, dim=0)


@snnexport.register_arch(f"{MOD}:tutorial5_static_loop")
def tutorial5_static_loop():
    torch.manual_seed(0)
    net = Tutorial5Net().eval()
    _gain(net.fc1, net.fc2, by=2.0)
    return net


@snnexport.register_arch(f"{MOD}:tutorial6_csnn_sequential")
def tutorial6_csnn_sequential():
    """Tutorial 6: Conv2d -> MaxPool2d -> Leaky(init_hidden) ... in nn.Sequential, fast_sigmoid
    surrogate, output=True; the tutorial's forward_pass calls utils.reset(net) then net(data[step])."""
    import snntorch as snn
    from snntorch import surrogate

    torch.manual_seed(1)
    spike_grad = surrogate.fast_sigmoid(slope=25)
    beta = 0.5
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.MaxPool2d(2),
                        snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
                        nn.Conv2d(4, 8, 3), nn.MaxPool2d(2),
                        snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True),
                        nn.Flatten(),
                        nn.Linear(8 * 2 * 2, 5),
                        snn.Leaky(beta=beta, spike_grad=spike_grad, init_hidden=True, output=True)).eval()
    _gain(net[0], by=2.0)
    _gain(net[3], net[7], by=4.0)
    return net


@snnexport.register_arch(f"{MOD}:tutorial7_learn_beta")
def tutorial7_learn_beta():
    """Tutorial 7 style: Leaky(learn_beta=True, init_hidden=True) with a Flatten/Linear stack."""
    import snntorch as snn
    from snntorch import surrogate

    torch.manual_seed(2)
    spike_grad = surrogate.atan()
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 10),
                        snn.Leaky(beta=0.9, learn_beta=True, spike_grad=spike_grad, init_hidden=True),
                        nn.Linear(10, 3),
                        snn.Leaky(beta=0.8, learn_beta=True, spike_grad=spike_grad, init_hidden=True, output=True)).eval()
    with torch.no_grad():  # a trained beta is no longer the initial one
        net[2].beta.fill_(0.83)
    _gain(net[1], net[3], by=3.0)
    return net


class SynapticNet(nn.Module):
    """Synaptic (2nd-order) neurons, ``syn, mem = init_synaptic()``, looping over x[step]."""

    def __init__(self, alpha=0.9, beta=0.8):
        super().__init__()
        import snntorch as snn

        self.fc1 = nn.Linear(10, 12)
        self.lif1 = snn.Synaptic(alpha=alpha, beta=beta)
        self.fc2 = nn.Linear(12, 4)
        self.lif2 = snn.Synaptic(alpha=alpha, beta=beta)

    def forward(self, x):
        syn1, mem1 = self.lif1.init_synaptic()
        syn2, mem2 = self.lif2.init_synaptic()
        spk2_rec = []
        for step in range(x.size(0)):
            spk1, syn1, mem1 = self.lif1(self.fc1(x[step]), syn1, mem1)
            spk2, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
            spk2_rec.append(spk2)
        return torch.stack(spk2_rec)


@snnexport.register_arch(f"{MOD}:synaptic_loop")
def synaptic_loop():
    torch.manual_seed(3)
    net = SynapticNet().eval()
    _gain(net.fc1, net.fc2, by=1.5)
    return net


class RLeakyNet(nn.Module):
    """RLeaky with an all-to-all recurrent Linear (``linear_features``), ``spk, mem = init_rleaky()``."""

    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.fc1 = nn.Linear(10, 8)
        self.rlif1 = snn.RLeaky(beta=0.9, linear_features=8)
        self.fc2 = nn.Linear(8, 3)
        self.lif2 = snn.Leaky(beta=0.9)

    def forward(self, x):
        spk1, mem1 = self.rlif1.init_rleaky()
        mem2 = self.lif2.init_leaky()
        spk_rec = []
        for step in range(x.shape[0]):
            spk1, mem1 = self.rlif1(self.fc1(x[step]), spk1, mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
        return torch.stack(spk_rec)


@snnexport.register_arch(f"{MOD}:rleaky_loop")
def rleaky_loop():
    torch.manual_seed(4)
    net = RLeakyNet().eval()
    _gain(net.fc1, net.fc2, by=2.0)
    return net


@snnexport.register_arch(f"{MOD}:leaky_zero_reset_sequential")
def leaky_zero_reset_sequential():
    """Docs example: Leaky(reset_mechanism="zero", threshold=...) with init_hidden in Sequential."""
    import snntorch as snn

    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(10, 12), snn.Leaky(beta=0.7, threshold=0.5, reset_mechanism="zero", init_hidden=True),
                        nn.Linear(12, 4), snn.Leaky(beta=0.7, threshold=0.5, reset_mechanism="zero", init_hidden=True,
                                                    output=True)).eval()
    _gain(net[0], net[2], by=1.5)
    return net


class AlphaNet(nn.Module):
    """snn.Alpha (tutorial 4's alpha neuron), looping over x[step]."""

    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.fc1 = nn.Linear(10, 6)
        self.lif1 = snn.Alpha(alpha=0.9, beta=0.8)

    def forward(self, x):
        syn_exc, syn_inh, mem1 = self.lif1.init_alpha()
        out = []
        for step in range(x.shape[0]):
            spk1, syn_exc, syn_inh, mem1 = self.lif1(self.fc1(x[step]), syn_exc, syn_inh, mem1)
            out.append(spk1)
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:alpha_loop")
def alpha_loop():
    torch.manual_seed(6)
    return AlphaNet().eval()


@snnexport.register_arch(f"{MOD}:lapicque_sequential")
def lapicque_sequential():
    """Tutorials 1-2's Lapicque neuron (R, C, time_step) in an init_hidden Sequential."""
    import snntorch as snn

    torch.manual_seed(7)
    net = nn.Sequential(nn.Linear(10, 8), snn.Lapicque(R=5.0, C=5e-3, time_step=1e-3, init_hidden=True),
                        nn.Linear(8, 3), snn.Lapicque(R=5.0, C=5e-3, time_step=1e-3, init_hidden=True, output=True)).eval()
    _gain(net[0], by=3.0)
    _gain(net[2], by=20.0)
    return net


class ResetInForwardNet(nn.Module):
    """Tutorial 7's ``forward_pass(net, num_steps, data)`` folded into a module: ``utils.reset(net)``
    then the init_hidden Sequential called once per step on data[step], spikes stacked."""

    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.net = nn.Sequential(nn.Linear(10, 12), snn.Leaky(beta=0.9, init_hidden=True, learn_threshold=True),
                                 nn.Linear(12, 3), snn.Leaky(beta=0.9, init_hidden=True, output=True))

    def forward(self, data):
        from snntorch import utils

        spk_rec = []
        utils.reset(self.net)
        for step in range(data.size(0)):
            spk_out, mem_out = self.net(data[step])
            spk_rec.append(spk_out)
        return torch.stack(spk_rec)


@snnexport.register_arch(f"{MOD}:reset_in_forward")
def reset_in_forward():
    torch.manual_seed(8)
    net = ResetInForwardNet().eval()
    _gain(net.net[0], net.net[2], by=3.0)
    return net


class ConvLoopNet(nn.Module):
    """Tutorial 6's class form: conv -> max_pool2d -> Leaky per step, ``x.view(batch, -1)`` before fc."""

    def __init__(self):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        spike_grad = surrogate.fast_sigmoid(slope=25)
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.lif1 = snn.Leaky(beta=0.5, spike_grad=spike_grad)
        self.fc1 = nn.Linear(4 * 4 * 4, 3)
        self.lif2 = snn.Leaky(beta=0.5, spike_grad=spike_grad)

    def forward(self, x):
        mem1 = self.lif1.init_leaky()
        mem2 = self.lif2.init_leaky()
        spk_rec, mem_rec = [], []
        for step in range(x.size(0)):
            cur1 = nn.functional.max_pool2d(self.conv1(x[step]), 2)
            spk1, mem1 = self.lif1(cur1, mem1)
            cur2 = self.fc1(spk1.view(spk1.size(0), -1))
            spk2, mem2 = self.lif2(cur2, mem2)
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


@snnexport.register_arch(f"{MOD}:conv_loop_class")
def conv_loop_class():
    torch.manual_seed(9)
    net = ConvLoopNet().eval()
    _gain(net.conv1, by=2.0)
    _gain(net.fc1, by=4.0)
    return net


class RateInForwardNet(nn.Module):
    """``spikegen.rate(x, num_steps)`` inside forward: a random encoder in the model."""

    def __init__(self):
        super().__init__()
        import snntorch as snn

        self.fc = nn.Linear(10, 3)
        self.lif = snn.Leaky(beta=0.9)

    def forward(self, x):
        from snntorch import spikegen

        spikes = spikegen.rate(x, num_steps=8)
        mem = self.lif.init_leaky()
        out = []
        for step in range(8):
            spk, mem = self.lif(self.fc(spikes[step]), mem)
            out.append(spk)
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:rate_encoder_in_forward")
def rate_encoder_in_forward():
    torch.manual_seed(10)
    return RateInForwardNet().eval()
