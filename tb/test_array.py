"""cocotb testbench of the PE array (``spikex_array``), run by ``tb/runner.py`` under Icarus or Verilator.

The hardware parameters come from the environment (``SPIKEX_ARRAY``, JSON, written by the
runner from the same dict the Verilog was generated from), so widths are never written twice.
Random conv and fc layers run through :func:`tb.array_driver.rtl_layer` and are compared bit
for bit with :func:`sim.golden.run_layer`.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hw.array import PEArray
from sim.golden import run_layer
from spikex.netfile import ConvLayer, FcLayer
from tb.array_driver import (PassStreams, beat_paces, fire_cycles, no_pauses, random_pauses,
                             rtl_layer)


TWS_CHOICES = (1, 2, 3, 5, 10)


class ArrayTB:
    """Owns the clock, the reset and the stream models of one ``spikex_array``."""

    def __init__(self, dut, design):
        self.dut = dut
        self.design = design
        self.pauses = no_pauses()
        self.cycles = 0
        self.history = []
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        dut = self.dut
        for name in PassStreams.SOURCES:
            getattr(dut, f"{name}__valid").value = 0
        dut.results__ready.value = 0
        dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def run_pass(self, descriptor, beats):
        """One pass through the four streams; ``(result, cycles)`` as :mod:`tb.array_driver` expects."""
        dut = self.dut
        streams = PassStreams(descriptor, beats, self.pauses)
        ports = {name: (getattr(dut, f"{name}__valid"), getattr(dut, f"{name}__payload"),
                        getattr(dut, f"{name}__ready")) for name in PassStreams.SOURCES}
        start = None
        while True:
            for name, source in streams.sources.items():
                valid, payload = source.drive()
                valid_port, payload_port, _ = ports[name]
                valid_port.value = int(valid)
                if valid:
                    payload_port.value = payload
            dut.results__ready.value = int(streams.sink.drive())
            await ReadOnly()
            for name, source in streams.sources.items():
                if source.sample(int(ports[name][2].value)) and name == "passes":
                    start = self.cycles
            result = None
            if streams.sink.ready and int(dut.results__valid.value):
                result = int(dut.results__payload.value)
            await RisingEdge(dut.clk)
            self.cycles += 1
            if result is not None:
                for name in PassStreams.SOURCES:
                    ports[name][0].value = 0
                self.history.append((descriptor, len(beats), result, self.cycles - start,
                                     beat_paces(self.design, beats)))
                return result, self.cycles - start


def design_from_env():
    return PEArray(**json.loads(os.environ["SPIKEX_ARRAY"]))


def random_layer(rng, design):
    """A random conv or fc layer, its weights and input spikes, sized for a quick run.

    Half the layers use weights near the ends of the range (saturation at small v_bits);
    thresholds and leaks cover 1, small, large and IF neurons.
    """
    tws = int(rng.choice([t for t in TWS_CHOICES if t <= design.tws_max]))
    steps = tws * int(rng.integers(2, 6))
    v_max = 2 ** (design.v_bits - 1) - 1
    threshold = int(rng.choice([1, rng.integers(1, 64), rng.integers(1, v_max + 1)]))
    threshold = min(threshold, v_max)
    leak_shift = int(rng.choice([0, rng.integers(1, 4), rng.integers(0, design.v_bits)]))
    out_channels = int(rng.integers(1, 2 * design.rows + 2))
    if rng.random() < 0.5:
        kernel, stride, padding = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
        size = int(rng.integers(max(1, kernel - 2 * padding), 8))
        layer = ConvLayer(int(rng.integers(1, 3)), (size, size), out_channels, kernel, stride,
                          padding, threshold, leak_shift, tws)
    else:
        layer = FcLayer(int(rng.integers(1, 25)), out_channels, threshold, leak_shift, tws)
    w_max = 2 ** (design.weight_bits - 1)
    if rng.random() < 0.5:
        weights = rng.integers(-w_max, w_max, size=layer.weight_shape)
    else:
        weights = rng.choice([-w_max, -w_max + 1, w_max - 2, w_max - 1], size=layer.weight_shape)
    rate = float(rng.choice([0.05, 0.15, 0.3]))
    spikes = (rng.random((int(rng.integers(1, 3)), steps, *layer.in_shape)) < rate).astype(np.uint8)
    return layer, weights, spikes


@cocotb.test()
async def pass_timing_matches_dataflow_formula(dut):
    """Without stalls, each pass takes fill + beats * b + fire + drain cycles (sparse PE: the
    beats' paces instead of beats * b)."""
    design = design_from_env()
    tb = ArrayTB(dut, design)
    await tb.reset()
    rng = np.random.default_rng(int(os.environ.get("SPIKEX_SEED", "0")))
    layer, weights, spikes = random_layer(rng, design)
    got = await rtl_layer(layer, weights, spikes, design.v_bits, array=tb)
    assert np.array_equal(got, run_layer(layer, weights, spikes, design.v_bits)), f"{layer}"
    for descriptor, beats, result, cycles, paces in tb.history:
        fire = fire_cycles(design, descriptor, result)
        expected = design.pass_cycles(beats, layer.tws, fire, paces)
        assert cycles == expected, f"pass of {beats} beats, fire {fire}: {cycles} != {expected} cycles"


@cocotb.test()
async def random_layers_match_golden(dut):
    """Random layers with random stalls on every stream, bit-exact against the golden model."""
    design = design_from_env()
    tb = ArrayTB(dut, design)
    await tb.reset()
    seed = int(os.environ.get("SPIKEX_SEED", "0"))
    rng = np.random.default_rng(seed + 1)
    tb.pauses = random_pauses(seed, probability=0.3)
    for k in range(int(os.environ.get("SPIKEX_LAYERS", "4"))):
        layer, weights, spikes = random_layer(rng, design)
        packing = "temporal" if k % 2 == 0 else "spatial"
        got = await rtl_layer(layer, weights, spikes, design.v_bits, array=tb, packing=packing)
        expected = run_layer(layer, weights, spikes, design.v_bits)
        assert np.array_equal(got, expected), \
            f"layer {k} ({layer}, {packing}, seed {seed}): {int((got != expected).sum())} spikes differ"
        dut._log.info("layer %d: %s, %s packing, %d spikes, %d cycles so far", k, layer.kind,
                      packing, int(expected.sum()), tb.cycles)


def benchmark_layer(design):
    """The fixed workload of ``bench/bench_array.py``: a conv layer at a 15 % firing rate."""
    rng = np.random.default_rng(2024)
    layer = ConvLayer(2, (8, 8), 2 * design.rows, 3, 1, 1, threshold=40, leak_shift=2,
                      tws=min(5, design.tws_max))
    weights = rng.integers(-128, 128, size=layer.weight_shape)
    spikes = (rng.random((1, 4 * layer.tws, *layer.in_shape)) < 0.15).astype(np.uint8)
    return layer, weights, spikes


@cocotb.test(skip="SPIKEX_BENCH_OUT" not in os.environ)
async def throughput(dut):
    """Simulated cycles per second on :func:`benchmark_layer` (run by bench/bench_array.py)."""
    import time
    design = design_from_env()
    tb = ArrayTB(dut, design)
    await tb.reset()
    layer, weights, spikes = benchmark_layer(design)
    start_cycles, start = tb.cycles, time.perf_counter()
    got = await rtl_layer(layer, weights, spikes, design.v_bits, array=tb)
    seconds = time.perf_counter() - start
    assert np.array_equal(got, run_layer(layer, weights, spikes, design.v_bits))
    with open(os.environ["SPIKEX_BENCH_OUT"], "w") as file:
        json.dump({"cycles": tb.cycles - start_cycles, "seconds": seconds}, file)
