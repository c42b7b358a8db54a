"""The accelerator a network runs on (sim/configure.py): the GLB weight share a fan-in needs,
the GLB split that gives spare room to the ping-pong banks that hide the most, and the
time-block state's share of the GLB."""

import numpy as np
import pytest

from hw.limits import (accelerator_limits, glb_shares, glb_split_bytes, state_word_bytes,
                       weight_share_bytes, weight_word_bytes)
from sim.configure import check_fits, fits, glb_needs, rtl_parameters
from spikex.netfile import ConvLayer, FcLayer, Network, SpikexError


def _max_fan_in(weight_share, rows, weight_bits):
    return accelerator_limits(rows=rows, cols=2, tws_max=4, weight_bits=weight_bits, glb_kb=128,
                              lbuf_kb=1, max_timesteps=32,
                              glb_split=(64, weight_share, 64))["max_fan_in"]


@pytest.mark.parametrize("rows, weight_bits", [(1, 8), (2, 8), (3, 4), (2, 16), (8, 12)])
@pytest.mark.parametrize("fan_in", [1, 2, 3, 4, 5, 7, 8, 9, 18, 27, 100, 2304])
def test_the_weight_share_is_the_fewest_bytes_that_hold_the_fan_in(fan_in, rows, weight_bits):
    word = weight_word_bytes(rows, weight_bits)
    one = weight_share_bytes(fan_in, rows, weight_bits)
    assert _max_fan_in(one, rows, weight_bits) >= fan_in
    assert _max_fan_in(one - word, rows, weight_bits) < fan_in
    two = weight_share_bytes(fan_in, rows, weight_bits, pingpong=True)
    assert _max_fan_in(two, rows, weight_bits) // 2 >= fan_in
    assert _max_fan_in(two - word, rows, weight_bits) // 2 < fan_in


def _net(timesteps=8):
    # Layer 0: 4 row groups of 2 x 16 outputs (128 bytes a group with 32-step words);
    # layer 1: 2 row groups of fan-in 64 (128 bytes of weights a group at 2 rows).
    layers = [ConvLayer(in_channels=1, in_size=(4, 4), out_channels=8, kernel=1, stride=1,
                        padding=0, threshold=1, leak_shift=1, tws=1),
              FcLayer(in_features=128, out_features=4, threshold=1, leak_shift=1, tws=1)]
    weights = [np.ones((8, 1, 1, 1), np.int64), np.ones((4, 128), np.int64)]
    return Network(layers, weights, np.zeros((1, timesteps, 1, 4, 4), np.uint8))


def test_spare_glb_goes_to_the_ping_pong_banks_that_hide_the_most():
    net = _net()
    options = {"rows": 2, "cols": 2, "tws_max": 4}
    needs = glb_needs(net, rtl_parameters(net, dict(options, glb_kb=8)))
    spikes, weights, outputs = (needs[key][0] for key in ("spikes", "weights", "outputs"))
    assert (spikes, weights, outputs) == (512, 256, 128)
    # Room for one more bank only: the outputs' hides 3 write-outs of 128 bytes, the
    # weights' one load of 256.
    glb = spikes + weights + outputs + 256
    split = rtl_parameters(net, dict(options, glb_kb=glb / 1024))["glb_split"]
    assert split == [glb - 256 - 256, 256, 256]
    # Room for both.
    glb = spikes + 2 * weights + 2 * outputs
    split = rtl_parameters(net, dict(options, glb_kb=glb / 1024))["glb_split"]
    assert split == [spikes, 512, 256]
    # Room for neither: all of it to the input spikes.
    glb = spikes + weights + outputs + 64
    split = rtl_parameters(net, dict(options, glb_kb=glb / 1024))["glb_split"]
    assert split == [spikes + 64, 256, 128]


def test_with_time_blocks_no_spare_room_goes_to_the_weights():
    # A row group's weights stay for all its time blocks: a second bank would hide nothing.
    net = _net(timesteps=64)
    options = {"rows": 2, "cols": 2, "tws_max": 4, "block_steps": 32}
    parameters = rtl_parameters(net, dict(options, glb_kb=4))
    assert parameters["block_steps"] == 32
    needs = glb_needs(net, parameters)
    assert parameters["glb_split"][1] == needs["weights"][0]
    assert parameters["glb_split"][2] == 2 * needs["outputs"][0]


def test_with_time_blocks_the_state_takes_what_the_split_leaves():
    # Layer 0's row group: 16 positions, a state word each (2 membranes and a last step).
    net = _net(timesteps=64)
    options = {"rows": 2, "cols": 2, "tws_max": 4, "block_steps": 32}
    parameters = rtl_parameters(net, dict(options, glb_kb=4))
    needs = glb_needs(net, parameters)
    assert needs["state"] == (16 * state_word_bytes(2, 16), 0) == (96, 0)
    assert 4096 - sum(parameters["glb_split"]) == 96
    limits = accelerator_limits(rows=2, cols=2, tws_max=4, weight_bits=8, glb_kb=4,
                                lbuf_kb=1, max_timesteps=parameters["max_timesteps"],
                                glb_split=parameters["glb_split"], time_blocks=True)
    assert limits["max_positions"] == 16
    # One block: no state memory, nothing set aside.
    one = rtl_parameters(net, dict(options, glb_kb=4, block_steps=None))
    assert one["max_blocks"] == 1 and "state" not in glb_needs(net, one)
    assert sum(one["glb_split"]) == 4096


def test_a_blocked_layer_whose_positions_the_state_cannot_hold_is_refused():
    net = _net(timesteps=64)
    parameters = rtl_parameters(net, {"rows": 2, "cols": 2, "tws_max": 4, "block_steps": 32,
                                      "glb_kb": 4, "glb_split": [4096 - 96 - 512, 256, 256]})
    assert fits(net, parameters)
    parameters["glb_split"] = [4096 - 95 - 512, 256, 256]       # 95 bytes: 15 positions
    assert not fits(net, parameters)
    with pytest.raises(SpikexError, match=r"^net.npz: layer 0 \(conv\): needs 96 bytes of GLB "
                                          r"time-block state .*, more than the 95 bytes"):
        check_fits(net, parameters, "net.npz")


@pytest.mark.parametrize("rows, v_bits, glb_kb, max_timesteps",
                         [(8, 16, 54, 64), (2, 16, 4, 32), (4, 8, 16, 16), (1, 48, 0.5, 8)])
def test_the_default_state_share_holds_a_full_row_group_of_the_output_share(
        rows, v_bits, glb_kb, max_timesteps):
    spikes, weights, outputs, state = glb_shares(glb_kb, rows=rows, v_bits=v_bits,
                                                 max_timesteps=max_timesteps, time_blocks=True)
    assert spikes + weights + outputs + state <= glb_kb * 1024
    limits = accelerator_limits(rows=rows, cols=2, tws_max=4, weight_bits=8, glb_kb=glb_kb,
                                lbuf_kb=1, max_timesteps=max_timesteps, v_bits=v_bits,
                                time_blocks=True)
    positions = limits["max_positions"]
    assert state == positions * state_word_bytes(rows, v_bits)
    assert positions * rows >= limits["max_outputs"]
    # The fewest: with a word less, the larger output share would hold more than that.
    word, spike_bytes = state_word_bytes(rows, v_bits), -(-max_timesteps // 8)
    assert (positions - 1) * rows < glb_split_bytes(glb_kb, None, state - word)[2] // spike_bytes
