"""The processing element and the array under amaranth.sim, against the golden model's LIF step."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from hw.array import PEArray
from hw.config import FIRE_STEP_CYCLES, beat_cycles
from hw.pe import ProcessingElement
from sim.golden import decay, lif_step, run_layer
from spikex.netfile import ConvLayer, FcLayer
from tb.array_driver import AmaranthArray, fire_cycles, random_pauses, rtl_layer


def reference_pe(beats, tws, threshold, leak_shift, v_bits, membrane, skip):
    """Spike bits, final membrane and fire cycles of one NTWU, by SPEC §1."""
    current = np.zeros(tws, np.int64)
    for weight, word in beats:
        current += weight * ((word >> np.arange(tws)) & 1)
    decays = 0
    while decays < skip and int(decay(membrane, leak_shift)) != membrane:
        membrane, decays = int(decay(membrane, leak_shift)), decays + 1
    spikes = 0
    for t in range(tws):
        spike, membrane = lif_step(membrane, current[t], threshold, leak_shift, v_bits)
        spikes |= int(spike) << t
        membrane = int(membrane)
    return spikes, membrane, FIRE_STEP_CYCLES * (decays + tws)


def simulate_pe(beats, tws, threshold, leak_shift, membrane, skip, chain, *, tws_max=10,
                weight_bits=8, acc_bits=24, v_bits=16, gap=0, parallel=False, sparse=False):
    """Drive one PE through a pass; ``chain`` starts it from ``prev`` instead of ``membrane_in``."""
    dut = ProcessingElement(tws_max=tws_max, weight_bits=weight_bits, acc_bits=acc_bits,
                            v_bits=v_bits, skip_bits=16, parallel=parallel, sparse=sparse)
    outcome = {}

    async def bench(ctx):
        ctx.set(dut.params, {"tws": tws, "threshold": threshold, "leak_shift": leak_shift})
        ctx.set(dut.load, 1)
        ctx.set(dut.membrane_in, 0 if chain else membrane)
        ctx.set(dut.skip, skip)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.chain, chain)
        for weight, word in beats:
            ctx.set(dut.west.valid, 1)
            ctx.set(dut.west.weight, weight)
            ctx.set(dut.north.word, word)
            await ctx.tick()
            ctx.set(dut.west.valid, 0)
            # The sparse PE's beat takes its set bits (no fewer than 1, as the array paces it).
            kind = "parallel" if parallel else "sparse" if sparse else "serial"
            beat = beat_cycles(tws, kind, bin(word).count("1"))
            if beat - 1 + gap:
                await ctx.tick().repeat(beat - 1 + gap)
            assert ctx.get(dut.east.weight) == weight, "the beat's weight moves on to the right"
            assert ctx.get(dut.south.word) == word, "the beat's word moves on down"
        await ctx.tick()                            # the last time point of the last beat
        ctx.set(dut.fire, 1)
        if chain:
            # The left neighbour finishes three cycles later: the PE must wait for it.
            await ctx.tick().repeat(3)
            assert not ctx.get(dut.link.done)
            ctx.set(dut.prev.membrane, membrane)
            ctx.set(dut.prev.done, 1)
        cycles = 0
        while not ctx.get(dut.link.done):
            await ctx.tick()
            cycles += 1
        outcome.update(spikes=ctx.get(dut.spikes), membrane=ctx.get(dut.link.membrane),
                       cycles=cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return outcome["spikes"], outcome["membrane"], outcome["cycles"]


@st.composite
def pe_cases(draw):
    v_bits = draw(st.sampled_from([8, 16]))
    tws = draw(st.sampled_from([1, 2, 3, 5, 10]))
    weight = st.integers(-128, 127)
    word = st.integers(0, 2 ** tws - 1)
    beats = draw(st.lists(st.tuples(weight, word), min_size=1, max_size=6))
    threshold = draw(st.integers(1, 2 ** (v_bits - 1) - 1) | st.integers(1, 40))
    leak_shift = draw(st.integers(0, v_bits - 1))
    membrane = draw(st.just(0) | st.integers(-2 ** (v_bits - 1), threshold - 1))
    skip = draw(st.sampled_from([0, 1, 3, 20]))
    return beats, tws, threshold, leak_shift, v_bits, membrane, skip


@settings(max_examples=40, deadline=None)
@given(pe_cases(), st.booleans(), st.sampled_from(["serial", "parallel", "sparse"]))
def test_pe_matches_lif(case, chain, pe):
    beats, tws, threshold, leak_shift, v_bits, membrane, skip = case
    expected = reference_pe(beats, tws, threshold, leak_shift, v_bits, membrane, skip)
    got = simulate_pe(beats, tws, threshold, leak_shift, membrane, skip, chain, v_bits=v_bits,
                      parallel=pe == "parallel", sparse=pe == "sparse")
    assert got == expected, f"(spikes, membrane, fire cycles) {got} != {expected}"


def test_pe_saturates_and_fires_at_exact_threshold():
    # -128 * 4 = -512 clamps to -128 at v_bits = 8, so +5 next step gives -123, not -507.
    beats = [(-128, 0b01)] * 4 + [(5, 0b10)]
    assert simulate_pe(beats, 2, 5, 0, 0, 0, False, v_bits=8) == (0b00, -123, 2 * FIRE_STEP_CYCLES)
    # A membrane of exactly the threshold fires and resets to zero.
    assert simulate_pe([(5, 0b10)], 2, 5, 0, 0, 0, False, v_bits=8) == (0b10, 0, 2 * FIRE_STEP_CYCLES)


@pytest.mark.parametrize("pe", ["serial", "sparse", "parallel"])
def test_pe_partial_sums_beyond_the_clamp(pe):
    # The firing step takes psum[t] clamped to v_bits + 1 bits (-256 .. 255 at v_bits = 8):
    # beyond, the sum saturates, and fires or not, as the exact sum does; within, it is kept.
    # (beats of one time point, threshold, leak_shift, starting membrane)
    cases = [([(127, 1), (73, 1)], 101, 0, -100),        # 200 - 100 = 100: no spike
             ([(-128, 1), (-72, 1)], 127, 0, 100),       # -200 + 100 = -100
             ([(127, 1), (127, 1), (2, 1)], 127, 0, -128),   # 256 - 128 = 128: fires
             ([(-128, 1), (-128, 1), (-1, 1)], 127, 0, 126),  # -257 + 126: -128
             ([(127, 1)] * 6, 100, 3, 0),                # 762: fires
             ([(-128, 1)] * 6, 100, 3, 0)]               # -768: -128
    for beats, threshold, leak_shift, membrane in cases:
        expected = reference_pe(beats, 1, threshold, leak_shift, 8, membrane, 0)
        got = simulate_pe(beats, 1, threshold, leak_shift, membrane, 0, False, v_bits=8,
                          parallel=pe == "parallel", sparse=pe == "sparse")
        assert got == expected, f"{beats}: {got} != {expected}"


def test_pe_decay_stops_at_fixed_point():
    # decay(-1) = 0 with leak_shift 4; 0 is a fixed point: 1 decay step of 100 skipped.
    # (Fire cycles: FIRE_STEP_CYCLES per decay step and per time point.)
    assert simulate_pe([(0, 0)], 1, 10, 4, -1, 100, False) == (0, 0, 2 * FIRE_STEP_CYCLES)
    # An IF neuron never decays: no decay step at all.
    assert simulate_pe([(0, 0)], 3, 10, 0, 7, 100, False) == (0, 7, 3 * FIRE_STEP_CYCLES)
    # u = 0 is a fixed point: no decay step, and none of the 5 skipped steps may be
    # applied later, between the window's time points (-127, then decay(-127) + 10 = -85).
    assert simulate_pe([(-127, 0b01), (10, 0b10)], 2, 25, 2, 0, 5, False) == (0, -85, 2 * FIRE_STEP_CYCLES)
    # Two skipped steps take 40 -> 38 -> 36, then the window's step gives 34.
    assert simulate_pe([(0, 0)], 1, 100, 4, 40, 2, False)[1:] == (34, 3 * FIRE_STEP_CYCLES)


@pytest.mark.parametrize("sparse", [False, True], ids=["serial", "sparse"])
def test_pe_accepts_back_to_back_and_gapped_beats(sparse):
    beats = [(3, 0b101), (-7, 0b011), (100, 0b111), (9, 0b000), (-2, 0b100), (5, 0b110)]
    expected = reference_pe(beats, 3, 50, 1, 16, 0, 0)
    assert simulate_pe(beats, 3, 50, 1, 0, 0, False, gap=0, sparse=sparse) == expected
    assert simulate_pe(beats, 3, 50, 1, 0, 0, False, gap=2, sparse=sparse) == expected


def run_on_array(design, layer, weights, spikes, v_bits, pauses=None, packing="temporal"):
    """rtl_layer on ``design`` under amaranth.sim: (spikes, the array's pass history)."""
    outcome = {}

    async def bench(ctx):
        array = AmaranthArray(ctx, design, pauses)
        outcome["spikes"] = await rtl_layer(layer, weights, spikes, v_bits, array=array,
                                            packing=packing)
        outcome["history"] = array.history

    sim = Simulator(design)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return outcome["spikes"], outcome["history"]


@pytest.mark.parametrize("pe", ["serial", "parallel", "sparse"])
@pytest.mark.parametrize("packing", ["temporal", "spatial"])
def test_array_pass_cycles_match_dataflow_formula(packing, pe):
    design = PEArray(rows=2, cols=3, tws_max=4, v_bits=8, pe=pe)
    rng = np.random.default_rng(7)
    layer = ConvLayer(2, (4, 4), 3, 3, 1, 1, threshold=25, leak_shift=2, tws=2)
    weights = rng.integers(-128, 128, size=layer.weight_shape)
    spikes = (rng.random((1, 16, *layer.in_shape)) < 0.12).astype(np.uint8)
    got, history = run_on_array(design, layer, weights, spikes, 8, packing=packing)
    assert np.array_equal(got, run_layer(layer, weights, spikes, 8))
    assert any(fire_cycles(design, d, r) > FIRE_STEP_CYCLES * 3 * layer.tws
               for d, _, r, _, _ in history), \
        "some pass decays or chains"
    if pe == "sparse":
        assert any(max(paces) > 1 for *_, paces in history), "some beat has two bits in a word"
    for descriptor, beats, result, cycles, paces in history:
        fire = fire_cycles(design, descriptor, result)
        assert cycles == design.pass_cycles(beats, layer.tws, fire, paces), (beats, fire, cycles)


@settings(max_examples=9, deadline=None)
@given(st.integers(0, 2 ** 32 - 1), st.sampled_from(["conv", "fc"]),
       st.sampled_from(["serial", "parallel", "sparse"]))
def test_array_matches_golden_with_stalls(seed, kind, pe):
    rng = np.random.default_rng(seed)
    design = PEArray(rows=2, cols=3, tws_max=5, v_bits=8, pe=pe)
    tws = int(rng.choice([1, 2, 3, 5]))
    threshold, leak_shift = int(rng.integers(1, 128)), int(rng.integers(0, 8))
    if kind == "conv":
        layer = ConvLayer(2, (4, 4), 3, 3, 2, 1, threshold, leak_shift, tws)
    else:
        layer = FcLayer(12, 5, threshold, leak_shift, tws)
    weights = rng.integers(-128, 128, size=layer.weight_shape)
    spikes = (rng.random((2, 3 * tws, *layer.in_shape)) < rng.uniform(0.02, 0.3)).astype(np.uint8)
    got, _ = run_on_array(design, layer, weights, spikes, 8, random_pauses(seed))
    assert np.array_equal(got, run_layer(layer, weights, spikes, 8))


@pytest.mark.parametrize("kwargs, message", [
    ({"rows": 0}, "rows must be a positive integer, not 0"),
    ({"cols": -2}, "cols must be a positive integer, not -2"),
    ({"tws_max": "4"}, "tws_max must be a positive integer, not '4'"),
    ({"weight_bits": 1}, "weight_bits must be an integer of at least 2, not 1"),
    ({"acc_bits": 4}, "acc_bits must be an integer of at least 8, not 4"),
    ({"v_bits": 1}, "v_bits must be an integer of at least 2, not 1"),
])
@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_array_parameters_are_checked(kwargs, message):
    with pytest.raises((TypeError, ValueError)) as info:
        PEArray(**kwargs)
    assert str(info.value) == message
