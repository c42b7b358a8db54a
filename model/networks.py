"""The SNNs of the paper's Table II (SPEC §2), small variants for tests, and their two runners.

A network is described by a plain, JSON-able *config* (kept in every checkpoint)::

    {"name": "nmnist", "T": 30, "input_shape": [2, 34, 34], "classes": 10,
     "layers": [{"kind": "conv", "out_channels": 12, "kernel": 3, "stride": 2, "padding": 0},
                ..., {"kind": "fc", "out_features": 10}]}

Input and output sizes are derived, so a layer lists only what SPEC §2 fixes by hand.

- :class:`SpikingNet` is the trainable float network: bias-free ``Conv2d``/``Linear``
  synapses, each followed by a :class:`~model.lif.LIF`. Its forward takes input spikes
  ``[T, B, C, H, W]`` (time first) and returns the tuple of every layer's output spikes
  ``[T, B, *out_shape]``; the prediction is the argmax of the last layer's spike counts.
- :class:`IntegerNet` runs a compiled :class:`spikex.netfile.Network` in torch with the
  integer LIF, bit for bit as :func:`sim.golden.run_network` (same I/O layout, time first).

A synaptic current depends only on the layer's input, so each layer computes the currents
of all T steps in one convolution and then runs its neurons over time.
"""

import copy
import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from spikex.netfile import ConvLayer, FcLayer
from .lif import LIF, IntegerLIF


__all__ = ["PRESETS", "net_config", "layer_geometry", "SpikingNet", "IntegerNet", "spike_counts"]


def _conv(out_channels, kernel, stride, padding):
    return {"kind": "conv", "out_channels": out_channels, "kernel": kernel, "stride": stride,
            "padding": padding}


def _fc(out_features):
    return {"kind": "fc", "out_features": out_features}


PRESETS = {
    # Table II of the paper, with SPEC §2's strides and paddings.
    "nmnist": {"T": 30, "input_shape": [2, 34, 34], "classes": 10, "layers": [
        _conv(12, 3, 2, 0), _conv(32, 3, 1, 0), _conv(64, 3, 2, 0), _fc(10)]},
    "dvsg-medium": {"T": 300, "input_shape": [2, 64, 64], "classes": 11, "layers": [
        _conv(8, 5, 2, 2), _conv(16, 5, 4, 2), _conv(16, 5, 1, 2), _conv(16, 5, 1, 3),
        _fc(512), _fc(11)]},
    "dvsg-large": {"T": 300, "input_shape": [2, 32, 32], "classes": 11, "layers": [
        _conv(32, 3, 2, 1), _conv(64, 3, 2, 1), _conv(128, 3, 2, 1), _fc(256), _fc(11)]},
    # Small variants for tests and quick runs on N-MNIST input.
    "nmnist-tiny": {"T": 10, "input_shape": [2, 34, 34], "classes": 10, "layers": [
        _conv(4, 3, 2, 1), _conv(8, 3, 2, 0), _fc(10)]},
    "nmnist-small": {"T": 30, "input_shape": [2, 34, 34], "classes": 10, "layers": [
        _conv(8, 3, 2, 0), _conv(16, 3, 2, 0), _fc(10)]},
}


def net_config(name, T=None):
    """A copy of preset ``name`` (optionally with another T); unknown names list the presets."""
    if name not in PRESETS:
        raise ValueError(f"unknown network {name!r}; choices: {', '.join(PRESETS)}")
    config = copy.deepcopy(PRESETS[name])
    config["name"] = name
    if T is not None:
        config["T"] = int(T)
    return config


def layer_geometry(config, thresholds=None, leak_shifts=None, tws=None):
    """The config's layers as :mod:`spikex.netfile` layers (threshold/leak/tws default to 1/0/1)."""
    layers = []
    shape = tuple(config["input_shape"])
    for k, spec in enumerate(config["layers"]):
        lif = {"threshold": thresholds[k] if thresholds else 1,
               "leak_shift": leak_shifts[k] if leak_shifts else 0,
               "tws": tws[k] if tws else 1}
        if spec["kind"] == "conv":
            if len(shape) != 3:
                raise ValueError(f"layer {k} (conv) follows an fc layer; conv needs [C, H, W] input")
            layer = ConvLayer(shape[0], tuple(shape[1:]), spec["out_channels"], spec["kernel"],
                              spec["stride"], spec["padding"], **lif)
        else:
            layer = FcLayer(int(np.prod(shape)), spec["out_features"], **lif)
        layers.append(layer)
        shape = layer.out_shape
    return layers


