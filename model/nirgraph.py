"""NIR graphs in and out of SpikeX: the code behind ``spikex import`` and ``spikex export``.

A NIR graph (Neuromorphic Intermediate Representation, ``nir`` package) is read as a chain
``Input -> [pool | Flatten]* -> synapse -> neuron -> ... -> Output`` where a synapse is a
``Conv2d``, ``Linear`` or ``Affine`` (zero bias) and a neuron an ``IF`` or ``LIF``; each
synapse-neuron pair becomes one SpikeX layer. A ``SumPool2d`` or ``AvgPool2d`` is linear,
so it is fused exactly into the weights of the conv or fc layer that follows it: a conv
of kernel E, stride s, padding p after a pool of kernel k, stride q becomes a conv of
kernel ``(E - 1) q + k``, stride ``s q``, padding ``p q`` on the unpooled map.

Semantics of the nodes, one forward-Euler step of ``dt`` (``--dt``; snnTorch's exporter
writes ``tau = dt / (1 - beta)`` and ``r = tau / dt`` with ``dt = 1e-4``, the default)::

    LIF:  v = lambda u + g I      lambda = 1 - dt / tau,  g = dt r / tau   (v_leak = 0)
    IF:   v = u + g I             g = r
    spike if v > v_threshold;  u = 0 after a spike, else v                 (v_reset = 0)

A layer's spikes do not change when the current, membrane and threshold of a neuron are
multiplied by one positive number (linear leak, reset to zero), so each neuron's weights
are divided by ``theta = v_threshold / g`` and its threshold becomes 1; a conv layer
shares weights, so ``theta`` may differ between channels but not within one. The
quantisation then follows :mod:`model.compile` with one change: per layer,
``scale = (2**(weight_bits-1) - 1) / (clip * max |w|)``, where ``clip`` (1 down to 0.5,
saturating the largest weights) is chosen on calibration data from Train/ to minimise the
spike-count error against the float network. NIR's strict ``v > 1`` becomes SPEC's
``v >= threshold`` exactly: the integer membrane ``V`` exceeds ``scale`` if and only if
``V >= floor(scale) + 1``. ``lambda`` goes to the nearest ``1 - 2**-leak_shift`` (error
reported). A layer whose weights are already integers in range with one ``theta`` (as
:func:`export_graph` writes them) is kept as it is, so export then import is bit exact.

:func:`export_graph` writes integer weights, ``v_threshold = threshold - 0.5`` (``V >= T``
is ``V > T - 0.5`` for an integer ``V``), ``tau = dt 2**leak_shift`` and ``r = 2**leak_shift``
(so ``lambda = 1 - 2**-leak_shift`` and ``g = 1``) or an ``IF`` for ``leak_shift = 0``;
the TWS and widths travel in the graph's metadata.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError, check_fan_in, write_atomic


__all__ = ["DEFAULT_DT", "FloatLayer", "read_graph", "graph_chain", "float_layers", "run_float",
           "quantise_layers", "build_network", "export_graph", "write_graph", "graph_metadata"]

DEFAULT_DT = 1e-4
CLIP_CHOICES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)

_REFUSED = {
    "CubaLIF": "a current-based LIF (a synaptic current state per neuron) is not supported; "
               "SpikeX neurons are LIF or IF",
    "CubaLI": "a current-based leaky integrator is not supported (no spikes)",
    "LI": "a leaky integrator has no spikes; SpikeX layers end in IF or LIF neurons",
    "I": "an integrator has no spikes; SpikeX layers end in IF or LIF neurons",
    "Delay": "delays are not supported",
    "Scale": "a Scale node is not supported",
    "Threshold": "a Threshold node is not supported; use IF or LIF neurons",
    "Conv1d": "Conv1d is not supported; SpikeX convolutions are 2d",
    "NIRGraph": "a nested graph (snnTorch writes a recurrent layer so) is not supported: "
                "SpikeX has no recurrent connections",
}


@dataclass
class FloatLayer:
    """One layer of the float network: geometry, weights with every threshold 1, leak.

    ``layer`` is the SpikeX geometry (its threshold, leak_shift and tws are placeholders);
    ``weight`` float64 of ``layer.weight_shape``, divided per neuron by its threshold;
    ``leak`` the float ``lambda``; ``leak_shift`` the nearest integer one; ``integer``
    true when the weights are integers kept unscaled, with ``threshold`` their threshold.
    """
    layer: object
    weight: np.ndarray
    leak: float
    leak_shift: int
    nodes: str
    integer: bool = False
    threshold: float = 1.0


def _fail(source, name, node, why):
    raise SpikexError(f"{source}: node '{name}' ({type(node).__name__}): {why}")


def read_graph(path):
    """A NIR graph from ``path``; a file that is not one is refused in one line."""
    import nir
    try:
        return nir.read(path, type_check=False)
    except FileNotFoundError:
        raise SpikexError(f"{path}: no such file") from None
    except Exception as error:      # h5py and nir raise many kinds
        raise SpikexError(f"{path}: not a readable NIR graph ({type(error).__name__}: {error})") from None


def graph_chain(graph, source="<graph>"):
    """The graph's nodes in order from its one Input to its one Output: ``[(name, node)]``.

    Refuses, naming the node, anything that is not a single chain: an edge that closes a
    cycle (recurrence), a second input or output, a node with two inputs or two outputs
    (skip connections), a node off the path.
    """
    import nir
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            _fail(source, name, node, _REFUSED["NIRGraph"])
        if node is None:
            raise SpikexError(f"{source}: node '{name}' is empty (the exporter could not convert "
                              f"that module)")
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SpikexError(f"{source}: the graph has {len(inputs)} Input and {len(outputs)} Output "
                          f"nodes; SpikeX takes exactly one of each")
    for pre, post in graph.edges:
        for end in (pre, post):
            if end not in graph.nodes:
                raise SpikexError(f"{source}: edge ({pre!r}, {post!r}) names no node {end!r}")
        if _reaches(graph.edges, post, pre):
            _fail(source, pre, graph.nodes[pre], f"its edge to '{post}' closes a cycle: recurrent "
                                                 f"edges are not supported")
    successor, predecessor = {}, {}
    for pre, post in graph.edges:
        if pre in successor:
            _fail(source, pre, graph.nodes[pre],
                  f"has two outgoing edges (to '{successor[pre]}' and '{post}'): skip connections "
                  f"are not supported, only a chain")
        if post in predecessor:
            _fail(source, post, graph.nodes[post],
                  f"has two incoming edges (from '{predecessor[post]}' and '{pre}'): recurrent "
                  f"edges and skip connections are not supported, only a chain")
        successor[pre], predecessor[post] = post, pre
    chain, name = [], inputs[0]
    while True:
        chain.append((name, graph.nodes[name]))
        if name == outputs[0]:
            break
        if name not in successor:
            _fail(source, name, graph.nodes[name], "leads nowhere: the chain does not reach the Output")
        name = successor[name]
    off_path = [n for n in graph.nodes if n not in dict(chain)]
    if off_path:
        _fail(source, off_path[0], graph.nodes[off_path[0]],
              "is not on the path from Input to Output")
    return chain


def _reaches(edges, start, goal):
    """Whether a path of ``edges`` leads from node ``start`` to node ``goal``."""
    seen, frontier = set(), [start]
    while frontier:
        name = frontier.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            frontier.extend(post for pre, post in edges if pre == name)
    return False


def _pair(value, name, node, what, source):
    """A 2-d parameter given as an int or a pair, returned as a tuple of two ints."""
    values = np.atleast_1d(np.asarray(value)).astype(np.int64).tolist()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2:
        _fail(source, name, node, f"{what} must be an int or a pair, not {value!r}")
    return tuple(values)


def _square(pair, name, node, what, source):
    if pair[0] != pair[1]:
        _fail(source, name, node, f"{what} {list(pair)} differs between height and width; "
                                  f"SpikeX needs the same in both")
    return pair[0]


def _unpool(weight, kernel, stride, gain):
    """Weights over a pooled map's last two axes -> weights over the map before the pool."""
    n_h, n_w = weight.shape[-2:]
    out = np.zeros(weight.shape[:-2] + ((n_h - 1) * stride + kernel, (n_w - 1) * stride + kernel))
    for ky in range(kernel):
        for kx in range(kernel):
            out[..., ky:ky + (n_h - 1) * stride + 1:stride,
                kx:kx + (n_w - 1) * stride + 1:stride] += gain * weight
    return out


