"""The golden model against hand-computed cases and properties of SPEC §1–3."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sim import golden
from sim.ntwu import ntwu_tags, window_tags
from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError


def spec_loop(currents, threshold, leak_shift, v_bits):
    """SPEC §1 for one neuron, in plain Python integers."""
    lo, hi = -2 ** (v_bits - 1), 2 ** (v_bits - 1) - 1
    u, out = 0, []
    for c in currents:
        d = u if leak_shift == 0 else u - (u >> leak_shift)
        v = min(max(d + c, lo), hi)
        s = int(v >= threshold)
        out.append(s)
        u = 0 if s else v
    return out


def one_neuron(currents, threshold, leak_shift, v_bits=16):
    spikes, membrane = golden.lif(np.array(currents)[None, :, None], threshold, leak_shift, v_bits)
    return spikes[0, :, 0].tolist(), membrane[0, :, 0].tolist()


def test_threshold_reached_exactly_fires_and_resets():
    spikes, membrane = one_neuron([5, 5, 4, 1], threshold=10, leak_shift=0)
    assert spikes == [0, 1, 0, 0]
    assert membrane == [5, 0, 4, 5]


def test_one_below_threshold_does_not_fire():
    spikes, _ = one_neuron([9], threshold=10, leak_shift=0)
    assert spikes == [0]


def test_saturation_at_both_ends():
    # v_bits = 8: the membrane lives in -128..127.
    _, membrane = one_neuron([-100, -100, -100], threshold=127, leak_shift=0, v_bits=8)
    assert membrane == [-100, -128, -128]
    spikes, membrane = one_neuron([100, 100], threshold=127, leak_shift=0, v_bits=8)
    assert membrane == [100, 0] and spikes == [0, 1]  # 200 saturates to 127 >= 127


def test_leak_of_negative_membrane_rounds_towards_minus_infinity():
    # u = -7, k = 1: -7 >> 1 = -4, decay = -7 + 4 = -3; then -3 - (-2) = -1; -1 - (-1) = 0.
    _, membrane = one_neuron([-7, 0, 0, 0], threshold=100, leak_shift=1)
    assert membrane == [-7, -3, -1, 0]


def test_leak_of_small_positive_membrane_stops():
    # 3 >> 2 == 0, so u = 3 is a fixed point of the decay with leak_shift 2.
    _, membrane = one_neuron([3, 0, 0], threshold=100, leak_shift=2)
    assert membrane == [3, 3, 3]


def test_window_with_no_input_never_fires():
    layer = FcLayer(in_features=3, out_features=2, threshold=1, leak_shift=0, tws=2)
    x = np.zeros((1, 4, 3), np.uint8)
    x[0, 0] = 1
    out = golden.run_layer(layer, np.full((2, 3), 1), x, 16)
    assert out[0, :, 0].tolist() == [1, 0, 0, 0]


def test_conv_padding_and_stride_at_the_edges():
    # 1 channel 3x3 input, kernel 3, stride 2, padding 1 -> 2x2 output.
    layer = ConvLayer(in_channels=1, in_size=(3, 3), out_channels=1, kernel=3, stride=2,
                      padding=1, threshold=1, leak_shift=0, tws=1)
    w = np.arange(9).reshape(1, 1, 3, 3)
    x = np.zeros((1, 1, 1, 3, 3), np.uint8)
    x[0, 0, 0, 0, 0] = 1          # top-left pixel
    x[0, 0, 0, 2, 2] = 1          # bottom-right pixel
    current = golden.synaptic_current(layer, w, x)[0, 0, 0]
    # Output (0,0) covers input rows/cols -1..1: the top-left pixel sits at kernel (1,1).
    # Output (1,1) covers 1..3: the bottom-right pixel sits at kernel (1,1); top-left not in it.
    # Output (0,1) covers rows -1..1, cols 1..3: top-left pixel absent, bottom-right absent.
    assert current.tolist() == [[w[0, 0, 1, 1], 0], [0, w[0, 0, 1, 1]]]


def test_fc_after_conv_flattens_in_c_h_w_order():
    conv = ConvLayer(in_channels=1, in_size=(2, 2), out_channels=2, kernel=1, stride=1,
                     padding=0, threshold=1, leak_shift=0, tws=1)
    fc = FcLayer(in_features=8, out_features=8, threshold=1, leak_shift=0, tws=1)
    w_conv = np.array([1, 1]).reshape(2, 1, 1, 1)
    w_fc = np.eye(8, dtype=np.int64)
    x = np.zeros((1, 1, 1, 2, 2), np.uint8)
    x[0, 0, 0, 1, 0] = 1          # pixel (h=1, w=0)
    net = Network([conv, fc], [w_conv, w_fc], x)
    conv_out, fc_out = golden.run_network(net)
    # Flattened C, H, W: channel c, (1, 0) -> index c * 4 + 2.
    assert fc_out[0, 0].tolist() == [0, 0, 1, 0, 0, 0, 1, 0]
    assert conv_out[0, 0].reshape(-1).tolist() == fc_out[0, 0].tolist()


def test_accumulator_bound_is_refused_naming_the_layer():
    layers = [FcLayer(in_features=4, out_features=2, threshold=1, leak_shift=0, tws=1),
              FcLayer(in_features=2, out_features=1, threshold=1, leak_shift=0, tws=1)]
    weights = [np.full((2, 4), -128), np.array([[127, 2]])]   # bounds 512 and 129
    net = Network(layers, weights, np.zeros((1, 1, 4), np.uint8))
    golden.run_network(net, acc_bits=11)                      # 512 <= 1023
    with pytest.raises(SpikexError, match=r"^ex.npz: layer 0 \(fc\).*512.*10-bit accumulator"):
        golden.run_network(net, acc_bits=10, source="ex.npz")


def test_predict_breaks_ties_to_the_lowest_index():
    spikes = np.zeros((1, 3, 4), np.uint8)
    spikes[0, :, 1] = 1
    spikes[0, :, 3] = 1
    counts, prediction = golden.predict(spikes)
    assert counts.tolist() == [[0, 3, 0, 3]] and prediction.tolist() == [1]


@settings(max_examples=60, deadline=None)
@given(currents=st.lists(st.integers(-300, 300), min_size=1, max_size=20),
       threshold=st.integers(1, 127), leak_shift=st.integers(0, 7))
def test_lif_is_the_spec_loop(currents, threshold, leak_shift):
    spikes, _ = one_neuron(currents, threshold, leak_shift, v_bits=8)
    assert spikes == spec_loop(currents, threshold, leak_shift, 8)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), tws=st.integers(1, 5), windows=st.integers(1, 6),
       leak_shift=st.integers(0, 15), threshold=st.integers(1, 2000))
def test_skipping_empty_windows_with_stepwise_decay_gives_the_same_trace(
        data, tws, windows, leak_shift, threshold):
    active = data.draw(st.lists(st.booleans(), min_size=windows, max_size=windows))
    currents = np.zeros(tws * windows, np.int64)
    for w, on in enumerate(active):
        if on:
            currents[w * tws:(w + 1) * tws] = data.draw(
                st.lists(st.integers(-3000, 3000), min_size=tws, max_size=tws))
    _, reference = one_neuron(currents, threshold, leak_shift)
    # Skip each empty window, applying only its decay, step by step.
    u, trace = np.zeros(1, np.int64), []
    for w, on in enumerate(active):
        for t in range(w * tws, (w + 1) * tws):
            if on:
                s, u = golden.lif_step(u, currents[t:t + 1], threshold, leak_shift, 16)
            else:
                u = golden.decay(u, leak_shift)
                assert int(u[0]) < threshold
            trace.append(int(u[0]))
    assert trace == reference


@settings(max_examples=40, deadline=None)
@given(data=st.data(), size=st.integers(3, 7), kernel=st.integers(1, 3), stride=st.integers(1, 2),
       padding=st.integers(0, 1), channels=st.integers(1, 3), steps=st.integers(1, 4))
def test_if_layer_with_threshold_one_fires_whenever_its_field_fires(
        data, size, kernel, stride, padding, channels, steps):
    layer = ConvLayer(in_channels=channels, in_size=(size, size), out_channels=2, kernel=kernel,
                      stride=stride, padding=padding, threshold=1, leak_shift=0, tws=1)
    seed = data.draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    x = (rng.random((2, steps, *layer.in_shape)) < 0.2).astype(np.uint8)
    w = rng.integers(1, 5, size=layer.weight_shape)
    out = golden.run_layer(layer, w, x, 16)
    # With positive weights and threshold 1, a neuron fires exactly when its NTWU (tws 1) is active.
    assert np.array_equal(out.astype(bool), ntwu_tags(layer, x, tws=1))


def test_window_tags_are_the_or_over_the_window():
    x = np.zeros((1, 6, 2), np.uint8)
    x[0, 5, 1] = 1
    assert window_tags(x, 3)[0].tolist() == [[False, False], [False, True]]
