"""The DRAM image packer: layout, round trips, tags."""

import numpy as np
import pytest

from sim import image
from sim.golden import run_network
from spikex.example import example_network
from spikex.netfile import FcLayer, Network, SpikexError


def test_spike_packing_round_trips_and_is_time_major():
    rng = np.random.default_rng(1)
    spikes = (rng.random((2, 40, 3, 2)) < 0.3).astype(np.uint8)
    words = image.pack_spikes(spikes)
    assert words.shape == (2, 6, 2)
    assert np.array_equal(image.unpack_spikes(words, 40, (3, 2)), spikes)
    one = np.zeros((1, 40, 1), np.uint8)
    one[0, 33, 0] = 1
    assert image.pack_spikes(one)[0, 0].tolist() == [0, 1 << 1]


def test_header_descriptors_and_weights_are_where_the_doc_says(tmp_path):
    net = example_network()
    img = image.pack(net, base=0x1000)
    header = img.read_words(0, image.HEADER_WORDS)
    assert header[:8].tolist() == [image.MAGIC, 1, 3, net.batch, net.timesteps, 8, 16, 1]
    assert bytes(img.data[:4]) == b"SPKX"
    table = int(header[8]) - 0x1000
    for k, (layer, w) in enumerate(zip(net.layers, net.weights)):
        d = img.read_words(table + 128 * k, image.DESCRIPTOR_WORDS)
        assert d[0] == (0 if layer.kind == "conv" else 1)
        assert d[10:14].tolist() == [layer.threshold, layer.leak_shift, layer.tws, layer.fan_in]
        reg = img.layers[k]
        assert d[15] == reg.weights + 0x1000 and d[16] % 64 == 0
        rows = np.frombuffer(img.data, "<i1", count=reg.weight_row_bytes * len(w), offset=reg.weights)
        assert np.array_equal(rows.reshape(len(w), -1)[:, :layer.fan_in], w.reshape(len(w), -1))
    assert all(a % 64 == 0 for reg in img.layers for a in (reg.weights, reg.input_spikes, reg.output_tags))


def test_layer_chaining_and_reading_back_written_results():
    net = example_network()
    img = image.pack(net)
    for k in range(len(net.layers) - 1):
        assert img.layers[k].output_spikes == img.layers[k + 1].input_spikes
        assert img.layers[k].output_tags == img.layers[k + 1].input_tags
    # Write the golden results where the accelerator would, then read them back.
    outputs = run_network(net)
    for k, spikes in enumerate(outputs):
        reg = img.layers[k]
        words = image.pack_spikes(spikes)
        for b in range(net.batch):
            raw = words[b].astype("<u4").tobytes()
            at = reg.output_spikes + b * reg.output_sample_bytes
            img.data[at:at + len(raw)] = raw
        assert np.array_equal(image.read_layer_spikes(img, k), spikes)


def test_input_tags_mark_exactly_the_channels_with_spikes():
    net = example_network(batch=2)
    net.input[:] = 0
    net.input[0, 3, 1, 4, 4] = 1                   # sample 0, channel 1 only
    img = image.pack(net)
    reg = img.layers[0]
    tags = [int(img.read_words(reg.input_tags + b * reg.input_tag_sample_bytes, 1)[0]) for b in range(2)]
    assert tags == [0b10, 0]


def test_wide_weights_are_refused():
    layer = FcLayer(in_features=2, out_features=1, threshold=1, leak_shift=0, tws=1)
    net = Network([layer], [np.ones((1, 2), np.int64)], np.zeros((1, 1, 2), np.uint8), weight_bits=20)
    with pytest.raises(SpikexError, match="weight_bits 20"):
        image.pack(net)


def test_time_blocks_pack_spikes_and_tags_block_after_block():
    # T = 20 in blocks of 8: blocks of 8, 8 and 4 steps, each packed from its first step;
    # the tags of the whole sample, then of each block.
    net = example_network(batch=2, timesteps=20)
    net.input[:] = 0
    net.input[0, 3, 1, 4, 4] = 1                   # block 0, channel 1
    net.input[0, 17, 0, 0, 0] = 1                  # block 2 (its step 1), channel 0
    img = image.pack(net, block_steps=8)
    assert img.block_steps == 8 and img.read_words(0, 16)[10] == 8
    reg = img.layers[0]
    inputs = int(np.prod(net.layers[0].in_shape))
    words = img.read_words(reg.input_spikes, 3 * inputs).reshape(3, inputs)
    assert words[0, 1 * 100 + 4 * 10 + 4] == 1 << 3 and words[2, 0] == 1 << 1
    assert np.count_nonzero(words) == 2
    tags = img.read_words(reg.input_tags, 4).tolist()
    assert tags == [0b11, 0b10, 0, 0b01]
    assert reg.input_sample_bytes >= 3 * inputs * 4
    # Unpacking the blocks gives the spikes back; a block as long as T is one block.
    assert np.array_equal(image.unpack_spikes(image.pack_spikes(net.input, 8).reshape(6, inputs, 1),
                                              8, net.layers[0].in_shape).reshape(2, 24, -1)[:, :20],
                          net.input.reshape(2, 20, -1))
    assert image.time_blocks(20, 20) == (20, 1) and image.time_blocks(20, None) == (20, 1)
    assert image.pack(net, block_steps=32).block_steps is None


def test_layer_results_read_back_from_time_blocks():
    net = example_network(batch=2, timesteps=20)
    img = image.pack(net, block_steps=8)
    outputs = run_network(net)
    for k, spikes in enumerate(outputs):
        reg = img.layers[k]
        words = image.pack_spikes(spikes, 8)
        for b in range(net.batch):
            raw = words[b].astype("<u4").tobytes()
            at = reg.output_spikes + b * reg.output_sample_bytes
            img.data[at:at + len(raw)] = raw
        assert np.array_equal(image.read_layer_spikes(img, k), spikes)


def test_read_memh_refuses_unknown_bits(tmp_path):
    # A simulator that could not say what the accelerator wrote (X or Z) gives one line
    # naming the file and the address, not a traceback.
    path = tmp_path / "dump.hex"
    path.write_text("// $writememh\n00000001\n0000xx02\n")
    with pytest.raises(SpikexError, match=r"dump.hex: .*unknown bits \('0000xx02'\) at byte 0x4"):
        image.read_memh(path)
    assert image.read_memh(path, 4) == bytearray(b"\x01\0\0\0")
