"""A small network generated deterministically: the built-in default of the main job."""

import numpy as np

from .netfile import ConvLayer, FcLayer, Network


__all__ = ["example_network"]


def example_network(batch=4, timesteps=12, firing_rate=0.03, seed=0):
    """conv 2->4 (E3 s1 p1, 10x10) -> conv 4->8 (E3 s2 p0, 10x10 -> 4x4) -> fc 128->10.

    Random weights biased positive so that every layer fires, random input spikes at
    ``firing_rate``; each layer's TWS is the largest divisor of ``timesteps`` up to 3, 4
    and 6. The same arguments always give the same file.
    """
    rng = np.random.default_rng(seed)

    def tws(preferred):
        return max(d for d in range(1, preferred + 1) if timesteps % d == 0)

    layers = [
        ConvLayer(in_channels=2, in_size=(10, 10), out_channels=4, kernel=3, stride=1,
                  padding=1, threshold=90, leak_shift=3, tws=tws(3)),
        ConvLayer(in_channels=4, in_size=(10, 10), out_channels=8, kernel=3, stride=2,
                  padding=0, threshold=150, leak_shift=2, tws=tws(4)),
        FcLayer(in_features=128, out_features=10, threshold=600, leak_shift=1, tws=tws(6)),
    ]
    weights = [rng.integers(-64, 96, size=layer.weight_shape) for layer in layers]
    spikes = (rng.random((batch, timesteps, *layers[0].in_shape)) < firing_rate).astype(np.uint8)
    labels = rng.integers(0, 10, size=batch)
    return Network(layers, weights, spikes, weight_bits=8, v_bits=16, labels=labels)