def spike_counts(spikes):
    """Spike count per output neuron: ``[T, B, M]`` -> ``[B, M]``."""
    return spikes.sum(dim=0)


class SpikingNet(nn.Module):
    """The trainable float SNN of a config.

    Parameters
    ----------
    config : dict
        See the module docstring.
    leak_shift : float
        Initial leak shift of every layer (``lambda = 1 - 2**-leak_shift``).
    surrogate, alpha
        Surrogate gradient of every LIF (see :mod:`model.lif`).
    init_gain : float
        Weights start normal with std ``init_gain / sqrt(fan_in)``.
    """

    def __init__(self, config, leak_shift=3.0, surrogate="superspike", alpha=5.0, init_gain=2.0):
        super().__init__()
        self.config = copy.deepcopy(config)
        self.geometry = layer_geometry(config)
        self.synapses = nn.ModuleList()
        self.neurons = nn.ModuleList()
        for layer in self.geometry:
            if layer.kind == "conv":
                synapse = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel,
                                    layer.stride, layer.padding, bias=False)
            else:
                synapse = nn.Linear(layer.in_features, layer.out_features, bias=False)
            nn.init.normal_(synapse.weight, std=init_gain / math.sqrt(layer.fan_in))
            self.synapses.append(synapse)
            self.neurons.append(LIF(leak_shift, 1.0, surrogate, alpha))

    @property
    def T(self):
        return self.config["T"]

    def forward(self, x):
        """Input spikes ``[T, B, *input_shape]`` -> tuple of each layer's spikes ``[T, B, *out_shape]``."""
        outputs = []
        for layer, synapse, neurons in zip(self.geometry, self.synapses, self.neurons):
            steps, batch = x.shape[:2]
            flat = x.reshape(steps * batch, *layer.in_shape)
            if layer.kind == "conv":
                # channels last throughout: faster convolutions, and no layout copies
                # between them (the spikes returned are [T, B, C, H, W] views of it)
                current = synapse(flat.contiguous(memory_format=torch.channels_last))
                current = current.permute(0, 2, 3, 1).reshape(steps, batch, *layer.out_size,
                                                              layer.out_channels)
                x = neurons(current).permute(0, 1, 4, 2, 3)
            else:
                x = neurons(synapse(flat).reshape(steps, batch, *layer.out_shape))
            outputs.append(x)
        return tuple(outputs)

    def leak_shifts(self):
        """The integer leak shift each layer's forward pass uses."""
        return [neurons.integer_leak_shift for neurons in self.neurons]


def _integer_current(layer, weights, spikes):
    """Exact ``C[t]``: float64 convolution of 0/1 spikes with integer weights, rounded back."""
    steps, batch = spikes.shape[:2]
    x = spikes.reshape(steps * batch, *layer.in_shape).to(torch.float64)
    if layer.kind == "conv":
        current = F.conv2d(x, weights, stride=layer.stride, padding=layer.padding)
    else:
        current = x @ weights.T
    return torch.round(current).to(torch.int64).reshape(steps, batch, *layer.out_shape)


class IntegerNet(nn.Module):
    """A compiled network (:class:`spikex.netfile.Network`) run with the integer LIF of SPEC §1.

    Forward: uint8 input spikes ``[T, B, *input shape]`` -> tuple of uint8 spikes
    ``[T, B, *out_shape]`` per layer, equal to :func:`sim.golden.run_network` transposed.
    Currents are exact: float64 sums of integers far below 2**53 (the fan-in bound of
    SPEC §1 is checked by the caller, e.g. :func:`spikex.netfile.check_fan_in`).
    """

    def __init__(self, net):
        super().__init__()
        self.layers = list(net.layers)
        self.weights = [torch.as_tensor(np.asarray(w), dtype=torch.float64) for w in net.weights]
        self.neurons = nn.ModuleList(IntegerLIF(layer.threshold, layer.leak_shift, net.v_bits)
                                     for layer in self.layers)

    def forward(self, x):
        outputs = []
        for layer, weights, neurons in zip(self.layers, self.weights, self.neurons):
            x = neurons(_integer_current(layer, weights, x))
            outputs.append(x)
        return tuple(outputs)
