"""Compile a trained checkpoint into a ``spikex-net-v1`` network file, and compare the three runs.

Quantisation, per layer ``k`` with float weights ``w`` and float threshold ``theta = 1``::

    scale_k     = (2**(weight_bits-1) - 1) / max |w|
    w_int       = clamp(round(w * scale_k), -2**(weight_bits-1), 2**(weight_bits-1) - 1)
    threshold_k = clamp(round(theta * scale_k), 1, 2**(v_bits-1) - 1)

``round`` is round-half-to-even (``torch.round``). A layer's spikes do not change when its
currents, membrane and threshold are all multiplied by the same positive scale (the leak
is linear and the reset is to zero), so the per-layer scale only adds rounding error:
that of the weights, the threshold and the floor in the integer leak ``u - (u >> k)``.
``leak_shift`` is the integer ``k`` the float model already used (``lambda = 1 - 2**-k``,
:mod:`model.lif`); ``tws`` is the TWS of the checkpoint (chosen by HAS, or fixed).
"""

import numpy as np
import torch

from spikex.netfile import Network, SpikexError, check_fan_in
from .networks import IntegerNet, layer_geometry


__all__ = ["quantise", "compile_checkpoint", "run_integer", "densities"]


def quantise(model, tws, weight_bits=8, v_bits=16):
    """Integer layers and weights of a float :class:`~model.networks.SpikingNet`."""
    w_max = 2 ** (weight_bits - 1) - 1
    v_max = 2 ** (v_bits - 1) - 1
    weights, thresholds = [], []
    for k, (synapse, neurons) in enumerate(zip(model.synapses, model.neurons)):
        w = synapse.weight.detach().to(torch.float64)
        peak = float(w.abs().max())
        if peak == 0:
            raise SpikexError(f"layer {k}: all weights are zero; nothing to quantise")
        scale = w_max / peak
        threshold = int(round(neurons.threshold * scale))
        if threshold > v_max:
            raise SpikexError(f"layer {k}: threshold {threshold} (weights up to {peak:.3g}) does not "
                              f"fit v_bits={v_bits}; the largest is {v_max}")
        weights.append(torch.round(w * scale).clamp(-w_max - 1, w_max).to(torch.int64).numpy())
        thresholds.append(max(1, threshold))
    layers = layer_geometry(model.config, thresholds, model.leak_shifts(), list(tws))
    return layers, weights


def compile_checkpoint(model, tws, spikes, labels, weight_bits=8, v_bits=16, acc_bits=24,
                       source="<checkpoint>"):
    """A :class:`spikex.netfile.Network` of ``model`` on input ``spikes`` uint8 ``[B, T, ...]``."""
    T = spikes.shape[1]
    for k, t in enumerate(tws):
        if T % t:
            raise SpikexError(f"{source}: layer {k}: tws {t} does not divide T={T}")
    layers, weights = quantise(model, tws, weight_bits, v_bits)
    net = Network(layers, weights, np.asarray(spikes, dtype=np.uint8), weight_bits, v_bits,
                  None if labels is None else np.asarray(labels, dtype=np.int64))
    check_fan_in(net, acc_bits, source)
    return net


def run_integer(net, batch_size=50):
    """Torch integer-mode spikes of every layer, batch first like :func:`sim.golden.run_network`."""
    model = IntegerNet(net)
    chunks = []
    with torch.no_grad():
        for start in range(0, net.batch, batch_size):
            x = torch.from_numpy(np.ascontiguousarray(net.input[start:start + batch_size]))
            chunks.append([s.transpose(0, 1).numpy() for s in model(x.transpose(0, 1))])
    return [np.concatenate(layer) for layer in zip(*chunks)]


def densities(net, outputs):
    """Per-layer output spike density and active-TW (NTWU) density at the layer's ``tws``."""
    from sim.ntwu import active_window_density
    inputs = [net.input] + list(outputs[:-1])
    return ([float(np.mean(out)) for out in outputs],
            [active_window_density(layer, spikes) for layer, spikes in zip(net.layers, inputs)])
