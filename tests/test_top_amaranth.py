"""The whole accelerator (hw/top.py) under amaranth.sim (tb/amaranth_host.py: a host on
AXI4-Lite, a Python DRAM model on AXI4), whole networks from a DRAM image (sim/image.py)
against sim.golden."""

import numpy as np
import pytest

from hw.top import ERROR_CODES, SpikeXAccelerator
from hw.verilog import generate_accelerator
from sim.image import pack
from spikex.example import example_network
from tb.amaranth_host import BASE, check_outputs, run_top
from tb.networks import random_network, tiny_network


@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_tiny_network_matches_golden(dataflow):
    net = tiny_network()
    image, data, result = run_top(net, dataflow)
    assert result["status"] == 0b010, f"status {result['status']:#x}, error {result['error_code']}"
    check_outputs(net, image, data)
    assert result["layer"] == len(net.layers) * net.batch
    for layer in result["counters"][:len(net.layers)]:
        assert layer["cycles"] > layer["busy_cycles"] > 0
        assert layer["acc_ops"] > 0 and layer["active_ntwus"] > 0
        assert layer["lbuf_reads"] == layer["lbuf_writes"] > 0


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_random_networks_match_golden(seed, dataflow):
    net = random_network(np.random.default_rng(seed))
    image, data, result = run_top(net, dataflow, v_bits=net.v_bits, rows=2, cols=2)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    check_outputs(net, image, data)


