"""The whole accelerator's Verilog under Icarus and Verilator.

- On its buses: cocotbext-axi DRAM with random pauses and an AXI4-Lite host
  (tb/test_top.py), random networks in both dataflows bit-exact with the golden model, bad
  images ending in the error status.
- As users run it: ``spikex run --backend icarus|verilator`` (sim/rtl.py, the Verilog DRAM
  model and host, no Python per cycle), bit-exact with golden, counters from the
  hardware's registers equal to the analytic simulator's (``memory="rtl"``), all twelve of
  them; the Verilog host equal to the cocotb host it replaced, one simulation equal to
  samples shared between several.
"""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from cocotb_tools.check_results import get_results

from sim.analytic import run_analytic
from sim.golden import run_network
from hw.layout import COUNTER_NAMES
from sim.configure import check_fits, rtl_parameters
from sim.differential import RTL_CONFIGS
from sim.rtl import REPO, build_top, run_rtl
from spikex.netfile import Network, SpikexError
from tb.networks import random_network, small_network

#: The accelerator of the tests: the first of the differential campaign
#: (sim.differential.RTL_CONFIGS: 4x4, tws_max 4, a 3-beat LBUF bank, a fixed GLB split, up
#: to 10 time blocks of at most 32 steps), so that one build per simulator serves this file,
#: tests/test_table2_rtl.py and the campaign's CI test. CONFIGS holds the parameters it
#: elaborates, so the bus-level testbench and the runner share one generated Verilog.
ACCELERATOR = RTL_CONFIGS[0]
OPTIONS = ACCELERATOR.options
CONFIGS = {"4x4": ACCELERATOR.accelerator}