class _ChainReader:
    """Walks a chain of NIR nodes, keeping the current shape and the pools not yet fused."""

    def __init__(self, source, dt, v_bits, weight_bits):
        self.source, self.dt, self.v_bits, self.weight_bits = source, dt, v_bits, weight_bits
        self.shape = None
        self.pools = []              # (kernel, stride, gain, shape before the pool, node name)
        self.flattened = None        # the [C, H, W] shape a Flatten turned into [N]
        self.synapse = None          # (names, geometry without neuron, weight)
        self.layers = []

    def input(self, name, node):
        shape = [int(v) for v in np.asarray(node.input_type["input"]).ravel()]
        if len(shape) in (2, 4) and shape[0] == 1:
            shape = shape[1:]        # a batch dimension of 1, as Norse writes it
        if len(shape) not in (1, 3):
            _fail(self.source, name, node, f"input shape {shape} is neither [C, H, W] nor [N]")
        self.shape = tuple(shape)

    def pool(self, name, node, gain_of_kernel):
        if self.synapse is not None:
            _fail(self.source, name, node, "a pool between a synapse and its neuron is not "
                                           "supported; put it after the neuron")
        if len(self.shape) != 3 or self.flattened:
            _fail(self.source, name, node, f"needs a [C, H, W] input, not {list(self.shape)}")
        kernel = _square(_pair(node.kernel_size, name, node, "kernel_size", self.source),
                         name, node, "kernel_size", self.source)
        stride = _square(_pair(node.stride, name, node, "stride", self.source),
                         name, node, "stride", self.source)
        if any(_pair(node.padding, name, node, "padding", self.source)):
            _fail(self.source, name, node, "a padded pool is not supported")
        c, h, w = self.shape
        out = ((h - kernel) // stride + 1, (w - kernel) // stride + 1)
        if min(out) < 1:
            _fail(self.source, name, node, f"kernel {kernel} does not fit input {list(self.shape)}")
        self.pools.append((kernel, stride, gain_of_kernel(kernel), self.shape, name))
        self.shape = (c, *out)

    def flatten(self, name, node):
        if self.synapse is not None:
            _fail(self.source, name, node, "a Flatten between a synapse and its neuron is not "
                                           "supported")
        start = int(node.start_dim)
        end = int(node.end_dim)
        if start not in (0, -len(self.shape)) or end not in (-1, len(self.shape) - 1):
            _fail(self.source, name, node, f"flattens dimensions {start}..{end} of "
                                           f"{list(self.shape)}; only a flatten to [N] is supported")
        if len(self.shape) == 3:
            self.flattened = self.shape
        self.shape = (int(np.prod(self.shape)),)

    def conv(self, name, node):
        self._no_open_synapse(name, node)
        weight = np.asarray(node.weight, dtype=np.float64)
        if weight.ndim != 4 or len(self.shape) != 3 or weight.shape[1] != self.shape[0]:
            _fail(self.source, name, node, f"weights {list(weight.shape)} do not fit input "
                                           f"{list(self.shape)}")
        if int(np.asarray(node.groups)) != 1:
            _fail(self.source, name, node, f"groups = {int(np.asarray(node.groups))}; only 1 is supported")
        if _pair(node.dilation, name, node, "dilation", self.source) != (1, 1):
            _fail(self.source, name, node, f"dilation {np.asarray(node.dilation).tolist()}; only 1 "
                                           f"is supported")
        kernel = _square(weight.shape[2:], name, node, "kernel", self.source)
        stride = _square(_pair(node.stride, name, node, "stride", self.source), name, node,
                         "stride", self.source)
        padding = node.padding
        if isinstance(padding, (str, bytes)):
            padding = padding.decode() if isinstance(padding, bytes) else padding
            if padding == "same" and (stride != 1 or kernel % 2 == 0):
                _fail(self.source, name, node, "padding 'same' needs stride 1 and an odd kernel")
            padding = 0 if padding == "valid" else (kernel - 1) // 2
        else:
            padding = _square(_pair(padding, name, node, "padding", self.source), name, node,
                              "padding", self.source)
        self._zero_bias(name, node)
        c, h, w = self.shape
        pooled_out = ((h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1)
        if min(pooled_out) < 1:
            _fail(self.source, name, node, f"kernel {kernel} does not fit input {list(self.shape)}")
        for pool_kernel, pool_stride, gain, before, pool_name in reversed(self.pools):
            weight = _unpool(weight, pool_kernel, pool_stride, gain)
            kernel, stride, padding = weight.shape[-1], stride * pool_stride, padding * pool_stride
            dropped = any(n > pool_stride * ((n - pool_kernel) // pool_stride + 1)
                          for n in before[1:])
            if padding and (pool_kernel > pool_stride or dropped):
                _fail(self.source, pool_name, node, "cannot be fused into the padded conv "
                                                    f"'{name}' exactly (its padding would cover "
                                                    "input the pool dropped)")
        in_shape = self.pools[0][3] if self.pools else self.shape
        geometry = ConvLayer(in_shape[0], tuple(in_shape[1:]), weight.shape[0], kernel, stride,
                             padding, 1, 0, 1)
        if geometry.out_size != pooled_out:
            _fail(self.source, name, node, f"the fused pools give output {list(geometry.out_size)}, "
                                           f"not {list(pooled_out)}")
        self._open(name, geometry, weight)

    def linear(self, name, node):
        self._no_open_synapse(name, node)
        weight = np.asarray(node.weight, dtype=np.float64)
        if len(self.shape) != 1:
            _fail(self.source, name, node, f"gets input {list(self.shape)}; put a Flatten before it")
        if weight.ndim != 2 or weight.shape[1] != self.shape[0]:
            _fail(self.source, name, node, f"weights {list(weight.shape)} do not fit input "
                                           f"{list(self.shape)}")
        self._zero_bias(name, node)
        in_features = self.shape[0]
        if self.pools:
            weight = weight.reshape(weight.shape[0], *self.flattened)
            for pool_kernel, pool_stride, gain, before, _ in reversed(self.pools):
                weight = _unpool(weight, pool_kernel, pool_stride, gain)
                pad = [(0, 0), (0, 0)] + [(0, n - m) for n, m in zip(before[1:], weight.shape[2:])]
                weight = np.pad(weight, pad)
            weight = weight.reshape(weight.shape[0], -1)
            in_features = weight.shape[1]
        self._open(name, FcLayer(in_features, weight.shape[0], 1, 0, 1), weight)

    def neuron(self, name, node, kind):
        if self.synapse is None:
            _fail(self.source, name, node, "a neuron needs a Conv2d, Linear or Affine before it")
        names, geometry, weight = self.synapse
        out_shape = geometry.out_shape

        def per_neuron(what, value):
            try:
                return np.broadcast_to(np.asarray(value, dtype=np.float64), out_shape)
            except ValueError:
                _fail(self.source, name, node, f"{what} of shape {list(np.shape(value))} does not "
                                               f"fit the layer's output {list(out_shape)}")

        reset = per_neuron("v_reset", node.v_reset if node.v_reset is not None else 0.0)
        if np.any(reset != 0):
            _fail(self.source, name, node, f"v_reset = {float(reset.ravel()[np.flatnonzero(reset)[0]]):g}; "
                                           f"SpikeX resets to zero")
        r = per_neuron("r", node.r)
        if kind == "LIF":
            if np.any(per_neuron("v_leak", node.v_leak) != 0):
                _fail(self.source, name, node, "a non-zero v_leak is not supported")
            tau = per_neuron("tau", node.tau)
            leak, gain = 1 - self.dt / tau, self.dt * r / tau
        else:
            leak, gain = np.ones(out_shape), r
        if np.ptp(leak) > 1e-9:
            _fail(self.source, name, node, f"tau differs between neurons (decay {leak.min():.6g} to "
                                           f"{leak.max():.6g}); SpikeX has one leak per layer")
        leak = float(leak.ravel()[0])
        if not 0 < leak <= 1:
            _fail(self.source, name, node, f"tau gives a decay of {leak:.6g} per step of dt = "
                                           f"{self.dt:g}; it must be in (0, 1] (is --dt right?)")
        theta = per_neuron("v_threshold", node.v_threshold) / gain
        if not np.all(np.isfinite(theta)) or np.any(theta <= 0) or np.any(gain <= 0):
            _fail(self.source, name, node, "v_threshold / (dt r / tau) must be positive and finite "
                                           "for every neuron")
        rows = theta.reshape(theta.shape[0], -1)
        if geometry.kind == "conv" and np.any(np.ptp(rows, axis=1) > 1e-9 * rows.max()):
            channel = int(np.argmax(np.ptp(rows, axis=1)))
            _fail(self.source, name, node, f"threshold differs between neurons of channel {channel}; a "
                                           f"conv layer shares its weights, so only one threshold per "
                                           f"channel can be expressed")
        row_theta = rows[:, 0]
        leak_shift = min(range(self.v_bits), key=lambda k: abs(leak - (1 - 2.0 ** -k if k else 1.0)))
        limit = 2 ** (self.weight_bits - 1)
        integer = (np.ptp(row_theta) <= 1e-9 * row_theta.max() and np.all(weight == np.round(weight))
                   and weight.min() >= -limit and weight.max() < limit)
        scale = 1.0 if integer else 1.0 / row_theta.reshape(-1, *[1] * (weight.ndim - 1))
        self.layers.append(FloatLayer(geometry, weight * scale, leak, leak_shift,
                                      f"{names} + '{name}' ({kind})", bool(integer),
                                      float(row_theta[0]) if integer else 1.0))
        self.synapse = None

    def output(self, name, node):
        if self.synapse is not None:
            names, _, _ = self.synapse
            raise SpikexError(f"{self.source}: {names} is not followed by an IF or LIF neuron; "
                              f"every SpikeX layer ends in spiking neurons")
        if self.pools:
            _fail(self.source, name, node, "a pool before the Output has no layer to fuse into")
        if not self.layers:
            _fail(self.source, name, node, "the graph has no layer")

    def _no_open_synapse(self, name, node):
        if self.synapse is not None:
            _fail(self.source, name, node, f"follows {self.synapse[0]} with no neuron between them")

    def _zero_bias(self, name, node):
        bias = getattr(node, "bias", None)
        if bias is not None and np.any(np.asarray(bias) != 0):
            _fail(self.source, name, node, "a non-zero bias is not supported (SpikeX synapses have "
                                           "no bias)")

    def _open(self, name, geometry, weight):
        names = " + ".join(f"'{n}'" for *_, n in self.pools) + (" + " if self.pools else "")
        self.synapse = (f"{names}'{name}'", geometry, weight)
        self.shape = geometry.out_shape
        self.pools, self.flattened = [], None


def float_layers(graph, dt=DEFAULT_DT, v_bits=16, weight_bits=8, source="<graph>"):
    """The graph as a list of :class:`FloatLayer` (pools fused, thresholds normalised)."""
    import nir
    reader = _ChainReader(source, dt, v_bits, weight_bits)
    handlers = {
        nir.Input: reader.input,
        nir.Output: reader.output,
        nir.SumPool2d: lambda n, node: reader.pool(n, node, lambda k: 1.0),
        nir.AvgPool2d: lambda n, node: reader.pool(n, node, lambda k: 1.0 / (k * k)),
        nir.Flatten: reader.flatten,
        nir.Conv2d: reader.conv,
        nir.Linear: reader.linear,
        nir.Affine: reader.linear,
        nir.LIF: lambda n, node: reader.neuron(n, node, "LIF"),
        nir.IF: lambda n, node: reader.neuron(n, node, "IF"),
    }
    for name, node in graph_chain(graph, source):
        kind = type(node).__name__
        if type(node) not in handlers:
            _fail(source, name, node, _REFUSED.get(kind, f"node type {kind} is not supported"))
        handlers[type(node)](name, node)
    return reader.layers


def run_float(layers, spikes, batch_size=50):
    """Float spikes of every layer, NIR's semantics: uint8 ``[B, T, ...]`` -> list of uint8.

    ``v = lambda u + C``, spike if ``v > threshold`` (1, or the kept integer threshold),
    ``u = 0`` after a spike; float64 throughout.
    """
    outputs = [[] for _ in layers]
    with torch.no_grad():
        for start in range(0, len(spikes), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(spikes[start:start + batch_size])).double()
            for k, layer in enumerate(layers):
                x = _float_layer(layer, x)
                outputs[k].append(x.to(torch.uint8).numpy())
    return [np.concatenate(chunks) for chunks in outputs]


def _float_layer(layer, x):
    geometry, weight = layer.layer, torch.from_numpy(layer.weight)
    batch, steps = x.shape[:2]
    flat = x.reshape(batch * steps, *geometry.in_shape)
    if geometry.kind == "conv":
        current = F.conv2d(flat, weight, stride=geometry.stride, padding=geometry.padding)
    else:
        current = flat @ weight.T
    current = current.reshape(batch, steps, *geometry.out_shape)
    u = torch.zeros_like(current[:, 0])
    out = torch.empty_like(current)
    for t in range(steps):
        v = layer.leak * u + current[:, t]
        out[:, t] = (v > layer.threshold).double()
        u = torch.where(out[:, t] > 0, torch.zeros_like(v), v)
    return out


def _threshold_above(value):
    """The least integer threshold ``T`` with ``V >= T`` exactly when ``V > value`` (V integer)."""
    nearest = round(value)
    floor = nearest if abs(value - nearest) <= 1e-9 * max(1.0, abs(value)) else math.floor(value)
    return int(floor) + 1


def _quantise_layer(layer, clip, weight_bits, tws):
    w_max = 2 ** (weight_bits - 1) - 1
    if layer.integer:
        scale, weight = 1.0, layer.weight.astype(np.int64)
    else:
        peak = float(np.abs(layer.weight).max())
        if peak == 0:
            raise SpikexError(f"layer {layer.nodes}: all weights are zero; nothing to quantise")
        scale = w_max / (clip * peak)
        weight = np.clip(np.round(layer.weight * scale), -w_max - 1, w_max).astype(np.int64)
    fields = {key: getattr(layer.layer, key) for key in layer.layer.__dataclass_fields__
              if key != "kind"}
    fields.update(threshold=_threshold_above(layer.threshold * scale),
                  leak_shift=layer.leak_shift, tws=tws)
    return type(layer.layer)(**fields), weight, scale


def quantise_layers(layers, tws, weight_bits=8, v_bits=16, calibration=None, source="<graph>"):
    """Integer layers and weights; ``calibration`` (uint8 ``[B, T, ...]``) picks each layer's clip.

    Returns ``(layers, weights, report)`` where ``report`` lists per layer the clip, the
    scale and the spike-count correlation with the float network on the calibration data.
    """
    from sim.golden import run_layer
    float_out = run_float(layers, calibration) if calibration is not None else None
    x = calibration
    chosen, weights, report = [], [], []
    v_max = 2 ** (v_bits - 1) - 1
    for k, layer in enumerate(layers):
        clips = CLIP_CHOICES if calibration is not None and not layer.integer else (1.0,)
        best = None
        for clip in clips:
            geometry, weight, scale = _quantise_layer(layer, clip, weight_bits, tws[k])
            if geometry.threshold > v_max and best is not None:
                break                 # clipping more only raises the threshold further
            if geometry.threshold > v_max:
                raise SpikexError(f"{source}: layer {k} ({layer.nodes}): threshold "
                                  f"{geometry.threshold} does not fit v_bits={v_bits} (largest "
                                  f"{v_max}); use fewer --weight-bits")
            if x is None:
                best = (0.0, clip, geometry, weight, scale, None)
                break
            out = run_layer(geometry, weight, x, v_bits)
            error = float(np.abs(_counts(out) - _counts(float_out[k])).mean())
            if best is None or error < best[0]:
                best = (error, clip, geometry, weight, scale, out)
        _, clip, geometry, weight, scale, out = best
        chosen.append(geometry)
        weights.append(weight)
        entry = {"layer": k, "nodes": layer.nodes, "clip": clip, "scale": scale,
                 "threshold": geometry.threshold, "leak": layer.leak,
                 "leak_shift": layer.leak_shift, "integer": layer.integer}
        if out is not None:
            entry["count_correlation"] = _correlation(_counts(out), _counts(float_out[k]))
            x = out
        report.append(entry)
    return chosen, weights, report


def _counts(spikes):
    return spikes.reshape(spikes.shape[0], spikes.shape[1], -1).sum(axis=1, dtype=np.int64)


def _correlation(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float(np.array_equal(a, b))
    return float(np.corrcoef(a, b)[0, 1])


def build_network(layers, weights, spikes, labels, weight_bits, v_bits, acc_bits, source):
    """The :class:`spikex.netfile.Network` of imported layers on ``spikes``, fan-in checked."""
    net = Network(layers, weights, np.asarray(spikes, dtype=np.uint8), weight_bits, v_bits,
                  None if labels is None else np.asarray(labels, dtype=np.int64))
    check_fan_in(net, acc_bits, source)
    return net


def export_graph(net, dt=DEFAULT_DT):
    """The network of ``net`` (a :class:`spikex.netfile.Network`) as a NIR graph."""
    import nir
    nodes = {"input": nir.Input(input_type={"input": np.array(net.layers[0].in_shape)})}
    edges, last = [], "input"

    def add(name, node):
        nonlocal last
        nodes[name] = node
        edges.append((last, name))
        last = name

    shape = tuple(net.layers[0].in_shape)
    for k, (layer, weight) in enumerate(zip(net.layers, net.weights)):
        weight = np.asarray(weight, dtype=np.float64)
        if layer.kind == "conv":
            add(f"conv{k}", nir.Conv2d(input_shape=tuple(layer.in_size), weight=weight,
                                       stride=layer.stride, padding=layer.padding, dilation=1,
                                       groups=1, bias=np.zeros(layer.out_channels)))
        else:
            if len(shape) != 1:
                add(f"flatten{k}", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                               end_dim=-1))
            add(f"fc{k}", nir.Linear(weight=weight))
        out = layer.out_shape
        threshold = np.full(out, layer.threshold - 0.5)
        if layer.leak_shift == 0:
            add(f"if{k}", nir.IF(r=np.ones(out), v_threshold=threshold, v_reset=np.zeros(out)))
        else:
            steps = 2.0 ** layer.leak_shift
            add(f"lif{k}", nir.LIF(tau=np.full(out, dt * steps), r=np.full(out, steps),
                                   v_leak=np.zeros(out), v_threshold=threshold,
                                   v_reset=np.zeros(out)))
        shape = out
    add("output", nir.Output(output_type={"output": np.array(shape)}))
    metadata = {"spikex_format": "spikex-net-v1", "dt": dt, "weight_bits": net.weight_bits,
                "v_bits": net.v_bits, "tws": np.array([layer.tws for layer in net.layers])}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def write_graph(graph, path):
    """Write a NIR graph so that ``path`` holds the whole file or does not change."""
    import nir
    write_atomic(path, lambda f: nir.write(f, graph))


def graph_metadata(graph):
    """The SpikeX fields of a graph's metadata (``dt``, ``weight_bits``, ``v_bits``, ``tws``)."""
    found = {}
    for key in ("dt", "weight_bits", "v_bits", "tws"):
        if key in (graph.metadata or {}):
            value = np.asarray(graph.metadata[key])
            found[key] = value.tolist() if value.ndim else value.item()
    return found