@pytest.mark.parametrize("data_width", [64, 128, 512])
def test_a_wide_dram_port_moves_the_same_words(data_width):
    """A network run on a bus of 64 to 512 bits: the outputs equal golden's; every counter
    but the cycles and the DRAM bytes equals the 32-bit run's; the bytes are whole beats,
    so as many or more; a layer takes the 32-bit run's cycles or up to one fewer per DRAM
    write (a row group's write-out and the output tags): this DRAM model (as
    tb/axi_ram.v) takes W beats only once their AW is in, and a word before a beat's last
    waits in the port's register instead."""
    net = random_network(np.random.default_rng(2))
    hardware = dict(v_bits=net.v_bits, rows=2, cols=2)
    _, _, narrow = run_top(net, "spikex", **hardware)
    image, data, wide = run_top(net, "spikex", data_width=data_width, **hardware)
    assert wide["status"] == 0b010, f"error {ERROR_CODES.get(wide['error_code'])}"
    check_outputs(net, image, data)
    for layer, ours, theirs in zip(net.layers, wide["counters"], narrow["counters"]):
        writes = -(-layer.out_shape[0] // hardware["rows"]) + 1
        assert theirs["cycles"] - writes <= ours["cycles"] <= theirs["cycles"]
        for name, value in theirs.items():
            if name.startswith("dram_"):
                assert value <= ours[name], name
                assert ours[name] % (data_width // 8) == 0, name
            elif name != "cycles":
                assert ours[name] == value, name
    assert sum(c["dram_read_bytes"] for c in wide["counters"]) > \
        sum(c["dram_read_bytes"] for c in narrow["counters"])


def test_example_network_batch():
    net = example_network(batch=2, timesteps=10, firing_rate=0.15, seed=0)   # tws 2, 2, 5
    image, data, result = run_top(net, "spikex", tws_max=5, glb_kb=16, rows=4, cols=4)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    check_outputs(net, image, data)
    assert result["layer"] == 6


# Longer runs in time blocks, checked against golden with every counter, are in
# tests/test_rtl_vs_analytic.py (three blocks of 8 steps, two of 12, random networks in
# blocks) and, on Verilator, tests/test_differential.py (random networks in blocks).
@pytest.mark.parametrize("dataflow", ["spikex", "ptb"])
def test_time_blocks_match_golden(dataflow):
    # T longer than the 8-step spike words: each row group runs block after block,
    # membranes and last active steps carried over (20 = 8 + 8 + 4: a short last block).
    net = tiny_network(batch=2, timesteps=20, rate=0.2)
    image, data, result = run_top(net, dataflow, block_steps=8, max_timesteps=8)
    assert result["status"] == 0b010, f"error {ERROR_CODES.get(result['error_code'])}"
    assert image.block_steps == 8
    check_outputs(net, image, data)


@pytest.mark.parametrize("what, code", [("too-many-blocks", 5), ("block-too-long", 5),
                                        ("tws", 8)])
def test_bad_time_block_ends_in_error(what, code):
    net = tiny_network(timesteps=24)
    image = pack(net, BASE, block_steps=8)
    if what == "too-many-blocks":       # 24 steps in blocks of 1 need 24 blocks; 16 at most
        data = patched(image, 40, 1)
    elif what == "block-too-long":      # spike words of 16 steps
        data = patched(image, 40, 20)
    else:                               # the fc layer's tws 4 does not divide a block of 6
        data = patched(image, 40, 6)
    _, _, result = run_top(net, image_data=data, max_timesteps=16, max_blocks=16)
    assert result["status"] == 0b110, f"status {result['status']:#x}"
    assert result["error_code"] == code, ERROR_CODES.get(result["error_code"])


@pytest.mark.parametrize("state_bytes, status", [(54, 0b010), (53, 0b110)])
def test_the_state_share_of_the_glb_holds_a_blocked_row_group_or_is_refused(state_bytes, status):
    # The time-block state memory is the GLB bytes the split leaves: a word (two membranes
    # and a last step, 6 bytes) per position of a row group; the conv layer has 9. With one
    # byte less, 8 words: error 9 (does not fit), as sim/configure.py's check_fits refuses.
    net = tiny_network(timesteps=24, rate=0.2)
    assert net.layers[0].out_size == (3, 3)
    split = (4096, 2048, 2048 - state_bytes)
    _, _, result = run_top(net, block_steps=8, max_timesteps=8, glb_kb=8, glb_split=split)
    assert result["status"] == status, f"status {result['status']:#x}"
    assert result["error_code"] == (0 if status == 0b010 else 9)


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_without_time_blocks_a_long_sample_is_refused():
    # max_blocks 1 builds no membrane memories: a blocked image ends in error 5.
    net = tiny_network(timesteps=24)
    image = pack(net, BASE, block_steps=8)
    _, _, result = run_top(net, image_data=image.data, block_steps=8, max_timesteps=8,
                           max_blocks=1)
    assert result["status"] == 0b110 and result["error_code"] == 5
    # The state memory is the pass engine's, and only with time blocks.
    small = dict(rows=2, cols=2, tws_max=4, glb_kb=2, lbuf_kb=0.5, max_layers=2,
                 max_timesteps=8)
    assert "glb_state" not in generate_accelerator(**small, max_blocks=1)
    assert "glb_state" in generate_accelerator(**small, max_blocks=4)


def patched(image, offset, value):
    data = bytearray(image.data)
    data[offset:offset + 4] = int(value).to_bytes(4, "little")
    return data


@pytest.mark.parametrize("what, code", [
    ("magic", 1), ("version", 2), ("layers", 3), ("batch", 4), ("timesteps", 5),
    ("kind", 7), ("tws", 8), ("size", 9), ("fan_in", 10), ("axi", 12)])
def test_bad_image_ends_in_error(what, code):
    net = tiny_network()
    image = pack(net, BASE)
    descriptor = image.layers[1].descriptor
    data, error_at = image.data, None
    if what == "magic":
        data = patched(image, 0, 0x12345678)
    elif what == "version":
        data = patched(image, 4, 2)
    elif what == "layers":
        data = patched(image, 8, 5)               # max_layers is 4
    elif what == "batch":
        data = patched(image, 12, 0)
    elif what == "timesteps":
        data = patched(image, 16, 65)
    elif what == "kind":
        data = patched(image, descriptor, 2)
    elif what == "tws":
        data = patched(image, descriptor + 12 * 4, 5)   # tws_max is 4
    elif what == "size":
        data = patched(image, descriptor + 1 * 4, 4000)  # fc inputs beyond the GLB
    elif what == "fan_in":
        data = patched(image, descriptor + 13 * 4, 26)
    elif what == "axi":
        error_at = BASE + image.layers[1].weights
    _, _, result = run_top(net, image_data=data, error_at=error_at)
    assert result["status"] == 0b110, f"status {result['status']:#x}"
    assert result["error_code"] == code, ERROR_CODES.get(result["error_code"])


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_parameters_are_checked():
    with pytest.raises(ValueError, match=r"^data_width must be one of 32, 64, 128, 256, 512, "
                                         r"not 48$"):
        SpikeXAccelerator(data_width=48)
    with pytest.raises(ValueError, match=r"^weight_bits must be an integer in 2..16, not 17$"):
        SpikeXAccelerator(weight_bits=17, acc_bits=24)
    with pytest.raises(ValueError, match=r"^rows must be a positive integer, not 0$"):
        SpikeXAccelerator(rows=0)


def test_verilog_of_the_accelerator_compiles(tmp_path):
    import argparse
    import re
    import shutil
    import subprocess
    from hw.cli import register
    parser = argparse.ArgumentParser(prog="spikex")
    register(parser.add_subparsers())
    out = tmp_path / "spikex_top.v"
    args = parser.parse_args(["verilog", "--what", "accelerator", "--rows", "2", "--cols", "2",
                              "--tws-max", "4", "--glb-kb", "4", "-o", str(out)])
    args.func(args)
    text = out.read_text()
    assert "module spikex_top(" in text
    for port in ("input clk;", "input rst;", "output irq_done;", "output [31:0] m_axi_araddr;",
                 "input [31:0] m_axi_rdata;", "output m_axi_awid;", "input [15:0] s_axil_awaddr;",
                 "output [31:0] s_axil_rdata;"):
        assert re.search(r"^\s*" + re.escape(port), text, re.M), port
    if shutil.which("iverilog"):
        subprocess.run(["iverilog", "-g2012", "-s", "spikex_top", "-o", str(tmp_path / "top.vvp"),
                        str(out)], check=True)


def test_buffer_limits_follow_the_memories_the_top_builds():
    # hw/limits.py sizes the LBUF beat without Amaranth; it must be the gather's entry.
    from hw.config import PE_KINDS
    from hw.gather import lbuf_entry_layout
    from hw.limits import accelerator_limits
    for rows, cols, tws_max, weight_bits in [(8, 8, 10, 8), (2, 3, 4, 8), (3, 2, 4, 12)]:
        for pe in PE_KINDS:
            dut = SpikeXAccelerator(rows=rows, cols=cols, tws_max=tws_max,
                                    weight_bits=weight_bits, glb_kb=8, lbuf_kb=2,
                                    max_timesteps=32, pe=pe)
            limits = accelerator_limits(rows=rows, cols=cols, tws_max=tws_max,
                                        weight_bits=weight_bits, glb_kb=8, lbuf_kb=2,
                                        max_timesteps=32, pe=pe)
            entry = lbuf_entry_layout(rows, cols, tws_max, weight_bits, pace=pe == "sparse")
            entry_bytes = -(-entry.size // 8)
            assert dut.lbuf_depth == limits["lbuf_depth"] == 2048 // 2 // entry_bytes


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_the_time_block_state_is_part_of_the_glb():
    # The paper's 8x8 with its 54 KB GLB: spikes, weights, outputs and the state memory
    # (a word of 8 membranes and a last step per position) within the 54 KB.
    from hw.limits import glb_shares, state_word_bytes
    from hw.pass_engine import state_layout
    dut = SpikeXAccelerator()
    assert dut.max_blocks > 1 and dut.glb_kb == 54
    assert state_word_bytes(8, 16) == state_layout(8, 16).size // 8 == 18
    shares = glb_shares(54, rows=8, v_bits=16, max_timesteps=dut.max_timesteps, time_blocks=True)
    assert sum(shares) <= 54 * 1024
    assert dut.max_positions * 18 == shares[3] and dut.max_positions * 8 >= dut.max_outputs
    assert dut.max_inputs == shares[0] // (dut.max_timesteps // 8)
    no_blocks = SpikeXAccelerator(max_blocks=1)
    assert no_blocks.max_positions == 0 and no_blocks.max_inputs == 27 * 1024 // 8


def test_a_row_group_whose_outputs_do_not_fit_the_output_share_ends_in_error():
    # The conv layer's row group (min(M, rows) = 2 channels of 3 x 3 positions) needs 18
    # output words; an output share of 64 bytes holds 16 (CHECK compares the registered
    # product).
    _, _, result = run_top(tiny_network(), glb_split=(4096, 2048, 64))
    assert result["status"] == 0b110, f"status {result['status']:#x}"
    assert ERROR_CODES.get(result["error_code"]) == ERROR_CODES[9]
    assert result["layer"] == 0
