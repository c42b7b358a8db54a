"""The golden model: SPEC §1–2 written plainly, for conv and fc layers and whole networks.

Every other backend (the PyTorch integer mode, the analytic simulator, the RTL) is checked
against this module bit for bit, so it stays the loop of the specification::

    C[t] = sum_i w_i * x_i[t]
    v    = sat(decay(u) + C[t])
    s[t] = v >= threshold
    u    = 0 if s[t] else v
    decay(u) = u - (u >> leak_shift)   (u itself when leak_shift == 0)

It is vectorised over the batch and the neurons only; time runs as a plain loop.
"""

import numpy as np

from spikex.netfile import check_fan_in


__all__ = ["decay", "lif_step", "lif", "synaptic_current", "run_layer", "run_network", "predict"]


def decay(u, leak_shift):
    """One leak step: ``u - (u >> leak_shift)``, or ``u`` for an IF neuron (``leak_shift == 0``)."""
    u = np.asarray(u, dtype=np.int64)
    if leak_shift == 0:
        return u
    return u - (u >> leak_shift)


def lif_step(u, current, threshold, leak_shift, v_bits):
    """One time step of SPEC §1: return ``(spikes, new_u)``."""
    v_min, v_max = -2 ** (v_bits - 1), 2 ** (v_bits - 1) - 1
    v = np.clip(decay(u, leak_shift) + current, v_min, v_max)
    spikes = v >= threshold
    return spikes.astype(np.uint8), np.where(spikes, 0, v)


def lif(currents, threshold, leak_shift, v_bits, u=None):
    """Run LIF neurons over time.

    ``currents`` is an integer array ``[B, T, ...]``; each sample starts from ``u`` (zero if
    not given). Returns ``(spikes, membrane)``: uint8 spikes ``[B, T, ...]`` and the membrane
    after each step (int64, same shape).
    """
    currents = np.asarray(currents, dtype=np.int64)
    u = np.zeros(currents.shape[:1] + currents.shape[2:], np.int64) if u is None else u
    spikes = np.empty(currents.shape, np.uint8)
    membrane = np.empty(currents.shape, np.int64)
    for t in range(currents.shape[1]):
        spikes[:, t], u = lif_step(u, currents[:, t], threshold, leak_shift, v_bits)
        membrane[:, t] = u
    return spikes, membrane


def _exact_matmul(a, b):
    # Float64 BLAS is exact here: both operands are integers and every partial sum stays
    # far below 2**53 (the fan-in bound is checked against acc_bits <= 48 first).
    return np.rint(a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64)


def synaptic_current(layer, weights, spikes):
    """``C[t]`` of every output neuron: ``[B, T, *layer.in_shape]`` -> int64 ``[B, T, *layer.out_shape]``."""
    batch, steps = spikes.shape[:2]
    if layer.kind == "fc":
        x = spikes.reshape(batch * steps, -1)
        return _exact_matmul(x, weights.T).reshape(batch, steps, layer.out_features)
    p, s, e = layer.padding, layer.stride, layer.kernel
    x = spikes.reshape(batch * steps, *layer.in_shape)
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    rows, cols = layer.out_size
    # patches[n, c, r, r', ky, kx] = x[n, c, r*s + ky, r'*s + kx]  (padded coordinates)
    patches = np.lib.stride_tricks.sliding_window_view(x, (e, e), axis=(2, 3))
    patches = patches[:, :, : rows * s : s, : cols * s : s]
    patches = patches.transpose(0, 2, 3, 1, 4, 5).reshape(batch * steps * rows * cols, -1)
    current = _exact_matmul(patches, weights.reshape(layer.out_channels, -1).T)
    return current.reshape(batch, steps, rows, cols, layer.out_channels).transpose(0, 1, 4, 2, 3)


def run_layer(layer, weights, spikes, v_bits):
    """Output spikes (uint8 ``[B, T, *layer.out_shape]``) of one layer for input ``spikes``."""
    spikes = np.asarray(spikes)
    spikes = spikes.reshape(spikes.shape[0], spikes.shape[1], *layer.in_shape)
    current = synaptic_current(layer, np.asarray(weights, np.int64), spikes)
    out, _ = lif(current, layer.threshold, layer.leak_shift, v_bits)
    return out


def run_network(net, acc_bits=24, source="<network>"):
    """Run every layer in order; return the list of each layer's output spikes."""
    check_fan_in(net, acc_bits, source)
    outputs = []
    spikes = net.input
    for layer, weights in zip(net.layers, net.weights):
        spikes = run_layer(layer, weights, spikes, net.v_bits)
        outputs.append(spikes)
    return outputs


def predict(last_spikes):
    """Spike counts of the last layer per output neuron, and the predicted class (lowest index on ties)."""
    counts = last_spikes.reshape(last_spikes.shape[0], last_spikes.shape[1], -1).sum(axis=1, dtype=np.int64)
    return counts, counts.argmax(axis=1)
