"""Table II-shaped networks, scaled down to run in CI, on the whole accelerator's Verilog.

Each of the paper's three networks (``sim.figures.PAPER_NETWORKS``: DVSG-Medium,
DVSG-Large, N-MNIST) keeps its layer kinds, kernels, strides, padding and chain of shapes,
with channels, spatial sizes, fc widths and time steps cut down (:func:`scaled_paper_network`)
so that each whole network runs in RTL simulation in seconds. Under Verilator (and, marked
slow, Icarus), in both dataflows, every layer's output spikes equal the golden model's bit for
bit and all twelve counter registers equal the analytic simulator's ``memory="rtl"``
prediction; every layer of every case fires, and none is saturated.
"""

from dataclasses import replace

import numpy as np
import pytest

from sim.analytic import run_analytic
from sim.figures import LEAK_SHIFT, WEIGHT_RANGE, paper_layers
from sim.golden import run_layer, run_network
from sim import image as dram_image
from hw.layout import COUNTER_NAMES
from sim.configure import rtl_parameters
from sim.rtl import run_rtl
from spikex.netfile import Network, validate
from test_top_rtl import CONFIGS, OPTIONS, hardware

# OPTIONS is the accelerator of tests/test_top_rtl.py (4x4 PEs, tws_max 4, an LBUF of 3 beats
# per bank, the default 54 KB GLB), so one Verilog build per simulator serves both files. A
# beat is 4 columns x 4 steps of spikes + 4 int8 weights = 6 bytes, so every layer here (fan-in
# 9 to 75) streams its passes through the LBUF banks in segments; half the GLB holds 6912
# inputs of up to 32 steps (largest input here: 2 x 15 x 15 = 450), and every layer's weights
# fit a ping-pong bank. run_rtl refuses, by name, a layer that does not fit.

#: Smallest conv output side of a scaled network, and the bounds of its channels and fc widths.
MIN_SIDE, CHANNELS, FC_WIDTHS = 2, (2, 6), (16, 40)
V_BITS = 16


def _conv_side(side, layer):
    return (side + 2 * layer.padding - layer.kernel) // layer.stride + 1


def _input_side(convs):
    side = 1
    while True:
        out = side
        for layer in convs:
            out = _conv_side(out, layer)
            if out < MIN_SIDE:
                break
        else:
            return side
        side += 1


