"""The roofline's bounds (sim/roofline.py, docs/analytic.md "Roofline") on networks small
enough to count by hand: weights 1, threshold 1, no leak, so an output fires at exactly the
steps some input of its receptive field spikes."""

import numpy as np
import pytest

from sim.analytic import run_analytic
from sim.roofline import MustMove, active_word_bytes, must_move, network_roofline, roofline, \
    tailored_weight_bytes
from spikex.netfile import ConvLayer, FcLayer, Network


RTL_MODEL = {"memory": "rtl", "dram_latency": 1, "dram_one_burst": True}


def conv_network():
    """2x3x3 input, 2 output channels, 2x2 kernel (2x2 output), T = 4, two samples."""
    layer = ConvLayer(2, (3, 3), 2, 2, 1, 0, threshold=1, leak_shift=0, tws=2)
    spikes = np.zeros((2, 4, 2, 3, 3), np.uint8)
    spikes[0, 1, 0, 0, 0] = 1       # reaches output position (0, 0) only
    spikes[1, 0, 0, 2, 2] = 1       # reaches (1, 1) only
    spikes[1, 3, 1, 1, 1] = 1       # reaches all four positions
    return Network([layer], [np.ones(layer.weight_shape, np.int64)], spikes)


def fc_network():
    """18 inputs (SP-MBs of 16 and 2), 2 outputs, T = 40 (two spike words an input)."""
    layer = FcLayer(18, 2, threshold=1, leak_shift=0, tws=4)
    spikes = np.zeros((2, 40, 18), np.uint8)
    spikes[0, 35, 17] = 1           # second SP-MB, second word
    spikes[1, [2, 25], 3] = 1       # first SP-MB, both in the first word
    return Network([layer], [np.ones(layer.weight_shape, np.int64)], spikes)


def test_conv_must_move_by_hand():
    net = conv_network()
    outputs, counters = run_analytic(net, {**RTL_MODEL, "dataflow": "spikex"})
    must = must_move(net.layers[0], net.input, outputs[0], net.weight_bits)
    # Weights: a run is one channel's 4 taps of both output rows, 1 byte each: sample 0
    # activates channel 0 (8 B), sample 1 both (16 B); the batch both, once (16 B).
    assert must.weights.tolist() == [8, 16] and must.weights_batch == 16
    # Input words (T = 4: one 4-byte word an input): 1 and 2 hold a spike.
    assert must.inputs.tolist() == [4, 8]
    # Output words: sample 0 position (0, 0) in both channels; sample 1 all 4 positions.
    assert must.outputs.tolist() == [8, 32]
    assert must.total() == 16 + 12 + 40 and must.total(per_sample=True) == 24 + 12 + 40

    # The additions: sample 0's spike reaches 1 position, sample 1's 1 and 4; 2 channels.
    layer = counters["layers"][0]
    assert layer["acc_ops"] == 2 * (1 + 1 + 4)
    roof = network_roofline(net, outputs, counters)["layers"][0]
    assert roof["work"] == 12 / 64
    assert roof["dram"] == 68 / 4 and roof["dram_sample"] == 76 / 4
    assert roof["moved"] == layer["dram_read_bytes"] + layer["dram_write_bytes"]
    assert roof["efficiency"] == (68 / 4) / layer["cycles"]
    wide = network_roofline(net, outputs, counters, data_width=64)["layers"][0]
    assert wide["dram"] == 68 / 8


def test_fc_short_run_words_and_time_blocks():
    net = fc_network()
    layer = net.layers[0]
    outputs, counters = run_analytic(net, {**RTL_MODEL, "dataflow": "ptb"})
    # Sample 0 activates the 2-feature SP-MB, sample 1 the 16-feature one; 2 outputs.
    weights, batch = tailored_weight_bytes(layer, net.input, net.weight_bits)
    assert weights.tolist() == [2 * 2, 16 * 2] and batch == 18 * 2
    assert tailored_weight_bytes(layer, net.input, 16)[1] == 18 * 2 * 2
    # One word a spiking input or output unless its spikes fall in two time blocks.
    assert active_word_bytes(net.input).tolist() == [4, 4]
    assert active_word_bytes(net.input, block_steps=20).tolist() == [4, 8]
    assert active_word_bytes(outputs[0]).tolist() == [8, 8]
    assert active_word_bytes(outputs[0], block_steps=20).tolist() == [8, 16]
    roof = network_roofline(net, outputs, counters)
    assert roof["layers"][0]["must"] == 36 + 8 + 16
    assert roof["total"]["bound"] == roof["layers"][0]["bound"]


def test_roofline_takes_the_larger_bound():
    must = MustMove(40, np.array([40]), np.array([8]), np.array([12]))
    counters = {"cycles": 200, "acc_ops": 64 * 100, "dram_read_bytes": 90, "dram_write_bytes": 30}
    compute = roofline(counters, must, rows=8, cols=8)
    assert compute["work"] == 100 and compute["dram"] == 15 and compute["efficiency"] == 0.5
    assert compute["moved"] / compute["must"] == 2
    memory = roofline({**counters, "acc_ops": 64}, must, rows=8, cols=8, data_width=8)
    assert memory["bound"] == 60 and memory["efficiency"] == pytest.approx(0.3)
