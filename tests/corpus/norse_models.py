"""Norse models written the way its docs and tutorials write them."""

import torch
import torch.nn as nn

import snnexport

MOD = "tests.corpus.norse_models"


def _gain(*layers, by=3.0):
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(by)


@snnexport.register_arch(f"{MOD}:sequential_state_cells")
def sequential_state_cells():
    """``norse.torch.SequentialState(Linear, LIFCell(), Linear, LICell())``, stepped one x[t] at a time
    with the state carried by the caller (the README's Norse example)."""
    import norse.torch as norse

    torch.manual_seed(10)
    model = norse.SequentialState(nn.Linear(10, 12), norse.LIFCell(), nn.Linear(12, 4), norse.LICell()).eval()
    _gain(model[0], model[2], by=6.0)
    return model


@snnexport.register_arch(f"{MOD}:lifted_conv_sequential")
def lifted_conv_sequential():
    """Norse's time-major Sequential: ``Lift(Conv2d)``, the LIF (whole-sequence) module, ``Lift(MaxPool2d)``,
    Lift(Flatten/Linear), LI readout."""
    import norse.torch as norse

    torch.manual_seed(11)
    model = norse.SequentialState(
        norse.Lift(nn.Conv2d(1, 4, 3)), norse.LIF(),
        norse.Lift(nn.MaxPool2d(2)),
        norse.Lift(nn.Flatten()), norse.Lift(nn.Linear(4 * 4 * 4, 3)), norse.LI()).eval()
    _gain(model[0].lifted_module, by=8.0)
    _gain(model[4].lifted_module, by=8.0)
    return model


class BoxNet(nn.Module):
    """LIFBoxCell (no synaptic current), stepped over x[ts] with explicit states."""

    def __init__(self):
        super().__init__()
        from norse.torch import LIFBoxCell, LIFBoxParameters

        self.fc1 = nn.Linear(10, 8)
        self.box = LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.tensor(100.0), v_th=torch.tensor(0.3)))
        self.fc2 = nn.Linear(8, 3)
        self.box2 = LIFBoxCell()

    def forward(self, x):
        s1 = s2 = None
        out = []
        for ts in range(x.shape[0]):
            z, s1 = self.box(self.fc1(x[ts]), s1)
            z, s2 = self.box2(self.fc2(z), s2)
            out.append(z)
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:lifbox_loop")
def lifbox_loop():
    torch.manual_seed(12)
    net = BoxNet().eval()
    _gain(net.fc1, by=6.0)
    _gain(net.fc2, by=60.0)
    return net


class MnistConvNet(nn.Module):
    """Norse's MNIST conv tutorial network: conv -> 10*x -> LIFCell -> max_pool2d ... -> LICell
    voltages written into a preallocated buffer, the max over time as the readout."""

    def __init__(self, method="super", alpha=100):
        super().__init__()
        from norse.torch import LICell, LIFCell, LIFParameters

        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 6, 3, 1)
        self.fc1 = nn.Linear(6, 5)
        self.lif0 = LIFCell(p=LIFParameters(method=method, alpha=alpha))
        self.lif1 = LIFCell(p=LIFParameters(method=method, alpha=alpha))
        self.lif2 = LIFCell(p=LIFParameters(method=method, alpha=alpha))
        self.out = LICell()

    def forward(self, x):
        seq_length = x.shape[0]
        batch_size = x.shape[1]
        s0 = s1 = s2 = so = None
        voltages = torch.zeros(seq_length, batch_size, 5, device=x.device, dtype=x.dtype)
        for ts in range(seq_length):
            z = self.conv1(x[ts, :])
            z, s0 = self.lif0(z, s0)
            z = torch.nn.functional.max_pool2d(z, 2, 2)
            z = 10 * self.conv2(z)
            z, s1 = self.lif1(z, s1)
            z = torch.nn.functional.max_pool2d(z, 2, 2)
            z = z.view(-1, 6)
            z = self.fc1(z)
            z, s2 = self.lif2(z, s2)
            v, so = self.out(torch.nn.functional.relu(z), so)
            voltages[ts, :, :] = v
        return voltages


@snnexport.register_arch(f"{MOD}:mnist_conv_tutorial")
def mnist_conv_tutorial():
    torch.manual_seed(13)
    net = MnistConvNet().eval()
    _gain(net.conv1, by=30.0)
    _gain(net.conv2, by=3.0)
    _gain(net.fc1, by=10.0)
    return net


class RecurrentNet(nn.Module):
    """LIFRecurrentCell followed by an LILinearCell readout, looping over x[ts]."""

    def __init__(self):
        super().__init__()
        from norse.torch import LIFRecurrentCell, LILinearCell

        self.rec = LIFRecurrentCell(10, 8)
        self.readout = LILinearCell(8, 3)

    def forward(self, x):
        s = so = None
        out = []
        for ts in range(x.shape[0]):
            z, s = self.rec(x[ts], s)
            v, so = self.readout(z, so)
            out.append(v)
        return torch.stack(out)


@snnexport.register_arch(f"{MOD}:recurrent_cell_loop")
def recurrent_cell_loop():
    torch.manual_seed(14)
    net = RecurrentNet().eval()
    with torch.no_grad():
        net.rec.input_weights.mul_(4.0)
    return net


@snnexport.register_arch(f"{MOD}:lif_parameters_sequential")
def lif_parameters_sequential():
    """Time-major ``SequentialState(Lift(Linear), LIF(LIFParameters(tau_mem_inv, v_th)), Lift(Linear), LI())``."""
    import norse.torch as norse

    torch.manual_seed(15)
    p = norse.LIFParameters(tau_mem_inv=torch.tensor(200.0), tau_syn_inv=torch.tensor(300.0), v_th=torch.tensor(0.4))
    model = norse.SequentialState(norse.Lift(nn.Linear(10, 8)), norse.LIF(p), norse.Lift(nn.Linear(8, 3)),
                                  norse.LI()).eval()
    _gain(model[0].lifted_module, by=8.0)
    return model
