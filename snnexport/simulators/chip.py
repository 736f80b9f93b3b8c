"""Chip-exact participants: our integer simulation of a target's documented arithmetic.

``xylo-audio2`` runs :mod:`snnexport.hardware.xylo_sim` on the graph quantized for Xylo
Audio 2 (the graph itself when ``snnexport quantize`` made it, else quantized on the fly).
Its spikes differ from the float model by design (int8 weights, bitshift decays, current
based neurons, multi-spike counts); verify reports how many (role ``chip``: not part of the
identity verdict). Spikes are realigned by each layer's pipeline delay (one step per hidden
layer, a documented adapter), so agreement measures arithmetic, not latency.
"""

from __future__ import annotations

import numpy as np

from .base import SimResult, register_simulator


@register_simulator("xylo-audio2", role="chip")
def run_xylo_audio2(graph, x, dtype, **context) -> SimResult:
    from ..errors import SnnexportError
    from ..hardware import structure
    from ..hardware.quantize import chip_target, quantize
    from ..hardware.xylo_quant import layer_delays, to_xylo_net
    from ..hardware.xylo_sim import simulate

    adapters = []
    q = graph
    if chip_target(graph) != "xylo-audio2":
        q, _ = quantize(graph, "xylo-audio2", ignore_fit=True)
        adapters.append("quantized on the fly for xylo-audio2 (as `snnexport quantize --ignore-fit`)")
    net = to_xylo_net(q)
    delays = layer_delays(q)
    D = max(delays.values(), default=0)
    xn = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    T, B = xn.shape[:2]
    flat = xn.reshape(T, B, -1)
    if np.any(flat < 0) or np.any(flat != np.round(flat)):
        raise SnnexportError("xylo-audio2: the chip takes event counts; the input has negative or fractional values")
    flat = np.concatenate([flat, np.zeros((D, B, flat.shape[2]))]).astype(np.int64)  # run D more steps to flush the pipeline
    hid, out, _ = simulate(net, flat)
    res = SimResult(adapters=adapters + [
        f"spikes realigned by the chip's pipeline delay ({', '.join(f'{n}: {d}' for n, d in delays.items() if d)})" if D else
        "no pipeline delay to realign",
        "hidden spike counts (up to 31 per step) reported as 0/1"])
    np_dtype = np.float64 if str(dtype).endswith("float64") else np.float32
    for n, d in delays.items():
        shape = np.asarray(graph.nodes[n].v_threshold).shape
        src, sl = (hid, net.hidden_slices[n]) if n in net.hidden_slices else (out, net.output_slices[n])
        res.spikes[n] = (src[d:d + T, :, sl] > 0).astype(np_dtype).reshape(T, B, *shape)
    for o, srcs in structure.output_sources(graph).items():
        if len(srcs) == 1 and srcs[0] in res.spikes:
            res.readout[o] = res.spikes[srcs[0]]
    return res


@register_simulator("loihi2", role="chip")
def run_loihi2(graph, x, dtype, **context) -> SimResult:
    """Lava's bit-accurate Loihi arithmetic (snnexport/hardware/loihi_sim.py), realigned by the Dense delays."""
    from ..hardware import structure
    from ..hardware.loihi_quant import layer_delays, to_loihi_net
    from ..hardware.loihi_sim import simulate
    from ..hardware.quantize import chip_target, quantize

    adapters = []
    q = graph
    if chip_target(graph) != "loihi2":
        q, _ = quantize(graph, "loihi2")
        adapters.append("quantized on the fly for loihi2 (as `snnexport quantize --target loihi2`)")
    delays = layer_delays(q)
    D = max(delays.values(), default=0)
    xn = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    T, B = xn.shape[:2]
    flat = np.concatenate([xn.reshape(T, B, -1), np.zeros((D, B, int(np.prod(xn.shape[2:]))))])
    spikes = simulate(to_loihi_net(q), flat)
    res = SimResult(adapters=adapters + [f"spikes realigned by one step per Dense ({', '.join(f'{n}: {d}' for n, d in delays.items())})",
                                         "input events binarised (Dense takes 1-bit spikes)"])
    np_dtype = np.float64 if str(dtype).endswith("float64") else np.float32
    for n, d in delays.items():
        res.spikes[n] = spikes[n][d:d + T].astype(np_dtype).reshape(T, B, *np.asarray(graph.nodes[n].v_threshold).shape)
    for o, srcs in structure.output_sources(graph).items():
        if len(srcs) == 1 and srcs[0] in res.spikes:
            res.readout[o] = res.spikes[srcs[0]]
    return res
