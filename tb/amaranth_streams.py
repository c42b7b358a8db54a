"""amaranth.sim helpers for stream testbenches: put and get one payload, random pauses
(handshakes exercised), and a run with a watchdog. tests/test_tags.py and
tests/test_buffers.py use them."""

from amaranth.sim import Simulator


__all__ = ["stream_put", "stream_get", "pause", "simulate"]


async def stream_put(ctx, port, payload):
    """Offer one payload on ``port`` and hold it until it is taken."""
    ctx.set(port.valid, 1)
    ctx.set(port.payload, payload)
    await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def stream_get(ctx, port):
    """Take one payload from ``port``."""
    ctx.set(port.ready, 1)
    payload, = await ctx.tick().sample(port.payload).until(port.valid)
    ctx.set(port.ready, 0)
    return payload


async def pause(ctx, rng, probability):
    """Idle a random number of cycles with ``probability``, to exercise the handshakes."""
    if rng.random() < probability:
        await ctx.tick().repeat(rng.randint(1, 3))


def simulate(dut, *testbenches, processes=(), cycles=20_000):
    """Run ``testbenches`` on ``dut`` with a 1 MHz clock; fail if they have not ended by ``cycles``."""
    async def watchdog(ctx):
        for _ in range(cycles):
            await ctx.tick()
        raise AssertionError(f"the testbenches hung: not done after {cycles} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for process in (watchdog, *processes):
        sim.add_process(process)
    sim.run()
