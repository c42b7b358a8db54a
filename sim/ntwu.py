"""Activity tags and neuro-temporal work units (SPEC §3, paper §III-B).

A time window (TW) holds ``tws`` consecutive time steps. The activity tag of a unit is 1
exactly when at least one input spike falls in it; a tag one level up is the OR of the
tags below. ``NTWU(n, w)`` is output neuron ``n`` over window ``w``; it is active when some
input in ``n``'s receptive field spikes during ``w``.
"""

import numpy as np


__all__ = ["window_tags", "ntwu_tags", "input_firing_rate", "active_window_density"]


def window_tags(spikes, tws):
    """Per-window activity tags: ``[B, T, ...]`` -> bool ``[B, T // tws, ...]``."""
    batch, steps = spikes.shape[:2]
    if steps % tws:
        raise ValueError(f"tws {tws} does not divide T={steps}")
    return spikes.reshape(batch, steps // tws, tws, *spikes.shape[2:]).any(axis=2)


def ntwu_tags(layer, spikes, tws=None):
    """Activity of every NTWU of ``layer``: bool ``[B, W, *layer.out_shape]``.

    ``spikes`` are the layer's input spikes ``[B, T, ...]``; ``tws`` defaults to the
    layer's own time-window size.
    """
    tws = layer.tws if tws is None else tws
    batch = spikes.shape[0]
    tags = window_tags(spikes.reshape(batch, spikes.shape[1], -1), tws)
    windows = tags.shape[1]
    if layer.kind == "fc":
        active = tags.any(axis=2)
        return np.broadcast_to(active[:, :, None], (batch, windows, layer.out_features))
    # A conv output position is active if any channel of its receptive field is: OR over
    # channels, then a box filter over the kernel footprint with stride and padding.
    p, s, e = layer.padding, layer.stride, layer.kernel
    rows, cols = layer.out_size
    any_channel = tags.reshape(batch * windows, *layer.in_shape).any(axis=1)
    any_channel = np.pad(any_channel, ((0, 0), (p, p), (p, p)))
    fields = np.lib.stride_tricks.sliding_window_view(any_channel, (e, e), axis=(1, 2))
    active = fields[:, : rows * s : s, : cols * s : s].any(axis=(3, 4))
    active = active.reshape(batch, windows, 1, rows, cols)
    return np.broadcast_to(active, (batch, windows, *layer.out_shape))


def input_firing_rate(spikes):
    """Fraction of (input, time step) pairs that hold a spike."""
    return float(np.mean(spikes)) if spikes.size else 0.0


def active_window_density(layer, spikes, tws=None):
    """Fraction of the layer's NTWUs with a non-zero activity tag."""
    tags = ntwu_tags(layer, spikes, tws)
    return float(tags.mean()) if tags.size else 0.0
