"""Networks for the RTL tests: random conv and fc chains with random strides, padding,
leaks, thresholds, widths and input firing rates (SPEC §2), always valid; and the fixed
tiny network the amaranth.sim tests run."""

import numpy as np

from spikex.netfile import ConvLayer, FcLayer, Network


__all__ = ["random_network", "small_network", "tiny_network"]


def random_network(rng, *, max_size=8, max_layers=2, timesteps=(4, 6, 12), tws=(1, 2, 3),
                   rates=(0.01, 0.1, 0.3), max_batch=3, v_bits=(8, 12, 16)):
    """A random conv chain ending in an fc layer; every choice is drawn from ``rng``."""
    steps = int(rng.choice(timesteps))
    v = int(rng.choice(v_bits))
    top = min(300, 2 ** (v - 1) - 1)
    tws_choices = [d for d in tws if steps % d == 0] or [1]
    channels, size = int(rng.integers(1, 4)), int(rng.integers(4, max_size + 1))
    layers = []
    for _ in range(int(rng.integers(1, max_layers + 1))):
        kernel = int(rng.integers(1, min(size, 3) + 1))
        layer = ConvLayer(in_channels=channels, in_size=(size, size),
                          out_channels=int(rng.integers(1, 5)), kernel=kernel,
                          stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
                          threshold=int(rng.integers(1, top + 1)),
                          leak_shift=int(rng.integers(0, min(6, v))),
                          tws=int(rng.choice(tws_choices)))
        layers.append(layer)
        channels, size = layer.out_channels, layer.out_size[0]
    layers.append(FcLayer(in_features=int(np.prod(layers[-1].out_shape)),
                          out_features=int(rng.integers(1, 6)), threshold=int(rng.integers(1, top + 1)),
                          leak_shift=int(rng.integers(0, min(6, v))), tws=int(rng.choice(tws_choices))))
    weights = [rng.integers(-128, 128, size=layer.weight_shape) for layer in layers]
    rate = float(rng.choice(rates))
    x = (rng.random((int(rng.integers(1, max_batch + 1)), steps, *layers[0].in_shape)) < rate)
    return Network(layers, weights, x.astype(np.uint8), weight_bits=8, v_bits=v)


def small_network(seed):
    """A :func:`random_network` of inputs up to 7 x 7, T of 4, 6 or 12 steps and 16-bit
    membranes: one the accelerator of ``sim.differential.RTL_CONFIGS[0]`` runs in one
    time block."""
    return random_network(np.random.default_rng(seed), max_size=7, timesteps=(4, 6, 12),
                          tws=(1, 2, 3), v_bits=(16,), max_batch=2)


def tiny_network(seed=0, batch=1, timesteps=8, rate=0.3):
    """A 2 x 5 x 5 input, a stride-2 conv layer of 3 channels (tws 2) and an fc layer of 4
    neurons (tws 4), random weights and input from ``seed``."""
    rng = np.random.default_rng(seed)
    conv = ConvLayer(in_channels=2, in_size=(5, 5), out_channels=3, kernel=3, stride=2,
                     padding=1, threshold=40, leak_shift=2, tws=2)
    fc = FcLayer(in_features=27, out_features=4, threshold=30, leak_shift=1, tws=4)
    weights = [rng.integers(-60, 100, size=conv.weight_shape),
               rng.integers(-60, 100, size=fc.weight_shape)]
    x = (rng.random((batch, timesteps, 2, 5, 5)) < rate).astype(np.uint8)
    return Network([conv, fc], weights, x, weight_bits=8, v_bits=16)