def scaled_paper_network(name, timesteps, tws, rate, target, batch=1, seed=0):
    """Network ``name`` of Table II (``PAPER_NETWORKS``) scaled down for RTL simulation.

    From ``paper_layers(name, tws)``, layer by layer, in order:

    - conv layers keep their kernel E, stride and padding; the first keeps its input channels
      (2, the DVS polarities). The input is the smallest square for which every conv output,
      ``(H + 2p - E) // s + 1`` down the chain, is at least ``MIN_SIDE`` (2) wide; each conv's
      input is the previous one's output. Output channels M become
      ``clip(round(log2 M) - 1, 2, 6)``: 8 -> 2, 12 and 16 -> 3, 32 -> 4, 64 -> 5, 128 -> 6.
    - fc layers take the previous layer's flattened output; a width M of at most 40 (the
      classifiers: 10, 11) is kept, a wider one becomes ``clip(M // 16, 16, 40)``: 512 -> 32,
      256 -> 16.
    - every layer has window size ``tws`` and leak_shift ``LEAK_SHIFT`` (2) as in
      ``sim.figures``; weights are int8, uniform in ``WEIGHT_RANGE`` ([-64, 64)), drawn from
      ``seed`` as are the Bernoulli input spikes ``[batch, timesteps, *input]`` at ``rate``.
    - thresholds are chosen layer by layer so that the network fires at all: each is the
      largest power of two up to 4096 at which the layer, fed the golden output of the layers
      before it, fires in at least ``target`` of its (neuron, step) pairs (1 if none does).
    """
    layers = []
    convs = [layer for layer in paper_layers(name, tws) if layer.kind == "conv"]
    side, channels = _input_side(convs), convs[0].in_channels
    for layer in paper_layers(name, tws):
        if layer.kind == "conv":
            out_channels = int(np.clip(round(np.log2(layer.out_channels)) - 1, *CHANNELS))
            layer = replace(layer, in_channels=channels, in_size=(side, side),
                            out_channels=out_channels, leak_shift=LEAK_SHIFT)
            channels, side = layer.out_channels, layer.out_size[0]
        else:
            width = layer.out_features
            if width > FC_WIDTHS[1]:
                width = int(np.clip(width // 16, *FC_WIDTHS))
            layer = replace(layer, in_features=int(np.prod(layers[-1].out_shape)),
                            out_features=width, leak_shift=LEAK_SHIFT)
        layers.append(layer)
    rng = np.random.default_rng(seed)
    weights = [rng.integers(*WEIGHT_RANGE, size=layer.weight_shape) for layer in layers]
    spikes = (rng.random((batch, timesteps, *layers[0].in_shape)) < rate).astype(np.uint8)
    tuned, x = [], spikes
    for layer, w in zip(layers, weights):
        for bits in range(12, -1, -1):
            layer = replace(layer, threshold=2 ** bits)
            out = run_layer(layer, w, x, V_BITS)
            if out.mean() >= target:
                break
        tuned.append(layer)
        x = out
    net = Network(tuned, weights, spikes, weight_bits=8, v_bits=V_BITS)
    validate(net, name)
    return net


#: (network, T, tws, input firing rate, per-layer firing target, batch); T and tws as the
#: paper's T = 300 and 30 cut down, tws dividing T and at most tws_max 4.
CASES = {
    "dvsg-medium": ("dvsg-medium", 12, 4, 0.10, 0.10, 1),
    "dvsg-large": ("dvsg-large", 12, 3, 0.10, 0.10, 1),
    "n-mnist": ("n-mnist", 10, 2, 0.10, 0.10, 1),
    "dvsg-medium-sparse": ("dvsg-medium", 12, 4, 0.01, 0.02, 2),
    "dvsg-medium-T300": ("dvsg-medium", 300, 4, 0.02, 0.02, 1),
}

#: Cases run in time blocks (steps): the paper's T = 300 in 10 blocks of 32 steps (the last 12).
BLOCKS = {"dvsg-medium-T300": 32}


def case_network(case):
    name, timesteps, tws, rate, target, batch = CASES[case]
    return scaled_paper_network(name, timesteps, tws, rate, target, batch=batch, seed=2)


@pytest.mark.parametrize("case", CASES)
def test_scaled_network_keeps_the_paper_layers_and_fires(case):
    name = CASES[case][0]
    net = case_network(case)
    paper = paper_layers(name, 1)
    assert [layer.kind for layer in net.layers] == [layer.kind for layer in paper]
    for scaled, original in zip(net.layers, paper):
        if scaled.kind == "conv":
            assert (scaled.kernel, scaled.stride, scaled.padding) == (
                original.kernel, original.stride, original.padding)
            assert 2 <= scaled.out_channels <= 6 and min(scaled.out_size) >= MIN_SIDE
        else:
            assert scaled.out_features <= 40
    assert net.layers[0].in_channels == paper[0].in_channels
    assert net.timesteps % net.layers[0].tws == 0 and net.layers[0].tws <= OPTIONS["tws_max"]
    rate = net.input.mean()
    assert 0.5 * CASES[case][3] < rate < 2 * CASES[case][3]
    # Every layer fires, and none is saturated: the test below cannot pass on silence.
    for k, out in enumerate(run_network(net)):
        assert 0 < out.mean() < 0.5, f"{case}: layer {k} fires at {out.mean():.3f}"


# Every case under Verilator; under Icarus (the Verilog host) the eight cases of T <= 12,
# about 40 s on two cores. The T = 300 case under Icarus takes about 2 minutes (CI time).
SIMULATED = [(case, "verilator") for case in CASES] + \
    [(case, "icarus") for case in CASES if case not in BLOCKS]


def page_crossings(net, block_steps, k, rows):
    """DRAM requests of layer ``k`` (all samples) that cross a 4 KB page, an upper bound:
    every input SP-MB's spikes, every weight run of every row, every row group's output
    spikes, each block of each (docs/image.md). The AXI port splits such a request at the
    page, and the one-burst DRAM model serves the extra burst 1 (read) or 2 (write) cycles
    later, cycles the analytic model does not count (it does not know addresses)."""
    image = dram_image.pack(net, block_steps=block_steps)
    layer, reg = net.layers[k], image.layers[k]
    size, blocks = dram_image.time_blocks(net.timesteps, block_steps)
    word_bytes = 4 * -(-size // 32)
    crosses = lambda start, length: start // 4096 != (start + length - 1) // 4096
    n_in, group = int(np.prod(layer.in_shape)), dram_image.spmb_inputs(layer)
    out_channels = layer.out_shape[0]
    positions = int(np.prod(layer.out_shape)) // out_channels
    run = layer.kernel ** 2 if layer.kind == "conv" else group
    count = 0
    for b in range(net.batch):
        for j in range(blocks):
            spikes = reg.input_spikes + b * reg.input_sample_bytes + j * n_in * word_bytes
            count += sum(crosses(spikes + i * word_bytes, min(group, n_in - i) * word_bytes)
                         for i in range(0, n_in, group))
            outputs = reg.output_spikes + b * reg.output_sample_bytes \
                + j * out_channels * positions * word_bytes
            count += sum(crosses(outputs + m * positions * word_bytes,
                                 min(rows, out_channels - m) * positions * word_bytes)
                         for m in range(0, out_channels, rows))
        count += sum(crosses(reg.weights + m * reg.weight_row_bytes + f, run + 4)
                     for m in range(out_channels) for f in range(0, layer.fan_in, run))
    return count


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
@pytest.mark.parametrize("case, simulator", SIMULATED)
def test_table2_network_on_rtl_is_bit_exact_and_counts_like_the_analytic_model(case, dataflow, simulator):
    net = case_network(case)
    options = {**OPTIONS, "dataflow": dataflow, "block_steps": BLOCKS.get(case)}
    parameters = rtl_parameters(net, options)
    assert parameters["block_steps"] == BLOCKS.get(case) and hardware(parameters) == CONFIGS["4x4"]
    outputs, counters = run_rtl(net, options, f"{case}.npz", simulator)
    golden = run_network(net)
    assert len(outputs) == len(golden) == len(net.layers)
    for k, (got, want) in enumerate(zip(outputs, golden)):
        assert want.any() and not want.all(), f"{case}: layer {k} is silent or saturated"
        assert np.array_equal(got, want), f"{case} {simulator} {dataflow}: layer {k} differs from golden"
    # The Verilog DRAM model (tb/axi_ram.v) answers one cycle after a request, one burst at a time.
    _, predicted = run_analytic(net, {**options, "memory": "rtl", "dram_latency": 1,
                                      "dram_one_burst": True}, f"{case}.npz")
    for k, (rtl, model) in enumerate(zip(counters["layers"], predicted["layers"])):
        for key in COUNTER_NAMES:
            if key == "cycles" and rtl[key] != model[key]:
                # Only a request split at a 4 KB page may cost cycles the model misses.
                extra = 2 * page_crossings(net, BLOCKS.get(case), k, OPTIONS["rows"])
                assert 0 < rtl[key] - model[key] <= extra, (
                    f"{case} {simulator} {dataflow} layer {k}: cycles {rtl[key]} != "
                    f"{model[key]} (+ at most {extra} for 4 KB page splits)")
                continue
            assert rtl[key] == model[key], (f"{case} {simulator} {dataflow} layer {k}: "
                                            f"{key} {rtl[key]} != {model[key]}")
        assert rtl["cycles"] >= rtl["busy_cycles"] > 0
    assert len(counters["layers"]) == len(net.layers)
    assert counters["cycles"] == sum(layer["cycles"] for layer in counters["layers"])