def run_testbench(simulator, config, seed, networks, testcase=None):
    parameters = CONFIGS[config]
    runner, directory, toplevel = build_top(simulator, parameters)
    results = runner.test(
        test_module="tb.test_top", hdl_toplevel=toplevel, build_dir=directory, test_dir=directory,
        testcase=testcase, results_xml=str(directory / f"results-{seed}.xml"),
        extra_env={"SPIKEX_TOP": json.dumps(parameters), "SPIKEX_SEED": str(seed),
                   "SPIKEX_NETWORKS": str(networks),
                   "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
    return get_results(Path(results))


# Verilator runs two networks of each kind in CI; Icarus, three minutes for one of each
# (the accelerator's other Icarus runs are below and in tests/test_table2_rtl.py and
# tests/test_differential.py), only with ``-m slow``.
@pytest.mark.parametrize("simulator, networks", [
    pytest.param("icarus", 1, marks=pytest.mark.slow), ("verilator", 2)])
def test_accelerator_matches_golden_on_its_buses(simulator, networks):
    tests, failed = run_testbench(simulator, "4x4", seed=3, networks=networks)
    assert tests == 3 and failed == 0, f"{failed} of {tests} cocotb tests failed under {simulator}"


def assert_rtl_matches(net, options, simulator):
    """Both dataflows: every layer's spikes equal golden, all twelve counters the analytic
    model's (``memory="rtl"``, tb/axi_ram.v: latency 1, one burst at a time)."""
    for dataflow in ("spikex", "ptb"):
        options = {**options, "dataflow": dataflow}
        outputs, counters = run_rtl(net, options, "random.npz", simulator)
        for k, (got, want) in enumerate(zip(outputs, run_network(net))):
            assert np.array_equal(got, want), f"{simulator} {dataflow}: layer {k} differs from golden"
        _, predicted = run_analytic(net, {**options, "memory": "rtl", "dram_latency": 1,
                                          "dram_one_burst": True}, "random.npz")
        for k, (rtl, model) in enumerate(zip(counters["layers"], predicted["layers"])):
            for key in COUNTER_NAMES:
                assert rtl[key] == model[key], f"{simulator} {dataflow} layer {k}: {key} {rtl[key]} != {model[key]}"
            # One energy function (sim.energy.counter_energy) for both backends.
            assert rtl["energy_by_component_pj"] == model["energy_by_component_pj"]
            assert rtl["energy_pj"] == model["energy_pj"] > 0
            assert rtl["cycles"] > rtl["busy_cycles"] >= 0
            assert (rtl["busy_cycles"] > 0) == (rtl["active_ntwus"] > 0)   # a silent input: no pass
        assert counters["cycles"] == sum(layer["cycles"] for layer in counters["layers"])


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_spikex_run_on_rtl_is_bit_exact_and_counts_like_the_analytic_model(simulator):
    net = small_network(15)          # conv -> conv -> fc, leaks, two samples, 9% input rate
    parameters = rtl_parameters(net, OPTIONS)
    assert parameters["block_steps"] is None
    assert ACCELERATOR.parameters(net, OPTIONS) == ACCELERATOR.accelerator
    from hw.limits import accelerator_limits
    limits = accelerator_limits(**{key: parameters[key] for key in (
        "rows", "cols", "tws_max", "weight_bits", "glb_kb", "lbuf_kb", "max_timesteps", "pe")})
    fan_in = [layer.fan_in for layer in net.layers]
    assert limits["lbuf_depth"] == 3 and min(fan_in) <= 3 < max(fan_in), fan_in  # both kinds
    assert_rtl_matches(net, OPTIONS, simulator)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("seed, rate", [(41, 0.0001), (42, 0.3)], ids=["0.01%", "30%"])
def test_thirty_time_steps_from_sparse_to_dense_input(simulator, seed, rate):
    # T = 30 (the N-MNIST networks'), input firing rate 0.01% (seed 41: one spike in two
    # samples) and 30%: bit-exact with golden and counted as the analytic model predicts.
    net = random_network(np.random.default_rng(seed), max_size=7, timesteps=(30,),
                         tws=(1, 2, 3), rates=(rate,), v_bits=(16,), max_batch=2)
    assert net.timesteps == 30 and ACCELERATOR.parameters(net, OPTIONS) == ACCELERATOR.accelerator
    assert 0 < net.input.mean() <= 2 * rate
    assert_rtl_matches(net, OPTIONS, simulator)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("seed, block", [(43, 12), (44, 30)], ids=["T36-blocks-of-12",
                                                                   "T72-blocks-of-30"])
def test_time_blocks_on_rtl(simulator, seed, block):
    # Samples longer than the 32-step spike words, in 3 time blocks (72 = 30 + 30 + 12): the
    # same build as above, bit-exact with golden and counted as the analytic model predicts.
    steps = {12: 36, 30: 72}[block]
    net = random_network(np.random.default_rng(seed), max_size=7, timesteps=(steps,),
                         tws=(1, 2, 3), rates=(0.05,), v_bits=(16,), max_batch=2)
    options = {**OPTIONS, "block_steps": block}
    assert rtl_parameters(net, options)["block_steps"] == block
    assert ACCELERATOR.parameters(net, options) == ACCELERATOR.accelerator
    assert_rtl_matches(net, options, simulator)


@pytest.mark.parametrize("seed, block", [(15, None), (43, 12)], ids=["one-block", "T36-blocks-of-12"])
def test_a_wide_dram_bus_on_rtl(seed, block):
    # A 128-bit DRAM bus (one more Verilator build, shared by both): bit-exact with golden,
    # every counter as the analytic model predicts, the DRAM bytes in whole 16-byte beats.
    if block is None:
        net = small_network(seed)
    else:
        net = random_network(np.random.default_rng(seed), max_size=7, timesteps=(36,),
                             tws=(1, 2, 3), rates=(0.05,), v_bits=(16,), max_batch=2)
    options = {**OPTIONS, "block_steps": block, "data_width": 128}
    assert rtl_parameters(net, options)["data_width"] == 128
    assert_rtl_matches(net, options, "verilator")
    # The model (and so the RTL) moves whole beats: more bytes than the 32-bit bus's.
    model = {"memory": "rtl", "dram_latency": 1, "dram_one_burst": True}
    wide = run_analytic(net, {**options, **model})[1]["layers"]
    narrow = run_analytic(net, {**options, **model, "data_width": 32})[1]["layers"]
    for ours, theirs in zip(wide, narrow):
        assert ours["dram_read_bytes"] % 16 == ours["dram_write_bytes"] % 16 == 0
        assert ours["dram_read_bytes"] > theirs["dram_read_bytes"]


def test_a_long_sample_is_cut_into_the_time_blocks_of_fewest_words_that_fit():
    # 200 steps of 3x12x12 inputs (tws 2, 4, 2): the whole sample needs 18 KB of GLB; 6 KB
    # (0.9 KB of it the time-block state: 49 positions) hold blocks of up to 56 steps. Over
    # the sample an input takes 4 x 2 words in blocks of 56 steps and 7 x 1 in blocks of 32:
    # 32 it is (7 blocks, the last of 8 steps), spike words of exactly 32 steps.
    net = random_network(np.random.default_rng(4), max_size=12, timesteps=(200,), tws=(1, 2, 4),
                         v_bits=(16,), max_batch=1)
    whole = rtl_parameters(net, {"glb_kb": 64})
    assert whole["block_steps"] is None and whole["max_blocks"] == 1
    cut = rtl_parameters(net, {"glb_kb": 6})
    unit = int(np.lcm.reduce([layer.tws for layer in net.layers]))
    assert cut["block_steps"] == 32 and cut["max_blocks"] == 7 and unit == 4
    assert cut["max_timesteps"] == 32
    longest = rtl_parameters(net, {"glb_kb": 6, "block_steps": 56})
    longer = rtl_parameters(net, {"glb_kb": 6, "block_steps": 56 + unit})
    check_fits(net, cut, "long.npz")
    check_fits(net, longest, "long.npz")
    with pytest.raises(SpikexError, match=r"^long.npz: .*more than"):
        check_fits(net, longer, "long.npz")
    with pytest.raises(SpikexError, match=r"^long.npz: layer \d \((conv|fc)\): tws \d does not "
                                          r"divide the time block 7 \(--time-block\)$"):
        run_rtl(net, {"block_steps": 7}, "long.npz", "verilator")


@pytest.mark.parametrize("split, message", [
    (None, r"^big.npz: the network needs [\d.]+ KB of GLB \(spikes [\d.]+ KB \(layer \d\), "
           r"weights [\d.]+ KB \(layer \d\), outputs [\d.]+ KB \(layer \d\), "
           r"time-block state [\d.]+ KB \(layer \d\)\), more than --glb-kb 0.2, "
           r"in time blocks of \d+ steps; fan-in tiling is not implemented in the RTL$"),
    ([120, 20, 30], r"^big.npz: layer \d \((conv|fc)\): needs \d+ bytes of GLB spikes, more "
                    r"than the 120 bytes of its share"),
    ([150, 50, 50], r"^big.npz: glb_split must be three positive byte counts"),
])
def test_a_network_too_large_for_the_glb_is_refused_by_name(split, message):
    net = small_network(11)
    with pytest.raises(SpikexError, match=message):
        run_rtl(net, {**OPTIONS, "glb_kb": 0.2, "glb_split": split}, "big.npz", "icarus")


def test_a_threshold_wider_than_the_image_word_is_refused_by_name():
    # A 48-bit membrane allows thresholds up to 2**47 - 1; the image's descriptor word
    # holds 32 bits (found by the differential campaign: a traceback before).
    net = small_network(15)
    wide = Network([replace(net.layers[0], threshold=1 << 40), *net.layers[1:]], net.weights,
                   net.input, weight_bits=net.weight_bits, v_bits=48)
    with pytest.raises(SpikexError, match=r"^wide.npz: layer 0 \(conv\): threshold 1099511627776 "
                                          r"does not fit the 32-bit threshold word of the DRAM "
                                          r"image \(docs/image.md\); the RTL takes thresholds up "
                                          r"to 4294967295$"):
        run_rtl(wide, OPTIONS, "wide.npz", "verilator")


def test_the_verilog_host_gives_what_the_cocotb_host_gives():
    # The same accelerator's two hosts (tb/spikex_host.v, tb/run_top.py) on a two-sample
    # network: the same spikes and the same twelve counters of every layer. Under Icarus,
    # which builds the cocotb host in seconds where Verilator takes minutes.
    net = small_network(15)
    assert net.batch == 2
    verilog = run_rtl(net, {**OPTIONS, "jobs": 1}, "random.npz", "icarus", harness="verilog")
    cocotb = run_rtl(net, OPTIONS, "random.npz", "icarus", harness="cocotb")
    for k, (a, b) in enumerate(zip(verilog[0], cocotb[0])):
        assert np.array_equal(a, b), f"layer {k}: the hosts' spikes differ"
    assert verilog[1] == cocotb[1]


def test_samples_shared_between_simulations_give_what_one_simulation_gives():
    net = random_network(np.random.default_rng(45), max_size=7, timesteps=(12,), tws=(1, 2, 3),
                         rates=(0.1,), v_bits=(16,), max_batch=1)
    net = net.with_input(np.concatenate([net.input] + [
        np.random.default_rng(s).random(net.input.shape) < 0.1 for s in range(4)]))
    assert net.batch == 5 and ACCELERATOR.parameters(net, OPTIONS) == ACCELERATOR.accelerator
    one = run_rtl(net, {**OPTIONS, "jobs": 1}, "random.npz", "verilator")
    three = run_rtl(net, {**OPTIONS, "jobs": 3}, "random.npz", "verilator")   # 2, 2 and 1
    for k, (a, b, want) in enumerate(zip(one[0], three[0], run_network(net))):
        assert np.array_equal(a, want) and np.array_equal(b, want), f"layer {k} differs"
    assert one[1] == three[1]


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_a_run_that_does_not_finish_is_an_error(simulator):
    net = small_network(15)
    with pytest.raises(SpikexError, match=rf"^random.npz: the accelerator did not finish within "
                                          rf"500 cycles \({simulator}\); status 0x1$"):
        run_rtl(net, {**OPTIONS, "timeout_cycles": 500}, "random.npz", simulator)


# A process yosys' Verilog backend writes as one statement (no ``begin``, no read of its
# ``dump_module`` register), as it wrote the pass's leak_shift field from the descriptor
# register before the accelerator was split into components; and one in a module without
# ``dump_module``. Each reads a register that keeps its initial value.
ONE_STATEMENT_PROCESSES = r"""
module one_statement(output wire [1:0] leak_shift, output wire [3:0] wide);
  reg \$auto$verilog_backend.cc:2355:dump_module$1  = 0;
  reg [31:0] word11 = 32'd0;
  reg [7:0] payload;
  reg [3:0] other;
  always @*
    payload[7:6] = word11[1:0];
  always @* begin
    if (\$auto$verilog_backend.cc:2355:dump_module$1 ) begin end
    other = word11[3:0];
  end
  assign leak_shift = payload[7:6];
  assign wide = other;
endmodule

module no_dump_module(output reg [2:0] y);
  reg [2:0] r = 3'd5;
  always @*
    y = r;
endmodule

module top;
  wire [1:0] leak_shift;
  wire [3:0] wide;
  wire [2:0] y;
  one_statement a(.leak_shift(leak_shift), .wide(wide));
  no_dump_module b(.y(y));
  initial begin
    #1 $display("%b %b %b", leak_shift, wide, y);
    $finish;
  end
endmodule
"""


def test_icarus_runs_every_combinational_process_at_time_zero(tmp_path):
    # The Icarus campaign's network 2/30 (2x3-w2-v4, every layer leak_shift 0): the pass's
    # leak_shift stayed X under Icarus, so did the membranes and the spikes written out
    # (bits X in the DRAM dump around 0x1000); Verilator ran it bit-exact.
    import shutil
    import subprocess
    from sim.rtl import _for_icarus
    if shutil.which("iverilog") is None:
        pytest.skip("iverilog not installed")
    (tmp_path / "t.v").write_text(_for_icarus(ONE_STATEMENT_PROCESSES))
    subprocess.run(["iverilog", "-g2012", "-s", "top", "-o", "t", "t.v"], cwd=tmp_path, check=True)
    done = subprocess.run(["vvp", "-n", "t"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert done.stdout.split()[:3] == ["00", "0000", "101"], done.stdout


def test_no_process_of_the_accelerator_misses_the_time_zero_trigger_under_icarus():
    # Every always @* of the Verilog that Icarus runs (the 2x3 campaign accelerator) reads
    # a register that an initial #0 sets: none is a one-statement process left as yosys wrote it.
    import re
    from sim.rtl import _for_icarus, _generated
    config = next(config for config in RTL_CONFIGS if config.name == "2x3-w2-v4")
    text = _for_icarus(_generated(json.dumps(config.accelerator, sort_keys=True)))
    blocks = re.findall(r"always @\*([^\n]*)\n([^\n]*)\n", text)
    assert blocks
    bare = [second.strip() for first, second in blocks
            if first.strip() != "begin" or not re.fullmatch(r"\s*if \(\\\S*dump_module\S* \) begin end", second)]
    assert not bare, f"{len(bare)} processes Icarus does not run at time 0, first: {bare[0]}"
