"""The divisibility check of hw/steps.py against Python's ``%``."""

import itertools

import pytest
from amaranth.sim import Simulator

from hw.steps import TwsDivisibility


def rtl_divides(cases, tws_max, steps_bits):
    """``divides`` for each ``(steps, block)`` of ``cases`` and each ``tws`` in 0 .. 2**bits - 1."""
    dut = TwsDivisibility(tws_max=tws_max, steps_bits=steps_bits)
    tws_values = range(1 << len(dut.tws))
    got = {}

    async def bench(ctx):
        for steps, block in cases:
            ctx.set(dut.steps, steps)
            ctx.set(dut.block, block)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().repeat(steps_bits)
            for tws in tws_values:
                ctx.set(dut.tws, tws)
                got[steps, block, tws] = ctx.get(dut.divides)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def golden_divides(cases, tws_max, tws_bits):
    return {(steps, block, tws): int(1 <= tws <= tws_max and steps % tws == 0 and block % tws == 0)
            for steps, block in cases for tws in range(1 << tws_bits)}


@pytest.mark.parametrize("tws_max", [1, 4, 10])
def test_divides_matches_modulo(tws_max):
    cases = [(65535, 32), (65520, 30), (300, 45), (1, 1), (0, 0), (48, 48), (2520, 63),
             *itertools.product((7, 12, 60), (5, 12, 20))]
    got = rtl_divides(cases, tws_max, steps_bits=16)
    assert got == golden_divides(cases, tws_max, (tws_max).bit_length())


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="tws_max must be a positive integer, not 0"):
        TwsDivisibility(tws_max=0, steps_bits=16)
